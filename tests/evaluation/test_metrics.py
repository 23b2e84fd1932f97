"""MPJPE, N-MPJPE, P-MPJPE and their aggregation: hand-computed cases, invariances, references."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from gatepose.backend import gpu_available
from gatepose.errors import GateposeError
from gatepose.metrics import (
    Result, aggregate, evaluate_predictions, mpjpe, n_mpjpe, p_mpjpe, procrustes_align,
    root_relative, scale_align,
)

FAST = settings(max_examples=25, deadline=None)
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**31 - 1)


def poses(rng, n, j, dtype=np.float64, scale=300.0):
    """(n, j, 3) generic (non-planar for j >= 4) poses around the origin, in mm."""
    return (rng.normal(size=(n, j, 3)) * scale).astype(dtype)


def rotations(rng, n):
    """(n, 3, 3) random proper rotations (det +1)."""
    return Rotation.random(n, random_state=rng).as_matrix()


def tol(dtype, size=300.0):
    return size * (2e-4 if dtype == np.float32 else 1e-9)


def sse(a, b):
    return ((np.asarray(a, np.float64) - b) ** 2).sum(axis=(1, 2))


# --- hand-computed cases ---------------------------------------------------------------------


def test_mpjpe_two_joints_by_hand():
    gt = np.array([[[0.0, 0, 0], [100, 0, 0]]])
    pred = gt + np.array([[[3.0, 4, 0], [0, 0, 2]]])  # joint errors 5 and 2
    assert mpjpe(pred, gt) == pytest.approx([3.5])


def test_n_mpjpe_by_hand():
    gt = np.array([[[0.0, 0, 0], [100, 0, 0]], [[0.0, 0, 0], [100, 0, 0]]])
    pred = np.array([[[0.0, 0, 0], [50, 0, 0]],  # s = 2 fits exactly
                     [[0.0, 0, 0], [0, 100, 0]]])  # orthogonal: s = 0, errors 0 and 100
    np.testing.assert_allclose(n_mpjpe(pred, gt), [0.0, 50.0], atol=1e-12)
    assert mpjpe(pred, gt) == pytest.approx([25.0, 100 * np.sqrt(2) / 2])


def test_p_mpjpe_by_hand():
    gt = np.array([[[0.0, 0, 0], [2, 0, 0]]])
    collapsed = np.zeros_like(gt)  # a single point: best fit is the centroid (1, 0, 0)
    np.testing.assert_allclose(p_mpjpe(collapsed, gt), [1.0], atol=1e-12)
    # A segment of any length and direction maps exactly onto another one.
    pred = np.array([[[5.0, 5, 5], [5, 9, 5]]])
    np.testing.assert_allclose(p_mpjpe(pred, gt), [0.0], atol=1e-12)


def test_root_relative():
    X = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    R = root_relative(X)
    assert R.dtype == np.float32 and np.all(R[:, 0] == 0)
    np.testing.assert_array_equal(R[:, 2], X[:, 2] - X[:, 0])


# --- properties ------------------------------------------------------------------------------


@FAST
@given(n=st.integers(1, 6), j=st.integers(2, 17), seed=seeds, dtype=dtypes)
def test_identical_poses_give_zero(n, j, seed, dtype):
    gt = poses(np.random.default_rng(seed), n, j, dtype)
    for f in (mpjpe, n_mpjpe, p_mpjpe):
        out = f(gt, gt)
        assert out.shape == (n,) and out.dtype == dtype
        np.testing.assert_allclose(out, 0.0, atol=tol(dtype))


@FAST
@given(n=st.integers(1, 6), j=st.integers(4, 17), seed=seeds, dtype=dtypes,
       scale=st.floats(0.05, 20.0), shift=st.floats(-1e3, 1e3))
def test_p_mpjpe_invariant_to_similarity_of_prediction(n, j, seed, dtype, scale, shift):
    rng = np.random.default_rng(seed)
    gt = poses(rng, n, j)
    pred = gt + poses(rng, n, j, scale=40.0)
    R = rotations(rng, n)
    t = rng.normal(size=(n, 1, 3)) * shift
    moved = scale * (pred @ R) + t
    base = p_mpjpe(pred.astype(dtype), gt.astype(dtype))
    out = p_mpjpe(moved.astype(dtype), gt.astype(dtype))
    assert out.dtype == dtype
    np.testing.assert_allclose(out, base, atol=tol(dtype, 300.0 * (1 + abs(shift) / 300 + scale)))


@FAST
@given(n=st.integers(1, 6), j=st.integers(2, 17), seed=seeds, dtype=dtypes,
       scale=st.floats(0.05, 20.0) | st.floats(-20.0, -0.05))
def test_n_mpjpe_invariant_to_scale_of_prediction(n, j, seed, dtype, scale):
    rng = np.random.default_rng(seed)
    gt = poses(rng, n, j)
    pred = gt + poses(rng, n, j, scale=60.0)
    base = n_mpjpe(pred.astype(dtype), gt.astype(dtype))
    out = n_mpjpe((scale * pred).astype(dtype), gt.astype(dtype))
    assert out.dtype == dtype
    np.testing.assert_allclose(out, base, atol=tol(dtype))


@FAST
@given(n=st.integers(1, 6), j=st.integers(4, 17), seed=seeds, dtype=dtypes)
def test_mirrored_prediction_is_not_aligned_by_a_reflection(n, j, seed, dtype):
    rng = np.random.default_rng(seed)
    gt = poses(rng, n, j)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])  # a reflection of a non-planar pose
    mirrored = (mirrored @ rotations(rng, n)).astype(dtype)  # hide it behind a rotation
    gt = gt.astype(dtype)
    p = p_mpjpe(mirrored, gt)
    with_reflection = mpjpe(procrustes_align(mirrored, gt, allow_reflection=True), gt)
    np.testing.assert_allclose(with_reflection, 0.0, atol=tol(dtype))
    # Random non-planar poses are far from planar: the mirror costs a real error.
    assert np.all(p > 1.0)
    # scipy's orthogonal Procrustes (reflections allowed) agrees that a reflection fits exactly.
    for i in range(n):
        X0 = gt[i] - gt[i].mean(0)
        Y0 = mirrored[i] - mirrored[i].mean(0)
        Q, _ = orthogonal_procrustes(Y0.astype(np.float64), X0.astype(np.float64))
        assert np.linalg.det(Q) < 0


@FAST
@given(n=st.integers(1, 5), seed=seeds, dtype=dtypes)
def test_mirrored_planar_pose_is_matched_by_a_proper_rotation(n, seed, dtype):
    """For planar points a mirror equals a 180-degree turn, so the sign fix must cost nothing."""
    rng = np.random.default_rng(seed)
    gt = poses(rng, n, 3)  # three points are always planar
    mirrored = (gt * np.array([1.0, -1.0, 1.0])) @ rotations(rng, n)
    np.testing.assert_allclose(p_mpjpe(mirrored.astype(dtype), gt.astype(dtype)), 0.0, atol=tol(dtype))


def reference_p_mpjpe(pred, gt):
    """Independent per-sample reference: scipy's Kabsch (proper rotation) then the best scale."""
    out = []
    for P, G in zip(np.asarray(pred, np.float64), np.asarray(gt, np.float64)):
        P0, G0 = P - P.mean(0), G - G.mean(0)
        rot, _ = Rotation.align_vectors(G0, P0)  # argmin sum |G0_i - rot(P0_i)|^2, det +1
        RP = rot.apply(P0)
        a = max((RP * G0).sum() / max((RP * RP).sum(), 1e-300), 0.0)
        out.append(np.linalg.norm(a * RP - G0, axis=-1).mean())
    return np.array(out)


