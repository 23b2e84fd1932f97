"""The train, demo and ablate commands end to end on tiny models, Ctrl-C included."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from helpers import assert_refused

TINY = ["--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32", "--batch-size", "32",
        "--gate-hidden", "8", "--camera-width", "16", "--critic-pose-width", "8", "--critic-kcs-width", "16",
        "--synth-subjects", "4",
        "--log-every", "1", "--eval-every", "2", "--checkpoint-every", "2", "--device", "cpu"]


def test_train_then_resume(tmp_path):
    run = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "--steps", "2", "--out", str(run), "--quiet", *TINY])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["train", "--resume", str(run), "--steps", "4", "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_a_run_finds_its_archive_from_any_folder(tmp_path, monkeypatch):
    """--data given relative to the working folder is stored absolute: eval and --resume work from
    another folder."""
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    r = CliRunner().invoke(cli, ["data", "synth", "--out", "s.npz", "--subjects", "4", "--frames", "2000"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["train", "--data", "s.npz", "--steps", "2", "--out", "run", "--quiet", *TINY])
    assert r.exit_code == 0, r.output
    assert json.loads(Path("run/config.json").read_text())["options"]["data"] == str(tmp_path / "a" / "s.npz")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["eval", "--run", "a/run", "--max-frames", "32", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["train", "--resume", "a/run", "--steps", "3", "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    (tmp_path / "a" / "s.npz").rename(tmp_path / "moved.npz")      # the archive moved: eval says so
    r = CliRunner().invoke(cli, ["eval", "--run", "a/run", "--max-frames", "32", "--device", "cpu"])
    assert_refused(r, "the run's archive is not there", "give it with --data")
    r = CliRunner().invoke(cli, ["eval", "--run", "a/run", "--data", "moved.npz", "--max-frames", "32", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    # --resume takes where the archive is now, if it holds the data the run started with
    r = CliRunner().invoke(cli, ["train", "--resume", "a/run", "--data", "moved.npz", "--steps", "4", "--quiet",
                                 "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert json.loads(Path("a/run/config.json").read_text())["options"]["data"] == str(tmp_path / "moved.npz")
    r = CliRunner().invoke(cli, ["data", "synth", "--out", "other.npz", "--subjects", "4", "--frames", "2000",
                                 "--seed", "5"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["train", "--resume", "a/run", "--data", "other.npz", "--steps", "5", "--quiet",
                                 "--device", "cpu"])
    assert_refused(r, "the training data differ from those the run started with")
    r = CliRunner().invoke(cli, ["train", "--resume", "a/run", "--real-poses", "other.npz", "--steps", "5"])
    assert_refused(r, "trained without --real-poses")


def test_train_bad_option_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["train", "--steps", "0", "--out", str(tmp_path / "r"), *TINY])
    assert_refused(r, "--steps")
    r = CliRunner().invoke(cli, ["train", "--steps", "2"])
    assert_refused(r, "--out")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, sig):
    """Ctrl-C, and a scheduler's SIGTERM or a closed terminal's SIGHUP, the same way."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "train", "--steps", "100000", "--out", str(run),
                             *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).resolve().parents[2])
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.2)
    while time.time() < deadline and len((run / "metrics.jsonl").read_text().splitlines()) < 3:
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "checkpoint saved; continue with --resume" in err and (sig == "SIGINT" or f"({sig})" in err), err
    from gatepose.runs import load_checkpoint

    _, meta = load_checkpoint(run / "checkpoint.npz")
    assert meta["step"] >= 3


def test_nohup_keeps_training_through_a_closed_terminal(tmp_path):
    """A SIGHUP the caller ignores (`nohup gatepose train ...`) stays ignored: the run goes on."""
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "train", "--steps", "100000", "--out", str(run),
                             *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2],
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    running = proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert running, err
    assert proc.returncode == 130 and "SIGHUP" not in err, err


