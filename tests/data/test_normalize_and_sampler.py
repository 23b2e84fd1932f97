"""Normalisation and its inverse, and the seeded device-side batch iterator."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gatepose.data.batches import Sampler
from gatepose.data.normalize import denormalize, mean_scale, normalize_2d, normalize_3d

seeds = st.integers(0, 2**31 - 1)
# The xp fixture only names a module; nothing in it needs resetting between examples.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@pytest.mark.parametrize("D", [2, 3])
@given(seed=seeds, B=st.integers(1, 6), J=st.sampled_from([15, 16, 17]))
@settings(max_examples=10, suppress_health_check=FIXTURE_OK)
def test_normalize_and_back(xp, D, seed, B, J):
    rng = np.random.default_rng(seed)
    P = xp.asarray(rng.uniform(-500, 1500, (B, J, D)).astype(np.float32))
    fn = normalize_2d if D == 2 else normalize_3d
    Pn, scale = fn(P)
    assert Pn.dtype == np.float32 and scale.dtype == np.float32 and scale.shape == (B,)
    host = lambda a: a.get() if hasattr(a, "get") else np.asarray(a)  # noqa: E731
    assert np.all(host(Pn)[:, 0] == 0)
    np.testing.assert_allclose(np.sqrt((host(Pn) ** 2).sum(axis=(1, 2))), 1.0, rtol=1e-5)
    back = denormalize(Pn, scale, root=P[:, 0])
    assert back.dtype == np.float32
    np.testing.assert_allclose(host(back), host(P), rtol=1e-5, atol=1e-2)
    # shape only: a scaled and shifted copy normalises to the same thing
    Q = P * 3.5 + xp.asarray(rng.normal(size=(B, 1, D)).astype(np.float32)) * 100.0
    np.testing.assert_allclose(host(fn(Q)[0]), host(Pn), atol=1e-5)


def test_degenerate_pose_stays_finite(xp):
    Pn, scale = normalize_2d(xp.ones((2, 17, 2), dtype=xp.float32))
    assert float(scale.max()) == 0.0 and bool(xp.isfinite(Pn).all()) and float(abs(Pn).max()) == 0.0


def test_scalar_denormalize_and_mean_scale():
    X = np.random.default_rng(0).normal(0, 300, (5, 17, 3)).astype(np.float32)
    Xn, s = normalize_3d(X)
    m = mean_scale(X)
    assert abs(m - float(s.mean())) < 1e-3
    np.testing.assert_allclose(denormalize(Xn, m), Xn * m, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, J, 2\)"):
        normalize_2d(X)


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@given(seed=seeds, n=st.integers(1, 40), bs=st.integers(1, 12))
@settings(max_examples=15, suppress_health_check=FIXTURE_OK)
def test_each_epoch_is_a_permutation(xp, seed, n, bs):
    """An epoch's batches are distinct rows of one permutation; a tail shorter than a batch is skipped."""
    bs = min(bs, n)
    data = xp.arange(n) * 10
    s = Sampler(data, bs, seed=seed)
    seen = [s.next() for _ in range(n // bs)]
    rows = np.concatenate([_host(b) for b in seen])
    assert len(set(rows.tolist())) == len(rows) == (n // bs) * bs and all(r % 10 == 0 for r in rows)
    assert set(rows.tolist()) <= set(range(0, 10 * n, 10)) and s.epoch == 0
    assert type(seen[0]) is type(data)                                    # gathered on the device
    s.next()
    assert s.epoch == 1                                                   # the next batch starts an epoch


def test_reshuffling(xp):
    s = Sampler(xp.arange(10), 4, seed=1)
    e0 = [_host(s.next()) for _ in range(2)]
    e1 = [_host(s.next()) for _ in range(2)]
    assert all(len(b) == 4 for b in e0 + e1)
    assert not np.array_equal(np.concatenate(e0), np.concatenate(e1))  # a new order each epoch
    again = Sampler(xp.arange(10), 4, seed=1)
    assert np.array_equal(_host(again.next()), e0[0])                  # same seed, same batches


def test_resume_gives_the_same_batches(xp):
    data = xp.arange(23)
    s = Sampler(data, 5, seed=7)
    for _ in range(6):
        s.next()
    state = json.loads(json.dumps(s.state()))
    rest = [_host(s.next()) for _ in range(9)]
    resumed = Sampler(data, 5, seed=123)
    resumed.load_state(state)
    assert all(np.array_equal(_host(resumed.next()), r) for r in rest)
