"""`gatepose eval`: a run's errors on a test split, in the paper's table layouts, beside two baselines."""
from __future__ import annotations

import json

import click

from .common import FiniteFloatRange, announce_device, apply_refine, device_option, pick_device, refine_options


@click.command("eval")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder written by gatepose train.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Dataset archive to test on (its test split, or all of it if it has none). "
                   "Default: the test split of the run's own data (synthetic data is regenerated).")
@click.option("--split", type=click.Choice(["test", "test-seen", "train"]), default="test", show_default=True,
              help="Which split: test (the archive's test subjects or clips), test-seen (whole held-out "
                   "takes of the training subjects: gatepose data import-mocap --test-seen-every), or "
                   "train (the archive's training split: the frames the run trained on and the validation "
                   "takes held out of them; how well it fits what it saw, beside what it generalises to).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="best.npz (lowest validation N-MPJPE) or checkpoint.npz (the last step).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True)
@click.option("--max-frames", type=click.IntRange(min=1), default=None,
              help="Evaluate a fixed random subset of this many test frames (seed 0).")
@click.option("--batch", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Poses per forward pass.")
@click.option("--noise-2d", type=FiniteFloatRange(min=0.0), default=0.0, show_default=True,
              help="Gaussian noise of this standard deviation (pixels of the test archive's cameras) on "
                   "every 2D coordinate of the test inputs.")
@click.option("--drop-joints", type=click.IntRange(min=0), default=0, show_default=True,
              help="This many random joints of each test pose missing (NaN), inferred by the run "
                   "(or filled by the mean-pose fallback for a run trained without --aug-drop-joints).")
@click.option("--detector-noise", is_flag=True, default=False,
              help="Detector-like errors on the test inputs: per-joint Gaussian noise of COCO's keypoint "
                   "sigma times the square root of the pose's 2D box area, 2 % of left/right pairs swapped "
                   "and 1 % of joints outliers in the box (docs/detector-inputs.md). Before --noise-2d "
                   "and --drop-joints when given with them.")
@click.option("--noise-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the corruption's draws (--noise-2d, --drop-joints, --detector-noise).")
@refine_options
@device_option
def evaluate(run_dir, data, split, checkpoint, fmt, max_frames, batch, noise_2d, drop_joints, detector_noise,
             noise_seed, refine_above, no_refine, device):
    """Evaluate a trained run: MPJPE, N-MPJPE and P-MPJPE (mm) per action on a test split.

    MPJPE (Protocol-I) scales the prediction with the training set's mean 3D scale (no test ground
    truth is used); N-MPJPE first fits the best scale per frame; P-MPJPE aligns each frame by a
    similarity Procrustes without reflection (Protocol-II). 'Avg.' is the unweighted mean over
    actions as in the paper; 'All frames' the mean over frames; 'Frames' counts each cell.

    Layout: Human3.6M actions print as the paper's Table 1; HumanEva-I (S1-S3, Walk/Jog/Box) as
    Table 2 (P-MPJPE per subject and action) plus a per-action table of all metrics; anything
    else per action, sorted. A second table compares the model with two trivial baselines on the
    same frames (mean pose, zero depth), and two more put them side by side per action (N-MPJPE,
    P-MPJPE): where the model beats zero depth and where it does not. Only tables go to stdout;
    progress goes to stderr.

    \b
    Examples:
      gatepose eval --run runs/a                          # its own synthetic test subjects
      gatepose eval --run runs/h36m --data h36m.npz --format markdown
      gatepose eval --run runs/a --checkpoint last --max-frames 5000 --format json > a.json
      gatepose eval --run runs/a --noise-2d 5 --drop-joints 2 --noise-seed 1   # a detector's inputs
      gatepose eval --run runs/a --detector-noise
      gatepose eval --run runs/hdm --data hdm.npz --split test-seen   # new takes of seen people
      gatepose eval --run runs/hdm --data hdm.npz --split train --max-frames 6000   # what it trained on
      gatepose eval --run runs/weak --noise-2d 10 --no-refine     # each pose lifted once

    An offset-lift run (small-weak) lifts a pose again, from its own corrected x and y, where its
    first lift moved the joints more than it moved 99 % of its clean validation poses (best.npz
    keeps that threshold; --refine-above sets one, --no-refine turns it off).
    """
    from gatepose.evaluate import check_corruption, evaluate_run, test_frames
    from gatepose.runs import load_run
    from gatepose.tables import detect_layout, evaluation_by_layout, evaluation_tables, render

    xp = pick_device(device, defer=True)
    run = load_run(run_dir, xp, which=checkpoint)
    apply_refine(run, refine_above, no_refine)
    check_corruption(run, noise_2d, drop_joints)
    ds, split, source = test_frames(run, data, split)
    announce_device()
    layout = detect_layout(ds.action, ds.subject)
    n_eval = min(len(ds), max_frames) if max_frames else len(ds)
    which = f"{split} split" if split != "all" else "all frames: no test split"
    click.echo(f"evaluating {run_dir} ({checkpoint} checkpoint, step {run.step}) on {n_eval} frames of "
               f"{source} ({which}; layout {layout})", err=True)
    corruption = {"noise_2d_px": noise_2d, "drop_joints": drop_joints, "detector_noise": detector_noise,
                  "noise_seed": noise_seed}
    if noise_2d or drop_joints or detector_noise:
        how = "inferred by the run's missing token" if run.takes_missing else "filled by the mean-pose fallback"
        click.echo(f"corrupted inputs: noise {noise_2d:g} px, {drop_joints} joint(s) dropped per pose ({how}), "
                   f"detector noise {'on' if detector_noise else 'off'}, seed {noise_seed}", err=True)
    info = {}    # evaluate_run says in it how many poses were lifted twice
    results = evaluate_run(run, ds, by=evaluation_by_layout(layout), batch=batch, max_frames=max_frames,
                           noise_2d=noise_2d, drop_joints=drop_joints, detector_noise=detector_noise,
                           noise_seed=noise_seed, info=info)
    if run.refine_above is not None:
        click.echo(f"lifted twice: {info['refined_frames']} of {n_eval} poses (moved more than "
                   f"{run.refine_above:.4g} by the first lift; --no-refine: once)", err=True)
    model = results["model"]
    tables = evaluation_tables(results, layout)

    if fmt == "json":
        out = {
            "run": str(run_dir), "checkpoint": checkpoint, "step": run.step, "data": source, "split": split,
            "layout": layout, "n_frames": model.n_frames, "units": "mm", "corruption": corruption,
            "refine": {"above": run.refine_above, "refined_frames": info["refined_frames"]},
            "tables": {k: t.to_dict() for k, t in tables.items()},
            "results": {name: r.to_dict() for name, r in results.items()},
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo("\n".join(render(t, fmt) for t in tables.values()), nl=False)
