"""The data-parallel trainer: a batch cut into shards gives the whole batch's losses and gradients,
the threaded path is deterministic, and a bad --shards is refused."""
import threading

import numpy as np
import pytest

from gatepose.fast import parallel
from gatepose.errors import GateposeError
from gatepose.fast.parallel import blas_threads, weighted_mean
from gatepose.data.prepare import prepare_data
from gatepose.options import TrainOptions
from gatepose.speed import speed_paths
from gatepose.train import Trainer
from gatepose.training import params_finite, state_dict
from helpers import TINY_TRAIN


# -- weighted_mean --------------------------------------------------------------------------------
def test_weighted_mean_through_nested_tuples_and_dicts():
    rng = np.random.default_rng(0)

    def result(scale):
        return ((np.float64(scale), rng.standard_normal(3) * scale),
                {"a": rng.standard_normal((2, 2)), "b": None},
                {"nested": (np.array(scale, np.float64), None)})

    results = [result(s) for s in (1.0, 2.0, 3.0)]
    weights = [0.5, 0.25, 0.25]
    originals = [[r[0][1].copy(), r[1]["a"].copy()] for r in results]
    out = weighted_mean(results, weights)
    assert isinstance(out, tuple) and len(out) == 3
    assert isinstance(out[0], tuple) and isinstance(out[1], dict) and isinstance(out[2], dict)
    np.testing.assert_allclose(out[0][0], 0.5 * 1 + 0.25 * 2 + 0.25 * 3)
    np.testing.assert_allclose(out[0][1], sum(w * r[0][1] for r, w in zip(results, weights)))
    np.testing.assert_allclose(out[1]["a"], sum(w * r[1]["a"] for r, w in zip(results, weights)))
    assert out[1]["b"] is None
    assert out[2]["nested"][1] is None
    np.testing.assert_allclose(out[2]["nested"][0], 0.5 + 0.5 + 0.75)
    # the inputs are left alone (the first result is not accumulated into)
    for r, (a, b) in zip(results, originals):
        np.testing.assert_array_equal(r[0][1], a)
        np.testing.assert_array_equal(r[1]["a"], b)


def test_weighted_mean_of_one_result_is_that_result():
    r = ((np.float32(1.5), np.arange(4, dtype=np.float32)), {"g": np.ones((2, 3)), "none": None})
    out = weighted_mean([r], [1.0])
    assert out[0][0] == r[0][0]
    np.testing.assert_array_equal(out[0][1], r[0][1])
    assert out[0][1].dtype == np.float32
    np.testing.assert_array_equal(out[1]["g"], r[1]["g"])
    assert out[1]["none"] is None


# -- shards give the whole batch's gradients (float64) ------------------------------------------------
def _opts(**kw):
    return TrainOptions(**{**TINY_TRAIN, "steps": 3, "n_critic": 2, **kw})


@pytest.fixture(scope="module")
def data():
    return prepare_data(_opts())


def _flatten(tree, prefix=""):
    """Nested tuples/dicts of arrays -> {path: array}; None entries are kept as None."""
    if isinstance(tree, dict):
        out = {}
        for k in tree:
            out.update(_flatten(tree[k], f"{prefix}/{k}"))
        return out
    if isinstance(tree, tuple):
        out = {}
        for i, v in enumerate(tree):
            out.update(_flatten(v, f"{prefix}/{i}"))
        return out
    return {prefix: tree}


def _assert_tree_close(got, want, rtol=1e-10):
    g, w = _flatten(got), _flatten(want)
    assert set(g) == set(w)
    # rtol on each entry, plus an absolute floor far below it relative to the largest value of the
    # whole result, for entries that cancel to ~0: the critic's output bias gradient is exactly
    # -mean(1) + mean(1) = 0 on the whole batch, and rounding-level (1e-17) as a sum of shards.
    scale = max(float(np.abs(np.asarray(v)).max()) for v in w.values() if v is not None)
    for k in w:
        if w[k] is None:
            assert g[k] is None, k
            continue
        a, b = np.asarray(g[k]), np.asarray(w[k])
        assert a.shape == b.shape, k
        assert a.dtype == np.float64, (k, a.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-13 * scale, err_msg=k)


