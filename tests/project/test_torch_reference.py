"""benchmarks/torch_reference.py --check: the PyTorch step of a preset computes gatepose's losses and
gradients (float64), so the speed comparison compares the same work. Runs only where torch is installed
(it is never a dependency)."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset, options", [
    ("small-weak", []),
    ("small-weak", ["--set", "perspective=0"]),     # the orthographic reprojection
    ("small-weak", ["--set", "lift=offset", "--set", "aug_noise_2d=0.012", "--set", "reproject_clean=true"]),
    ("small-full", []),
])
def test_the_torch_step_computes_gateposes_losses_and_gradients(preset, options):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/torch_reference.py"), "--preset", preset, "--check",
                        *options], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check: ok" in r.stdout


def test_an_option_it_does_not_mirror_is_refused_not_ignored():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks/torch_reference.py"), "--preset", "small-weak", "--check",
                        "--set", "w_adv_2d=1"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "not mirrored in PyTorch: w_adv_2d" in r.stdout + r.stderr
