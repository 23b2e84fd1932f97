"""Run folders as users damage them: every case is one ``error:`` line, exit code 2, and every
file as it was (issue: "Trustworthy on every machine and every input")."""
import json
import shutil

import numpy as np
import pytest

from gatepose.runs import load_checkpoint, save_checkpoint
from helpers import assert_one_error, invoke, stderr_of

TINY = ["--layers", 1, "--d-model", 16, "--heads", 2, "--d-ff", 32, "--gate-hidden", 8, "--camera-width", 16,
        "--critic-pose-width", 8, "--critic-kcs-width", 16, "--batch-size", 32, "--synth-subjects", 4]


@pytest.fixture
def run(tiny_run, tmp_path):
    """A private copy of the session's tiny trained run."""
    d = tmp_path / "run"
    shutil.copytree(tiny_run, d)
    return d


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _uses(run, tmp_path):
    """The three commands that read a run folder, with arguments."""
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(0).uniform(0, 500, (4, 17, 2)).astype(np.float32))
    return [["eval", "--run", run, "--max-frames", 64, "--device", "cpu"],
            ["predict", "--run", run, "--input", src, "--out", tmp_path / "out.npy", "--device", "cpu"],
            ["train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet"]]


def _edit_config(run, fn):
    path = run / "config.json"
    cfg = json.loads(path.read_text())
    out = fn(cfg)
    path.write_text(out if isinstance(out, str) else json.dumps(cfg if out is None else out))


CONFIG_DAMAGE = {
    "not json": ("{not json", "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "a list": ([1, 2], "expected a JSON object"),
    "no options": (lambda c: c.pop("options") and None, "field 'options'"),
    "no skeleton": (lambda c: c.pop("skeleton") and None, "field 'skeleton'"),
    "no normalisation": (lambda c: c.pop("normalisation") and None, "field 'normalisation'"),
    "batch size a word": (lambda c: c["options"].update(batch_size="big"), "option 'batch_size'"),
    "scale a word": (lambda c: c["normalisation"].update(scale_3d_mm="abc"), "scale_3d_mm"),
    "scale NaN": (lambda c: c["normalisation"].update(scale_3d_mm=float("nan")), "scale_3d_mm"),
    "unknown skeleton": (lambda c: c.update(skeleton="octopus"), "field 'skeleton'"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
}


@pytest.mark.parametrize("damage", sorted(CONFIG_DAMAGE))
def test_damaged_config(run, tmp_path, damage):
    how, match = CONFIG_DAMAGE[damage]
    if callable(how):
        _edit_config(run, how)
    else:
        (run / "config.json").write_text(how if isinstance(how, str) else json.dumps(how))
    before = _snapshot(run)
    for args in _uses(run, tmp_path):
        assert_one_error(args, match)
        assert _snapshot(run) == before, args[0]
    assert not (tmp_path / "out.npy").exists()


def test_config_of_another_model_size_than_its_weights(run, tmp_path):
    _edit_config(run, lambda c: c["generator"].update(d_model=32, d_ff=64))
    before = _snapshot(run)
    for args in _uses(run, tmp_path)[:2]:
        assert_one_error(args, "has shape")
        assert _snapshot(run) == before


def test_nan_weights_are_refused_at_load(run, tmp_path):
    for name in ("best.npz", "checkpoint.npz"):
        arrays, meta = load_checkpoint(run / name)
        arrays["gen/head.W"][0, 0] = np.nan
        save_checkpoint(run / name, arrays, meta)
    before = _snapshot(run)
    for args in _uses(run, tmp_path):
        assert_one_error(args, "NaN")
        assert _snapshot(run) == before


def _rewrite_meta(path, text):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["__meta__"] = np.array(text)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("meta, match", [("{oops", "not valid JSON"), ("[]", "expected a JSON object"),
                                         (None, "lacks sampler_2d")])
def test_damaged_checkpoint_metadata(run, tmp_path, meta, match):
    path = run / "checkpoint.npz"
    if meta is None:
        _, m = load_checkpoint(path)
        m.pop("sampler_2d")
        meta = json.dumps(m)
    _rewrite_meta(path, meta)
    before = _snapshot(run)
    assert_one_error(["train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet"], match)
    assert _snapshot(run) == before


def _drop_first(prefix):
    def edit(arrays):
        arrays.pop(next(k for k in sorted(arrays) if k.startswith(prefix)))
    return edit


def _reshape_first(prefix):
    def edit(arrays):
        k = next(k for k in sorted(arrays) if k.startswith(prefix))
        arrays[k] = np.zeros(arrays[k].shape + (2,), arrays[k].dtype)
    return edit


@pytest.mark.parametrize("edit, match", [(_drop_first("opt_g/m/"), "lacks optimiser state"),
                                         (_drop_first("opt_d/v/"), "lacks optimiser state"),
                                         (_reshape_first("opt_g/v/"), "has shape"),
                                         (_reshape_first("critic/"), "has shape")])
def test_checkpoint_without_an_optimiser_moment_or_of_another_shape(run, edit, match):
    """An optimiser's moments are checked like the parameters (no KeyError or broadcast traceback)."""
    arrays, meta = load_checkpoint(run / "checkpoint.npz")
    edit(arrays)
    save_checkpoint(run / "checkpoint.npz", arrays, meta)
    before = _snapshot(run)
    assert_one_error(["train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet"], match)
    assert _snapshot(run) == before


def test_truncated_checkpoint(run):
    path = run / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:5000])
    before = _snapshot(run)
    assert_one_error(["train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet"], "checkpoint")
    assert _snapshot(run) == before


