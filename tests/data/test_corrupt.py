"""The corruptions of ``gatepose eval`` (data/corrupt.py) and the NaN convention of the
normalisation (data/normalize.py): shapes, seeds, the statistics of the noise, exact
reproducibility, and that a pose without NaN normalises bit for bit as before."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gatepose.data import corrupt
from gatepose.data.normalize import normalize, normalize_2d, normalize_missing
from gatepose.data.skeleton import SKELETONS, get_skeleton
from gatepose.errors import GateposeError

seeds = st.integers(0, 2**31 - 1)


def poses(rng, N, J, size=200.0):
    return rng.uniform(100, 100 + size, (N, J, 2))


@given(seed=seeds, N=st.integers(1, 6), J=st.integers(2, 17), sigma=st.floats(0, 50))
def test_gaussian_noise_shape_and_seed(seed, N, J, sigma):
    W = poses(np.random.default_rng(seed), N, J)
    a = corrupt.gaussian_noise(W, sigma, np.random.default_rng(seed))
    b = corrupt.gaussian_noise(W, sigma, np.random.default_rng(seed))
    assert a.shape == W.shape and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)           # the same seed: the same noise, bit for bit


def test_gaussian_noise_statistics():
    W = np.zeros((4000, 17, 2))
    d = corrupt.gaussian_noise(W, 5.0, np.random.default_rng(0))
    assert abs(d.mean()) < 0.05 and abs(d.std() - 5.0) < 0.05
    assert abs(np.corrcoef(d[..., 0].ravel(), d[..., 1].ravel())[0, 1]) < 0.02


@given(seed=seeds, N=st.integers(1, 6), J=st.integers(2, 17), data=st.data())
def test_drop_joints_drops_exactly_k(seed, N, J, data):
    k = data.draw(st.integers(0, J - 2))
    W = poses(np.random.default_rng(seed), N, J)
    out = corrupt.drop_joints(W, k, np.random.default_rng(seed))
    miss = np.isnan(out)
    assert (miss[..., 0] == miss[..., 1]).all()            # both coordinates of a missing joint
    assert (miss[..., 0].sum(axis=1) == k).all()
    np.testing.assert_array_equal(out[~miss], W[~miss])
    np.testing.assert_array_equal(out, corrupt.drop_joints(W, k, np.random.default_rng(seed)))


def test_drop_joints_refuses_too_many():
    with pytest.raises(ValueError, match="0 to 15"):
        corrupt.drop_joints(np.zeros((2, 17, 2)), 16, np.random.default_rng(0))


def test_dropped_joints_are_uniform():
    out = corrupt.drop_joints(np.zeros((20000, 17, 2)), 3, np.random.default_rng(1))
    freq = np.isnan(out[..., 0]).mean(axis=0)
    assert np.allclose(freq, 3 / 17, atol=0.01)


@given(seed=seeds, B=st.integers(1, 8), J=st.integers(2, 17), p=st.floats(0, 0.999))
def test_keep_mask_keeps_two_joints(seed, B, J, p):
    u = np.random.default_rng(seed).random((B, J))
    keep = corrupt.keep_mask(u, p)
    assert (keep.sum(axis=1) >= 2).all()
    enough = (u >= p).sum(axis=1) >= 2
    np.testing.assert_array_equal(keep[enough], (u >= p)[enough])   # the rule touches no other pose


def test_keep_mask_rate():
    keep = corrupt.keep_mask(np.random.default_rng(0).random((20000, 17)), 0.2)
    assert abs(1 - keep.mean() - 0.2) < 0.005


@pytest.mark.parametrize("name", sorted(SKELETONS))
def test_every_joint_has_a_coco_sigma(name):
    s = corrupt.joint_sigmas(name)
    assert s.shape == (get_skeleton(name).n_joints,) and (s > 0.02).all() and (s < 0.11).all()


def test_detector_noise_statistics():
    """Without swaps and outliers, each coordinate's spread is sigma_i * sqrt(box area)."""
    rng = np.random.default_rng(0)
    sk = get_skeleton("h36m17")
    base = poses(rng, 1, 17)
    W = np.repeat(base, 5000, axis=0)
    out = corrupt.detector_noise(W, sk, np.random.default_rng(1), swap_rate=0.0, outlier_rate=0.0)
    lo, hi = base[0].min(axis=0), base[0].max(axis=0)
    expected = corrupt.joint_sigmas(sk) * np.sqrt(np.prod(hi - lo))
    np.testing.assert_allclose((out - W).std(axis=0).mean(axis=1), expected, rtol=0.05)


