"""`gatepose eval` and `gatepose predict` on a tiny run: layouts, formats, and one-line input errors."""
import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from gatepose.data.archive import save_archive
from gatepose.data.synthetic import generate
from helpers import assert_refused, invoke, stderr_of, stdout_of

@pytest.fixture(scope="module")
def run_dir(tiny_run):
    return tiny_run


@pytest.fixture(scope="module")
def small_synth():
    return generate(n_subjects=4, seed=1, frames_per_sequence=10, sequences_per_action=1, n_cameras=1)






# -- eval ----------------------------------------------------------------------------------------

def test_eval_text(run_dir):
    r = invoke("eval", "--run", run_dir, "--device", "cpu", "--max-frames", "500")
    assert r.exit_code == 0, r.output
    out = stdout_of(r)
    for text in ("MPJPE", "N-MPJPE", "P-MPJPE", "Frames", "Avg.", "All frames", "walk", "pickup",
                 "mean pose", "zero depth", "model"):
        assert text in out, text
    frames = next(line for line in out.splitlines() if line.startswith("Frames"))
    assert frames.split()[-1] == "500"


def test_eval_markdown(run_dir):
    r = invoke("eval", "--run", run_dir, "--device", "cpu", "--format", "markdown", "--max-frames", "300")
    assert r.exit_code == 0, r.output
    out = stdout_of(r)
    assert "| Metric |" in out and "|:---|" in out and "| MPJPE Avg. |" in out and "| zero depth |" in out


def test_eval_json_has_everything(run_dir):
    r = invoke("eval", "--run", run_dir, "--device", "cpu", "--format", "json", "--max-frames", "400",
               "--checkpoint", "last")
    assert r.exit_code == 0, r.output
    d = json.loads(stdout_of(r))
    assert d["checkpoint"] == "last" and d["step"] == 2 and d["n_frames"] == 400 and d["split"] == "test"
    assert set(d["results"]) == {"model", "mean pose", "zero depth"}
    assert {"by_action", "baselines"} <= set(d["tables"])
    # per action, the model beside the baselines, rows matching the model's own table
    per = d["tables"]["baselines_by_action_p_mpjpe"]
    assert per["columns"] == ["Action", "model", "mean pose", "zero depth"]
    by = d["tables"]["by_action"]
    p_row = dict(zip(by["columns"], next(r for r in by["rows"] if r[0] == "P-MPJPE")))
    assert len(per["rows"]) == len(by["columns"]) - 1
    for action, model, *_ in per["rows"]:
        assert model == pytest.approx(p_row[action]), action
    model = d["results"]["model"]
    assert sum(c["count"] for c in model["cells"]) == 400
    assert all(model["Avg."][m] > 0 for m in ("mpjpe", "n_mpjpe", "p_mpjpe"))
    base = d["tables"]["baselines"]
    assert [row[0] for row in base["rows"]] == ["model", "mean pose", "zero depth"]


def _relabelled(ds, tmp_path, name, action_map, subject_map=None):
    keep = np.isin(ds.action, list(action_map))
    d = ds.subset(keep)
    d = dataclasses.replace(d, action=np.array([action_map[a] for a in d.action]), split=None)
    if subject_map:
        d = dataclasses.replace(d, subject=np.array([subject_map[s] for s in d.subject]))
    return save_archive(tmp_path / name, d)


def test_eval_h36m_layout(run_dir, small_synth, tmp_path):
    path = _relabelled(small_synth, tmp_path, "h36m.npz",
                       {"walk": "Walking 1", "sit": "SittingDown 2", "talk": "Directions", "wave": "TakingPhoto"})
    r = invoke("eval", "--run", run_dir, "--data", path, "--device", "cpu")
    assert r.exit_code == 0, r.output
    header = next(line for line in stdout_of(r).splitlines() if line.startswith("Metric"))
    cols = header.split()
    # all 15 families of Table 1, in the paper's order
    assert cols[1:4] == ["Direct", "Disc.", "Eat"] and cols.index("Photo") < cols.index("SitD") < cols.index("Walk")
    assert len(cols) == 1 + 15 + 2 + 1  # 'All frames' is two words


