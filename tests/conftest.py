"""Shared test set-up: a deterministic hypothesis profile and backend fixtures.

The tests run with ``--import-mode=importlib`` (setup.cfg) and have no ``__init__.py``: this folder
is put on ``sys.path`` here so that every test module, in any subfolder, can ``from helpers import
...`` and ``import strict_xp``."""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from helpers import TINY_TRAIN  # noqa: E402

# CI: derandomised (the same examples every run), no deadline (2 slow cores), no example database.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _ctrl_c_stops_the_suite():
    """A Ctrl-C that lands in a command run in-process (click's CliRunner) is handled as the CLI
    handles it: one line, exit 130, and every later Ctrl-C ignored (cli/main.py's ignore_sigint).
    In the test process that would swallow the user's Ctrl-C and each one after it, so after each
    test the handler is put back and the Ctrl-C passed on to pytest. (The tests that send SIGINT
    send it to a subprocess.)"""
    before = signal.getsignal(signal.SIGINT)
    yield
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and before is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, before)
        raise KeyboardInterrupt("Ctrl-C during a command run in-process")


def _gpu_xp():
    from gatepose.backend import gpu_available

    if not gpu_available():
        return None
    import cupy

    return cupy


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """Runs a test on NumPy, and on CuPy when a GPU is usable (skipped cleanly otherwise)."""
    if request.param == "numpy":
        return np
    cp = _gpu_xp()
    if cp is None:
        pytest.skip("no usable GPU (CuPy missing or no device)")
    return cp


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder of a tiny model trained two steps on synthetic data (shared, do not modify)."""
    from gatepose.options import TrainOptions
    from gatepose.training import train

    d = tmp_path_factory.mktemp("run") / "tiny"
    train(TrainOptions(steps=2, **TINY_TRAIN), d, np, progress=False)
    return d
