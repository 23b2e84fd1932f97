"""gatepose's own BVH and ASF/AMC readers: real CMU excerpts, rotation orders against SciPy, bad files."""
import itertools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gatepose.data.mocap.asf import amc_tree, read_asf
from gatepose.data.mocap.bvh import bvh_tree, forward_kinematics, parse_bvh, read_bvh
from gatepose.errors import DataError
from mocap_files import MOCAP_FIXTURES, Joint, amc_text, asf_text, bvh_text


def test_bvh_excerpt_reads():
    b = read_bvh(MOCAP_FIXTURES / "02_01.bvh")
    assert b.n_frames == 60 and abs(b.fps - 120) < 1e-3
    assert b.names[0] == "hip" and b.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert "lThigh" in b.names and "head_End" not in b.names and "leftEye_End" in b.names
    tree = bvh_tree(b, np.arange(0, 60, 4))
    assert tree.positions.shape == (15, len(b.names), 3)
    thigh = np.linalg.norm(tree.positions[:, b.names.index("lShin")] - tree.positions[:, b.names.index("lThigh")], axis=-1)
    assert np.ptp(thigh) < 1e-9 and abs(thigh[0] - np.linalg.norm(b.offsets[b.names.index("lShin")])) < 1e-9


def _two_joint_bvh(root_channels, child_channels, values, offset=(0.0, 10.0, 0.0)):
    b = Joint("b", f"{offset[0]} {offset[1]} {offset[2]}", tuple(child_channels), end="0 5 0")
    return bvh_text(Joint("a", "1 2 3", tuple(root_channels), [b]), [" ".join(str(v) for v in values)],
                    frame_time="0.04")


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("XYZ")])
def test_bvh_rotation_order_matches_scipy_intrinsic(order):
    """CHANNELS order is read per joint and composed as intrinsic rotations (SciPy upper case)."""
    rng = np.random.default_rng(3)
    root_ang, child_ang = rng.uniform(-170, 170, 3), rng.uniform(-170, 170, 3)
    root = ("Zposition", "Xposition", "Yposition") + tuple(f"{a}rotation" for a in order)
    child = tuple(f"{a}rotation" for a in order[::-1])
    text = _two_joint_bvh(root, child, [7, 5, 6, *root_ang, *child_ang])
    b = parse_bvh(text)
    P, R = forward_kinematics(b)
    R_root = Rotation.from_euler(order, root_ang, degrees=True)
    R_child = Rotation.from_euler(order[::-1], child_ang, degrees=True)
    np.testing.assert_allclose(P[0, 0], [5, 6, 7])          # position channels by name, not by place
    np.testing.assert_allclose(P[0, 1], [5, 6, 7] + R_root.apply([0, 10, 0]), atol=1e-9)
    np.testing.assert_allclose(P[0, 2], P[0, 1] + (R_root * R_child).apply([0, 5, 0]), atol=1e-9)


def test_bvh_root_with_three_channels_and_partial_rotations():
    text = _two_joint_bvh(("Yrotation", "Xrotation", "Zrotation"), ("Xrotation",), [30, 0, 0, 90])
    P, _ = forward_kinematics(parse_bvh(text))
    np.testing.assert_allclose(P[0, 0], [1, 2, 3])
    np.testing.assert_allclose(P[0, 2] - P[0, 1], Rotation.from_euler("YX", [30, 90], degrees=True).apply([0, 5, 0]),
                               atol=1e-9)


def test_asf_excerpt_units_and_rigid_bones():
    asf = read_asf(MOCAP_FIXTURES / "49.asf")
    assert asf.length_unit == 0.45 and asf.degrees and asf.root_order[:3] == ("tx", "ty", "tz")
    tree = amc_tree(asf, MOCAP_FIXTURES / "49_18.amc", step=4)
    assert len(tree.source_frame) == 30 and tree.source_frame[1] == 4
    femur = np.linalg.norm(tree.positions[:, tree.names.index("ltibia")] - tree.positions[:, tree.names.index("lfemur")],
                           axis=-1)
    np.testing.assert_allclose(femur, asf.bones["lfemur"].length * 25.4 / 0.45, rtol=1e-9)


def _asf_text(axis="0 0 30 XYZ", dof="rx ry rz", units_length="1.0", angle="deg", root_order="TX TY TZ RX RY RZ"):
    """One bone, femur, under the root."""
    femur = dict(name="femur", direction="0 -1 0", length="10", axis=axis, dof=dof)
    return asf_text([femur], ["root femur"], length=units_length, angle=angle, root_order=root_order)


