"""The paper's ablation (Table 3): the four attention variants under one seed, data and budget."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .evaluate import evaluate_run, test_frames
from .ops.attention import VARIANTS as ATTENTION_VARIANTS
from .runs import load_run
from .train import TrainOptions, train


def run_ablation(opts: TrainOptions, out_dir, xp, variants=ATTENTION_VARIANTS, progress: bool = True,
                 max_frames: int | None = None, log=print) -> dict:
    """Train one run per variant into ``out_dir/<variant>`` (resuming any that exist) and evaluate
    each on the same test frames. Returns variant -> metrics.Result (plus the baselines under
    'mean pose' and 'zero depth', from the first variant's evaluation)."""
    out_dir = Path(out_dir)
    results, baselines = {}, {}
    for variant in variants:
        run_dir = out_dir / variant
        v_opts = dataclasses.replace(opts, attention=variant)
        resume = (run_dir / "checkpoint.npz").is_file()
        log(f"[{variant}] training {'(resuming) ' if resume else ''}into {run_dir}")
        train(v_opts, run_dir, xp, resume=resume, progress=progress, log=log)
        run = load_run(run_dir, xp)
        ds, _, _ = test_frames(run, opts.data)
        res = evaluate_run(run, ds, xp, max_frames=max_frames)
        results[variant] = res["model"]
        if not baselines:
            baselines = {k: v for k, v in res.items() if k != "model"}
    return {**results, **baselines}
