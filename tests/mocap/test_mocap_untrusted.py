"""Motion capture files and import/export options as untrusted input (issue #18).

One test per case a new user met with about 400 corrupted or unusual BVH, ASF and AMC files and
options: each ends in one ``error:`` line and exit code 2 with nothing written, or, where a user
would want the file read (a byte-order mark, CR-only line endings, tokens on one line, a proper
Euler order), is read correctly. No command writes onto one of its inputs, --force or not.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gatepose.data.mocap.asf import amc_tree, read_asf
from gatepose.data.mocap.bvh import forward_kinematics, parse_bvh, read_bvh
from helpers import assert_one_error, assert_refused, invoke, run_cli
from mocap_files import MOCAP_FIXTURES, join_motion, split_motion

BVH = (MOCAP_FIXTURES / "02_01.bvh").read_text()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mocap(tmp_path):
    """A copy of the shipped CMU excerpts, an action index and a joint map beside them."""
    for f in ("02_01.bvh", "49.asf", "49_18.amc"):
        shutil.copy(MOCAP_FIXTURES / f, tmp_path / f)
    (tmp_path / "index.tsv").write_text("02_01\twalk\n49_18\tdance\n")
    (tmp_path / "map.json").write_text("{}")
    return tmp_path


def _frame_time(text, value):
    return re.sub(r"Frame Time:.*", f"Frame Time: {value}", text)


# -- no command writes onto one of its inputs, --force or not ---------------------------------------
@pytest.mark.parametrize("case", ["bvh", "asf_option", "asf_beside", "amc", "in_folder", "actions",
                                  "joint_map", "symlink", "hard_link"])
def test_import_mocap_never_overwrites_an_input(mocap, case):
    d = mocap
    args, out = {
        "bvh": (["02_01.bvh"], "02_01.bvh"),
        "asf_option": (["49_18.amc", "--asf", "49.asf"], "49.asf"),
        "asf_beside": (["49_18.amc"], "49.asf"),          # the ASF found beside the AMC
        "amc": (["49_18.amc"], "49_18.amc"),
        "in_folder": (["."], "02_01.bvh"),                # a BVH inside a folder given as input
        "actions": (["02_01.bvh", "--actions", "index.tsv"], "index.tsv"),
        "joint_map": (["02_01.bvh", "--joint-map", "map.json"], "map.json"),
        "symlink": (["02_01.bvh"], "link.bvh"),
        "hard_link": (["02_01.bvh"], "hard.bvh"),
    }[case]
    if case == "symlink":
        os.symlink(d / "02_01.bvh", d / "link.bvh")
    if case == "hard_link":
        os.link(d / "02_01.bvh", d / "hard.bvh")
    args = [str(d / a) if (d / a).exists() else a for a in args]
    keep = [d / f for f in ("02_01.bvh", "49.asf", "49_18.amc", "index.tsv", "map.json")]
    # an input found in a folder is checked by the command, after --out's suffix (an archive is .npz)
    match = re.compile("never overwrites an input|expected a .npz file name") if case in (
        "asf_beside", "in_folder") else "never overwrites an input"
    assert_one_error(["data", "import-mocap", *args, "--out", d / out, "--force"], match, keep)
    if case == "symlink":
        assert (d / "link.bvh").is_symlink()


def test_export_bvh_never_overwrites_its_archive(mocap):
    code, _, err = run_cli("data", "import-mocap", mocap / "02_01.bvh", "--out", mocap / "a.npz")
    assert code == 0, err
    assert_one_error(["export-bvh", mocap / "a.npz", "--out", mocap / "a.npz", "--force"],
                     "never overwrites an input", [mocap / "a.npz"])


def test_other_importers_never_overwrite_an_input(tmp_path):
    src = tmp_path / "data_3d.npz"
    src.write_bytes(b"not really an npz")
    assert_one_error(["data", "import-h36m", src, tmp_path / "d2.npz", "--out", src, "--force",
                      "--trust-pickle"], "never overwrites an input", [src])


# -- non-regular files are refused at once -----------------------------------------------------------
def _run_with_watchdog(args, fifo, seconds=60):
    """invoke(*args) in a thread; a call still blocked after ``seconds`` is unblocked by opening the
    FIFO for writing, and the test fails."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", invoke(*args)), daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(10)
        pytest.fail(f"{args} blocked on the FIFO {fifo}")
    return box["r"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("role", ["bvh", "in_folder", "asf", "actions"])
def test_fifo_inputs_are_refused_at_once(mocap, role):
    fifo = mocap / {"bvh": "p.bvh", "in_folder": "sub/p.bvh", "asf": "p.asf", "actions": "p.tsv"}[role]
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)
    args = {"bvh": [fifo], "in_folder": [fifo.parent], "asf": [mocap / "49_18.amc", "--asf", fifo],
            "actions": [mocap / "02_01.bvh", "--actions", fifo]}[role]
    t0 = time.perf_counter()
    r = _run_with_watchdog(["data", "import-mocap", *args, "--out", mocap / "o.npz"], fifo)
    assert_refused(r, "named pipe", str(fifo), not_written=[mocap / "o.npz"])
    assert time.perf_counter() - t0 < 30


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_as_bvh_is_refused(tmp_path):
    """(/dev/zero would never end; /dev/null shows the same refusal without that risk.)"""
    os.symlink("/dev/null", tmp_path / "null.bvh")
    assert_one_error(["data", "import-mocap", tmp_path / "null.bvh", "--out", tmp_path / "o.npz"],
                     "null.bvh: is a device; expected a regular file", out=tmp_path / "o.npz")