@pytest.mark.parametrize("axis_order", ["XYZ", "ZYX", "YXZ"])
def test_asf_axis_and_dof_order_match_scipy(tmp_path, axis_order):
    """G = C M C^-1: C from the axis line's X, Y, Z angles applied in its order; M from the AMC values
    applied in the dof line's order (both about fixed axes: SciPy lower case)."""
    (tmp_path / "s.asf").write_text(_asf_text(axis=f"10 20 30 {axis_order}", dof="rz rx ry"))
    (tmp_path / "s_1.amc").write_text(amc_text([["root 1 2 3 0 0 0", "femur 40 -25 15"]]))
    tree = amc_tree(read_asf(tmp_path / "s.asf"), tmp_path / "s_1.amc")
    xyz = {"X": 10, "Y": 20, "Z": 30}
    C = Rotation.from_euler(axis_order.lower(), [xyz[a] for a in axis_order], degrees=True)
    M = Rotation.from_euler("zxy", [40, -25, 15], degrees=True)
    end = np.array([1, 2, 3]) + 10 * (C * M * C.inv()).apply([0, -1, 0])
    np.testing.assert_allclose(tree.positions[0, tree.names.index("femur_End")], end * 25.4, atol=1e-9)


# -- bad files: one DataError line each ------------------------------------------------------------

def _excerpt_lines():
    return (MOCAP_FIXTURES / "02_01.bvh").read_text().splitlines()


def _bad_bvh(kind):
    lines = _excerpt_lines()
    m = lines.index("MOTION")
    if kind == "truncated":     # cut inside a frame line
        return "\n".join(lines[:m + 3 + 20] + [" ".join(lines[m + 3 + 20].split()[:17])])
    if kind == "channels":
        lines[m + 5] = " ".join(lines[m + 5].split()[:-1])
    elif kind == "nonnumeric":
        v = lines[m + 5].split()
        v[7] = "abc"
        lines[m + 5] = " ".join(v)
    elif kind == "zero":
        lines[m + 1] = "Frames: 0"
    elif kind == "hierarchy":
        return "\n".join(lines[:40])
    elif kind == "channel_name":
        lines[4] = lines[4].replace("Zrotation", "Wrotation", 1)
    return "\n".join(lines)


@pytest.mark.parametrize("kind,words", [("truncated", "truncated"), ("channels", "channels"),
                                        ("nonnumeric", "'abc'"), ("zero", "at least one frame"),
                                        ("hierarchy", "MOTION"), ("channel_name", "unknown channel")])
@pytest.mark.filterwarnings("ignore:bad.bvh. Frames")   # the truncated file also says its count is off
def test_bad_bvh_is_one_line(kind, words):
    with pytest.raises(DataError) as e:
        parse_bvh(_bad_bvh(kind), "bad.bvh")
    assert words in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith("bad.bvh")


@pytest.mark.parametrize("amc,words", [
    ("1\nroot 1 2 3 0 0 0\nfemur 1 2 3\n2\nroot 1 2 3 0 0 0\n", "truncated"),
    ("1\nroot 1 2 3 0 0 0\nfemur 1 x 3\n", "'x'"),
    ("1\nroot 1 2 3 0 0 0\nfemur 1 2\n", "2 values"),
    (":DEGREES\n", "no frames"),
    ("1\nroot 1 2 3 0 0 0\nfemur 1 2 3\ntibia 4\n", "not in the skeleton"),
])
def test_bad_amc_is_one_line(tmp_path, amc, words):
    (tmp_path / "s.asf").write_text(_asf_text())
    (tmp_path / "s_1.amc").write_text(amc)
    with pytest.raises(DataError) as e:
        amc_tree(read_asf(tmp_path / "s.asf"), tmp_path / "s_1.amc")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_bad_asf(tmp_path):
    (tmp_path / "s.asf").write_text(_asf_text(axis="0 0 30 XXY"))
    with pytest.raises(DataError, match="axis"):
        read_asf(tmp_path / "s.asf")
    (tmp_path / "t.asf").write_text(":version 1.10\n:name x\n")
    with pytest.raises(DataError, match="bonedata"):
        read_asf(tmp_path / "t.asf")
