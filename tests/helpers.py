"""Helpers shared by the test modules (imported as ``from helpers import ...``)."""
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
    return r.exit_code, r.stdout, [line for line in r.stderr.splitlines() if line.strip()]


def assert_one_error(args, match, files=()):
    """The call fails with exit 2 and exactly one stderr line ``error: ...match...``; the given
    files keep their bytes (a missing one stays missing)."""
    from pathlib import Path

    before = {Path(f): (Path(f).read_bytes() if Path(f).exists() else None) for f in files}
    code, _, err = run_cli(*args)
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert match in err[0], err[0]
    for f, data in before.items():
        assert (f.read_bytes() if f.exists() else None) == data, f"{f} changed"
    return err[0]
