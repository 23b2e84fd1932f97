"""Bad inputs end in one ``error:`` line and exit code 2, and leave every file as it was.

Each case here was found by feeding gatepose corrupted, degenerate or hostile inputs as a user
might (issue: "Trustworthy on every machine and every input"). The run-folder cases live in
tests/commands/test_run_folders.py; the generated corruptions in tests/commands/test_fuzz_input_files.py.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gatepose.data.archive import load_archive, make_dataset, save_archive
from gatepose.errors import DataError
from helpers import assert_one_error, run_cli


def _dataset(n=8, J=17, seed=0, **over):
    rng = np.random.default_rng(seed)
    fields = dict(poses_2d=rng.uniform(100, 900, (n, J, 2)), image_size=(1000, 1000),
                  subject=["S1"] * n, action=["walk"] * n, camera=np.zeros(n), frame=np.arange(n),
                  poses_3d=rng.normal(0, 300, (n, J, 3)) + [0, 0, 5000])
    fields.update(over)
    return fields


def _write_raw_archive(path, **over):
    """An archive written without gatepose's validation (as another tool might write one)."""
    f = _dataset()
    arrays = dict(poses_2d=np.asarray(f["poses_2d"], np.float32), image_size=np.full((8, 2), 1000, np.int32),
                  subject=np.array(f["subject"]), action=np.array(f["action"]),
                  camera=np.zeros(8, np.int32), frame=np.arange(8, dtype=np.int32),
                  poses_3d=np.asarray(f["poses_3d"], np.float32), skeleton=np.array("h36m17"))
    arrays.update(over)
    np.savez(path, **arrays)
    return path


# -- archives: implausible and degenerate values --------------------------------------------------
def test_huge_2d_values_are_refused(tmp_path):
    W = np.asarray(_dataset()["poses_2d"], np.float32)
    W[3, 5] = 1e30
    path = _write_raw_archive(tmp_path / "a.npz", poses_2d=W)
    with pytest.raises(DataError, match="frame 3 .* image size"):
        load_archive(path)
    assert_one_error(["data", "info", path], "frame 3", [path])


def test_collapsed_2d_pose_is_refused(tmp_path):
    W = np.asarray(_dataset()["poses_2d"], np.float32)
    W[2] = 0.0
    path = _write_raw_archive(tmp_path / "a.npz", poses_2d=W)
    assert_one_error(["data", "info", path], "frame 2 has all its joints at one point", [path])


def test_collapsed_or_far_3d_pose_is_refused(tmp_path):
    X = np.asarray(_dataset()["poses_3d"], np.float32)
    X[4] = 7.0
    with pytest.raises(DataError, match="poses_3d.*frame 4 has all its joints"):
        load_archive(_write_raw_archive(tmp_path / "a.npz", poses_3d=X))
    X = np.asarray(_dataset()["poses_3d"], np.float32)
    X[1, 0] = 5e7
    with pytest.raises(DataError, match="poses_3d.*frame 1 .*beyond"):
        load_archive(_write_raw_archive(tmp_path / "b.npz", poses_3d=X))


@pytest.mark.parametrize("scale, words", [(1e-3, "metres, decimetres or centimetres"), (0.1, "metres, decimetres"),
                                          (100.0, "smaller units than mm")])
def test_3d_poses_in_other_units_than_mm_are_refused(tmp_path, scale, words):
    """The archive says millimetres; poses of a person 1.7 mm (or 170 m) tall are in other units."""
    X = np.asarray(_dataset()["poses_3d"], np.float64)
    X = ((X - X.mean(axis=1, keepdims=True)) * scale).astype(np.float32)
    path = _write_raw_archive(tmp_path / "a.npz", poses_3d=X)
    with pytest.raises(DataError, match=f"poses_3d.*expected millimetres \\({words}"):
        load_archive(path)
    assert_one_error(["data", "info", path], "expected millimetres", [path])


def test_plausible_archive_still_loads(tmp_path):
    """A person partly out of frame (negative pixels, beyond the width) is plausible."""
    f = _dataset()
    W = np.asarray(f["poses_2d"])
    W[0, :3] = [-400.0, 1800.0]
    ds = make_dataset(**{**f, "poses_2d": W})
    path = save_archive(tmp_path / "ok.npz", ds)
    assert len(load_archive(path)) == 8


