"""HDM05-style ASF/AMC folders (several actors' skeletons side by side): each AMC finds its ASF by
the longest name prefix, subjects and actions come from the names, Latin-1 header bytes are read,
frames past the ASF's own joint limits are counted (and dropped on request), a clip spent lying
keeps its world's up axis, and validation can hold out whole takes.

Built from the shipped CMU excerpt (subject 49), renamed and edited: no HDM05 file is shipped.
"""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from gatepose.data.archive import load_archive
from gatepose.data.mocap.importer import find_files, read_clip
from helpers import assert_refused, invoke, stderr_of, stdout_of
from mocap_files import MOCAP_FIXTURES, amc_excerpt

LATIN1 = "#!OML:ASF X:\\f\xfcr Bonn\\DataBase\\Bastian.ASF\n".encode("latin-1")


def _folder(tmp_path, actors=("bd", "dg"), takes=("squat1Reps_001", "grabHighR_002"), edit=None):
    d = tmp_path / "hdm"
    d.mkdir()
    shutil.copy(MOCAP_FIXTURES / "49.asf", d / "HDM.asf")          # a decoy: a shorter prefix of every AMC
    for a in actors:
        shutil.copy(MOCAP_FIXTURES / "49.asf", d / f"HDM_{a}.asf")
        for t in takes:
            (d / f"HDM_{a}_{t}_120.amc").write_bytes(LATIN1 + amc_excerpt(40, edit).encode())
    return d


def test_each_amc_takes_the_asf_with_the_longest_name_prefix(tmp_path):
    d = _folder(tmp_path)
    for _, amc, asf in find_files([d]):
        assert asf.name == re.match(r"(HDM_[a-z]+)_", amc.name).group(1) + ".asf"
    # '1.asf' is no prefix of '11_01' at a separator; '11.asf' is
    e = tmp_path / "cmu"
    e.mkdir()
    for n in ("1", "11", "110"):
        shutil.copy(MOCAP_FIXTURES / "49.asf", e / f"{n}.asf")
    shutil.copy(MOCAP_FIXTURES / "49_18.amc", e / "11_01.amc")
    assert [f[2].name for f in find_files([e])] == ["11.asf"]


def test_no_matching_asf_among_several_is_one_error_line(tmp_path):
    d = tmp_path / "x"
    d.mkdir()
    for n in ("HDM_bd", "HDM_dg"):
        shutil.copy(MOCAP_FIXTURES / "49.asf", d / f"{n}.asf")
    (d / "HDM_tr_squat1Reps_001_120.amc").write_bytes(amc_excerpt(40).encode())
    r = invoke("data", "import-mocap", d, "--out", tmp_path / "o.npz")
    assert_refused(r, "HDM_tr_squat1Reps_001_120.amc", "--asf", not_written=[tmp_path / "o.npz"])


def test_folder_imports_with_no_flags_subjects_and_actions_from_names(tmp_path):
    d = _folder(tmp_path)
    r = invoke("data", "import-mocap", d, "--test-subjects", "HDM_dg", "--out", tmp_path / "h.npz")
    assert r.exit_code == 0, stderr_of(r)
    ds = load_archive(tmp_path / "h.npz")
    assert sorted(set(ds.subject)) == ["HDM_bd", "HDM_dg"]
    assert sorted(set(ds.action)) == ["grabHighR", "squat1Reps"]
    assert set(ds.subject[ds.split == "test"]) == {"HDM_dg"}
    assert "limits      0 of" in stdout_of(r)


def test_an_actions_index_still_wins_over_the_file_name(tmp_path):
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",))
    (tmp_path / "idx.tsv").write_text("HDM_bd_squat1Reps_001_120\tdeep squat\n")
    r = invoke("data", "import-mocap", d, "--actions", tmp_path / "idx.tsv", "--out", tmp_path / "h.npz")
    assert r.exit_code == 0, stderr_of(r)
    assert set(load_archive(tmp_path / "h.npz").action) == {"deep squat"}


