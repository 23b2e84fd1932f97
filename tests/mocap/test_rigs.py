"""Rigs and file layouts met outside the shared CMU clips, each as a small synthetic BVH reproducing
the structure that once broke the importer: Bandai-Namco (position channels on every joint, a
zero End Site on the head), CMU's MotionBuilder-style conversion (1/0.45-inch units), Z-up
exports, OptiTrack names, limbs ending at the elbow, Windows line endings with a stale Frames:."""
import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from gatepose.data.archive import DataWarning, load_archive
from gatepose.data.mocap.bvh import bvh_tree, parse_bvh
from gatepose.data.mocap.importer import read_clip, up_axis
from gatepose.data.mocap.rigs import match_rig, roles, to_h36m17
from helpers import assert_refused
from mocap_files import Joint, bvh_text

# role, parent, rest offset (cm, Y up, facing +Z: the subject's left is +X)
_BODY = [
    ("hips", None, (0, 95, 0)), ("spine", "hips", (0, 12, 0)), ("chest", "spine", (0, 30, 0)),
    ("neck", "chest", (0, 14, 0)), ("head", "neck", (0, 10, 0)),
    ("lclav", "chest", (3, 10, 0)), ("lsho", "lclav", (15, 0, 0)), ("lelb", "lsho", (28, 0, 0)),
    ("lwri", "lelb", (25, 0, 0)),
    ("rclav", "chest", (-3, 10, 0)), ("rsho", "rclav", (-15, 0, 0)), ("relb", "rsho", (-28, 0, 0)),
    ("rwri", "relb", (-25, 0, 0)),
    ("lhip", "hips", (9, -6, 0)), ("lkne", "lhip", (0, -42, 0)), ("lank", "lkne", (0, -42, 0)),
    ("ltoe", "lank", (0, -6, 14)),
    ("rhip", "hips", (-9, -6, 0)), ("rkne", "rhip", (0, -42, 0)), ("rank", "rkne", (0, -42, 0)),
    ("rtoe", "rank", (0, -6, 14)),
]
BANDAI = dict(hips="Hips", spine="Spine", chest="Chest", neck="Neck", head="Head", lclav="Shoulder_L",
              lsho="UpperArm_L", lelb="LowerArm_L", lwri="Hand_L", rclav="Shoulder_R", rsho="UpperArm_R",
              relb="LowerArm_R", rwri="Hand_R", lhip="UpperLeg_L", lkne="LowerLeg_L", lank="Foot_L", ltoe="Toes_L",
              rhip="UpperLeg_R", rkne="LowerLeg_R", rank="Foot_R", rtoe="Toes_R")
CMU_MB = dict(BANDAI, spine="LowerBack", chest="Spine1", neck="Neck1", lclav="LeftShoulder", lsho="LeftArm",
              lelb="LeftForeArm", lwri="LeftHand", rclav="RightShoulder", rsho="RightArm", relb="RightForeArm",
              rwri="RightHand", lhip="LeftUpLeg", lkne="LeftLeg", lank="LeftFoot", ltoe="LeftToeBase",
              rhip="RightUpLeg", rkne="RightLeg", rank="RightFoot", rtoe="RightToeBase")
OPTITRACK = {k: "Skeleton1_" + v for k, v in dict(
    hips="Hip", spine="Ab", chest="Chest", neck="Neck", head="Head", lclav="LShoulder", lsho="LUArm",
    lelb="LFArm", lwri="LHand", rclav="RShoulder", rsho="RUArm", relb="RFArm", rwri="RHand", lhip="LThigh",
    lkne="LShin", lank="LFoot", ltoe="LToe", rhip="RThigh", rkne="RShin", rank="RFoot", rtoe="RToe").items()}


def body_bvh(names, *, scale=1.0, up="y", frames=3, head_end=(0, 18, 0), all_positions=False,
             drop=(), frames_line=None, newline="\n", seed=0, jitter=10.0) -> str:
    """The body above as a BVH: lengths times ``scale``, the world turned so that ``up`` is up,
    small random rotations; ``all_positions`` gives every joint 6 channels (Bandai-Namco);
    joints in ``drop`` are left out (their parent ends in an End Site 10 cm along the bone).
    Tab-indented, with trailing blanks and a tab after ``Frames:`` (``frames_line`` if given)."""
    rng = np.random.default_rng(seed)
    turn = {"y": lambda v: v, "z": lambda v: (v[0], -v[2], v[1])}[up]
    body = [b for b in _BODY if b[0] not in drop]
    chans = []

    def joint(role, parent, off):
        off = turn(tuple(scale * v for v in off))
        six = parent is None or all_positions
        chans.append((six, off))
        kids = [joint(*b) for b in body if b[1] == role]
        lost = [b for b in _BODY if b[1] == role]
        e = (0, 0, 0) if role == "head" and head_end is None else \
            head_end if role == "head" else tuple(0.4 * v for v in lost[0][2]) if lost else (0, 0, 5)
        e = turn(tuple(scale * v for v in e))
        channels = (("Xposition", "Yposition", "Zposition") if six else ()) + ("Zrotation", "Xrotation", "Yrotation")
        return Joint(names[role], f"{off[0]:.5f} {off[1]:.5f} {off[2]:.5f}   ", channels, kids,   # trailing blanks
                     end=f"{e[0]:g} {e[1]:g} {e[2]:g}")

    root = joint(*body[0])
    lines = []
    for _ in range(frames):
        vals = []
        for six, off in chans:
            if six:
                vals += list(off)
            vals += list(rng.uniform(-jitter, jitter, 3))
        lines.append(" ".join(f"{v:.4f}" for v in vals) + " ")
    return bvh_text(root, lines, frame_time="0.0166667", declared=frames_line, indent="\t", sep="\t", newline=newline)