# -- train --out never clobbers, --resume writes nothing until loaded ------------------------------
def test_out_refuses_a_folder_with_config_and_metrics_but_no_checkpoint(run):
    (run / "checkpoint.npz").unlink()
    (run / "best.npz").unlink()
    before = _snapshot(run)
    line = assert_one_error(["train", "--out", run, "--steps", 1, "--device", "cpu", "--quiet", *TINY], "not empty")
    assert "stopped before its first checkpoint: remove the folder" in line
    line = assert_one_error(["train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet"], "nothing to resume")
    assert "remove the folder to start it again" in line
    assert _snapshot(run) == before


def test_out_refuses_any_non_empty_folder(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("precious")
    err = assert_one_error(["train", "--out", d, "--steps", 1, "--device", "cpu", "--quiet"], "not empty", [d / "notes.txt"])
    assert "notes.txt" in err


def test_out_of_a_run_suggests_resume(run):
    assert "--resume" in assert_one_error(["train", "--out", run, "--steps", 1, "--device", "cpu", "--quiet"],
                                          "not empty")


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_out_that_cannot_be_written_fails_before_the_data_loads(tmp_path, where):
    if where == "under_a_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    else:
        out = "/proc/gatepose-test-run"
    assert_one_error(["train", "--out", out, "--steps", 1, "--device", "cpu", "--quiet", *TINY], str(out))


def test_a_failed_new_run_leaves_no_folder(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK not really a zip")
    out = tmp_path / "a" / "b" / "run"
    assert_one_error(["train", "--out", out, "--data", bad, "--steps", 1, "--device", "cpu", "--quiet", *TINY],
                     str(bad))
    assert not (tmp_path / "a").exists()


def test_resume_that_fails_changes_nothing(run):
    (run / "checkpoint.npz").write_bytes(b"garbage")
    before = _snapshot(run)
    assert_one_error(["train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet"], "checkpoint")
    assert _snapshot(run) == before


def test_resume_removes_stale_temporaries(run):
    (run / ".checkpoint.npz.abc123.tmp").write_bytes(b"half a checkpoint")
    (run / "metrics.jsonl.tmp").write_text("{")
    from click.testing import CliRunner
    from cli.main import cli

    r = CliRunner().invoke(cli, ["train", "--resume", str(run), "--steps", "3", "--device", "cpu", "--quiet"])
    assert r.exit_code == 0, r.output
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))
    assert "unfinished temporary file(s)" in r.stderr


@pytest.mark.parametrize("opt, value", [("--epochs", "inf"), ("--epochs", "nan"), ("--lr", "nan"),
                                        ("--w-adv", "inf"), ("--lam", "nan")])
def test_non_finite_options(tmp_path, opt, value):
    assert_one_error(["train", "--out", tmp_path / "r", opt, value, "--device", "cpu", "--quiet"], opt)
    assert not (tmp_path / "r").exists()


def test_divergence_at_the_first_step_says_no_checkpoint_exists(tmp_path):
    from helpers import run_cli as run

    code, _, err = run("train", "--out", tmp_path / "r", "--steps", 2, "--lr", "1e30", "--device", "cpu",
                       "--quiet", *TINY, "--log-every", 1)
    assert code == 2 and err[-1].startswith("error: step 1:"), err
    assert "no checkpoint had been written yet" in err[-1] and "last good checkpoint" not in err[-1]


def test_resume_refuses_options_it_would_ignore(run):
    before = _snapshot(run)
    err = assert_one_error(["train", "--resume", run, "--steps", 3, "--lr", "1", "--heads", 4, "--device", "cpu"],
                           "cannot change now")
    assert "--lr" in err and "--heads" in err
    assert _snapshot(run) == before


def test_a_run_without_best_uses_its_checkpoint_and_says_so(run, tmp_path):
    (run / "best.npz").unlink()
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(0).uniform(0, 500, (4, 17, 2)).astype(np.float32))
    r = invoke("predict", "--run", run, "--input", src, "--out", tmp_path / "o.npy", "--device", "cpu")
    assert r.exit_code == 0, stderr_of(r)
    assert "warning: " in stderr_of(r) and "no best.npz" in stderr_of(r) and "using checkpoint.npz" in stderr_of(r)
