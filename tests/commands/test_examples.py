"""Smoke tests: every script in examples/ runs to the end with its small defaults."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name, *args, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=EXAMPLES.parent)
    assert p.returncode == 0, f"{name} failed:\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr
    return p.stdout


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES.glob("*.py")} == {
        "check_gated_attention.py", "train_and_evaluate.py", "lift_coco_keypoints.py"}


def test_check_gated_attention():
    out = run_example("check_gated_attention.py")
    assert "all gradients match" in out
    assert sum(line.endswith("pass") for line in out.splitlines()) == 5  # Q, K, V, G, Bb


def test_train_and_evaluate():
    out = run_example("train_and_evaluate.py", "--steps", "4", "--max-frames", "500")
    assert "trained 4 steps" in out
    for text in ("MPJPE", "N-MPJPE", "P-MPJPE", "Frames", "Avg.", "mean pose", "zero depth"):
        assert text in out, text


def test_lift_coco_keypoints():
    out = run_example("lift_coco_keypoints.py")
    assert "below confidence 0.3" in out and "l_wrist" in out
    assert out.count("3D pose in mm") == 3 and "r_ankle" in out


@pytest.mark.parametrize("name", ["check_gated_attention.py", "train_and_evaluate.py", "lift_coco_keypoints.py"])
def test_help(name):
    assert "usage:" in run_example(name, "--help")