@FAST
@given(n=st.integers(1, 6), j=st.integers(4, 17), seed=seeds, noise=st.floats(1.0, 500.0))
def test_p_mpjpe_matches_independent_reference(n, j, seed, noise):
    rng = np.random.default_rng(seed)
    gt = poses(rng, n, j)
    pred = (gt + poses(rng, n, j, scale=noise)) @ rotations(rng, n)
    np.testing.assert_allclose(p_mpjpe(pred, gt), reference_p_mpjpe(pred, gt), rtol=1e-6, atol=1e-6)


@FAST
@given(n=st.integers(1, 8), j=st.integers(2, 17), seed=seeds, noise=st.floats(1.0, 1000.0))
def test_error_orderings_that_are_guaranteed(n, j, seed, noise):
    """Each alignment minimises the squared error over a family containing the previous one:
    scale alone contains s = 1; Procrustes contains s * identity whenever s >= 0 (a negative s is
    a point reflection, which a proper rotation cannot reproduce). Mean joint errors (means of
    norms, not of squares) are not ordered in general, so only the squared errors are compared."""
    rng = np.random.default_rng(seed)
    gt = root_relative(poses(rng, n, j))
    pred = root_relative(gt + poses(rng, n, j, scale=noise))
    if seed % 3 == 0:
        pred = -pred  # exercise negative optimal scales too
    raw, scaled, aligned = sse(pred, gt), sse(scale_align(pred, gt), gt), sse(procrustes_align(pred, gt), gt)
    eps = 1e-9 * (1.0 + raw)
    assert np.all(scaled <= raw + eps)
    assert np.all(aligned <= raw + eps)
    positive = (pred * gt).sum(axis=(1, 2)) >= 0
    assert np.all(aligned[positive] <= scaled[positive] + eps[positive])


