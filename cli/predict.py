"""`gatepose predict`: lift 2D poses from a file (poses or COCO detector keypoints) to 3D in mm."""
from __future__ import annotations

import click

from gatepose.names import MAX_FPS, MIN_FPS

from . import common
from .common import FiniteFloatRange, device_option, output_file_option


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder written by gatepose train.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="2D poses: .npy (N, J, 2) in the run's skeleton layout, or COCO keypoints "
                   "(.json results, or .npy (N, 17, 3) with confidence).")
@output_file_option("Where to write the 3D poses (.npy, .json or .bvh).", dest="out_path")
@click.option("--format", "fmt", type=click.Choice(["auto", "npy", "json", "bvh"]), default="auto",
              show_default=True, help="Output format; auto picks by the suffix of --out.")
@click.option("--units", type=click.Choice(["mm", "cm", "m", "inch"]), default="mm", show_default=True,
              help="BVH output: length unit.")
@click.option("--fps", type=FiniteFloatRange(min=MIN_FPS, max=MAX_FPS), default=30.0, show_default=True,
              help="BVH output: frame rate of the sequence (the input poses in order).")
@click.option("--batch", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Poses per forward pass.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="best.npz (lowest validation N-MPJPE) or checkpoint.npz (the last step).")
@click.option("--confidence-threshold", type=click.FloatRange(0.0, 1.0), default=0.3, show_default=True,
              help="COCO input: joints below this confidence are missing: their detected coordinates are "
                   "dropped and the lifter infers them (counted on stderr, listed per pose in JSON "
                   "output's 'inferred'). A detection with fewer than half its joints left is an error.")
@common.refine_options
@device_option
def predict(run_dir, input_path, out_path, fmt, units, fps, batch, checkpoint, confidence_threshold, refine_above,
            no_refine, device):
    """Lift 2D poses to 3D with a trained run.

    Input is either 2D poses in the run's skeleton layout, a .npy of shape (N, J, 2) in pixels or
    any unit (each pose is made root-relative and divided by its own scale, so units and position
    do not matter), or COCO-17 keypoints from a 2D detector (a COCO results .json, or a .npy of
    (N, 17, 3) holding x, y, confidence), converted to h36m17 (runs on h36m17 only).

    Missing joints: a joint NaN in both coordinates of a .npy, or a COCO joint below
    --confidence-threshold, is inferred: by the run's missing-joint token (a run trained with
    --aug-drop-joints; RepNet's runs take a mask instead), else filled first with the run's mean
    training pose fitted to the present joints by a 2D similarity. A pose needs at least half its
    joints (docs/detector-inputs.md).

    Noisy 2D: a run with the offset lift (small-weak) moves the joints of a noisy pose across the
    image; where it moves them further than it moved 99 % of its clean validation poses, the pose
    is lifted again from its own corrected x and y (counted on stderr; --no-refine lifts once).
    For a detector's keypoints train small-weak, or small-full-detector (supervised).

    Output: 3D poses in millimetres, root-relative (pelvis at the origin), camera axes of the input
    (x right, y down, z away from the camera); the scale is the training set's mean pose size. A
    .npy holds (N, J, 3) float32; a .json holds {"skeleton", "joints": [names], "units": "mm",
    "poses": [[[x, y, z], ...], ...], "inferred": [[joint names], ...] per pose} plus "image_ids"
    and confidences for COCO input. A .bvh
    holds the poses as one animation (h36m17 runs): bone lengths fixed to their medians, joint
    rotations solved so that every bone points where the prediction points, Y up, in --units
    at --fps, for Blender and other mocap tools.

    \b
    Examples:
      gatepose predict --run runs/a --input poses2d.npy --out poses3d.npy
      gatepose predict --run runs/a --input poses2d.npy --out poses3d.json
      gatepose predict --run runs/a --input person_keypoints_results.json --out lifted.json
      gatepose predict --run runs/a --input kp.npy --out lifted.npy --device gpu --batch 4096
      gatepose predict --run runs/a --input video_kp.npy --out lifted.bvh --fps 25 --units cm
    """
    from gatepose.errors import GateposeError
    from gatepose.files import check_output_file
    from gatepose.posefiles import output_format, read_poses_2d, write_poses_3d
    from gatepose.runs import load_run

    check_output_file(out_path, [input_path])
    fmt = output_format(out_path, fmt)  # a bad --out fails before any work
    xp = common.pick_device(device, defer=True)
    given = click.get_current_context().get_parameter_source
    for name in ("units", "fps"):      # a BVH option on another output would be silently ignored
        if (fmt != "bvh" and given(name) == click.core.ParameterSource.COMMANDLINE
                and not (name == "units" and units == "mm")):
            raise GateposeError(f"--{name} applies to BVH output only; {fmt} output is in mm, one pose per row")
    run = load_run(run_dir, xp, which=checkpoint)
    if fmt == "bvh":                                 # before any work, not after the lift
        from gatepose.data.mocap.export import check_bvh_skeleton

        check_bvh_skeleton(run.skeleton, f"{out_path}: the run {run_dir}")
    common.apply_refine(run, refine_above, no_refine)
    inp = read_poses_2d(input_path, run.skeleton, threshold=confidence_threshold)
    common.announce_device()
    if inp.note:
        where = " (each listed in the output's 'inferred')" if fmt == "json" else ""
        how = "the run's missing-joint token" if run.takes_missing else "the mean-pose fallback (the run has no missing-joint token)"
        click.echo(f"warning: {inp.note}{where}; inferred by {how}", err=True)
    info = {}
    poses = run.predict_mm(inp.poses, batch=batch, info=info)
    written = write_poses_3d(out_path, poses, run.skeleton, fmt, inp, units=units, fps=fps)
    twice = (f"; {info['refined']} lifted twice (moved more than {run.refine_above:.4g} by the first lift)"
             if run.refine_above is not None else "")
    click.echo(f"lifted {len(poses)} poses ({run.skeleton}, {checkpoint} checkpoint of {run_dir}) -> "
               f"{out_path} ({written}, {units if written == 'bvh' else 'mm'}){twice}", err=True)