# -- predict: inputs that cannot be lifted, outputs that would destroy an input --------------------
def test_predict_refuses_all_zero_poses(tiny_run, tmp_path):
    src = tmp_path / "zeros.npy"
    np.save(src, np.zeros((3, 17, 2), np.float32))
    out = tmp_path / "out.npy"
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", out], "pose 0 has all its joints",
                     [src, out])


@pytest.mark.parametrize("keypoints", [[0.0] * 51, [10.0, 20.0, 0.0] * 17])
def test_predict_refuses_detections_without_joints(tiny_run, tmp_path, keypoints):
    src = tmp_path / "det.json"
    src.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": keypoints, "score": 0.9}]))
    out = tmp_path / "out.json"
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", out], "no detected joint",
                     [src, out])


def test_predict_never_overwrites_its_input(tiny_run, tmp_path):
    src = tmp_path / "poses.npy"
    np.save(src, np.random.default_rng(0).uniform(0, 500, (4, 17, 2)).astype(np.float32))
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", src], "exists; pass --force", [src])
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", src, "--force"], "is the input file",
                     [src])
    link = tmp_path / "same.npy"
    os.symlink(src, link)
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", link, "--force"], "is the input file",
                     [src])


def test_outputs_never_replace_a_file_without_force_nor_a_run_file(tiny_run, tmp_path):
    import shutil

    src = tmp_path / "poses.npy"
    np.save(src, np.random.default_rng(0).uniform(0, 500, (4, 17, 2)).astype(np.float32))
    folder = tmp_path / "run"
    shutil.copytree(tiny_run, folder)
    for name in ("config.json", "best.npz"):
        assert_one_error(["predict", "--run", folder, "--input", src, "--out", folder / name, "--force"],
                         "never overwrites a run's own files", [folder / name])
    out = tmp_path / "old.json"
    out.write_text("keep me")
    assert_one_error(["predict", "--run", folder, "--input", src, "--out", out], "exists; pass --force", [out])
    assert_one_error(["data", "synth", "--out", out, "--force"], "expected a .npz file name", [out])   # .json
    old = tmp_path / "old.npz"
    old.write_text("keep me")
    assert_one_error(["data", "synth", "--out", old], "exists; pass --force", [old])
    code, _, err = run_cli("predict", "--run", folder, "--input", src, "--out", out, "--force")
    assert code == 0 and out.read_text().startswith("{"), err


def test_predict_out_in_a_missing_or_unwritable_folder(tiny_run, tmp_path):
    src = tmp_path / "poses.npy"
    np.save(src, np.random.default_rng(0).uniform(0, 500, (4, 17, 2)).astype(np.float32))
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", tmp_path / "nope" / "o.npy"],
                     "does not exist", [src])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", blocker / "o.npy"],
                     "does not exist", [src, blocker])


def test_deeply_nested_coco_json_is_one_error(tiny_run, tmp_path):
    src = tmp_path / "deep.json"
    src.write_text("[" * 100_000 + "]" * 100_000)
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", tmp_path / "o.json"],
                     "nested too deeply", [src])


# -- bench: a run whose machine load changed is flagged, and utilisation never exceeds 1 -----------
def test_bench_flags_a_noisy_run_and_caps_utilisation(monkeypatch):
    from gatepose import bench
    from gatepose.bench import TINY_SIZES, run_bench

    rounds = iter([1e9, 1e13])   # the second round 10,000 times faster than the first

    def fake_samples(xp, sizes=(64,), repeat=7):
        r = next(rounds)
        return {n: [r] * 3 for n in sizes}

    monkeypatch.setattr(bench, "matmul_samples", fake_samples)
    r = run_bench(np, batch=32, infer_batch=64, n_layers=1, iterations=1, n_critic=1, sizes=TINY_SIZES,
                  matmul_sizes=(64,), latency_repeat=1)
    assert r["noisy"] is True
    assert r["matmul_flops_per_s"] == 1e13 and r["matmul_flops_per_s_before_after"] == [1e9, 1e13]

    rounds = iter([1.0, 1.0])   # an absurdly slow matmul: the model "beats" it
    r = run_bench(np, batch=32, infer_batch=64, n_layers=1, iterations=1, n_critic=1, sizes=TINY_SIZES,
                  matmul_sizes=(64,), latency_repeat=1)
    assert r["noisy"] is True
    assert r["inference"]["utilisation"] <= 1.0 and r["training"]["utilisation"] <= 1.0
    assert "noisy" in bench.format_bench(r)


