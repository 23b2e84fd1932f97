"""KCS and the critic: finite-difference checks, KCS properties, and broken backwards caught."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import gatepose.nn.critic as critic_mod
from gatepose.errors import GateposeError
from gatepose.gradcheck import check_backward, run_check
from gatepose.nn.critic import CriticConfig, critic_backward, critic_forward, init_critic
from gatepose.gradcheck.critic import random_parents
from gatepose.nn.kcs import (incidence_from_parents, kcs_backward, kcs_forward,
                             kcs_jvp, kcs_psi)
from helpers import assert_pass, random_rotation
from mutations import assert_caught, assert_check_catches

seeds = st.integers(0, 2**31 - 1)
H36M17 = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]


def _kcs_backward_without_transpose(dfeat, cache):
    """A plausible bug: S = T instead of T + T^T (the lower triangle's share is lost)."""
    bones, C = cache
    B, nb = bones.shape[:2]
    T = np.zeros((B, nb, nb))
    T[(slice(None), *np.triu_indices(nb))] = dfeat          # the features: Psi's upper triangle, row-major
    return C @ (T @ bones)


# -- KCS ------------------------------------------------------------------------------------------
def test_incidence_from_parents():
    C = incidence_from_parents([-1, 0, 1, 1])
    np.testing.assert_array_equal(C, [[-1, 0, 0], [1, -1, -1], [0, 1, 0], [0, 0, 1]])
    assert incidence_from_parents(H36M17).shape == (17, 16)
    with pytest.raises(GateposeError, match="parent"):
        incidence_from_parents([-1, 5])


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17))
def test_psi_is_symmetric_with_squared_bone_lengths_on_its_diagonal(seed, B, J):
    rng = np.random.default_rng(seed)
    parents = random_parents(rng, J)
    C = incidence_from_parents(parents)
    X = rng.standard_normal((B, J, 3))
    Psi = kcs_psi(X, C)
    np.testing.assert_allclose(Psi, Psi.transpose(0, 2, 1), rtol=1e-13)
    lengths2 = np.array([[np.sum((X[b, j] - X[b, parents[j]]) ** 2) for j in range(1, J)]
                         for b in range(B)])
    np.testing.assert_allclose(np.diagonal(Psi, axis1=1, axis2=2), lengths2, rtol=1e-12)
    feat, _ = kcs_forward(X, C)
    r, c = np.triu_indices(J - 1)
    assert feat.shape == (B, (J - 1) * J // 2)
    np.testing.assert_allclose(feat, Psi[:, r, c], rtol=1e-13)


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17))
def test_kcs_features_invariant_to_rotation_and_translation(seed, B, J):
    rng = np.random.default_rng(seed)
    C = incidence_from_parents(random_parents(rng, J))
    X = rng.standard_normal((B, J, 3))
    moved = X @ random_rotation(rng).T + rng.standard_normal((B, 1, 3)) * 10
    np.testing.assert_allclose(kcs_forward(moved, C)[0], kcs_forward(X, C)[0], rtol=1e-9, atol=1e-9)


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 10))
def test_kcs_gradient_and_jvp(seed, B, J):
    assert_pass(run_check("kcs", seed=seed, B=B, J=J))


def test_kcs_jvp_is_the_adjoint_of_the_backward():
    rng = np.random.default_rng(0)
    C = incidence_from_parents(H36M17)
    X, dX = rng.standard_normal((2, 4, 17, 3))
    dfeat = rng.standard_normal((4, 136))
    _, cache = kcs_forward(X, C)
    lhs = np.sum(kcs_jvp(X, C, dX) * dfeat)
    assert lhs == pytest.approx(np.sum(dX * kcs_backward(dfeat, cache)), rel=1e-12)


def test_broken_kcs_backward_is_caught():
    rng = np.random.default_rng(1)
    C = incidence_from_parents([-1, 0, 1, 1, 0])
    X = rng.standard_normal((3, 5, 3))
    fwd = lambda i: kcs_forward(i["X"], C)  # noqa: E731
    assert_pass(check_backward(fwd, lambda d, c: {"X": kcs_backward(d, c)}, {"X": X}))
    assert_caught(check_backward(fwd, lambda d, c: {"X": _kcs_backward_without_transpose(d, c)}, {"X": X}), "X")


def test_kcs_float32():
    rng = np.random.default_rng(0)
    C = incidence_from_parents(H36M17).astype(np.float32)
    X = rng.standard_normal((3, 17, 3)).astype(np.float32)
    feat, cache = kcs_forward(X, C)
    assert feat.dtype == np.float32 and feat.shape == (3, 136)
    assert kcs_backward(np.ones_like(feat), cache).dtype == np.float32
    assert kcs_jvp(X, C, X).dtype == np.float32


# -- the critic -----------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 8), pose_width=st.integers(2, 9),
       kcs_width=st.integers(2, 14), head_width=st.integers(1, 7), coords=st.sampled_from([2, 3]))
def test_critic_gradient(seed, B, J, pose_width, kcs_width, head_width, coords):
    """coords 2: the same critic on 2D poses (the random-projection critic, --w-adv-2d)."""
    assert_pass(run_check("critic", seed=seed, B=B, J=J, pose_width=pose_width, coords=coords,
                           kcs_width=kcs_width, head_width=head_width))


def test_broken_critic_backward_is_caught(monkeypatch):
    assert_pass(run_check("critic", seed=3))
    assert_check_catches(monkeypatch, [(critic_mod, "kcs_backward", _kcs_backward_without_transpose)],
                         lambda: run_check("critic", seed=3), "X")


def test_critic_config_roundtrip_and_validation():
    cfg = CriticConfig.from_parents([-1, 0, 1, 1], pose_width=8, kcs_width=12)
    again = CriticConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.n_bones == 3 and again.n_features == 6
    default = CriticConfig()
    assert default.n_bones == 16 and default.n_features == 136
    np.testing.assert_array_equal(np.array(default.incidence), incidence_from_parents(H36M17))
    assert CriticConfig(incidence=incidence_from_parents(H36M17)) == default   # arrays accepted
    with pytest.raises(GateposeError, match="unknown field"):
        CriticConfig.from_dict({"kcs_widht": 3})
    with pytest.raises(GateposeError, match="incidence"):
        CriticConfig(n_joints=4)
    with pytest.raises(GateposeError, match="column 0"):
        CriticConfig(n_joints=3, incidence=[[1], [1], [0]])


def test_critic_params_shapes_and_float32():
    cfg = CriticConfig()
    p = init_critic(cfg, np.random.default_rng(0), np, np.float32)
    shapes = {"pose.in.W": (51, 100), "pose.fc1.W": (100, 100), "pose.fc2.W": (100, 100),
              "pose.out.W": (100, 100), "kcs.in.W": (136, 1000), "kcs.fc1.W": (1000, 1000),
              "kcs.fc2.W": (1000, 1000), "head.fc.W": (1100, 100), "head.out.W": (100, 1)}
    assert {k: v.shape for k, v in p.items() if k.endswith(".W")} == shapes
    assert all(p[k[:-1] + "b"].shape == (s[1],) for k, s in shapes.items())
    X = np.random.default_rng(1).standard_normal((5, 17, 3)).astype(np.float32)
    D, cache = critic_forward(p, X, cfg)
    dX, grads = critic_backward(np.ones_like(D), cache)
    assert D.shape == (5,) and D.dtype == dX.dtype == np.float32
    assert list(grads) == list(p) and all(grads[k].dtype == np.float32 and grads[k].shape == p[k].shape
                                          for k in p)