def test_eval_humaneva_layout(run_dir, small_synth, tmp_path):
    path = _relabelled(small_synth, tmp_path, "he.npz",
                       {"walk": "Walking 1 chunk0", "jog": "Jog 1", "box": "Box 1 chunk2"},
                       {"S1": "Train/S1", "S2": "Train/S2", "S3": "Validate/S3", "S4": "Validate/S1"})
    r = invoke("eval", "--run", run_dir, "--data", path, "--device", "cpu", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(stdout_of(r))
    assert d["layout"] == "humaneva" and set(d["tables"]) == {
        "subject_action", "by_action", "baselines", "baselines_by_action_n_mpjpe", "baselines_by_action_p_mpjpe"}
    t = d["tables"]["subject_action"]
    assert t["groups"][:9] == ["Walk"] * 3 + ["Jog"] * 3 + ["Box"] * 3
    assert t["columns"][1:4] == ["S1", "S2", "S3"] and t["rows"][0][0] == "P-MPJPE"
    r = invoke("eval", "--run", run_dir, "--data", path, "--device", "cpu")
    assert "HumanEva-I" in stdout_of(r) and "Walk" in stdout_of(r)


def test_eval_not_a_run(tmp_path):
    r = invoke("eval", "--run", tmp_path, "--device", "cpu")
    assert_refused(r, "not a run folder")


# -- predict -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def poses_2d(small_synth):
    return small_synth.poses_2d[:7].astype(np.float64)


def test_predict_npy_to_npy(run_dir, poses_2d, tmp_path):
    src, out = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, poses_2d)
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", out, "--batch", 3, "--device", "cpu")
    assert r.exit_code == 0, r.output
    X = np.load(out, allow_pickle=False)
    assert X.shape == (7, 17, 3) and X.dtype == np.float32 and np.isfinite(X).all()
    assert np.all(X[:, 0] == 0)  # root-relative
    # scale- and translation-free: the same poses in other units give the same 3D poses
    np.save(src, poses_2d * 0.01 + 5.0)
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", tmp_path / "b.npy", "--device", "cpu")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), X, rtol=1e-3, atol=1e-2)


def test_predict_npy_to_json(run_dir, poses_2d, tmp_path):
    src, out = tmp_path / "in.npy", tmp_path / "out.json"
    np.save(src, poses_2d.astype(np.float32))
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["skeleton"] == "h36m17" and d["units"] == "mm" and len(d["joints"]) == 17
    assert d["joints"][0] == "pelvis" and np.asarray(d["poses"]).shape == (7, 17, 3)
    assert "image_ids" not in d


def _coco_entries(poses_h36m, low=None):
    """Fake COCO detections whose h36m17 conversion is close to the given poses."""
    from gatepose.data.skeleton import get_skeleton

    names = get_skeleton("h36m17").joint_names
    coco = ("head", "head", "head", "head", "head", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
            "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
    out = []
    for i, P in enumerate(poses_h36m):
        kp = np.concatenate([P[[names.index(n) for n in coco]], np.full((17, 1), 0.9)], axis=1)
        if low is not None and i == low:
            kp[9, 2] = 0.05  # left wrist barely seen
        out.append({"image_id": 1000 + i, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.9})
    return out


def test_predict_coco_json(run_dir, poses_2d, tmp_path):
    src, out = tmp_path / "det.json", tmp_path / "out.json"
    src.write_text(json.dumps(_coco_entries(poses_2d[:3], low=1)))
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "l_wrist" in r.output and "below confidence 0.3" in r.output
    d = json.loads(out.read_text())
    assert d["image_ids"] == [1000, 1001, 1002] and np.asarray(d["poses"]).shape == (3, 17, 3)
    assert d["low_confidence"] == [[1, "l_wrist"]]


def test_predict_coco_npy(run_dir, poses_2d, tmp_path):
    kp = np.asarray([e["keypoints"] for e in _coco_entries(poses_2d[:4])]).reshape(4, 17, 3)
    src, out = tmp_path / "kp.npy", tmp_path / "out.npy"
    np.save(src, kp)
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert np.load(out).shape == (4, 17, 3)


def _bad_inputs(tmp_path):
    nan = np.ones((3, 17, 2))
    nan[1, 4, 0] = np.nan
    huge = np.random.default_rng(0).uniform(0, 500, (3, 17, 2))
    huge[2, 5, 1] = 1e300                      # finite in float64, inf in float32
    few = np.random.default_rng(1).uniform(0, 500, (2, 17, 2))
    few[1, :9] = np.nan
    files = {
        "huge.npy": (huge, "pose 2, joint l_knee: a coordinate of 1e+300"),
        "few.npy": (few, re.compile(r"fewer than half \(1 such pose\(s\)\); too little to infer the rest: remove them$")),
        "joints.npy": (np.zeros((3, 16, 2)), "(N, 17, 2)"),
        "lastdim.npy": (np.zeros((3, 17, 4)), "(N, 17, 2)"),
        "nan.npy": (nan, "finite"),
        "zero.npy": (np.zeros((0, 17, 2)), "at least one pose"),
        "text.npy": (np.array(["a", "b"]), "numbers"),
    }
    out = {}
    for name, (a, expect) in files.items():
        np.save(tmp_path / name, a)
        out[name] = expect
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out["pickled.npy"] = "pickled"
    (tmp_path / "empty.npy").write_bytes(b"")
    out["empty.npy"] = "empty file"
    (tmp_path / "junk.npy").write_text("hello")
    out["junk.npy"] = "not a .npy file"
    (tmp_path / "junk.json").write_text("{not json")
    out["junk.json"] = "not a COCO results JSON"
    (tmp_path / "poses.txt").write_text("1 2 3")
    out["poses.txt"] = "expected .npy"
    out["missing.npy"] = "no such file"
    return out


def test_predict_bad_inputs_are_one_line(run_dir, tmp_path):
    for name, expect in _bad_inputs(tmp_path).items():
        r = invoke("predict", "--run", run_dir, "--input", tmp_path / name, "--out", tmp_path / "o.npy",
                   "--device", "cpu")
        assert_refused(r, name, expect, not_written=[tmp_path / "o.npy"])


def test_coco_needs_an_h36m17_run(tmp_path):
    from gatepose.errors import DataError
    from gatepose.posefiles import read_poses_2d

    src = tmp_path / "det.json"
    src.write_text(json.dumps(_coco_entries(np.random.default_rng(0).uniform(5, 200, (1, 17, 2)))))
    with pytest.raises(DataError, match="COCO keypoints map to the h36m17 skeleton.*humaneva15"):
        read_poses_2d(src, "humaneva15")
    assert read_poses_2d(src, "h36m17").poses.shape == (1, 17, 2)


def test_predict_bad_output(run_dir, poses_2d, tmp_path):
    src = tmp_path / "in.npy"
    np.save(src, poses_2d)
    for out, expect in ((tmp_path / "o.txt", "suffix"), (tmp_path / "no" / "o.npy", "does not exist")):
        r = invoke("predict", "--run", run_dir, "--input", src, "--out", out)
        assert_refused(r, expect)
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", tmp_path / "o.txt", "--format", "npy",
               "--device", "cpu")
    assert r.exit_code == 0 and np.load(tmp_path / "o.txt").shape == (7, 17, 3)  # no '.npy' appended
    for opt in (["--units", "m"], ["--fps", "25"]):      # BVH options on another output: not ignored silently
        r = invoke("predict", "--run", run_dir, "--input", src, "--out", tmp_path / "u.npy", *opt)
        assert_refused(r, f"{opt[0]} applies to BVH output only", not_written=[tmp_path / "u.npy"])


