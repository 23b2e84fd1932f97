"""A run folder has one writer, and a write that fails (a full disk) says which file, which
checkpoint survived and how to resume."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from gatepose.errors import GateposeError
from gatepose.options import TrainOptions
from gatepose.runs import load_checkpoint
from gatepose.training import hold_run_folder, release_run_folder, train
from helpers import TINY_TRAIN, assert_refused

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32", "--batch-size", "32",
        "--gate-hidden", "8", "--camera-width", "16", "--critic-pose-width", "8", "--critic-kcs-width", "16",
        "--synth-subjects", "4", "--log-every", "1", "--eval-every", "2", "--checkpoint-every", "2",
        "--device", "cpu"]


def _start_training(run: Path, *args) -> subprocess.Popen:
    """`gatepose train` in another process, returned once it has logged a step."""
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "train", *args, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text()):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    return proc


def test_a_second_writer_is_refused_and_named(tmp_path):
    """Two `train --resume` (or a new run into the folder of a running one): the second is refused at
    once with one line naming the process; the first runs on, and its files are its own."""
    run = tmp_path / "run"
    proc = _start_training(run, "--steps", "100000", "--out", str(run), *TINY)
    try:
        before = (run / "config.json").read_text()
        t0 = time.time()
        for args in (["--resume", str(run), "--steps", "100001"], ["--out", str(run), *TINY, "--steps", "5"]):
            r = CliRunner().invoke(cli, ["train", *args, "--quiet"])
            line = assert_refused(r, progress=("device:", "resumed "))
            assert f"process {proc.pid}" in line and "one writer" in line, line
        assert time.time() - t0 < 30            # at once: neither loaded data nor trained
        assert (run / "config.json").read_text() == before
        assert proc.poll() is None              # the first writer runs on
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err


def test_a_killed_writer_leaves_no_lock(tmp_path):
    """SIGKILL gives no chance to clean up; the lock goes with the process, and the run resumes."""
    run = tmp_path / "run"
    proc = _start_training(run, "--steps", "100000", "--out", str(run), *TINY)
    while not (run / "checkpoint.npz").is_file():
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=60)
    _, meta = load_checkpoint(run / "checkpoint.npz")
    r = CliRunner().invoke(cli, ["train", "--resume", str(run), "--steps", str(meta["step"] + 2), "--quiet",
                                 "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(run / "checkpoint.npz")[1]["step"] == meta["step"] + 2


def test_the_lock_is_taken_and_given_back(tmp_path):
    lock = hold_run_folder(tmp_path)
    with pytest.raises(GateposeError, match="one writer"):
        hold_run_folder(tmp_path)
    release_run_folder(lock)
    release_run_folder(hold_run_folder(tmp_path))   # free again
    assert list(tmp_path.iterdir()) == []           # nothing was written for it


def _fill(folder: Path, leave: int) -> Path:
    """A file that takes the free space of ``folder``'s file system down to about ``leave`` bytes."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    filler.write_bytes(b"\0" * max(st.f_bavail * st.f_frsize - leave, 0))
    return filler


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root, and a kernel that lets this process mount one); skipped elsewhere."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.decode().strip()[:80]})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_keeps_the_last_good_checkpoint_and_names_it(small_disk):
    """On a real small file system: a run, then the disk filled, then --resume: one error line naming
    the file that could not be written, the step of the checkpoint kept and the command that
    resumes; the checkpoint is whole, and once there is room the run goes on from it."""
    run = small_disk / "run"
    r = CliRunner().invoke(cli, ["train", "--steps", "2", "--out", str(run), "--quiet", *TINY])
    assert r.exit_code == 0, r.output
    size = (run / "checkpoint.npz").stat().st_size
    filler = _fill(small_disk, size // 2)    # the metrics line fits, the next checkpoint does not
    r = CliRunner().invoke(cli, ["train", "--resume", str(run), "--steps", "6", "--quiet", "--device", "cpu"])
    line = assert_refused(r, progress=("device:", "resumed "))
    assert "checkpoint.npz" in line or "metrics.jsonl" in line or "best.npz" in line, line
    assert "could not be written" in line and "checkpoint of step 2" in line, line
    assert f"gatepose train --resume {run}" in line, line
    assert load_checkpoint(run / "checkpoint.npz")[1]["step"] == 2          # whole, and the one named
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]   # no half-written file
    filler.unlink()
    r = CliRunner().invoke(cli, ["train", "--resume", str(run), "--steps", "6", "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(run / "checkpoint.npz")[1]["step"] == 6
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 7))


@pytest.mark.parametrize("fails", ["checkpoint.npz", "best.npz", "metrics.jsonl"])
def test_a_failed_write_names_the_file_and_what_was_kept(tmp_path, monkeypatch, fails):
    """The same on any machine: ENOSPC injected into the writes of one file after step 2."""
    import builtins

    import gatepose.files as files

    run = tmp_path / "run"
    opts = TrainOptions(**{**TINY_TRAIN, "steps": 6, "eval_every": 2, "checkpoint_every": 2})
    real_open, real_atomic = builtins.open, files.atomic_open
    state = {"armed": False}

    def full(path):
        if state["armed"] and Path(path).name == fails:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    class FullFile:
        def __init__(self, f, path):
            self.f, self.path = f, path

        def write(self, s):
            full(self.path)
            return self.f.write(s)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def opening(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        return FullFile(f, path) if "a" in mode and Path(str(path)).name == "metrics.jsonl" else f

    def atomic(path, mode="wb"):
        full(path)
        return real_atomic(path, mode)

    monkeypatch.setattr(builtins, "open", opening)
    monkeypatch.setattr("gatepose.runs.atomic_open", atomic)
    import gatepose.training as training

    real_iteration = training.Trainer.iteration

    def iteration(self, *a, **k):
        out = real_iteration(self, *a, **k)
        state["armed"] = self.step > 2
        return out

    monkeypatch.setattr(training.Trainer, "iteration", iteration)
    # every validation improves on the last, so best.npz is written at each one
    monkeypatch.setattr(training, "validation_errors", lambda tr: {"val_n_mpjpe": 100.0 - tr.step})
    with pytest.raises(GateposeError) as exc:
        train(opts, run, np, progress=False, dtype=np.float64)
    msg = str(exc.value)
    assert msg.startswith(f"{run / fails}: could not be written at step "), msg
    assert "checkpoint of step 2" in msg and f"gatepose train --resume {run}" in msg, msg
    assert load_checkpoint(run / "checkpoint.npz")[1]["step"] == 2