def test_ablate_and_demo_tiny(tmp_path, monkeypatch):
    from gatepose import options as train_mod

    tiny = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, gate_hidden=8, camera_width=16, critic_pose_width=8,
                critic_kcs_width=16, batch_size=32, synth_subjects=4, val_frames=64, eval_every=1, log_every=1)
    monkeypatch.setitem(train_mod.PRESETS, "small", tiny)
    monkeypatch.setitem(train_mod.PRESETS, "small-weak", {**tiny, "w_geo": 1.0})
    r = CliRunner().invoke(cli, ["ablate", "--steps", "2", "--format", "markdown", "--device", "cpu",
                                 "--out", str(tmp_path / "abl")])
    assert r.exit_code == 0, r.output
    for col in ("PoseGate-Former", "Vanilla", "Fix-attn", "Fix-bias", "zero depth"):
        assert col in r.output
    assert "| Avg." in r.output
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["demo", "--steps", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "zero depth" in r.output and "mean pose" in r.output and "fully supervised" in r.output
    # the newcomer's path: the demo keeps its runs, says which checkpoint it evaluated, and the
    # follow-up commands it prints work on them; a second demo never overwrites the first
    weak = Path("runs") / "demo" / "weak"
    assert (weak / "best.npz").is_file() and (tmp_path / "runs" / "demo" / "full" / "best.npz").is_file()
    assert f"Evaluated: {weak}/best.npz" in r.output and f"gatepose eval --run {weak}" in r.output
    r = CliRunner().invoke(cli, ["eval", "--run", str(weak), "--device", "cpu", "--max-frames", "100"])
    assert r.exit_code == 0 and "N-MPJPE" in r.output, r.output
    r = CliRunner().invoke(cli, ["demo", "--steps", "1", "--device", "cpu", "--no-supervised"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "runs" / "demo-2" / "weak" / "best.npz").is_file()
    r = CliRunner().invoke(cli, ["ablate", "--steps", "2", "--seeds", "2", "--variants", "gated,vanilla",
                                 "--device", "cpu", "--out", str(tmp_path / "abl2")])
    assert r.exit_code == 0, r.output
    assert "gated" in r.output and "+-" in r.output and "spread" in r.output
    # the supervised baseline's own preset (docs/table1.md): its supervision unless told otherwise
    monkeypatch.setitem(train_mod.PRESETS, "small-full", {**tiny, "supervision": "full", "ema": 0.9})
    r = CliRunner().invoke(cli, ["ablate", "--preset", "small-full", "--steps", "2", "--variants", "gated,repnet",
                                 "--device", "cpu", "--out", str(tmp_path / "abl3")])
    assert r.exit_code == 0, r.output
    assert "small-full preset, full supervision" in r.output
    assert json.loads((tmp_path / "abl3" / "gated" / "config.json").read_text())["options"]["supervision"] == "full"
    assert (tmp_path / "abl2" / "seed1" / "vanilla" / "best.npz").is_file()


def test_train_preset_and_explicit_options(tmp_path, monkeypatch):
    from gatepose import options as train_mod

    monkeypatch.setitem(train_mod.PRESETS, "small-full", dict(
        d_model=16, n_heads=2, n_layers=1, d_ff=32, gate_hidden=8, batch_size=32, synth_subjects=4,
        val_frames=64, supervision="full", lr=1e-3))
    run = tmp_path / "full"
    r = CliRunner().invoke(cli, ["train", "--preset", "small-full", "--lr", "2e-3", "--steps", "2",
                                 "--device", "cpu", "--quiet", "--out", str(run)])
    assert r.exit_code == 0, r.output
    opts = json.loads((run / "config.json").read_text())["options"]
    assert opts["supervision"] == "full" and opts["d_model"] == 16 and opts["lr"] == 2e-3


def test_a_presets_flag_turns_off_with_its_no_form(tmp_path):
    """small-weak sets --reproject-clean; --no-reproject-clean (every on/off option has the pair) turns
    it off, and the preset's other values stay."""
    for flag, want in (("--reproject-clean", True), ("--no-reproject-clean", False)):
        run = tmp_path / flag
        r = CliRunner().invoke(cli, ["train", "--preset", "small-weak", flag, "--steps", "1", "--out", str(run),
                                     "--quiet", *TINY])
        assert r.exit_code == 0, r.output
        cfg = json.loads((run / "config.json").read_text())["options"]
        assert cfg["reproject_clean"] is want and cfg["aug_noise_2d"] == 0.012 and cfg["lift"] == "offset"
