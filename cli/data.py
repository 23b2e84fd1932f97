"""`gatepose data`: make, import and inspect dataset archives."""
from __future__ import annotations

import json
import time

import click
import numpy as np

from .common import echo_data_warnings, echo_table, output_file_option


@click.group()
def data():
    """Make, import and inspect dataset archives (.npz, loaded without pickle).

    \b
    Examples:
      gatepose data synth --out synth.npz                   # built-in synthetic motion, no download
      gatepose data info synth.npz                          # frames per subject/action, bone lengths
      gatepose data import-h36m data_3d_h36m.npz data_2d_h36m_gt.npz --out h36m.npz --trust-pickle
      gatepose data import-humaneva data_3d_humaneva15.npz data_2d_humaneva15_gt.npz \\
          --out humaneva.npz --trust-pickle
    """


@data.command()
@output_file_option("Archive to write (.npz).", suffix=".npz")
@click.option("--subjects", default=8, show_default=True, type=click.IntRange(1, 1000),
              help="Number of subjects, each with its own bone lengths.")
@click.option("--frames", default=None, type=click.IntRange(1), metavar="N",
              help="Total poses wanted, at least (the sequences are shortened, to 2 frames at least, to come "
                   "near it). [default: 96,000]")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Same seed, same poses, subjects and cameras.")