def test_degenerate_predictions_are_finite():
    gt = poses(np.random.default_rng(0), 3, 5)
    zero = np.zeros_like(gt)
    for f in (mpjpe, n_mpjpe, p_mpjpe):
        assert np.all(np.isfinite(f(zero, gt)))
    np.testing.assert_allclose(n_mpjpe(zero, gt), mpjpe(zero, gt))


def test_shape_mismatch_raises():
    with pytest.raises(GateposeError, match="shape"):
        mpjpe(np.zeros((2, 5, 3)), np.zeros((2, 4, 3)))
    with pytest.raises(GateposeError, match="shape"):
        p_mpjpe(np.zeros((2, 5, 2)), np.zeros((2, 5, 2)))


# --- evaluate_predictions --------------------------------------------------------------------


@FAST
@given(n=st.integers(1, 6), j=st.integers(4, 17), seed=seeds, dtype=dtypes, c=st.floats(100.0, 2000.0))
def test_evaluate_predictions_protocol_one(n, j, seed, dtype, c):
    rng = np.random.default_rng(seed)
    gt = poses(rng, n, j) + rng.normal(size=(n, 1, 3)) * 5000.0  # anywhere in the camera frame
    rr = root_relative(gt)
    norms = np.linalg.norm(rr, axis=(1, 2))  # the normalisation of section 7
    pred_norm = rr / norms[:, None, None] + rng.normal(size=(n, 1, 3))  # root offset is dropped
    out = evaluate_predictions(pred_norm.astype(dtype), gt.astype(dtype), c)
    assert set(out) == {"mpjpe", "n_mpjpe", "p_mpjpe"}
    for v in out.values():
        assert v.shape == (n,) and v.dtype == dtype
    # The only error left is the global scale: pred_mm = rr * c / norm.
    expected = np.abs(c / norms - 1.0) * np.linalg.norm(rr, axis=-1).mean(-1)
    size = 300.0 * (1 + c / norms.min())
    np.testing.assert_allclose(out["mpjpe"], expected, rtol=1e-4 if dtype == np.float32 else 1e-9,
                               atol=tol(dtype, size))
    np.testing.assert_allclose(out["n_mpjpe"], 0.0, atol=tol(dtype, size))
    np.testing.assert_allclose(out["p_mpjpe"], 0.0, atol=tol(dtype, size))


def test_evaluate_predictions_rejects_bad_input():
    gt = np.zeros((2, 4, 3))
    with pytest.raises(GateposeError, match="scale_3d"):
        evaluate_predictions(gt, gt, 0.0)
    with pytest.raises(GateposeError, match="scale_3d"):
        evaluate_predictions(gt, gt, float("nan"))
    with pytest.raises(GateposeError, match="shape"):
        evaluate_predictions(np.zeros((2, 3, 3)), gt, 500.0)


# --- aggregate -------------------------------------------------------------------------------


