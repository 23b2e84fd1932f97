"""RepNet's generator (the paper's Table 1 baseline, SPEC section 1b) and the residual block it
shares with the camera net: finite-difference checks at hypothesis sizes, proof that the checks
catch a broken backward, its parameters and shapes."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gatepose.nn.repnet as repnet_mod
from gatepose.errors import GateposeError
from gatepose.gradcheck import run_check
from gatepose.nn import residual
from gatepose.nn.camera import CameraConfig, camera_forward, init_camera
from gatepose.nn.repnet import RepNetConfig, init_repnet, parameter_count, repnet_backward, repnet_forward
from helpers import assert_pass
from mutations import assert_check_catches

seeds = st.integers(0, 2**31 - 1)


# -- gradient checks (float64, central differences) ---------------------------------------------
@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 9), width=st.integers(2, 12),
       n_blocks=st.integers(0, 3))
@settings(max_examples=15)
def test_repnet_generator_gradient(seed, B, J, width, n_blocks):
    assert_pass(run_check("repnet_generator", seed=seed, B=B, J=J, width=width, n_blocks=n_blocks))


@given(seed=seeds, B=st.integers(1, 5), width=st.integers(1, 12))
@settings(max_examples=10)
def test_residual_block_gradient(seed, B, width):
    assert_pass(run_check("residual_block", seed=seed, B=B, width=width))


@given(seed=seeds, B=st.integers(2, 5), J=st.integers(2, 6), width=st.integers(3, 8))
@settings(max_examples=8)
def test_supervised_step_with_repnet_gradient(seed, B, J, width):
    assert_pass(run_check("supervised_step[repnet]", seed=seed, B=B, J=J, width=width))


# -- the checks fail on a broken backward ---------------------------------------------------------
_BLOCK_BACKWARD, _LEAKY_BACKWARD = residual.residual_block_backward, residual.leaky_relu_backward


def _block_backward_without_skip(dout, cache, p, pre, grads):
    """The residual block's backward with the skip connection's gradient dropped."""
    du = _BLOCK_BACKWARD(dout, cache, p, pre, grads)     # the real one, bound before any patch
    return du - _LEAKY_BACKWARD(dout, cache.m2)


def _leaky_backward_slope_flipped(dy, m):
    """LeakyReLU's backward with the slopes swapped (1 <-> alpha): the kind of bug a sign hides."""
    alpha = float(m.min())
    return dy * (1.0 + alpha - m)


def test_the_unbroken_cases_used_below_pass():
    assert_pass(run_check("repnet_generator", seed=1))
    assert_pass(run_check("camera_net", seed=1))


@pytest.mark.parametrize("module,name,broken", [
    ("gatepose.nn.residual", "residual_block_backward", _block_backward_without_skip),  # the shared trunk calls it
    ("gatepose.nn.repnet", "leaky_relu_backward", _leaky_backward_slope_flipped),
    ("gatepose.nn.residual", "leaky_relu_backward", _leaky_backward_slope_flipped),
])
def test_repnet_check_catches_a_broken_backward(monkeypatch, module, name, broken):
    assert_check_catches(monkeypatch, [(f"{module}.{name}", broken)], lambda: run_check("repnet_generator", seed=1))


def test_camera_net_check_catches_the_shared_block_broken(monkeypatch):
    """The block is one implementation: the camera net's check sees the same bug."""
    assert_check_catches(monkeypatch, [("gatepose.nn.residual.residual_block_backward", _block_backward_without_skip)],
                         lambda: run_check("camera_net", seed=1))


# -- the network ----------------------------------------------------------------------------------
def test_repnet_params_shapes_and_count():
    cfg = RepNetConfig()          # SPEC section 1b: width 1000, three blocks, slope 0.3
    p = init_repnet(cfg, np.random.default_rng(0), np, np.float32)
    assert list(p) == ["in.W", "in.b"] + [f"blocks.{i}.{fc}.{w}" for i in range(3) for fc in ("fc1", "fc2")
                                          for w in ("W", "b")] + ["fc.W", "fc.b", "out.W", "out.b"]
    assert p["in.W"].shape == (34, 1000) and p["blocks.2.fc2.W"].shape == (1000, 1000)
    assert p["fc.W"].shape == (1000, 1000) and p["out.W"].shape == (1000, 51)
    J, w = 17, 1000
    assert parameter_count(p) == (2 * J * w + w) + 6 * (w * w + w) + (w * w + w) + (w * 3 * J + 3 * J)
    assert all(v.dtype == np.float32 for v in p.values())


def test_repnet_forward_shapes_dtype_and_scale():
    cfg = RepNetConfig(n_joints=17, width=64)
    p = init_repnet(cfg, np.random.default_rng(0), np, np.float32)
    W = np.random.default_rng(1).standard_normal((8, 17, 2)).astype(np.float32)
    W /= np.linalg.norm(W, axis=(1, 2), keepdims=True)
    X, cache = repnet_forward(p, W, cfg)
    assert X.shape == (8, 17, 3) and X.dtype == np.float32
    # the initial output is on the scale of a normalised pose (unit Frobenius norm), not far off it
    assert 0.05 < float(np.linalg.norm(X, axis=(1, 2)).mean()) < 5.0
    X2, none = repnet_forward(p, W, cfg, need_cache=False)
    assert none is None and np.array_equal(X, X2)
    dW, g = repnet_backward(np.ones_like(X), cache)
    assert dW.shape == W.shape and set(g) == set(p) and all(g[k].dtype == np.float32 for k in g)
    with pytest.raises(GateposeError, match="expected"):
        repnet_forward(p, W[:, :16], cfg)


def test_repnet_config_roundtrip_and_validation():
    cfg = RepNetConfig(n_joints=16, width=32, n_blocks=2)
    assert RepNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert RepNetConfig().to_dict() == {"n_joints": 17, "width": 1000, "n_blocks": 3, "alpha": 0.3,
                                        "kind": "repnet", "lift": "xyz"}
    for bad in (dict(width=0), dict(n_blocks=-1), dict(alpha=1.0), dict(kind="posegate"), dict(lift="z")):
        with pytest.raises(GateposeError):
            RepNetConfig(**bad)
    with pytest.raises(GateposeError, match="unknown field"):
        RepNetConfig.from_dict({"kind": "repnet", "d_model": 3})


def test_the_camera_net_is_built_from_the_same_block():
    """One implementation, two users: the camera net's blocks are residual.residual_block_forward's."""
    cfg = CameraConfig(n_joints=5, width=8, n_blocks=2)
    p = init_camera(cfg, np.random.default_rng(0), np, np.float64)
    W = np.random.default_rng(1).standard_normal((3, 5, 2))
    _, cache = camera_forward(p, W, cfg)
    h = cache.h0
    for i, c in enumerate(cache.blocks):
        h, _ = residual.residual_block_forward(h, p, f"blocks.{i}.", cfg.alpha)
        np.testing.assert_array_equal(h, c.out)
    assert repnet_mod.residual_block_forward is residual.residual_block_forward