def _clip(tmp_path, text, name="clip.bvh", **kw):
    p = tmp_path / name
    p.write_bytes(text.encode())
    return read_clip("bvh", p, None, **kw)


def _check_body(clip, height=(1.5, 1.9)):
    X = clip.world
    thigh = np.linalg.norm(X[:, 4] - X[:, 5], axis=-1)
    assert np.all((300 < thigh) & (thigh < 550)), thigh
    assert height[0] < clip.height_mm / 1000 < height[1]
    # Y up, and the subject's left (LHip - RHip) crossed with up points forward, where the toes point
    up = np.median(X[:, 10] - X[:, 0], axis=0)
    assert up[1] > 0.9 * np.linalg.norm(up)


def test_bandai_namco_layout_zero_head_end_and_positions_everywhere(tmp_path):
    text = body_bvh(BANDAI, all_positions=True, head_end=None)
    clip = _clip(tmp_path, text)
    _check_body(clip)
    assert clip.units == "cm" and clip.rig["LHip"] == "UpperLeg_L" and clip.rig["Neck"] == "Head"
    # the head top goes along the trunk's rest direction (up), 0.19 x Pelvis-to-head above the head
    X = clip.world
    assert np.all(np.linalg.norm(X[:, 10] - X[:, 9], axis=-1) > 50)


def test_cmu_motionbuilder_conversion_is_in_cmu_units(tmp_path):
    clip = _clip(tmp_path, body_bvh(CMU_MB, scale=1 / 5.6444))    # CMU's 1/0.45-inch units
    assert clip.units == "cmu"
    _check_body(clip)
    r = CliRunner().invoke(cli, ["data", "import-mocap", str(tmp_path / "clip.bvh"), "--units", "inch",
                                 "--out", str(tmp_path / "o.npz")])
    assert r.exit_code == 0     # 0.7 m tall in inches is in range but no longer the automatic choice
    assert "inch" in r.output


def test_z_up_export_is_turned_to_y_up(tmp_path):
    # (the same Euler angles are a different motion in a turned world: compare the rest pose)
    y = _clip(tmp_path, body_bvh(CMU_MB, up="y", jitter=0), "y.bvh")
    z = _clip(tmp_path, body_bvh(CMU_MB, up="z", jitter=0), "z.bvh")
    assert z.units == "cm, Z up" and y.units == "cm"
    np.testing.assert_allclose(z.world, y.world, atol=1e-6)
    assert up_axis(y.world) == "y"
    forced = _clip(tmp_path, body_bvh(CMU_MB, up="z", jitter=0), "z2.bvh", up="y")
    assert forced.units == "cm" and not np.allclose(forced.world, y.world)


def test_left_is_left_in_a_known_orientation(tmp_path):
    """The rig faces +Z with its left at +X (Y up): the importer's left hip is the +X one, and
    (left - right) x up points forward, along the toes."""
    text = body_bvh(CMU_MB, frames=1, jitter=0)
    tree = bvh_tree(parse_bvh(text, "t.bvh"))
    X = to_h36m17(tree, match_rig(tree))
    assert X[0, 4, 0] > 0 > X[0, 1, 0] and X[0, 11, 0] > 0 > X[0, 14, 0]
    fwd = np.cross(X[0, 4] - X[0, 1], X[0, 8] - X[0, 0])
    toe = tree.positions[0, tree.names.index("LeftToeBase")] - X[0, 6]
    assert fwd @ toe > 0


def test_optitrack_names_and_limbs_ending_at_the_elbow(tmp_path):
    assert [(r, s) for r, s, _ in roles("Skeleton1_LFArm")] == [("elbow", "l")]
    assert [(r, s) for r, s, _ in roles("Skeleton1_RUArm")] == [("shoulder", "r")]
    clip = _clip(tmp_path, body_bvh(OPTITRACK, drop=("lwri", "rwri")))
    _check_body(clip)
    assert clip.rig["LElbow"] == "Skeleton1_LFArm" and clip.rig["LWrist"] == "Skeleton1_LFArm_End"
    assert clip.rig["RShoulder"] == "Skeleton1_RUArm"


@pytest.mark.parametrize("declared", [10, 2])
def test_crlf_tabs_and_a_stale_frame_count(tmp_path, declared):
    text = body_bvh(CMU_MB, frames=4, frames_line=declared, newline="\r\n")
    with pytest.warns(DataWarning, match=f"Frames: {declared} but 4 frame lines"):
        clip = _clip(tmp_path, text)
    assert len(clip.world) == 4
    r = CliRunner().invoke(cli, ["data", "import-mocap", str(tmp_path / "clip.bvh"), "--out", str(tmp_path / "o.npz")])
    assert r.exit_code == 0 and len(load_archive(tmp_path / "o.npz")) == 8
    assert "warning: " in (r.stderr if hasattr(r, "stderr") else r.output)


def test_a_cut_inside_a_frame_line_is_one_error_and_nothing_written(tmp_path):
    text = body_bvh(CMU_MB, frames=3)
    p = tmp_path / "cut.bvh"
    p.write_text(text[: text.rstrip().rfind(" ", 0, len(text) - 40)])
    out = tmp_path / "o.npz"
    r = CliRunner().invoke(cli, ["data", "import-mocap", str(p), "--out", str(out)])
    assert_refused(r, "truncated", not_written=[out], progress=True)
