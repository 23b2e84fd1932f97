"""`gatepose data import-mocap` (BVH, ASF/AMC -> archive) and `gatepose export-bvh` (archive -> BVH)."""
from __future__ import annotations

import io
import sys
import time

import click

from gatepose.names import MAX_FPS, MIN_FPS

from .common import FiniteFloatRange, check_inputs, echo_data_warnings, echo_table, output_file_option

_FPS = FiniteFloatRange(min=MIN_FPS, max=MAX_FPS)


@click.command("import-mocap")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@output_file_option("Archive to write (.npz).", suffix=".npz")
@click.option("--asf", default=None, type=click.Path(dir_okay=False),
              help="ASF skeleton for every AMC file. [default: the ASF beside it whose name begins "
                   "the AMC's (11.asf for 11_01.amc, HDM_bd.asf for HDM_bd_squat1Reps_001_120.amc)]")
@click.option("--joint-map", default=None, type=click.Path(dir_okay=False),
              help='JSON {"LKnee": "rig joint", ...} for rigs whose names are not recognised.')
@click.option("--units", default="auto", show_default=True,
              type=click.Choice(["auto", "mm", "cm", "m", "inch", "cmu"]),
              help="Length unit of BVH files (ASF files state theirs; cmu = 1/0.45 inch, CMU's "
                   "ASF unit, kept by CMU's MotionBuilder-style BVH conversions); auto picks the "
                   "one that makes the body about 1.7 m tall. A body outside 0.5-2.5 m is refused.")
@click.option("--up", default="auto", show_default=True,
              type=click.Choice(["auto", "y", "z", "x", "-y", "-z", "-x"]),
              help="The files' up axis, turned to Y; auto: Y unless the body's median "
                   "ankles-to-head direction is within 45 degrees of another axis (Z-up exports).")
@click.option("--fps", default=None, type=_FPS,
              help="Keep every round(source_fps / FPS)-th frame. [default: 30 for sources of 100 "
                   "frames/s or more, every frame otherwise]")