# -- Ctrl-C at any moment, start-up included --------------------------------------------------------
@pytest.mark.parametrize("delay, sig", [(0.0, "SIGINT"), (0.3, "SIGINT"), (1.0, "SIGINT"), (0.3, "SIGTERM"),
                                        (1.0, "SIGTERM")])
def test_ctrl_c_at_startup_is_one_line_and_exit_130(tmp_path, delay, sig):
    """SIGINT while Python imports NumPy, SciPy and the commands, or while a run loads its data.
    (Before the interpreter has imported the entry point a signal cannot be caught: the child says
    when it has, and the delay counts from there.)"""
    # the console script's first step, `from cli import main`, imports one small module
    code = "import sys, cli; print('started', file=sys.stderr, flush=True); cli.main()"
    cmd = [sys.executable, "-c", code, "train", "--steps", "3", "--quiet", "--device", "cpu",
           "--out", str(tmp_path / "run")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert p.stderr.readline().strip() == "started"
    time.sleep(delay)
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("device:")]
    if p.returncode == 0:                    # finished before the signal came: nothing to check
        pytest.skip("the command finished before the signal")
    assert p.returncode == 130, (p.returncode, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run").exists() or list((tmp_path / "run").iterdir()) == [] or \
        (tmp_path / "run" / "checkpoint.npz").exists()


# -- numbers a command cannot take: refused before anything is written --------------------------------
@pytest.mark.parametrize("args, match", [
    (["train", "--steps", 1, "--seed", -1], "--seed"),
    (["train", "--steps", 1, "--synth-seed", -1], "--synth-seed"),
    (["train", "--steps", 1, "--w-rep", -1], "--w-rep"),
    (["train", "--steps", 1, "--w-cam", -0.5], "--w-cam"),
    (["train", "--steps", 1, "--w-adv", -1], "--w-adv"),
    (["train", "--steps", 1, "--batch-size", 8, "--shards", 9], "--shards"),
    (["demo", "--seed", -1], "--seed"),
    (["ablate", "--seed", -1, "--steps", 1], "--seed"),
    (["gradcheck", "--seed", -1], "--seed"),
    (["ablate", "--variants", "gated,vanilla,gated", "--steps", 1], "gated given more than once"),
])
def test_negative_seeds_and_weights_are_one_error(tmp_path, args, match):
    out = tmp_path / "r"
    full = [*args, "--out", out] if args[0] in ("train", "demo", "ablate") else args
    assert_one_error(full, match, out=out)


def test_eval_and_plot_refuse_a_negative_seed(tiny_run):
    assert_one_error(["eval", "--run", tiny_run, "--noise-2d", 3, "--noise-seed", -1], "--noise-seed")
    assert_one_error(["plot", "poses", "--run", tiny_run, "--seed", -1, "--out", tiny_run.parent / "p.png"], "--seed")


def test_synth_refuses_to_hold_out_every_subject(tmp_path):
    out = tmp_path / "s.npz"
    assert_one_error(["data", "synth", "--out", out, "--subjects", 2, "--test-subjects", 2, "--frames", 400],
                     "leaves no training subject", out=out)


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`gatepose data info a.npz | head -1`: the reader has left; no error line, no traceback, exit 1.
    (The pipe is closed before the command writes, so its write always meets the closed pipe.)"""
    path = tmp_path / "a.npz"
    save_archive(path, make_dataset(**_dataset(n=64)))
    code = "import cli; cli.main()"
    p = subprocess.Popen([sys.executable, "-c", code, "data", "info", str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert p.returncode == 1, (p.returncode, err)
    assert "error" not in err and "Traceback" not in err and "Exception ignored" not in err, err
