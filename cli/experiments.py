"""`gatepose demo` and `gatepose ablate`: training and evaluation in one command."""
from __future__ import annotations

import sys
import tempfile
import time
from contextlib import contextmanager

import click

from .common import device_option, pick_device


@contextmanager
def _run_folder(out, prefix: str):
    """``out`` itself, or a temporary folder that is deleted afterwards when ``out`` is None."""
    if out is not None:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield tmp


def _opts(preset: str, **overrides):
    from gatepose.train import PRESETS, TrainOptions

    fields = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    opts = TrainOptions(**fields)
    opts.validate()
    return opts


@click.command()
@click.option("--steps", type=int, default=2000, show_default=True, help="Generator steps.")
@click.option("--preset", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="small: d=64, h=4, L=2, batch 128, n_critic 1, lr 5e-4 (minutes on a CPU); paper: SPEC section 1 sizes.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Keep the run here (default: a temporary folder, deleted afterwards).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@device_option
def demo(steps, preset, out, seed, fmt, device):
    """Synthetic data, a small PoseGate-Former trained weakly supervised, and its error table.

    Generates the built-in synthetic motion dataset (8 subjects, 10 actions, 4 cameras; the last
    two subjects held out), trains for --steps generator steps with a progress bar (about five
    minutes on a 2-core CPU with the defaults), and prints per-action errors on the held-out
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
    from gatepose.train import train

    opts = _opts(preset, steps=steps, seed=seed)
    xp = pick_device(device)
    keep = out is not None
    with _run_folder(out, "gatepose-demo-") as out:
        t0 = time.perf_counter()
        click.echo(f"training PoseGate-Former ({preset} preset, {steps} steps) on synthetic data...", err=True)
        train(opts, out, xp, progress=True)
        run = load_run(out, xp)
        ds, split, source = test_frames(run, None)
        res = evaluate_run(run, ds, xp)
        minutes = (time.perf_counter() - t0) / 60
        named = {"PoseGate-Former": res["model"], "mean pose": res["mean pose"], "zero depth": res["zero depth"]}
        for metric, label in (("mpjpe", "MPJPE"), ("n_mpjpe", "N-MPJPE"), ("p_mpjpe", "P-MPJPE")):
            t = table_ablation(named, metric=metric,
                               title=f"{label} per action on the held-out synthetic subjects (mm)")
            click.echo(render(t, fmt))
            click.echo()
        click.echo(render(baseline_table(named), fmt))
        click.echo(f"\n{len(ds)} test frames ({split} split of {source}); trained and evaluated in "
                   f"{minutes:.1f} min" + (f"; run folder: {out}" if keep else ""))


@click.command()
@click.option("--steps", type=int, default=300, show_default=True, help="Generator steps per variant.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Dataset archive (default: the built-in synthetic data).")
@click.option("--preset", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="Model sizes and schedule shared by all four variants.")
@click.option("--variants", default="gated,vanilla,fixed,scalar-gate", show_default=True,
              help="Comma-separated attention variants to train.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Keep the runs in OUT/<variant> (re-running resumes them). Default: a temporary folder.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--metric", type=click.Choice(["mpjpe", "n_mpjpe", "p_mpjpe"]), default="mpjpe", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@device_option
def ablate(steps, data, preset, variants, out, seed, metric, fmt, device):
    """The paper's Table 3: train the attention variants under one seed, data and budget.

    Variants: gated (PoseGate-Former), vanilla (plain softmax attention), fixed (every score
    1/J; the paper's Fix-attn), scalar-gate (one trainable gate per layer and bias 1/J; the
    paper's Fix-bias). Prints per-action errors, one column per variant, and the two trivial
    baselines on the same frames.

    \b
    Examples:
      gatepose ablate --steps 300
      gatepose ablate --steps 2000 --out runs/ablation --format markdown
      gatepose ablate --data h36m.npz --preset paper --steps 20000 --device gpu --out runs/h36m-abl
    """
    from gatepose.ablation import run_ablation
    from gatepose.errors import GateposeError
    from gatepose.tables import render, table_ablation
    from gatepose.ops.attention import VARIANTS as ATTENTION_VARIANTS

    names = [v.strip() for v in variants.split(",") if v.strip()]
    bad = [v for v in names if v not in ATTENTION_VARIANTS]
    if bad or not names:
        raise GateposeError(f"--variants: unknown {', '.join(bad) or '(none given)'}; "
                            f"expected some of {', '.join(ATTENTION_VARIANTS)}")
    opts = _opts(preset, steps=steps, seed=seed, data=data)
    xp = pick_device(device)
    with _run_folder(out, "gatepose-ablate-") as out:
        results = run_ablation(opts, out, xp, variants=names, log=lambda m: click.echo(m, err=True))
    labels = {"gated": "PoseGate-Former", "vanilla": "Vanilla", "fixed": "Fix-attn",
              "scalar-gate": "Fix-bias"}
    named = {labels.get(k, k): v for k, v in results.items()}
    t = table_ablation(named, metric=metric, title=f"Ablation ({steps} steps, {preset} preset, seed {seed})")
    click.echo(render(t, fmt))
