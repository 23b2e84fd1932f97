"""Lifting again where the 2D looks noisy (``gatepose.runs.refine_lifts``): which poses are lifted
twice and from what, the threshold an offset-lift run keeps in best.npz (from its clean validation
poses), and ``eval`` / ``predict`` with ``--refine-above`` and ``--no-refine``."""
import json

import numpy as np
import pytest

from gatepose.data.normalize import normalize_2d
from gatepose.data.prepare import prepare_data
from gatepose.files import BEST
from gatepose.options import TrainOptions
from gatepose.runs import correction, load_checkpoint, load_run, refine_lifts, refine_threshold, save_checkpoint
from gatepose.training import train
from helpers import TINY_TRAIN, assert_one_error, invoke, stdout_of


def _poses(rng, n=40, J=6):
    W = normalize_2d(rng.standard_normal((n, J, 2)))[0]
    # lifts whose x and y are W moved by a per-pose amount (known corrections) with some depth
    shift = rng.uniform(0.0, 0.05, n)[:, None, None] * rng.standard_normal((n, J, 2))
    X = np.concatenate([W + shift, rng.standard_normal((n, J, 1)) * 0.3], axis=-1)
    return W, X


def test_correction_is_the_mean_distance_to_the_lifts_own_normalised_x_and_y():
    rng = np.random.default_rng(0)
    W, X = _poses(rng)
    Wx = normalize_2d(X[..., :2])[0]
    np.testing.assert_allclose(correction(W, X), np.sqrt(((Wx - W) ** 2).sum(-1)).mean(-1), rtol=1e-12)
    # a lift that keeps x and y (up to scale) moved nothing
    np.testing.assert_allclose(correction(W, np.concatenate([3.0 * W, X[..., 2:]], -1)), 0.0, atol=1e-12)
    # missing joints (NaN in W) are left out of the mean
    W_miss = W.copy()
    W_miss[:, 0] = np.nan
    np.testing.assert_allclose(correction(W_miss, X), np.sqrt(((Wx - W) ** 2).sum(-1))[:, 1:].mean(-1), rtol=1e-12)


def test_only_poses_moved_more_than_the_threshold_are_lifted_again_from_their_own_x_and_y():
    rng = np.random.default_rng(1)
    W, X = _poses(rng)
    calls = []

    def predict(V):
        calls.append(V.copy())
        return np.concatenate([V, np.full(V.shape[:-1] + (1,), 7.0)], axis=-1)

    c = correction(W, X)
    thr = float(np.median(c))
    out, again = refine_lifts(predict, W, X, thr)
    np.testing.assert_array_equal(again, c > thr)
    assert 0 < again.sum() < len(W) and len(calls) == 1
    np.testing.assert_array_equal(out[~again], X[~again])                      # lifted once: untouched
    np.testing.assert_allclose(calls[0], normalize_2d(X[again][..., :2])[0])  # again: from their own x, y
    np.testing.assert_array_equal(out[again][..., 2], 7.0)
    # above every correction: nothing is lifted again, and the predictor is not called
    out, again = refine_lifts(predict, W, X, float(c.max()))
    assert not again.any() and len(calls) == 1 and out is X


@pytest.fixture(scope="module")
def offset_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("offset") / "run"
    train(TrainOptions(steps=3, lift="offset", aug_noise_2d=0.02, reproject_clean=True, **TINY_TRAIN), d, np,
          progress=False)
    return d


def test_an_offset_lift_run_keeps_the_threshold_of_its_clean_validation_poses(offset_run, tiny_run):
    run = load_run(offset_run)
    _, meta = load_checkpoint(offset_run / BEST)
    assert run.refine_above == pytest.approx(meta["refine_above"]) and run.refine_above > 0
    # the same rule on the same validation poses, with best.npz's generator
    opts = TrainOptions.from_dict(run.config["options"])
    d = prepare_data(opts)
    run.refine_above = None
    X_val = run.predict(d.W_val)
    assert meta["refine_above"] == pytest.approx(refine_threshold(np.asarray(d.W_val, np.float64), X_val), rel=1e-5)
    assert np.mean(correction(np.asarray(d.W_val, np.float64), X_val) > meta["refine_above"]) <= 0.02
    # the paper's lift does not move joints by an offset: its runs lift once
    assert load_run(tiny_run).refine_above is None


def _eval(run, *args):
    r = invoke("eval", "--run", run, "--device", "cpu", "--format", "json", "--max-frames", "300",
               "--noise-2d", "10", *args)
    assert r.exit_code == 0, r.output
    return json.loads(stdout_of(r))


def test_eval_lifts_twice_by_default_and_once_with_no_refine(offset_run):
    d = _eval(offset_run)
    assert d["refine"]["above"] == pytest.approx(load_run(offset_run).refine_above)
    once = _eval(offset_run, "--no-refine")
    assert once["refine"] == {"above": None, "refined_frames": 0}
    every = _eval(offset_run, "--refine-above", "0")
    assert every["refine"]["refined_frames"] == 300 >= d["refine"]["refined_frames"]
    if d["refine"]["refined_frames"]:   # lifting twice changes the figures
        assert d["results"]["model"]["All frames"] != once["results"]["model"]["All frames"]


def test_predict_says_how_many_poses_it_lifted_twice(offset_run, tmp_path):
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(3).standard_normal((12, 17, 2)).astype(np.float32) * 100)
    r = invoke("predict", "--run", offset_run, "--input", src, "--out", tmp_path / "a.npy", "--refine-above", "0")
    assert r.exit_code == 0, r.output
    assert "12 lifted twice" in r.output
    r = invoke("predict", "--run", offset_run, "--input", src, "--out", tmp_path / "b.npy", "--no-refine")
    assert r.exit_code == 0 and "twice" not in r.output
    assert not np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_a_bad_refine_threshold_is_one_error_line(offset_run, value):
    assert_one_error(["eval", "--run", offset_run, "--refine-above", value], "--refine-above")


def test_a_damaged_threshold_in_best_npz_is_one_error(offset_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(offset_run, run)
    arrays, meta = load_checkpoint(run / BEST)
    save_checkpoint(run / BEST, arrays, {**meta, "refine_above": "high"})
    assert_one_error(["eval", "--run", run, "--device", "cpu"], "refine_above")