def test_latin1_header_gives_the_same_joints_as_plain_ascii(tmp_path):
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",))
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(MOCAP_FIXTURES / "49.asf", plain / "HDM_bd.asf")
    (plain / "HDM_bd_squat1Reps_001_120.amc").write_bytes(amc_excerpt(40).encode())
    a = read_clip(*find_files([d])[0])
    b = read_clip(*find_files([plain])[0])
    np.testing.assert_allclose(a.world, b.world, rtol=0, atol=1e-9)


def _fold_left_knee(frames):
    def edit(frame, ln):
        return "ltibia -100\n" if frame in frames and ln.startswith("ltibia ") else ln
    return edit


def test_frames_past_a_knee_limit_are_counted_and_dropped_on_request(tmp_path):
    bad = {5, 6, 7, 21}       # source frames 5-7 and 21 (1-based); kept at 120 -> 30 fps: 4k+1
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",), edit=_fold_left_knee(bad))
    kind, amc, asf = find_files([d])[0]
    clip = read_clip(kind, amc, asf, fps=120)
    assert clip.limit_excess.shape == (40,)
    np.testing.assert_allclose(clip.limit_excess[[4, 5, 6, 20]], 90.0)   # -100 against a limit of -10
    assert (clip.limit_excess[np.setdiff1d(np.arange(40), [4, 5, 6, 20])] <= 15).all()
    kept = read_clip(kind, amc, asf, fps=120, drop_implausible=True)
    assert kept.dropped == 4 and len(kept.world) == 36
    assert not np.isin(kept.source_frame, [4, 5, 6, 20]).any()

    r = invoke("data", "import-mocap", d, "--fps", 120, "--out", tmp_path / "keep.npz")
    assert r.exit_code == 0, stderr_of(r)
    assert "4 of 40 frames have a knee or elbow" in stdout_of(r) and "kept (--drop-implausible" in stdout_of(r)
    r = invoke("data", "import-mocap", d, "--fps", 120, "--drop-implausible", "--out", tmp_path / "drop.npz")
    assert r.exit_code == 0, stderr_of(r)
    assert "dropped 4 (--drop-implausible)" in stdout_of(r)
    assert len(load_archive(tmp_path / "drop.npz")) == 2 * 36     # two cameras


def test_a_wrist_twist_past_its_limit_is_not_implausible(tmp_path):
    """The wrist bone's one dof turns the hand, which moves no h36m17 joint: not counted."""
    def edit(frame, ln):
        return "lwrist 120\n" if ln.startswith("lwrist ") else ln
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",), edit=edit)
    clip = read_clip(*find_files([d])[0], fps=120)
    assert clip.limit_excess.max() <= 15


def test_every_frame_implausible_with_drop_is_one_error_line(tmp_path):
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",), edit=_fold_left_knee(set(range(1, 41))))
    r = invoke("data", "import-mocap", d, "--drop-implausible", "--out", tmp_path / "o.npz")
    assert_refused(r, "nothing left", not_written=[tmp_path / "o.npz"], progress=True)   # after the progress label


def test_a_clip_spent_lying_keeps_its_worlds_up_axis(tmp_path):
    """The body's median direction is level when lying, so the ASF's upright rest pose decides."""
    def edit(frame, ln):
        if ln.startswith("root "):
            v = ln.split()
            return " ".join(v[:4] + ["90", "0", "0"]) + "\n"     # turned 90 degrees about X: lying
        return ln
    d = _folder(tmp_path, actors=("bd",), takes=("lieDownFloor_001",), edit=edit)
    clip = read_clip(*find_files([d])[0])
    assert "up" not in clip.units
    up = clip.world[:, 10] - clip.world[:, [3, 6]].mean(axis=1)
    assert np.abs(up[:, 1]).max() < 0.3 * np.linalg.norm(up, axis=1).min()    # level in a Y-up world