@click.option("--cameras", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Cameras per sequence.")
@click.option("--sequence-frames", default=100, show_default=True, type=click.IntRange(2),
              help="Frames per sequence (50 fps).")
@click.option("--actions", default=None, metavar="A,B,...",
              help="Comma-separated subset of: walk, jog, box, sit, squat, wave, pickup, jump, kick, talk.")
@click.option("--test-subjects", default=None, type=click.IntRange(0), metavar="N",
              help="How many of the last subjects form the test split. [default: a quarter]")
@click.option("--skeleton", default="h36m17", show_default=True,
              type=click.Choice(["h36m17", "h36m16", "humaneva15"]), help="Joint layout to write.")
def synth(out, subjects, frames, seed, cameras, sequence_frames, actions, test_subjects, skeleton):
    """Write the built-in synthetic motion dataset: nothing to download.

    Procedural subjects (heights 1.55-1.95 m, their own proportions) perform walk, jog, box, sit,
    squat, wave, pickup, jump, kick and talk as smooth joint-angle trajectories within human joint
    limits, with varied speed, amplitude and phase, a random facing direction and several
    pinhole cameras per sequence. 3D is stored in camera coordinates (mm, +y down, +z forward),
    2D in pixels of a 1000 x 1000 image. The last subjects are held out as the test split.

    \b
    Examples:
      gatepose data synth --out synth.npz                       # 96,000 poses, 8 subjects
      gatepose data synth --out big.npz --frames 500000 --subjects 16 --seed 1
      gatepose data synth --out walk.npz --actions walk,jog --skeleton h36m16
    """
    from gatepose.data.archive import save_archive
    from gatepose.data.synthetic import ACTIONS, generate

    acts = ACTIONS if actions is None else tuple(a.strip() for a in actions.split(",") if a.strip())
    t0 = time.perf_counter()
    ds = generate(n_subjects=subjects, n_frames=frames, frames_per_sequence=sequence_frames, n_cameras=cameras,
                  actions=acts, seed=seed, n_test_subjects=test_subjects, skeleton=skeleton)
    save_archive(out, ds)
    n_test = int((ds.split == "test").sum())
    click.echo(f"wrote {out}: {len(ds):,} poses ({subjects} subjects x {len(acts)} actions, {cameras} cameras "
               f"per sequence), skeleton {skeleton}, train {len(ds) - n_test:,} / test {n_test:,}, "
               f"in {time.perf_counter() - t0:.1f} s")


_TRUST_HELP = ("Load the input files although they hold pickled Python objects (which can run code "
               "when loaded). Only for files from a source you trust.")


@data.command("import-h36m")
@click.argument("data_3d", type=click.Path(dir_okay=False))
@click.argument("data_2d", type=click.Path(dir_okay=False))
@output_file_option("Archive to write (.npz).", suffix=".npz")
@click.option("--trust-pickle", is_flag=True, help=_TRUST_HELP)
@click.option("--subjects", default=None, metavar="S1,S5,...", help="Import only these subjects.")
def import_h36m_cmd(data_3d, data_2d, out, trust_pickle, subjects):
    """Import Human3.6M from the common preprocessing's files.

    DATA_3D is data_3d_h36m.npz (world coordinates, metres, 32 joints), DATA_2D is
    data_2d_h36m_gt.npz (pixels, 17 joints, 4 cameras). Writes 17 joints (h36m17) in each camera's
    coordinates (mm) with Human3.6M's published camera parameters, actions by family (Walking,
    Photo, ...) and the standard split: train S1, S5, S6, S7, S8; test S9, S11.

    Those files are pickles, so --trust-pickle is required.

    \b
    Example:
      gatepose data import-h36m data_3d_h36m.npz data_2d_h36m_gt.npz --out h36m.npz --trust-pickle
    """
    from gatepose.data.archive import save_archive
    from gatepose.data.h36m import import_h36m

    subj = None if subjects is None else [s.strip() for s in subjects.split(",") if s.strip()]
    with echo_data_warnings():
        ds = import_h36m(data_3d, data_2d, trust_pickle=trust_pickle, subjects=subj)
    save_archive(out, ds)
    click.echo(f"wrote {out}: {len(ds):,} poses, {len(np.unique(ds.subject))} subjects, "
               f"{len(np.unique(ds.action))} actions, skeleton {ds.skeleton}")


@data.command("import-humaneva")
@click.argument("data_3d", type=click.Path(dir_okay=False))
@click.argument("data_2d", type=click.Path(dir_okay=False))
@output_file_option("Archive to write (.npz).", suffix=".npz")
@click.option("--trust-pickle", is_flag=True, help=_TRUST_HELP)
@click.option("--all-actions", is_flag=True, help="Keep every action, not only Walk, Jog and Box.")
def import_humaneva_cmd(data_3d, data_2d, out, trust_pickle, all_actions):
    """Import HumanEva-I from the common preprocessing's files.

    DATA_3D is data_3d_humaneva15.npz (world coordinates, metres, 15 joints), DATA_2D is
    data_2d_humaneva15_gt.npz (pixels, cameras C1-C3, 640 x 480). Writes humaneva15 poses in each
    camera's coordinates (mm); Train/S1..S3 form the train split and Validate/S1..S3 the test
    split; actions by family (Walk, Jog, Box; the others only with --all-actions).

    Those files are pickles, so --trust-pickle is required.

    \b
    Example:
      gatepose data import-humaneva data_3d_humaneva15.npz data_2d_humaneva15_gt.npz \\
          --out humaneva.npz --trust-pickle
    """
    from gatepose.data.archive import save_archive
    from gatepose.data.humaneva import TABLE2_ACTIONS, import_humaneva

    with echo_data_warnings():
        ds = import_humaneva(data_3d, data_2d, trust_pickle=trust_pickle,
                             actions=None if all_actions else TABLE2_ACTIONS)
    save_archive(out, ds)
    click.echo(f"wrote {out}: {len(ds):,} poses, {len(np.unique(ds.subject))} subjects, "
               f"actions {', '.join(np.unique(ds.action))}, skeleton {ds.skeleton}")


@data.command()
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(file, as_json):
    """Summarise a dataset archive, after validating it.

    Prints the skeleton, the number of frames and sequences, whether 2D and 3D poses are present,
    the image sizes, the train/test split, a table of frames per action and subject, and bone
    lengths (mean and standard deviation over all frames, and the largest standard deviation
    within one sequence, which should be ~0 for motion capture or synthetic data).

    \b
    Examples:
      gatepose data info synth.npz
      gatepose data info h36m.npz --json
    """
    from gatepose.data.archive import load_archive
    from gatepose.data.summary import archive_summary

    summary = archive_summary(load_archive(file), file)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    echo = click.echo
    echo(f"file        {s['file']}")
    echo(f"skeleton    {s['skeleton']} ({s['joints']} joints, {s['bones']} bones)")
    echo(f"frames      {s['frames']:,} in {s['sequences']:,} sequences")
    echo(f"2D poses    yes (pixels){'; with per-joint confidence' if s['confidence'] else ''}")
    echo(f"3D poses    {'yes (camera coordinates, mm)' if s['poses_3d'] else 'no (2D only)'}")
    if "perspective" in s:
        p = s["perspective"]
        echo(f"perspective {p['median']:.2f} (5-95 %: {p['p5']:.2f}-{p['p95']:.2f}): pose size over camera "
             "distance, for train --perspective")
    lo, hi = s["image_size"]["min"], s["image_size"]["max"]
    echo(f"image size  {lo[0]} x {lo[1]}" + ("" if lo == hi else f" to {hi[0]} x {hi[1]}"))
    if s["split"] is None:
        echo("split       none stored")
    else:
        parts = [f"{sp} {v['frames']:,} ({', '.join(v['subjects']) or '-'})" for sp, v in s["split"].items()]
        echo(f"split       {'; '.join(parts)}")
    counts = s["frames_per_action_subject"]
    subjects = list(next(iter(counts.values())).keys())
    rows = [[a] + [f"{counts[a][su]:,}" for su in subjects] + [f"{sum(counts[a].values()):,}"] for a in counts]
    rows.append(["total"] + [f"{sum(counts[a][su] for a in counts):,}" for su in subjects] + [f"{s['frames']:,}"])
    echo("")
    echo("frames per action and subject")
    echo_table(["action"] + subjects + ["total"], rows)
    echo("")
    if "bone_lengths_mm" in s:
        echo("bone lengths (mm)")
        echo_table(["bone", "mean", "std", "max std in a sequence"],
                   [[b["bone"], f"{b['mean']:.1f}", f"{b['std']:.1f}", f"{b['max_within_sequence_std']:.2f}"]
                    for b in s["bone_lengths_mm"]])
    else:
        echo("bone lengths: no 3D poses")
