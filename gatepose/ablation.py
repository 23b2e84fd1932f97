"""The paper's ablation (Table 3): the four attention variants under one data set and budget, and its
Table 1 pair, PoseGate-Former against RepNet's generator in the same structure (the variant
"repnet"), with one seed or several (``run_seeded_ablation``: mean and spread per variant,
gatepose.seeds)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .evaluate import evaluate_run, test_frames
from .names import ABLATION_VARIANTS as VARIANTS   # Table 3's attention variants, then Table 1's RepNet
from .runs import load_run
from .files import CHECKPOINT
from .options import TrainOptions
from .training import train


def variant_options(opts: TrainOptions, variant: str) -> TrainOptions:
    """The options of one variant: an attention variant of PoseGate-Former, or ``repnet`` (every
    other option, the attention's included, as given: RepNet's generator does not read them)."""
    if variant == "repnet":
        return dataclasses.replace(opts, generator="repnet")
    return dataclasses.replace(opts, generator="posegate", attention=variant)


def run_ablation(opts: TrainOptions, out_dir, xp, variants=VARIANTS, progress: bool = True,
                 max_frames: int | None = None, log=print) -> dict:
    """Train one run per variant into ``out_dir/<variant>`` (resuming any that exist) and evaluate
    each on the same test frames. Returns variant -> metrics.Result (plus the baselines under
    'mean pose' and 'zero depth', from the first variant's evaluation)."""
    out_dir = Path(out_dir)
    results, baselines = {}, {}
    for variant in variants:
        run_dir = out_dir / variant
        v_opts = variant_options(opts, variant)
        resume = (run_dir / CHECKPOINT).is_file()
        log(f"[{variant}] training {'(resuming) ' if resume else ''}into {run_dir}")
        train(v_opts, run_dir, xp, resume=resume, progress=progress, log=log)
        run = load_run(run_dir, xp)
        ds, _, _ = test_frames(run, opts.data)
        res = evaluate_run(run, ds, max_frames=max_frames)
        results[variant] = res["model"]
        if not baselines:
            baselines = {k: v for k, v in res.items() if k != "model"}
    return {**results, **baselines}


def run_seeded_ablation(opts: TrainOptions, out_dir, xp, seeds, variants=VARIANTS,
                        progress: bool = True, max_frames: int | None = None, log=print) -> tuple[dict, dict]:
    """Every variant trained once per seed, into ``out_dir/seed<S>/<variant>`` (resuming any that
    exist). Returns (variant -> [{metric: all-frames error}, one per seed], baselines name -> the
    same for 'mean pose' and 'zero depth', from the first seed)."""
    per_variant: dict = {v: [] for v in variants}
    baselines: dict = {}
    for seed in seeds:
        res = run_ablation(dataclasses.replace(opts, seed=int(seed)), Path(out_dir) / f"seed{seed}", xp,
                           variants=variants, progress=progress, max_frames=max_frames, log=log)
        for v in variants:
            per_variant[v].append(dict(res[v].all_frames))
        if not baselines:
            baselines = {k: [dict(res[k].all_frames)] for k in ("mean pose", "zero depth")}
    return per_variant, baselines