def test_val_split_clips_holds_out_whole_takes(tmp_path):
    from gatepose.data.prepare import _held_out_clips
    d = _folder(tmp_path, actors=("bd", "dg", "mm"), takes=("squat1Reps_001", "grabHighR_002", "kick_003"))
    r = invoke("data", "import-mocap", d, "--out", tmp_path / "h.npz")
    assert r.exit_code == 0, stderr_of(r)
    ds = load_archive(tmp_path / "h.npz")
    val = _held_out_clips(ds, 30, np.random.default_rng(0), "h.npz")
    assert 30 <= val.sum() < 30 + 2 * 10          # clips of 10 kept frames, 2 cameras each
    assert not set(ds.clip[val]) & set(ds.clip[~val])


def test_train_with_val_split_clips_runs_and_refuses_an_archive_without_clips(tmp_path):
    d = _folder(tmp_path, actors=("bd", "dg", "mm"), takes=("squat1Reps_001", "grabHighR_002", "kick_003"))
    assert invoke("data", "import-mocap", d, "--fps", 120, "--out", tmp_path / "h.npz").exit_code == 0
    tiny = ["--d-model", 16, "--heads", 2, "--layers", 1, "--d-ff", 32, "--gate-hidden", 8, "--camera-width", 16,
            "--critic-pose-width", 8, "--critic-kcs-width", 16, "--batch-size", 32, "--steps", 2, "--eval-every", 1]
    r = invoke("train", "--data", tmp_path / "h.npz", "--val-split", "clips", *tiny, "--out", tmp_path / "run")
    assert r.exit_code == 0, stderr_of(r)
    r = invoke("data", "synth", "--subjects", 4, "--out", tmp_path / "s.npz")
    assert r.exit_code == 0, stderr_of(r)
    r = invoke("train", "--data", tmp_path / "s.npz", "--val-split", "clips", *tiny, "--out", tmp_path / "run2")
    assert_refused(r, "'clip' field")


def test_test_seen_split_holds_out_takes_of_training_subjects_and_evaluates_them(tmp_path):
    """--test-seen-every K: of the training subjects' clips every K-th (sorted) is 'test-seen'; training
    never sees it, eval --split test-seen evaluates it, an archive without it is one error line."""
    from gatepose.data.prepare import prepare_data
    from gatepose.options import TrainOptions
    d = _folder(tmp_path, actors=("bd", "dg", "mm"), takes=("grabHighR_002", "kick_003", "squat1Reps_001"))
    r = invoke("data", "import-mocap", d, "--fps", 120, "--test-subjects", "HDM_mm", "--test-seen-every", 2,
               "--out", tmp_path / "h.npz")
    assert r.exit_code == 0, stderr_of(r)
    assert "test-seen" in stdout_of(r) and "3 held-out takes" in stdout_of(r)
    ds = load_archive(tmp_path / "h.npz")
    clips = {sp: sorted(set(ds.clip[ds.split == sp])) for sp in ("train", "test", "test-seen")}
    assert clips["test-seen"] == ["HDM_bd_kick_003_120", "HDM_dg_grabHighR_002_120", "HDM_dg_squat1Reps_001_120"]
    assert all(c.startswith("HDM_mm") for c in clips["test"]) and len(clips["train"]) == 3
    data = prepare_data(TrainOptions(data=str(tmp_path / "h.npz"), val_frames=8, batch_size=8))
    assert len(data.W_train) + len(data.W_val) == (ds.split == "train").sum()
    tiny = ["--d-model", 16, "--heads", 2, "--layers", 1, "--d-ff", 32, "--gate-hidden", 8, "--camera-width", 16,
            "--critic-pose-width", 8, "--critic-kcs-width", 16, "--batch-size", 32, "--steps", 2, "--eval-every", 1]
    assert invoke("train", "--data", tmp_path / "h.npz", *tiny, "--out", tmp_path / "run").exit_code == 0
    for split in ("test", "test-seen", "train"):
        n = (ds.split == split).sum()
        r = invoke("eval", "--run", tmp_path / "run", "--data", tmp_path / "h.npz", "--split", split,
                   "--format", "json")
        assert r.exit_code == 0, stderr_of(r)
        out = json.loads(stdout_of(r))
        assert out["split"] == split and out["n_frames"] == n
    assert invoke("data", "import-mocap", d, "--fps", 120, "--out", tmp_path / "plain.npz").exit_code == 0
    r = invoke("eval", "--run", tmp_path / "run", "--data", tmp_path / "plain.npz", "--split", "test-seen")
    assert_refused(r, "'test-seen' split")
    r = invoke("eval", "--run", tmp_path / "run", "--data", tmp_path / "plain.npz", "--split", "train",
               "--format", "json")   # an archive without test subjects is all training frames
    assert r.exit_code == 0 and json.loads(stdout_of(r))["n_frames"] == len(load_archive(tmp_path / "plain.npz"))


