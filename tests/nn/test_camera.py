"""Camera net, projection and the generator-side losses: finite-difference checks and properties."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from gatepose.errors import GateposeError
from gatepose.gradcheck import check_backward, run_check
from gatepose.losses import (adversarial_loss, adversarial_loss_backward, camera_loss,
                             camera_loss_backward, reprojection_loss, reprojection_loss_backward)
from gatepose.nn.camera import (CameraConfig, camera_backward, camera_forward, init_camera,
                                project_backward, project_forward)
from helpers import assert_pass, random_rotation

seeds = st.integers(0, 2**31 - 1)


# -- gradient checks (float64, central differences) -------------------------------------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 8), width=st.integers(2, 10),
       n_blocks=st.integers(0, 2))
def test_camera_net_gradient(seed, B, J, width, n_blocks):
    assert_pass(run_check("camera_net", seed=seed, B=B, J=J, width=width, n_blocks=n_blocks))


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 17))
def test_projection_gradient(seed, B, J):
    assert_pass(run_check("projection", seed=seed, B=B, J=J))


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 17))
def test_reprojection_loss_gradient(seed, B, J):
    assert_pass(run_check("reprojection_loss", seed=seed, B=B, J=J))


@given(seed=seeds, B=st.integers(1, 5))
def test_camera_loss_gradient(seed, B):
    assert_pass(run_check("camera_loss", seed=seed, B=B))


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 9))
def test_reprojection_loss_gradient_per_sample_weights(seed, B, J):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((B, J, 2))
    Wp = W + rng.choice([-1.0, 1.0], (B, J, 2)) * rng.uniform(0.05, 1.0, (B, J, 2))
    weights = rng.uniform(0.0, 2.0, (B, J))
    assert_pass(check_backward(lambda i: reprojection_loss(i["W"], i["Wp"], weights),
                                lambda d, c: {"Wp": reprojection_loss_backward(d, c)},
                                {"W": W, "Wp": Wp}, wrt=["Wp"], seed=seed))


# -- camera net ---------------------------------------------------------------------------------
def test_camera_config_roundtrip_and_validation():
    cfg = CameraConfig(n_joints=16, width=64, n_blocks=1, alpha=0.2)
    assert CameraConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert CameraConfig().to_dict() == {"n_joints": 17, "width": 1000, "n_blocks": 2, "alpha": 0.3}
    with pytest.raises(GateposeError, match="unknown field"):
        CameraConfig.from_dict({"widht": 3})
    with pytest.raises(GateposeError, match="width"):
        CameraConfig(width=0)


def test_camera_params_and_initial_camera():
    cfg = CameraConfig(n_joints=17, width=1000)
    p = init_camera(cfg, np.random.default_rng(0), np, np.float32)
    assert list(p) == ["in.W", "in.b", "blocks.0.fc1.W", "blocks.0.fc1.b", "blocks.0.fc2.W",
                       "blocks.0.fc2.b", "blocks.1.fc1.W", "blocks.1.fc1.b", "blocks.1.fc2.W",
                       "blocks.1.fc2.b", "out.W", "out.b"]
    assert p["in.W"].shape == (34, 1000) and p["blocks.1.fc2.W"].shape == (1000, 1000)
    assert p["out.W"].shape == (1000, 6) and all(v.dtype == np.float32 for v in p.values())
    # normalised 2D poses (unit Frobenius norm) start out near the orthographic projection
    W = np.random.default_rng(1).standard_normal((8, 17, 2)).astype(np.float32)
    W /= np.linalg.norm(W, axis=(1, 2), keepdims=True)
    M, _ = camera_forward(p, W, cfg)
    assert M.shape == (8, 2, 3)
    np.testing.assert_allclose(M, np.broadcast_to([[1, 0, 0], [0, 1, 0]], M.shape), atol=0.05)
    assert not np.allclose(M[0], M[1])  # but already input-dependent


def test_camera_float32_in_float32_out():
    cfg = CameraConfig(n_joints=5, width=16)
    p = init_camera(cfg, np.random.default_rng(0), np, np.float32)
    W = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32)
    M, cache = camera_forward(p, W, cfg)
    dW, grads = camera_backward(np.ones_like(M), cache)
    assert M.dtype == dW.dtype == np.float32 and dW.shape == W.shape
    assert list(grads) == list(p) and all(g.dtype == np.float32 and g.shape == p[k].shape
                                          for k, g in grads.items())


def test_camera_init_is_deterministic():
    cfg = CameraConfig(n_joints=5, width=16)
    a = init_camera(cfg, np.random.default_rng(7), np, np.float32)
    b = init_camera(cfg, np.random.default_rng(7), np, np.float32)
    assert all(np.array_equal(a[k], b[k]) for k in a)


# -- projection ---------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 17), s=st.floats(0.1, 10.0))
def test_projection_by_scaled_orthographic_camera_scales_xy(seed, B, J, s):
    X = np.random.default_rng(seed).standard_normal((B, J, 3))
    M = np.broadcast_to(np.array([[s, 0.0, 0.0], [0.0, s, 0.0]]), (B, 2, 3))
    Wp, _ = project_forward(X, M)
    np.testing.assert_allclose(Wp, s * X[..., :2], rtol=1e-12)


def test_projection_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 4, 3)).astype(np.float32)
    M = rng.standard_normal((2, 2, 3)).astype(np.float32)
    Wp, cache = project_forward(X, M)
    dX, dM = project_backward(np.ones_like(Wp), cache)
    assert Wp.dtype == dX.dtype == dM.dtype == np.float32


# -- losses -------------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 5), s=st.floats(0.01, 100.0))
def test_camera_loss_is_zero_for_scaled_orthographic_cameras(seed, B, s):
    rng = np.random.default_rng(seed)
    M = np.stack([s * random_rotation(rng)[:2] for _ in range(B)])
    L, _ = camera_loss(M)
    assert abs(float(L)) < 1e-12
    skewed = M.copy()
    skewed[:, 0] *= 2.0                             # rows of unequal length: not orthographic
    assert float(camera_loss(skewed)[0]) > 0.1


def test_reprojection_loss_value_and_weights():
    rng = np.random.default_rng(3)
    B, J = 4, 6
    W, Wp = rng.standard_normal((B, J, 2)), rng.standard_normal((B, J, 2))
    w = rng.uniform(0.0, 2.0, J)
    w[2] = 0.0
    L, cache = reprojection_loss(W, Wp, w)
    expected = np.mean([sum(w[j] * abs(W[b, j] - Wp[b, j]).sum() for j in range(J)) / (2 * J)
                        for b in range(B)])
    assert float(L) == pytest.approx(expected, rel=1e-12)
    # a joint of weight 0 is ignored: moving its reprojection changes nothing and gets no gradient
    Wp2 = Wp.copy()
    Wp2[:, 2] += 5.0
    assert float(reprojection_loss(W, Wp2, w)[0]) == pytest.approx(float(L), rel=1e-12)
    assert not reprojection_loss_backward(1.0, cache)[:, 2].any()
    # sign(0) = 0: where the reprojection is exact the gradient is zero
    Wp3 = Wp.copy()
    Wp3[0, 0] = W[0, 0]
    _, c3 = reprojection_loss(W, Wp3)
    assert not reprojection_loss_backward(1.0, c3)[0, 0].any()
    with pytest.raises(GateposeError, match="weights"):
        reprojection_loss(W, Wp, np.ones(J + 1))


def test_losses_keep_float32():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 5, 2)).astype(np.float32)
    Wp = rng.standard_normal((3, 5, 2)).astype(np.float32)
    L, c = reprojection_loss(W, Wp, np.ones(5))             # float64 weights do not upcast
    assert L.dtype == np.float32 and reprojection_loss_backward(np.float64(0.5), c).dtype == np.float32
    M = rng.standard_normal((3, 2, 3)).astype(np.float32)
    L, c = camera_loss(M)
    assert L.dtype == np.float32 and camera_loss_backward(1.0, c).dtype == np.float32
    D = rng.standard_normal(3).astype(np.float32)
    L, c = adversarial_loss(D)
    assert L.dtype == np.float32 and adversarial_loss_backward(L, c).dtype == np.float32


def test_adversarial_loss():
    D = np.array([1.0, -2.0, 4.0, 0.5])
    L, c = adversarial_loss(D)
    assert float(L) == pytest.approx(-0.875)
    np.testing.assert_allclose(adversarial_loss_backward(2.0, c), np.full(4, -0.5))