# -- tracebacks before: now one error line ------------------------------------------------------------
def test_frame_time_whose_inverse_overflows(tmp_path):
    (tmp_path / "a.bvh").write_text(_frame_time(BVH, "1e-320"))
    assert_one_error(["data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz"],
                     re.compile(r"a\.bvh: line \d+: Frame Time: .* expected a time between"), out=tmp_path / "o.npz")


@pytest.mark.parametrize("channels,match", [
    ("Zrotation Zrotation Xrotation", "turns about one axis twice in a row"),
    ("Zrotation Xrotation Xrotation", "turns about one axis twice in a row"),
    ("Zrotation Xrotation Yrotation Zrotation", "4 rotation channels; expected at most 3"),
    ("Xposition Xposition Zrotation", "a position channel twice"),
])
def test_bad_rotation_orders_are_one_line(tmp_path, channels, match):
    n = len(channels.split())
    text = BVH.replace("CHANNELS 3 Zrotation Xrotation Yrotation", f"CHANNELS {n} {channels}", 1)
    if n != 3:   # keep the frame lines consistent, so that the order itself is what is refused
        text = _widen_abdomen(text, n - 3)
    (tmp_path / "a.bvh").write_text(text)
    assert_one_error(["data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz"],
                     re.compile(r"a\.bvh: line 9: CHANNELS of 'abdomen'.*" + match), out=tmp_path / "o.npz")


def _widen_abdomen(text, extra):
    """Frame lines with ``extra`` zero values after the root's six (abdomen's first channels)."""
    head, lines = split_motion(text)
    out = []
    for ln in lines:
        v = ln.split()
        if len(v) > 10:
            ln = " ".join(v[:6] + ["0"] * extra + v[6:])
        out.append(ln)
    return join_motion(head, out)


@pytest.mark.parametrize("kind", ["bvh", "amc"])
@pytest.mark.parametrize("value", ["nan", "inf", "1e-10", "0"])
def test_fps_option_must_be_a_finite_plausible_rate(mocap, kind, value):
    src = mocap / ("02_01.bvh" if kind == "bvh" else "49_18.amc")
    assert_one_error(["data", "import-mocap", src, "--fps", value, "--out", mocap / "o.npz"], "--fps",
                     out=mocap / "o.npz")


def test_negative_seed_is_one_line(mocap):
    assert_one_error(["data", "import-mocap", mocap / "02_01.bvh", "--seed", "-1", "--out", mocap / "o.npz"],
                     "--seed", out=mocap / "o.npz")
    assert_one_error(["data", "synth", "--seed", "-1", "--out", mocap / "s.npz"], "--seed", out=mocap / "s.npz")


# -- garbage accepted silently before -----------------------------------------------------------------
@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-inf"])
def test_bad_amc_value_in_a_dropped_frame(mocap, value):
    """Frame 2 is dropped by the default --fps (every 4th frame of 120 kept): it is checked all the same."""
    lines = (mocap / "49_18.amc").read_text().splitlines()
    i = lines.index("2") + 3                      # the frame's third bone line
    v = lines[i].split()
    bone = v[0]
    v[1] = value
    lines[i] = " ".join(v)
    (mocap / "49_18.amc").write_text("\n".join(lines) + "\n")
    assert_one_error(["data", "import-mocap", mocap / "49_18.amc", "--out", mocap / "o.npz"],
                     re.compile(rf"49_18\.amc: line {i + 1}: {bone}.*'{re.escape(value)}'"), out=mocap / "o.npz")