def test_detector_swaps_and_outliers_at_their_rates():
    sk = get_skeleton("h36m17")
    W = np.repeat(poses(np.random.default_rng(0), 1, 17), 20000, axis=0)
    swapped = corrupt.detector_noise(W, sk, np.random.default_rng(2), swap_rate=1.0, outlier_rate=0.0)
    clean = corrupt.detector_noise(W, sk, np.random.default_rng(2), swap_rate=0.0, outlier_rate=0.0)
    flip = np.asarray(sk.flip_permutation)
    np.testing.assert_array_equal(swapped, clean[:, flip])     # every pair swapped: the mirror's permutation
    out = corrupt.detector_noise(W, sk, np.random.default_rng(3), swap_rate=0.0, outlier_rate=1.0)
    lo, hi = W[0].min(axis=0), W[0].max(axis=0)
    assert (out >= lo - 0.5 * (hi - lo)).all() and (out <= hi + 0.5 * (hi - lo)).all()
    rate = corrupt.detector_noise(W, sk, np.random.default_rng(4))
    moved = np.abs(rate - clean).max(axis=-1) > 0      # differs from the noise-only draw: not the same draws
    assert moved.any()


@given(seed=seeds, N=st.integers(1, 5), noise=st.floats(0, 20), drop=st.integers(0, 4), detector=st.booleans())
@settings(max_examples=20)
def test_corrupt_poses_is_reproducible(seed, N, noise, drop, detector):
    W = poses(np.random.default_rng(seed), N, 17)
    a = corrupt.corrupt_poses(W, "h36m17", np.random.default_rng(seed), noise, drop, detector)
    b = corrupt.corrupt_poses(W, "h36m17", np.random.default_rng(seed), noise, drop, detector)
    np.testing.assert_array_equal(a, b)
    assert (np.isnan(a[..., 0]).sum(axis=1) == drop).all()


# -- the normalisation of poses with missing joints ---------------------------------------------
@given(seed=seeds, B=st.integers(1, 6), J=st.integers(2, 17), dtype=st.sampled_from([np.float32, np.float64]))
def test_without_nan_normalisation_is_unchanged_bit_for_bit(seed, B, J, dtype):
    W = poses(np.random.default_rng(seed), B, J).astype(dtype)
    a, sa = normalize_2d(W)
    b, sb = normalize(W)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)
    if dtype == np.float64:
        c, sc = normalize_missing(W)
        np.testing.assert_array_equal(c, b)
        np.testing.assert_array_equal(sc, sb)


@given(seed=seeds, B=st.integers(1, 6), J=st.integers(3, 17), data=st.data())
def test_missing_joints_stay_nan_and_the_rest_is_centred(seed, B, J, data):
    rng = np.random.default_rng(seed)
    W = poses(rng, B, J)
    k = data.draw(st.integers(1, J - 2))
    Wm = corrupt.drop_joints(W, k, rng)
    Wn, s = normalize_2d(Wm)
    miss = np.isnan(Wm[..., 0])
    np.testing.assert_array_equal(np.isnan(Wn[..., 0]), miss)
    for b in range(B):
        P = Wn[b][~miss[b]]
        if miss[b, 0]:
            np.testing.assert_allclose(P.mean(axis=0), 0, atol=1e-12)   # centred on the present joints' mean
        else:
            np.testing.assert_allclose(Wn[b, 0], 0, atol=1e-12)        # on the root
        # ||present||_F^2 * J / n = 1: the scale of a full pose
        np.testing.assert_allclose((P ** 2).sum() * J / len(P), 1.0)


def test_scale_is_about_kept_when_joints_go_missing():
    rng = np.random.default_rng(0)
    W = poses(rng, 2000, 17)
    _, s_full = normalize_2d(W)
    _, s_miss = normalize_2d(corrupt.drop_joints(W, 4, rng))
    assert abs(np.median(s_miss / s_full) - 1) < 0.05


def test_fewer_than_two_present_joints_is_an_error():
    W = poses(np.random.default_rng(0), 3, 5)
    W[1, 1:] = np.nan
    with pytest.raises(GateposeError, match="pose 1 has 1 present joint"):
        normalize_2d(W)
