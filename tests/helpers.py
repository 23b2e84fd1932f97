"""Helpers shared by the test modules (imported as ``from helpers import ...``)."""
import re
from pathlib import Path

import numpy as np

# A model small enough to train a few steps in about a second; full pipeline, every module.
TINY_TRAIN = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, gate_hidden=8, camera_width=16,
                  critic_pose_width=8, critic_kcs_width=16, batch_size=32, synth_subjects=4,
                  val_frames=64, log_every=1, eval_every=1, checkpoint_every=1)


def assert_pass(results, rtol=1e-6):
    """Every gradient-check result is below ``rtol`` (and there is at least one)."""
    assert results
    for r in results:
        assert r.max_rel_error < rtol, f"{r.name} {r.shape}: rel error {r.max_rel_error:.2e}"


def random_rotation(rng):
    """A random proper rotation (det +1) from the QR of a Gaussian matrix."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def invoke(*args):
    """Run ``gatepose ARGS...`` in-process; the click Result (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def stdout_of(r) -> str:
    """A Result's stdout alone (click >= 8.2 keeps stderr apart; older versions mix them)."""
    try:
        return r.stdout
    except ValueError:
        return r.output


def stderr_of(r) -> str:
    """A Result's stderr alone (the whole output on click versions that mix the two)."""
    try:
        return r.stderr
    except ValueError:
        return r.output


def run_cli(*args):
    """(exit code, stdout, non-blank stderr lines) of one in-process ``gatepose ARGS...`` call."""
    r = invoke(*args)
    return r.exit_code, stdout_of(r), [line for line in stderr_of(r).splitlines() if line.strip()]


# -- a refused command: the one check every bad input is held to --------------------------------------
def _code_and_streams(r):
    """(exit code, stdout or None where click mixes it with stderr, stderr) of a click Result or a
    subprocess.CompletedProcess."""
    if hasattr(r, "returncode"):
        return r.returncode, r.stdout, r.stderr
    try:
        return r.exit_code, r.stdout, r.stderr
    except ValueError:                 # click < 8.2: one mixed stream
        return r.exit_code, None, r.output


def _holds(line, match):
    """``match`` is in ``line``: a str as is, a compiled pattern by ``search``."""
    return bool(match.search(line)) if isinstance(match, re.Pattern) else match in line


def assert_refused(r, *matches, not_written=(), progress=False) -> str:
    """``r`` (a click Result, or a CompletedProcess of ``python -m cli.main ...``) is a refusal as
    every bad input must end: exit code 2, no traceback, nothing on stdout, and exactly one
    ``error: `` line on stderr, which holds each of ``matches`` (a str as is, a compiled pattern by
    ``search``); no path in ``not_written`` exists. The error line is stderr's only line; with
    ``progress=True`` other lines (a progress label, ``device: cpu``) may come before it, with a tuple
    of prefixes only lines starting with one of them may. Returns the error line."""
    code, out, err = _code_and_streams(r)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert len(errors) == 1 and errors[0].startswith("error: ") and lines[-1] == errors[0], err
    if progress is not True:
        allowed = progress or ()
        assert all(ln.startswith(tuple(allowed)) for ln in lines[:-1]), err
    assert out is None or not out.strip(), out
    for m in matches:
        assert _holds(errors[0], m), (m, errors[0])
    for p in not_written:
        assert not Path(p).exists(), f"{p} was written"
    return errors[0]


def assert_one_error(args, match, keep=(), out=None) -> str:
    """``gatepose ARGS...`` (in-process) is refused (:func:`assert_refused`) with an error line holding
    ``match``; every path in ``keep`` has the same bytes after as before (a missing one stays
    missing), and ``out``, when given and absent before, is not created. Returns the error line."""
    before = {Path(f): (Path(f).read_bytes() if Path(f).exists() else None) for f in keep}
    existed = out is not None and Path(out).exists()
    line = assert_refused(invoke(*args), match)
    for f, data in before.items():
        assert (f.read_bytes() if f.exists() else None) == data, f"{f} changed"
    if out is not None and not existed:
        assert not Path(out).exists(), f"{out} was written"
    return line


def assert_takes_the_reference_steps(fast, plain, iterations: int = 3) -> None:
    """Two float64 Trainers, one on the fast paths and one with ``reference=True``, take the same
    steps: every logged loss of ``iterations`` iterations, then every parameter, equal to rounding."""
    import numpy as np
    import pytest

    for _ in range(iterations):
        lf, lp = fast.iteration(), plain.iteration()
        for k in lp:
            assert float(lf[k]) == pytest.approx(float(lp[k]), rel=1e-8, abs=1e-10), k
    for a, b in ((fast.gen, plain.gen), (fast.cam, plain.cam), (fast.critic, plain.critic)):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-7, atol=1e-10, err_msg=k)


def assert_resumes_exactly(opts: dict, tmp_path) -> Path:
    """Train ``opts`` (TrainOptions fields, no steps) 4 steps straight, and 2 then resumed to 4, in
    NumPy; the two final checkpoints are equal bit for bit. Returns the
    straight run's folder."""
    from gatepose.options import TrainOptions
    from gatepose.runs import load_checkpoint
    from gatepose.training import train

    straight, split = tmp_path / "a", tmp_path / "b"
    train(TrainOptions(**opts, steps=4), straight, np, progress=False)
    train(TrainOptions(**opts, steps=2), split, np, progress=False)
    train(TrainOptions(**opts, steps=4), split, np, resume=True, progress=False)
    a, _ = load_checkpoint(straight / "checkpoint.npz")
    b, _ = load_checkpoint(split / "checkpoint.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    return straight