@pytest.mark.parametrize("value", ["1e-300", "0", "-0.01", "nan", "7200"])
def test_impossible_frame_times(tmp_path, value):
    (tmp_path / "a.bvh").write_text(_frame_time(BVH, value))
    assert_one_error(["data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz"], "Frame Time",
                     out=tmp_path / "o.npz")


def _set_root_x(text, frame, value):
    head, lines = split_motion(text)
    rows = [k for k, ln in enumerate(lines) if len(ln.split()) > 10]
    v = lines[rows[frame]].split()
    v[0] = value
    lines[rows[frame]] = " ".join(v)
    return join_motion(head, lines)


@pytest.mark.parametrize("frame", [0, 2])          # a kept frame and a frame the default --fps drops
def test_root_translation_of_1e300_is_refused_with_a_count(tmp_path, frame):
    (tmp_path / "a.bvh").write_text(_set_root_x(BVH, frame, "1e300"))
    assert_one_error(["data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz"],
                     re.compile(rf"a\.bvh: 1 of 60 frames have .* more than 10 km .*first: frame {frame}"),
                     out=tmp_path / "o.npz")


def test_amc_root_translation_of_1e300_is_refused(mocap):
    lines = (mocap / "49_18.amc").read_text().splitlines()
    i = lines.index("3") + 1
    assert lines[i].startswith("root")
    lines[i] = "root 1e300 " + " ".join(lines[i].split()[2:])
    (mocap / "49_18.amc").write_text("\n".join(lines) + "\n")
    assert_one_error(["data", "import-mocap", mocap / "49_18.amc", "--out", mocap / "o.npz"],
                     re.compile(r"1 of 120 frames translate root more than 10 km"), out=mocap / "o.npz")


def test_a_joint_torn_from_the_body_is_refused_with_a_count(tmp_path):
    """A position channel on the left shin places the knee 8 m off (the file is in cm) in two kept frames."""
    b = parse_bvh(BVH)
    j = b.names.index("lShin")
    col = sum(len(c) for c in b.channels[:j])
    text = BVH.replace("JOINT lShin\n    {\n      OFFSET", "JOINT lShin\n    {\n      OFFSET", 1)
    head, lines = split_motion(text)
    head_lines = head.splitlines()
    k = next(i for i, ln in enumerate(head_lines) if ln.strip() == "JOINT lShin")
    c = next(i for i in range(k, len(head_lines)) if "CHANNELS" in head_lines[i])
    head_lines[c] = head_lines[c].replace("CHANNELS 3", "CHANNELS 4 Xposition")
    x0 = b.offsets[j][0]
    rows = [i for i, ln in enumerate(lines) if len(ln.split()) > 10]
    for f, i in enumerate(rows):
        v = lines[i].split()
        lines[i] = " ".join(v[:col] + [str(x0 + (800.0 if f in (4, 8) else 0.0))] + v[col:])
    (tmp_path / "a.bvh").write_text(join_motion("\n".join(head_lines) + "\n", lines))
    assert_one_error(["data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz"],
                     re.compile(r"2 of 15 kept frames have a joint more than 2 body heights "
                                r".*first: frame 4, L(Knee|Ankle)"),
                     out=tmp_path / "o.npz")
    # the same file without the stray frames imports
    for f, i in enumerate(rows):
        if f in (4, 8):
            v = lines[i].split()
            v[col] = str(x0)
            lines[i] = " ".join(v)
    (tmp_path / "a.bvh").write_text(join_motion("\n".join(head_lines) + "\n", lines))
    code, _, err = run_cli("data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz")
    assert code == 0, err


def test_offsets_that_overflow_are_one_line_not_a_zero_length_head(tmp_path):
    text = BVH.replace("OFFSET 0 20.6881 -0.73152", "OFFSET 0 1e308 -0.73152", 1).replace(
        "OFFSET 0 11.7043 -0.48768", "OFFSET 0 1e308 -0.48768", 1)
    (tmp_path / "a.bvh").write_text(text)
    assert_one_error(["data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz"],
                     re.compile(r"a\.bvh: the skeleton's rest pose or joint positions overflow"),
                     out=tmp_path / "o.npz")


