"""`gatepose plot poses|attention|curves`: the paper's figures for a run (needs the viz extra)."""
from __future__ import annotations

from pathlib import Path

import click

from .common import device_option, pick_device, output_file_option

_run = click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
                    help="Run folder written by gatepose train.")
_out = output_file_option("PNG file to write (.png).", suffix=".png")
_data = click.option("--data", type=click.Path(dir_okay=False), default=None,
                     help="Dataset archive whose test split to draw from. Default: the run's own test data.")
_checkpoint = click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)


@click.group()
def plot():
    """Figures of a run as PNG: poses beside ground truth, attention maps, training curves.

    Needs matplotlib (pip install 'gatepose[viz]').

    \b
    Examples:
      gatepose plot poses --run runs/a --n 4 --out poses.png
      gatepose plot attention --run runs/a --index 120 --layer 0 --out attention.png
      gatepose plot curves --run runs/a --out curves.png
    """


@plot.command()
@_run
@_data
@click.option("--n", type=click.IntRange(1, 16), default=4, show_default=True, help="Frames to draw.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which frames (one per action, drawn by seed).")
@_checkpoint
@device_option
@_out
def poses(run_dir, data, n, seed, checkpoint, device, out):
    """Predicted 3D poses beside ground truth (Figure 3).

    One row per test frame, from n different actions where there are that many: the 2D input,
    the ground truth and the prediction in 3D (root-relative mm; the prediction scaled with the
    training set's mean pose size, as for MPJPE), drawn in one cube per row (equal aspect), left
    limbs blue, right red. Each prediction's title gives its MPJPE.

    \b
    Examples:
      gatepose plot poses --run runs/a --out poses.png
      gatepose plot poses --run runs/h36m --data h36m.npz --n 6 --seed 3 --out fig3.png
    """
    from gatepose import viz
    from gatepose.evaluate import example_frames, test_frames
    from gatepose.runs import load_run

    viz.require()
    xp = pick_device(device)
    run = load_run(run_dir, xp, which=checkpoint)
    ds, _, source = test_frames(run, data)
    idx, chosen, pred, gt, err = example_frames(run, ds, n, seed)
    viz.plot_poses(out, gt, pred, run.skeleton, inputs_2d=ds.poses_2d[idx],
                   labels=[f"{a} #{i}" for a, i in zip(chosen, idx)], errors=err,
                   title=f"{Path(run_dir).name} (step {run.step}) on {source}")
    click.echo(f"wrote {out} ({n} test frames of {source})", err=True)


@plot.command()
@_run
@_data
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which test frame (an index into the test split).")
@click.option("--layer", type=int, default=-1, show_default=True, help="Encoder layer, 0-based; -1 is the last.")
@click.option("--applied", is_flag=True,
              help="Show the attention as applied, A = G (S + 1 - B), instead of the softmax scores S.")
@_checkpoint
@device_option
@_out
def attention(run_dir, data, index, layer, applied, checkpoint, device, out):
    """Per-head attention maps and gates (Figure 4).

    One J x J panel per head, rows the queries (output joint) and columns the keys (the joint
    attended to), joint names on both axes; each title gives the head's gate G and bias B (the
    gated variant), or the layer's scalar gate g.

    \b
    Examples:
      gatepose plot attention --run runs/a --out attention.png
      gatepose plot attention --run runs/a --index 500 --layer 0 --applied --out a0.png
    """
    from gatepose import viz
    from gatepose.evaluate import test_frames
    from gatepose.errors import GateposeError
    from gatepose.nn.generator import generator_kind, generator_config_from_dict
    from gatepose.runs import load_run, read_config

    kind = generator_kind(generator_config_from_dict(read_config(run_dir)["generator"]))
    if kind != "posegate":     # before any device work, and with or without matplotlib: one error line
        raise GateposeError(f"--run {run_dir}: a --generator {kind} run has no attention to plot (RepNet's "
                            "generator is an MLP); plot attention needs a PoseGate-Former run")
    viz.require()
    xp = pick_device(device)
    run = load_run(run_dir, xp, which=checkpoint)
    ds, _, source = test_frames(run, data)
    if index >= len(ds):
        raise GateposeError(f"--index {index}: the test set of {source} has {len(ds)} frames (0 to {len(ds) - 1})")
    L = run.gcfg.n_layers
    if not -L <= layer < L:
        raise GateposeError(f"--layer {layer}: the model has {L} layer(s) (0 to {L - 1}, or -1 for the last)")
    maps = run.attention_maps(ds.poses_2d[index])
    title = (f"{Path(run_dir).name} ({run.gcfg.attention}), test frame {index} ({ds.action[index]}), "
             f"layer {layer % L + 1} of {L}: {'attention applied A' if applied else 'softmax scores S'}")
    viz.plot_attention(out, maps, run.skeleton, layer=layer, which="A" if applied else "S", title=title)
    click.echo(f"wrote {out} ({run.gcfg.n_heads} heads, layer {layer % L})", err=True)


@plot.command()
@_run
@_out
def curves(run_dir, out):
    """Training curves from the run's metrics.jsonl.

    Reprojection and camera losses, the critic's Wasserstein estimate, the gradient penalty, the
    critic loss and the validation N-MPJPE against the step (log scale where the values are
    positive and span more than a factor 20).

    \b
    Example:
      gatepose plot curves --run runs/a --out curves.png
    """
    from gatepose import viz
    from gatepose.files import METRICS

    viz.require()
    rows = viz.read_metrics(Path(run_dir) / METRICS)
    viz.plot_curves(out, rows, title=f"{Path(run_dir).name}: training curves ({len(rows)} logged steps)")
    click.echo(f"wrote {out} ({len(rows)} logged steps, last step {rows[-1]['step']})", err=True)