def test_aggregate_by_hand():
    per = {"mpjpe": np.array([1.0, 3.0, 10.0], np.float32), "p_mpjpe": np.array([0.0, 2.0, 4.0])}
    res = aggregate(per, np.array(["Walk", "Walk", "Sit"]))
    assert isinstance(res, Result)
    assert res.by == ("action",) and res.metrics == ("mpjpe", "p_mpjpe")
    assert res.keys == (("Sit",), ("Walk",))
    assert res.counts.tolist() == [1, 2] and res.n_frames == 3
    assert res.cell("Walk") == {"count": 2, "mpjpe": 2.0, "p_mpjpe": 1.0}
    assert res.avg["mpjpe"] == pytest.approx(6.0)  # (10 + 2) / 2 over actions
    assert res.all_frames["mpjpe"] == pytest.approx(14.0 / 3)  # over frames
    assert res.cell("Jump") is None
    d = res.to_dict()
    assert d["Avg."]["p_mpjpe"] == pytest.approx(2.5) and d["All frames"]["p_mpjpe"] == pytest.approx(2.0)


@FAST
@given(n=st.integers(1, 60), seed=seeds)
def test_aggregate_matches_a_loop(n, seed):
    rng = np.random.default_rng(seed)
    acts = rng.choice(["Walk", "Jog", "Box", "Sit"], size=n)
    subs = rng.choice(["S1", "S2", "S3"], size=n)
    err = rng.random(n) * 100
    res = aggregate({"mpjpe": err}, acts, subs, by=("subject", "action"))
    cells = sorted(set(zip(subs.tolist(), acts.tolist())))
    assert res.keys == tuple(cells)
    means = [err[(subs == s) & (acts == a)].mean() for s, a in cells]
    np.testing.assert_allclose(res.means["mpjpe"], means)
    assert res.avg["mpjpe"] == pytest.approx(np.mean(means))
    assert res.all_frames["mpjpe"] == pytest.approx(err.mean())
    # Merging cells weights by frames: the same as aggregating by action directly.
    by_action = aggregate({"mpjpe": err}, acts)
    merged = res.regroup(by=("action",))
    assert merged.keys == by_action.keys
    np.testing.assert_allclose(merged.means["mpjpe"], by_action.means["mpjpe"])
    np.testing.assert_array_equal(merged.counts, by_action.counts)
    assert merged.avg["mpjpe"] == pytest.approx(by_action.avg["mpjpe"])


def test_regroup_relabels_actions():
    err = np.array([1.0, 2.0, 3.0, 6.0])
    res = aggregate({"mpjpe": err}, np.array(["Walking 1", "Walking 1", "Walking", "Sitting"]))
    merged = res.regroup(action=lambda a: a.split(" ")[0])
    assert merged.keys == (("Sitting",), ("Walking",))
    assert merged.cell("Walking") == {"count": 3, "mpjpe": 2.0}


def test_aggregate_rejects_bad_input():
    per = {"mpjpe": np.zeros(3)}
    with pytest.raises(GateposeError, match="subjects"):
        aggregate(per, np.array(["a", "b", "c"]), None, by=("subject", "action"))
    with pytest.raises(GateposeError, match="length"):
        aggregate(per, np.array(["a", "b"]))
    with pytest.raises(GateposeError, match="by"):
        aggregate(per, np.array(["a", "b", "c"]), by=("camera",))


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a usable GPU")
def test_gpu_matches_cpu():
    import cupy

    rng = np.random.default_rng(0)
    gt = poses(rng, 64, 17, np.float32)
    pred = (gt + poses(rng, 64, 17, np.float32, scale=30.0)) @ rotations(rng, 64).astype(np.float32)
    pred = (pred * 0.9).astype(np.float32)
    pred[::2] = pred[::2] * np.array([-1.0, 1.0, 1.0], np.float32)  # some mirrored samples
    for f in (mpjpe, n_mpjpe, p_mpjpe):
        g = f(cupy.asarray(pred), cupy.asarray(gt))
        assert isinstance(g, cupy.ndarray) and g.dtype == np.float32
        np.testing.assert_allclose(cupy.asnumpy(g), f(pred, gt), rtol=1e-4, atol=1e-2)
    out = evaluate_predictions(cupy.asarray(pred / 500.0), cupy.asarray(gt), 500.0)
    res = aggregate(out, np.array(["Walk", "Sit"] * 32))
    assert res.n_frames == 64