def test_asf_direction_of_huge_components_is_a_direction(mocap):
    """Found by tests/mocap/test_mocap_fuzz.py: a direction's norm of 1e308 components overflowed (a NumPy
    warning, then a zero direction imported silently)."""
    import warnings

    text = (mocap / "49.asf").read_text().replace("direction -0.63101 -0.720537 0.287493",
                                                   "direction 1e308 -0.720537 0.287493", 1)
    (mocap / "49.asf").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asf = read_asf(mocap / "49.asf")
    np.testing.assert_allclose(asf.bones["rhipjoint"].direction, [1, 0, 0], atol=1e-12)


# -- valid or recoverable files: read, and read correctly ---------------------------------------------
def _same(a, b):
    assert a.names == b.names and a.parents == b.parents and a.channels == b.channels
    np.testing.assert_allclose(a.offsets, b.offsets)
    np.testing.assert_allclose(a.motion, b.motion)
    np.testing.assert_allclose(a.frame_time, b.frame_time)


def test_bvh_with_a_utf8_byte_order_mark(tmp_path):
    (tmp_path / "a.bvh").write_bytes(b"\xef\xbb\xbf" + BVH.encode())
    _same(read_bvh(tmp_path / "a.bvh"), parse_bvh(BVH))
    code, _, err = run_cli("data", "import-mocap", tmp_path / "a.bvh", "--out", tmp_path / "o.npz")
    assert code == 0, err


def test_joint_brace_and_offset_on_one_line():
    text = re.sub(r"JOINT (\w+)\s*\{\s*OFFSET", r"JOINT \1 { OFFSET", BVH)
    assert "JOINT lShin { OFFSET" in text
    _same(parse_bvh(text), parse_bvh(BVH))


def test_hierarchy_on_one_line():
    head, motion = BVH.split("MOTION")
    _same(parse_bvh(" ".join(head.split()) + " MOTION" + motion), parse_bvh(BVH))


def test_header_values_on_one_line():
    head, motion = BVH.split("MOTION")
    lines = motion.strip().splitlines()
    text = head + "MOTION " + " ".join(lines[0].split()) + " " + " ".join(lines[1].split()) + "\n" + \
        "\n".join(lines[2:]) + "\n"
    _same(parse_bvh(text), parse_bvh(BVH))