def test_predict_bvh_says_its_units(run_dir, poses_2d, tmp_path):
    src = tmp_path / "in.npy"
    np.save(src, poses_2d)
    r = invoke("predict", "--run", run_dir, "--input", src, "--out", tmp_path / "o.bvh", "--units", "cm",
               "--device", "cpu")
    assert r.exit_code == 0 and "(bvh, cm)" in stderr_of(r), stderr_of(r)


def test_predict_pickle_from_the_shell(run_dir, tmp_path):
    """The real entry point: exit code 2, one line on stderr, no traceback."""
    bad = tmp_path / "evil.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    p = subprocess.run([sys.executable, "-m", "cli.main", "predict", "--run", str(run_dir), "--input", str(bad),
                        "--out", str(tmp_path / "o.npy"), "--device", "cpu"], capture_output=True, text=True)
    assert p.stdout == ""
    assert_refused(p, "pickled", progress=("device:",))


def test_help_teaches():
    for cmd in ("eval", "predict"):
        r = invoke(cmd, "--help")
        assert r.exit_code == 0 and "Examples:" in r.output and f"gatepose {cmd} --run" in r.output


def test_predict_refuses_bvh_of_another_skeleton_before_lifting(tmp_path):
    """BVH export writes h36m17 rigs: a run of another skeleton is refused before any work."""
    from gatepose.options import TrainOptions
    from gatepose.training import train
    from helpers import TINY_TRAIN

    data = tmp_path / "h16.npz"
    save_archive(data, generate(n_subjects=4, seed=0, frames_per_sequence=12, sequences_per_action=1, n_cameras=1,
                                n_test_subjects=1, skeleton="h36m16"))
    run = tmp_path / "run16"
    train(TrainOptions(steps=1, data=str(data), **TINY_TRAIN), run, np, progress=False)
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(0).uniform(0, 500, (3, 16, 2)))
    r = invoke("predict", "--run", run, "--input", src, "--out", tmp_path / "o.bvh", "--device", "cpu")
    line = assert_refused(r, "BVH export needs the h36m17 skeleton, got 'h36m16'", not_written=[tmp_path / "o.bvh"])
    assert "device:" not in stderr_of(r), line