@pytest.mark.parametrize("attention", ["gated", "scalar-gate"])
@pytest.mark.parametrize("batch", [7, 12])
def test_sharded_gradients_equal_unsharded(data, attention, batch):
    tr = Trainer(_opts(attention=attention), data, np, np.float64)
    rng = np.random.default_rng(batch)
    W = np.asarray(data.W_train[:batch], np.float64)
    X_real = np.asarray(data.X_real[100:100 + batch], np.float64)
    X_fake = np.asarray(data.X_real[300:300 + batch], np.float64)
    eps = rng.random(batch)
    tr.speed = speed_paths(shards=1)
    want_d = tr.speed.batch_mean(tr.critic_loss, X_real, X_fake, eps)
    want_g = tr.speed.batch_mean(tr.generator_loss, W)
    for shards in (2, 3):
        tr.speed = speed_paths(shards=shards)
        got_d = tr.speed.batch_mean(tr.critic_loss, X_real, X_fake, eps)
        got_g = tr.speed.batch_mean(tr.generator_loss, W)
        _assert_tree_close(got_d, want_d)
        _assert_tree_close(got_g, want_g)
    # the sharded call read the batch without writing to it
    np.testing.assert_array_equal(W, np.asarray(data.W_train[:batch], np.float64))


def test_shards_option_sets_the_trainer(data):
    assert Trainer(_opts(shards=3), data, np, np.float64).shards == 3
    assert Trainer(_opts(), data, np, np.float64).shards == 2      # CPU default


# -- the threaded path computes what the in-order path computes --------------------------------
def _run(data, iterations=3, record=None, dtype=np.float64, **kw):
    # float64: the key projection's bias has an exactly-zero gradient (softmax ignores a constant
    # added to every logit), so in float32 Adam would scale that gradient's rounding noise up to
    # full lr-sized steps, and two correct runs would differ there by ~lr.
    tr = Trainer(_opts(shards=2, **kw), data, np, dtype)
    if record is not None:
        for name in ("critic_loss", "generator_loss"):
            fn = getattr(tr, name)

            def wrapped(*a, _fn=fn):
                record.append(threading.current_thread().name)
                return _fn(*a)

            setattr(tr, name, wrapped)
    for _ in range(iterations):
        tr.iteration(want_stats=True)
    return tr


def _assert_same_state(a, b):
    """Every parameter and optimiser moment equal up to rounding, not bitwise: shards that run in
    other threads hold their arrays at other addresses, and SIMD sums may then be taken in another
    order (tests/fast/test_parallel.py says more)."""
    sa, sb = state_dict(a)["arrays"], state_dict(b)["arrays"]
    assert set(sa) == set(sb)
    for k in sa:
        assert sa[k].dtype == a.dtype, k
        np.testing.assert_allclose(sa[k], sb[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_two_threaded_runs_agree(data):
    names = []
    a = _run(data, record=names)
    b = _run(data)
    _assert_same_state(a, b)
    assert params_finite(a) and a.step == b.step == 3
    # 3 iterations x (2 critic steps + 1 generator step) x 2 shards
    assert len(names) == 3 * 3 * 2
    if parallel.blas_controllable() and parallel.cpu_threads() > 1:
        assert all(n.startswith("gatepose-shard") for n in names), set(names)


def test_threaded_shards_equal_the_same_shards_run_in_order(data, monkeypatch):
    """The numbers depend on how the batch is cut, never on how many threads run the shards."""
    threaded = _run(data)
    monkeypatch.setattr(parallel, "cpu_threads", lambda: 1)     # run_shards: one after another
    names = []
    with blas_threads(1):
        sequential = _run(data, record=names)
    assert set(names) == {threading.current_thread().name}
    _assert_same_state(threaded, sequential)


# -- options ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shards", [0, -1])
def test_bad_shards_is_refused(shards):
    with pytest.raises(GateposeError, match="--shards"):
        TrainOptions(shards=shards).check()


@pytest.mark.parametrize("shards", [None, 1, 5])
def test_good_shards_are_accepted_and_kept(shards):
    """None (the device's default) or any count >= 1 passes validation and survives the run
    folder's round trip through config.json's options."""
    opts = TrainOptions(shards=shards)
    assert opts.check() is None                      # a bad value raises instead
    assert TrainOptions.from_dict(opts.to_dict()).shards == shards


def test_run_folder_records_the_shard_count(tiny_run):
    """shards=None means 'the device's default'; the run records the count it used, so a resume on
    another machine or device cuts its batches the same way."""
    import json

    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["options"]["shards"] == 2