def test_cr_only_line_endings(mocap):
    _same(parse_bvh(BVH.replace("\n", "\r")), parse_bvh(BVH))
    ref = amc_tree(read_asf(mocap / "49.asf"), mocap / "49_18.amc", step=4)
    for f in ("49.asf", "49_18.amc"):
        (mocap / f).write_bytes((mocap / f).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    tree = amc_tree(read_asf(mocap / "49.asf"), mocap / "49_18.amc", step=4)
    np.testing.assert_allclose(tree.positions, ref.positions, atol=1e-9)


def test_asf_and_amc_with_a_byte_order_mark(mocap):
    ref = amc_tree(read_asf(mocap / "49.asf"), mocap / "49_18.amc", step=4)
    for f in ("49.asf", "49_18.amc"):
        (mocap / f).write_bytes(b"\xef\xbb\xbf" + (mocap / f).read_bytes())
    tree = amc_tree(read_asf(mocap / "49.asf"), mocap / "49_18.amc", step=4)
    np.testing.assert_allclose(tree.positions, ref.positions, atol=1e-9)


def _rot(axis, deg):
    """The hand-written rotation matrix about one axis (not SciPy's)."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def test_proper_euler_order_zxz_is_read_as_intrinsic_rotations():
    text = """HIERARCHY
ROOT a
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Zrotation
  JOINT b
  {
    OFFSET 0 10 0
    CHANNELS 3 Yrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 0 7
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.04
1 2 3 30 40 50 -20 35 60
"""
    P, R = forward_kinematics(parse_bvh(text))
    R0 = _rot("Z", 30) @ _rot("X", 40) @ _rot("Z", 50)
    R1 = R0 @ _rot("Y", -20) @ _rot("X", 35) @ _rot("Y", 60)
    np.testing.assert_allclose(R[0, 0], R0, atol=1e-12)
    np.testing.assert_allclose(P[0, 1], [1, 2, 3] + R0 @ [0, 10, 0], atol=1e-9)
    np.testing.assert_allclose(P[0, 2], P[0, 1] + R1 @ [0, 0, 7], atol=1e-9)
    assert Rotation.from_matrix(R[0, 1]).magnitude() > 0


# -- export -------------------------------------------------------------------------------------------
@pytest.fixture
def archive(mocap):
    code, _, err = run_cli("data", "import-mocap", mocap / "02_01.bvh", "--out", mocap / "a.npz")
    assert code == 0, err
    return mocap / "a.npz"


@pytest.mark.parametrize("value", ["inf", "nan", "0", "1e9"])
def test_export_fps_must_be_a_rate_the_importer_reads(archive, value):
    assert_one_error(["export-bvh", archive, "--fps", value, "--out", archive.parent / "e.bvh"], "--fps",
                     out=archive.parent / "e.bvh")


def test_export_at_a_fast_rate_reads_back(archive):
    """30000 frames/s: a fixed-point Frame Time (0.00003333) would read back as 30003."""
    code, _, err = run_cli("export-bvh", archive, "--fps", "30000", "--out", archive.parent / "e.bvh")
    assert code == 0, err
    assert read_bvh(archive.parent / "e.bvh").fps == pytest.approx(30000, rel=1e-6)


def test_export_zero_length_bone_is_one_line_without_numpy_warnings(archive, tmp_path):
    from gatepose.data.archive import load_archive, save_archive

    ds = load_archive(archive)
    p3 = ds.poses_3d.copy()
    p3[3, 2] = p3[3, 1]                               # frame 3: the right knee on the right hip
    save_archive(tmp_path / "z.npz", ds.with_fields(poses_3d=p3) if hasattr(ds, "with_fields")
                 else _replace(ds, poses_3d=p3))
    err = assert_one_error(["export-bvh", tmp_path / "z.npz", "--out", tmp_path / "z.bvh"],
                           re.compile(r"frame \d+: the bone RHip-RKnee has zero length"), out=tmp_path / "z.bvh")
    assert "invalid value" not in err


def _replace(ds, **fields):
    import dataclasses

    return dataclasses.replace(ds, **fields)


# -- messages that misled -----------------------------------------------------------------------------
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc")
def test_out_in_proc_is_refused_before_any_work(mocap):
    t0 = time.perf_counter()
    err = assert_one_error(["data", "import-mocap", mocap / "02_01.bvh", "--out", "/proc/x.npz"],
                           re.compile(r"/proc/x\.npz: (no file can be created|the folder /proc is not writable)"))
    assert ".tmp" not in err and "reading" not in err
    assert time.perf_counter() - t0 < 10


def test_units_length_1e300_names_the_units(mocap):
    text = (mocap / "49.asf").read_text().replace("length 0.45", "length 1e300")
    (mocap / "49.asf").write_text(text)
    assert_one_error(["data", "import-mocap", mocap / "49_18.amc", "--out", mocap / "o.npz"],
                     re.compile(r"49\.asf: line \d+: ':units length 1e300' must be positive, from"),
                     out=mocap / "o.npz")


@pytest.mark.parametrize("edit,match", [
    # lhipjoint hangs from lfemur and lfemur from lhipjoint: a cycle that never reaches root
    (lambda t: t.replace("root lhipjoint rhipjoint", "root rhipjoint", 1).replace(
        "lhipjoint lfemur", "lhipjoint lfemur\n    lfemur lhipjoint", 1), "does not connect every bone to 'root'"),
    (lambda t: t.replace("lhipjoint lfemur", "lhipjoint lfemur\n    lfemur lhipjoint", 1), "two parents"),
    (lambda t: t.replace("lhipjoint lfemur", "lhipjoint lfemur ghost", 1), "names bone 'ghost'"),
])
def test_asf_hierarchy_with_a_cycle_or_an_unknown_bone(mocap, edit, match):
    text = (mocap / "49.asf").read_text()
    (mocap / "49.asf").write_text(edit(text))
    assert edit(text) != text
    assert_one_error(["data", "import-mocap", mocap / "49_18.amc", "--out", mocap / "o.npz"],
                     re.compile(r"49\.asf: .*" + match), out=mocap / "o.npz")


# -- Ctrl-C twice -------------------------------------------------------------------------------------
TINY = ["--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32", "--batch-size", "32",
        "--gate-hidden", "8", "--camera-width", "16", "--critic-pose-width", "8", "--critic-kcs-width", "16",
        "--synth-subjects", "4", "--log-every", "1", "--eval-every", "2", "--checkpoint-every", "2",
        "--device", "cpu"]


@pytest.mark.parametrize("gap", [0.0, 0.05])
def test_double_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path, gap):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "train", "--steps", "100000",
                             "--out", str(run_dir), *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=ROOT)
    deadline = time.time() + 120
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("device:", "step "))]
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("interrupted"), err
    from gatepose.runs import load_checkpoint

    _, meta = load_checkpoint(run_dir / "checkpoint.npz")
    assert meta["step"] >= 2
