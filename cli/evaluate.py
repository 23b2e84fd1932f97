"""`gatepose eval`: a run's errors on a test split, in the paper's table layouts, beside two baselines."""
from __future__ import annotations

import json

import click

from .common import announce_device, device_option, pick_device

HUMANEVA_SUBJECTS = {"S1", "S2", "S3"}


def detect_layout(ds) -> str:
    """'h36m' (every action a Human3.6M family), 'humaneva' (HumanEva-I subjects S1-S3 with its
    actions Walk/Jog/Box...), or 'generic'."""
    from gatepose.tables import h36m_action_family, humaneva_action_family, humaneva_subject

    actions = sorted(set(ds.action.tolist()))
    if actions and all(h36m_action_family(a) for a in actions):
        return "h36m"
    subjects = {humaneva_subject(s) for s in set(ds.subject.tolist())}
    if actions and all(humaneva_action_family(a) for a in actions) and subjects <= HUMANEVA_SUBJECTS:
        return "humaneva"
    return "generic"


def baseline_table(results: dict, title: str = "Model and trivial baselines on the same frames (mm)"):
    """Rows model / mean pose / zero depth; per metric its Avg. (over the by-action table's actions,
    families merged as there) and All frames."""
    from gatepose.metrics import METRIC_LABELS, METRICS
    from gatepose.tables import Table, table_by_action

    columns, groups, rows = ["Method"], [], []
    for m in METRICS:
        columns += ["Avg.", "All frames"]
        groups += [METRIC_LABELS[m]] * 2
    for name, res in results.items():
        t = table_by_action(res)
        row = [name]
        for m in METRICS:
            r = next(r for r in t.rows if r[0] == METRIC_LABELS[m])
            row += [r[-2], r[-1]]
        rows.append(row)
    n = next(iter(results.values())).n_frames
    notes = [f"Avg. = unweighted mean over actions; All frames = mean over all {n} frames. "
             "mean pose: the training set's mean 3D pose for every frame; zero depth: the input 2D pose "
             "with z = 0. Both scaled to mm like the model."]
    return Table(title=title, columns=columns, rows=rows, groups=groups, notes=notes)


@click.command("eval")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder written by gatepose train.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Dataset archive to test on (its test split, or all of it if it has none). "
                   "Default: the test split of the run's own data (synthetic data is regenerated).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="best.npz (lowest validation N-MPJPE) or checkpoint.npz (the last step).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True)
@click.option("--max-frames", type=click.IntRange(min=1), default=None,
              help="Evaluate a fixed random subset of this many test frames (seed 0).")
@click.option("--batch", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Poses per forward pass.")
@device_option
def evaluate(run_dir, data, checkpoint, fmt, max_frames, batch, device):
    """Evaluate a trained run: MPJPE, N-MPJPE and P-MPJPE (mm) per action on a test split.

    MPJPE (Protocol-I) scales the prediction with the training set's mean 3D scale (no test ground
    truth is used); N-MPJPE first fits the best scale per frame; P-MPJPE aligns each frame by a
    similarity Procrustes without reflection (Protocol-II). 'Avg.' is the unweighted mean over
    actions as in the paper; 'All frames' the mean over frames; 'Frames' counts each cell.

    Layout: Human3.6M actions print as the paper's Table 1; HumanEva-I (S1-S3, Walk/Jog/Box) as
    Table 2 (P-MPJPE per subject and action) plus a per-action table of all metrics; anything
    else per action, sorted. A second table compares the model with two trivial baselines on the
    same frames (mean pose, zero depth). Only tables go to stdout; progress goes to stderr.

    \b
    Examples:
      gatepose eval --run runs/a                          # its own synthetic test subjects
      gatepose eval --run runs/h36m --data h36m.npz --format markdown
      gatepose eval --run runs/a --checkpoint last --max-frames 5000 --format json > a.json
    """
    from gatepose.evaluate import evaluate_run, test_frames
    from gatepose.tables import H36M_ACTIONS, render, table_by_action, table_subject_action
    from gatepose.runs import load_run

    xp = pick_device(device, defer=True)
    run = load_run(run_dir, xp, which=checkpoint)
    ds, split, source = test_frames(run, data)
    announce_device()
    layout = detect_layout(ds)
    n_eval = min(len(ds), max_frames) if max_frames else len(ds)
    which = "test split" if split == "test" else "all frames: no test split"
    click.echo(f"evaluating {run_dir} ({checkpoint} checkpoint, step {run.step}) on {n_eval} frames of "
               f"{source} ({which}; layout {layout})", err=True)
    by = ("subject", "action") if layout == "humaneva" else ("action",)
    results = evaluate_run(run, ds, xp, by=by, batch=batch, max_frames=max_frames)
    model = results["model"]

    tables = {}
    if layout == "h36m":
        tables["by_action"] = table_by_action(model, action_order=[f for f, _ in H36M_ACTIONS],
                                              title="Human3.6M, per action (mm), as in the paper's Table 1")
    elif layout == "humaneva":
        tables["subject_action"] = table_subject_action(
            model, "p_mpjpe", title="HumanEva-I, P-MPJPE per subject and action (mm), as in the paper's Table 2")
        tables["by_action"] = table_by_action(model, title="HumanEva-I, per action, subjects merged (mm)")
    else:
        tables["by_action"] = table_by_action(model, title="Per-action error (mm)")
    tables["baselines"] = baseline_table(results)

    if fmt == "json":
        out = {
            "run": str(run_dir), "checkpoint": checkpoint, "step": run.step, "data": source, "split": split,
            "layout": layout, "n_frames": model.n_frames, "units": "mm",
            "tables": {k: t.to_dict() for k, t in tables.items()},
            "results": {name: r.to_dict() for name, r in results.items()},
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo("\n".join(render(t, fmt) for t in tables.values()), nl=False)