@pytest.mark.parametrize("name, action", [("HDM_bd_squat1Reps_001_120", "squat1Reps"),
                                          ("HDM_bd_kick_left-front_3", "kick_left_front"),
                                          ("HDM_bd_007", "HDM_bd_007")])
def test_action_from_the_file_name(name, action):
    from gatepose.data.mocap.importer import action_of
    assert action_of("amc", Path(f"/x/{name}.amc"), Path("/x/HDM_bd.asf"), {}) == action


def _asf_in_radians(text: str) -> str:
    """The same skeleton with ':units angle rad': every axis, orientation and limit in radians."""
    rad = lambda v: repr(float(np.radians(float(v))))    # noqa: E731
    out = []
    for ln in text.splitlines():
        t = ln.replace("(", " ").replace(")", " ").split()
        if t[:2] == ["angle", "deg"]:
            ln = "  angle rad"
        elif t and t[0] in ("axis", "orientation") and len(t) >= 4:
            ln = f"  {t[0]} " + " ".join(rad(v) for v in t[1:4]) + (f" {t[4]}" if len(t) > 4 else "")
        elif t and (t[0] == "limits" or (len(t) == 2 and ln.lstrip().startswith("("))):
            lo, hi = t[-2:]
            ln = ("    limits " if t[0] == "limits" else "           ") + f"({rad(lo)} {rad(hi)})"
        out.append(ln)
    return "\n".join(out) + "\n"


def test_limits_are_read_in_the_asf_unit_whatever_the_amc_unit(tmp_path):
    """An ASF in radians with an AMC in :DEGREES (each file its own unit): the same frames past a
    knee limit as the all-degrees original, the same poses."""
    bad = {5, 6, 7, 21}
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",), edit=_fold_left_knee(bad))
    kind, amc, asf = find_files([d])[0]
    deg = read_clip(kind, amc, asf, fps=120)
    asf.write_text(_asf_in_radians((MOCAP_FIXTURES / "49.asf").read_text()))
    rad = read_clip(kind, amc, asf, fps=120)
    np.testing.assert_allclose(rad.world, deg.world, rtol=0, atol=1e-6)
    np.testing.assert_allclose(rad.limit_excess, deg.limit_excess, rtol=0, atol=1e-6)
    assert (rad.limit_excess > 15).sum() == 4


def test_amc_frame_numbers_that_repeat_or_skip_are_said(tmp_path):
    """The frames are read in file order; a number repeated or skipped is a warning naming the line."""
    d = _folder(tmp_path, actors=("bd",), takes=("squat1Reps_001",))
    kind, amc, asf = find_files([d])[0]
    lines = amc.read_bytes().decode("latin-1").splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip() == "3")
    lines[i] = "30"
    amc.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    with pytest.warns(UserWarning, match=rf"line {i + 1}: frame number 30 after 2 \(2 such place\(s\)\)"):
        read_clip(kind, amc, asf, fps=120)