@click.option("--cameras", "n_cameras", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Virtual cameras per clip (fixed for the clip, random directions).")
@click.option("--camera-rig", default="virtual", show_default=True, type=click.Choice(["virtual", "h36m"]),
              help="virtual: --cameras random cameras; h36m: Human3.6M's four cameras.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the camera placement.")
@click.option("--actions", "index", default=None, type=click.Path(dir_okay=False),
              help="TSV of 'clip id<TAB>motion text' for action labels. [default: the file name]")
@click.option("--test-subjects", default=None, metavar="A,B,...", help="Subjects of the test split.")
@click.option("--test-every", default=None, type=click.IntRange(min=2), metavar="K",
              help="Every K-th clip (in sorted order) goes to the test split.")
@click.option("--test-seen-every", default=None, type=click.IntRange(min=2), metavar="K",
              help="Of the clips not in the test split, every K-th (in sorted order) goes to a second "
                   "test split, 'test-seen': whole held-out takes of the training subjects "
                   "(gatepose eval --split test-seen).")
@click.option("--drop-implausible", is_flag=True,
              help="Leave out frames with a knee or elbow more than 15 degrees past the ASF's own joint "
                   "limit (a shin folded behind the body). [default: keep them; the summary counts them]")
def import_mocap(paths, out, asf, joint_map, units, up, fps, n_cameras, camera_rig, seed, index, test_subjects,
                 test_every, test_seen_every, drop_implausible):
    """Import motion capture (BVH, ASF/AMC) as an h36m17 archive filmed by cameras.

    PATHS are .bvh or .amc files or folders (searched recursively); each AMC is read with the ASF
    of its subject (the ASF beside it whose name begins the AMC's), which also names the subject;
    the action is the --actions text, else the class in the file name (HDM_bd_squat1Reps_001_120
    -> squat1Reps). Rigs are mapped to Human3.6M's 17 joints by their joint names (CMU ASF,
    CMU BVH conversions, Mixamo, 3ds Max, generic UpperLeg_L-style names) or by --joint-map;
    Pelvis, Spine, Thorax, Neck/Nose and the top of the Head are synthesised where the rig lacks
    them. Every pose is stored in each camera's frame (mm) and pixels, with the source file
    ('clip') and frame ('source_frame') of every row.

    \b
    Examples:
      gatepose data import-mocap mocap/ --actions cmu_index.tsv --cameras 2 \\
          --test-subjects 13,14,49 --out cmu.npz
      gatepose data import-mocap walk.bvh --units cm --camera-rig h36m --out walk.npz
      gatepose data import-mocap 11_01.amc --asf 11.asf --fps 60 --out kick.npz
      gatepose data import-mocap hdm05/ --test-subjects HDM_dg,HDM_mm --drop-implausible --out hdm.npz
      gatepose data import-mocap hdm05/ --test-subjects HDM_mm --test-seen-every 5 --out hdm.npz
      gatepose data import-mocap rig.bvh --joint-map map.json --out rig.npz
    """
    from gatepose.data.archive import save_archive
    from gatepose.data.mocap.importer import build_dataset, find_files, read_clip, read_index
    from gatepose.data.mocap.rigs import load_joint_map
    from gatepose.data.summary import mocap_import_summary, unmatched_subjects
    from gatepose.errors import DataError

    if test_subjects and test_every:
        raise DataError("give --test-subjects or --test-every, not both")
    t0 = time.perf_counter()
    files = find_files(paths, asf)
    # the files found in folders and the ASFs paired with AMCs are inputs too: never the --out
    check_inputs(click.get_current_context(), out, [f for _, m, a in files for f in (m, a) if f is not None])
    jmap = load_joint_map(joint_map) if joint_map else None
    idx = read_index(index) if index else None
    tests = [s.strip() for s in test_subjects.split(",") if s.strip()] if test_subjects else None
    clips, cache = [], {}
    # the bar only on a terminal: piped or logged, a bad file is its one error line alone
    bar_file = sys.stderr if sys.stderr.isatty() else io.StringIO()
    with echo_data_warnings(), click.progressbar(files, label=f"reading {len(files)} clips", file=bar_file,
                                             item_show_func=lambda f: f[1].name if f else "") as bar:
        for kind, path, asf_path in bar:
            clips.append(read_clip(kind, path, asf_path, fps=fps, units=units, joint_map=jmap, index=idx,
                                   asf_cache=cache, up=up, drop_implausible=drop_implausible))
    ds = build_dataset(clips, n_cameras=n_cameras, rig=camera_rig, seed=seed, test_subjects=tests,
                       test_every=test_every, test_seen_every=test_seen_every)
    if tests:
        unknown = unmatched_subjects(clips, tests)
        if unknown:
            click.echo(f"warning: --test-subjects {', '.join(unknown)}: no clip of such a subject", err=True)
    save_archive(out, ds)
    _print_import_summary(mocap_import_summary(clips, ds), camera_rig, time.perf_counter() - t0, out)


def _print_import_summary(s: dict, rig, seconds, out) -> None:
    echo = click.echo
    echo(f"wrote {out}: {s['frames']:,} poses from {s['clips']} clips ({s['kinds']['bvh']} BVH, "
         f"{s['kinds']['amc']} ASF/AMC), {s['joints']} joints (h36m17), {s['cameras']} camera(s) per clip "
         f"({rig}), in {seconds:.1f} s")
    echo("frames      " + "; ".join(f"{fps:g} fps source -> every {k}th frame ({fps / k:g} fps)" if k > 1
                                    else f"{fps:g} fps source -> every frame" for fps, k in s["rates"]))
    echo("units       " + "; ".join(f"{u}: {n} clips" for u, n in s["units"].items()))
    from gatepose.data.mocap.importer import LIMIT_TOLERANCE_DEG

    imp = s["implausible"]
    if imp["checked"]:
        past = f"{imp['frames'] + imp['dropped']:,} of {imp['checked']:,} frames"
        echo(f"limits      {past} have a knee or elbow more than {LIMIT_TOLERANCE_DEG:g} degrees past the ASF's "
             f"joint limit (worst {imp['worst']:.0f} degrees, {imp['worst_clip']}); "
             + (f"dropped {imp['dropped']:,} (--drop-implausible)" if imp["dropped"]
                else "kept (--drop-implausible drops them)" if imp["frames"] else "none to drop"))
    for m, names in s["rigs"]:
        echo(f"rig of {len(names)} clip(s): " + ", ".join(f"{k}<-{v}" for k, v in m))
    split = s["split"]
    echo(f"split       train {split['train']:,}; test {split['test']:,} ({', '.join(split['test_subjects']) or '-'})"
         + (f"; test-seen {split['test-seen']:,} ({split['test_seen_clips']} held-out takes of the training "
            "subjects)" if split["test-seen"] else ""))
    echo("")
    rows = []
    for su in s["subjects"]:
        lo, hi = su["height_m"]
        rows.append([su["subject"], str(su["clips"]), f"{su['frames']:,}",
                     f"{lo:.2f}" + ("" if hi - lo < 0.005 else f"-{hi:.2f}"), su["split"]])
    rows.append(["total", str(s["clips"]), f"{sum(su['frames'] for su in s['subjects']):,}", "", ""])
    echo("clips per subject (frames kept, height ankle to head top in m)")
    echo_table(["subject", "clips", "frames", "height", "split"], rows)
    echo("")
    echo("bone lengths (mm; per clip: mean over its frames)")
    echo_table(["bone", "mean", "min clip", "max clip", "max std in a clip"],
               [[b["bone"], f"{b['mean']:.1f}", f"{b['min_clip']:.1f}", f"{b['max_clip']:.1f}",
                 f"{b['max_within_clip_std']:.2f}"] for b in s["bones"]])


@click.command("export-bvh")
@click.argument("archive", type=click.Path(dir_okay=False))
@output_file_option("BVH file to write (.bvh).", suffix=".bvh")
@click.option("--clip", default=None,
              help="Clip to export: its 'clip' name (mocap archives) or SUBJECT/ACTION. [default: the first]")
@click.option("--camera", default=0, show_default=True, type=click.IntRange(0), help="Camera whose frame is used.")
@click.option("--units", type=click.Choice(["mm", "cm", "m", "inch"]), default="mm", show_default=True,
              help="Length unit of the BVH file.")
@click.option("--fps", type=_FPS, default=30.0, show_default=True,
              help="Frame rate written to the file.")
def export_bvh(archive, out, clip, camera, units, fps):
    """Write one sequence of an archive's 3D poses (h36m17) as a BVH file.

    The sequence is the rows of one clip seen by one camera, in frame order; the BVH has the
    h36m17 hierarchy with the sequence's median bone lengths and joint rotations solved so that
    every bone points where the archive's pose points (Y up).

    \b
    Examples:
      gatepose export-bvh cmu.npz --clip 02_01 --out 02_01.bvh
      gatepose export-bvh h36m.npz --clip S9/Walking --camera 1 --units cm --out walk.bvh
    """
    from pathlib import Path

    from gatepose.data.archive import load_archive
    from gatepose.data.mocap.export import clip_sequence, write_poses_bvh
    from gatepose.errors import DataError

    if not Path(out).parent.is_dir():
        raise DataError(f"{out}: the folder {Path(out).parent} does not exist")
    ds = load_archive(archive)
    rows, clip, n_seq = clip_sequence(ds, archive, clip, camera)
    if n_seq > 1:
        click.echo(f"warning: clip {clip!r} camera {camera} holds {n_seq} sequences; "
                   f"exported the first ({len(rows)} frames)", err=True)
    write_poses_bvh(out, ds.poses_3d[rows], units=units, fps=fps)
    click.echo(f"wrote {out}: {len(rows)} frames of {clip} (camera {camera}), {units}, {fps:g} fps")
