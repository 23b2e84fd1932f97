"""`gatepose demo` and `gatepose ablate`: training and evaluation in one command."""
from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import click

from gatepose.names import ABLATION_VARIANTS, ATTENTION_VARIANTS, PRESET_NAMES, PRESETS, describe_preset

from .common import device_option, pick_device

# The presets of the weak model (demo's --supervised and ablate's --supervision full train the same
# options with supervision='full'; small-full is the supervised baseline's own recipe).
WEAK_PRESETS = tuple(p for p in PRESETS if PRESETS[p].get("supervision", "weak") == "weak")


def _free_folder(base: Path) -> Path:
    """base, or base-2, base-3, ... : the first that does not exist yet (a demo never overwrites)."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


@contextmanager
def _run_folder(out, prefix: str):
    """``out`` itself, or a temporary folder that is deleted afterwards when ``out`` is None."""
    if out is not None:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield tmp


def _opts(preset: str, **overrides):
    from gatepose.options import TrainOptions

    fields = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    opts = TrainOptions(**fields)
    opts.check()
    return opts


@click.command()
@click.option("--steps", type=int, default=1200, show_default=True, help="Generator steps (each run).")
@click.option("--preset", type=click.Choice(WEAK_PRESETS), default="small-weak", show_default=True,
              help="; ".join(describe_preset(p) for p in WEAK_PRESETS) + ".")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo's runs (OUT/weak, OUT/full), kept afterwards. Default: runs/demo, "
                   "or runs/demo-2, -3, ... if that exists.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@click.option("--supervised/--no-supervised", default=True, show_default=True,
              help="Also train the same model with full supervision (paired 3D poses) and print it beside the weak one.")
@device_option
def demo(steps, preset, out, seed, fmt, supervised, device):
    """Synthetic data, a small PoseGate-Former trained weakly supervised, and its error table
    beside the same model trained with full supervision.

    Generates the built-in synthetic motion dataset (8 subjects, 10 actions, 4 cameras; the last
    two subjects held out), trains for --steps generator steps with a progress bar, weakly
    supervised (--preset) and then, unless --no-supervised, the same model on the paired 3D poses
    (--supervision full, the same steps), and prints per-action errors of both on the held-out
    subjects next to two trivial baselines on the same frames: the mean training pose, and the
    input 2D pose lifted with zero depth.

    \b
    Examples:
      gatepose demo
      gatepose demo --steps 200 --out runs/demo     # shorter, and keep the run
      gatepose demo --device gpu --preset paper --steps 2000
    """
    from gatepose.evaluate import evaluate_run, test_frames
    from gatepose.runs import load_run
    from gatepose.tables import baseline_table, render, table_ablation
    from gatepose.training import train

    import dataclasses

    opts = _opts(preset, steps=steps, seed=seed)
    out = Path(out) if out is not None else _free_folder(Path("runs") / "demo")
    xp = pick_device(device)
    # The runs are kept (never a temporary folder): the README's next commands work on them.
    t0 = time.perf_counter()
    weak_dir, full_dir = out / "weak", out / "full"
    click.echo(f"training PoseGate-Former weakly supervised ({preset} preset, {steps} steps) on "
               f"synthetic data...", err=True)
    train(opts, weak_dir, xp, progress=True)
    if supervised:
        click.echo(f"training the same model with full supervision (paired 3D; {steps} steps) "
                   f"for comparison...", err=True)
        train(dataclasses.replace(opts, supervision="full"), full_dir, xp, progress=True)
    run = load_run(weak_dir, xp)
    ds, split, source = test_frames(run, None)
    res = evaluate_run(run, ds)
    named = {"PoseGate-Former (weak)": res["model"]}
    if supervised:
        named["same, fully supervised"] = evaluate_run(load_run(full_dir, xp), ds)["model"]
    named.update({"mean pose": res["mean pose"], "zero depth": res["zero depth"]})
    minutes = (time.perf_counter() - t0) / 60
    for metric, label in (("mpjpe", "MPJPE"), ("n_mpjpe", "N-MPJPE"), ("p_mpjpe", "P-MPJPE")):
        t = table_ablation(named, metric=metric,
                           title=f"{label} per action on the held-out synthetic subjects (mm)")
        click.echo(render(t, fmt))
        click.echo()
    click.echo(render(baseline_table(named), fmt))
    click.echo(f"\n{len(ds)} test frames ({split} split of {source}); trained and evaluated in "
               f"{minutes:.1f} min. Evaluated: {weak_dir}/best.npz (step {run.step}, the lowest "
               f"validation N-MPJPE on frames held out of the training subjects)"
               + (f" and {full_dir}/best.npz" if supervised else "") + ".")
    click.echo(f"Next: gatepose eval --run {weak_dir}   |   gatepose plot curves --run {weak_dir} "
               f"--out curves.png   |   gatepose predict --run {weak_dir} --input poses2d.npy --out poses3d.json "
               "(2D poses: a .npy of (N, 17, 2) pixels, or COCO keypoints .json)")


@click.command()
@click.option("--steps", type=int, default=300, show_default=True, help="Generator steps per variant.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Dataset archive (default: the built-in synthetic data).")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="small", show_default=True,
              help="Model sizes and schedule shared by all the variants: " + "; ".join(describe_preset(p) for p in PRESETS) + ".")
@click.option("--variants", default=",".join(ATTENTION_VARIANTS), show_default=True,
              help="Comma-separated variants to train: the attention variants (Table 3) and repnet, RepNet's "
                   "generator in the same structure (Table 1: --variants gated,repnet, or all five).")
@click.option("--supervision", type=click.Choice(["weak", "full"]), default=None,
              help="full: every variant trained on the paired 3D poses instead (Table 1's supervised rows). "
                   "[default: the preset's: full for small-full and small-full-detector, else weak]")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Keep the runs in OUT/<variant> (re-running resumes them). Default: a temporary folder.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="The (first) training seed.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train every variant with this many seeds (--seed, --seed + 1, ...) and print mean and "
                   "standard deviation per variant and metric, and whether each difference to the gated "
                   "model is beyond the seed-to-seed spread.")
@click.option("--metric", type=click.Choice(["mpjpe", "n_mpjpe", "p_mpjpe"]), default="mpjpe", show_default=True)
@click.option("--val-split", type=click.Choice(["frames", "clips"]), default="frames", show_default=True,
              help="Validation (best.npz) from random frames or whole clips of the training subjects "
                   "(gatepose train --val-split).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@device_option
def ablate(steps, data, preset, variants, supervision, out, seed, seeds, metric, val_split, fmt, device):
    """The paper's Tables 3 and 1: train the attention variants, and RepNet's generator, under one
    seed, data and budget.

    Variants: gated (PoseGate-Former), vanilla (plain softmax attention), fixed (every score
    1/J; the paper's Fix-attn), scalar-gate (one trainable gate per layer and bias 1/J; the
    paper's Fix-bias); repnet (RepNet's generator, width 1000, in PoseGate-Former's place: the
    same camera net, critic, losses and options; the paper's Table 1). Prints per-action errors,
    one column per variant, and the two trivial baselines on the same frames.

    \b
    Examples:
      gatepose ablate --steps 300
      gatepose ablate --steps 2000 --out runs/ablation --format markdown
      gatepose ablate --data h36m.npz --preset paper --steps 20000 --device gpu --out runs/h36m-abl
      gatepose ablate --seeds 3 --steps 500 --out runs/abl3           # mean +- std over 3 seeds
      gatepose ablate --variants gated,vanilla,fixed,scalar-gate,repnet --seeds 3 --out runs/t13
      gatepose ablate --variants gated,repnet --supervision full --seeds 3 --out runs/t1-full
    """
    from gatepose.ablation import run_ablation
    from gatepose.errors import GateposeError
    from gatepose.tables import render, table_ablation
    names = [v.strip() for v in variants.split(",") if v.strip()]
    bad = [v for v in names if v not in ABLATION_VARIANTS]
    if bad or not names:
        raise GateposeError(f"--variants: unknown {', '.join(bad) or '(none given)'}; "
                            f"expected some of {', '.join(ABLATION_VARIANTS)}")
    twice = sorted({v for v in names if names.count(v) > 1})
    if twice:
        raise GateposeError(f"--variants: {', '.join(twice)} given more than once (each is one run folder)")
    opts = _opts(preset, steps=steps, seed=seed, data=data, supervision=supervision, val_split=val_split)
    supervision = opts.supervision
    xp = pick_device(device)
    if seeds > 1:
        return _ablate_seeds(opts, out, xp, names, range(seed, seed + seeds), fmt)
    with _run_folder(out, "gatepose-ablate-") as out:
        results = run_ablation(opts, out, xp, variants=names, log=lambda m: click.echo(m, err=True))
    labels = {"gated": "PoseGate-Former", "vanilla": "Vanilla", "fixed": "Fix-attn",
              "scalar-gate": "Fix-bias", "repnet": "RepNet"}
    named = {labels.get(k, k): v for k, v in results.items()}
    t = table_ablation(named, metric=metric, title=f"Ablation ({steps} steps, {preset} preset, {supervision} "
                                                   f"supervision, seed {seed})")
    click.echo(render(t, fmt))


def _ablate_seeds(opts, out, xp, names, seeds, fmt):
    """ablate --seeds N: mean +- std over the seeds, per variant and metric, and the verdicts."""
    import json

    from gatepose.ablation import run_seeded_ablation
    from gatepose.seeds import format_seed_table, seed_table

    t0 = time.perf_counter()
    with _run_folder(out, "gatepose-ablate-") as out:
        per_variant, baselines = run_seeded_ablation(opts, out, xp, seeds, variants=names,
                                                     log=lambda m: click.echo(m, err=True))
    metrics = ("mpjpe", "n_mpjpe", "p_mpjpe")
    # the baselines' rows carry no difference: they are not trained, their errors do not vary
    rows = seed_table(per_variant, metrics, reference="gated") + seed_table(baselines, metrics, reference="")
    if fmt == "json":
        click.echo(json.dumps({"seeds": list(seeds), "steps": opts.steps, "rows": rows}, indent=2))
        return
    seeds = list(seeds)
    click.echo(f"Ablation over {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), {opts.steps} steps each; "
               f"errors in mm over all test frames (mean +- sample std over seeds). A difference is "
               f"'beyond spread' when it exceeds twice its standard error, 2 sqrt(s1^2/n1 + s2^2/n2).")
    click.echo(format_seed_table(rows, "markdown" if fmt == "markdown" else "text"))
    click.echo(f"\n{len(seeds) * len(names)} runs in {(time.perf_counter() - t0) / 60:.1f} min", err=True)
