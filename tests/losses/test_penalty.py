"""The gradient penalty's double backward and the critic loss, against central differences of the
penalty and of the loss themselves; the tangent push against the derivative of the critic's layer
inputs; a wrong tangent or a dropped term of the double backward must be caught."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import gatepose.losses as losses
import gatepose.nn.critic as critic_mod
from gatepose.fast.critic_step import stacked_critic_loss
from gatepose.gradcheck import run_check
from gatepose.losses import critic_loss, gradient_penalty
from gatepose.nn.critic import (CriticConfig, Layers, critic_backward, critic_forward, critic_tangents,
                                init_critic)
from gatepose.gradcheck.critic import critic_case
from helpers import assert_pass
from mutations import assert_check_catches, output_changed

seeds = st.integers(0, 2**31 - 1)
WIDTHS = dict(pose_width=8, kcs_width=12, head_width=6)


# -- the double backward against central differences of P -----------------------------------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 8), pose_width=st.integers(2, 9),
       kcs_width=st.integers(2, 14), head_width=st.integers(1, 7), coords=st.sampled_from([2, 3]))
def test_penalty_parameter_gradient(seed, B, J, pose_width, kcs_width, head_width, coords):
    """coords 2: the penalty of the critic on 2D poses (the random-projection critic)."""
    assert_pass(run_check("gradient_penalty", seed=seed, B=B, J=J, pose_width=pose_width, coords=coords,
                           kcs_width=kcs_width, head_width=head_width))


@given(seed=seeds)
def test_penalty_ignores_biases(seed):
    rng = np.random.default_rng(seed)
    cfg, params, (X,) = critic_case(np, rng, 3, 5, **WIDTHS)
    P, grads, _ = gradient_penalty(params, X, cfg)
    for k in (k for k in params if k.endswith(".b")):
        assert not grads[k].any()
        v = rng.standard_normal(params[k].shape)
        moved = lambda e: float(gradient_penalty({**params, k: params[k] + e * v}, X, cfg)[0])  # noqa: E731
        assert abs(moved(1e-6) - moved(-1e-6)) / 2e-6 < 1e-6 * (1.0 + float(P))


def test_penalty_value_matches_its_definition():
    rng = np.random.default_rng(5)
    cfg, params, (X,) = critic_case(np, rng, 4, 6, **WIDTHS)
    D, cache = critic_forward(params, X, cfg)
    g, _ = critic_backward(np.ones_like(D), cache)
    norms = np.sqrt((g ** 2).sum(axis=(1, 2)))
    P, _, info = gradient_penalty(params, X, cfg, lam=7.0)
    assert float(P) == pytest.approx(7.0 * np.mean((norms - 1.0) ** 2), rel=1e-12)
    assert float(info["grad_norm"]) == pytest.approx(norms.mean(), rel=1e-12)


# -- the tangent push, formulated independently: the derivative of the layer inputs -------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 8))
def test_critic_tangents_are_the_derivative_of_every_layer_input(seed, B, J):
    """critic_tangents(a_X) is, per Linear layer, d/dt of that layer's input in critic_forward at
    X + t a_X (masks fixed: the step below moves no pre-activation across zero, which is checked)."""
    rng = np.random.default_rng(seed)
    cfg, params, (X,) = critic_case(np, rng, B, J, **WIDTHS)
    a_X = rng.standard_normal(X.shape)
    _, cache = critic_forward(params, X, cfg)
    tangents = critic_tangents(a_X, cache)
    e = 1e-6
    _, plus = critic_forward(params, X + e * a_X, cfg)
    _, minus = critic_forward(params, X - e * a_X, cfg)
    for c in (plus, minus):
        assert all(np.array_equal(m0, m1) for m0, m1 in zip(cache.masks, c.masks))
    for field, t, u_plus, u_minus in zip(Layers._fields, tangents, plus.inputs, minus.inputs):
        # central differences of a piecewise linear map (and of the quadratic KCS): exact up to rounding
        np.testing.assert_allclose(t, (u_plus - u_minus) / (2 * e), rtol=1e-6, atol=1e-6 * np.abs(t).max(),
                                   err_msg=field)


# -- a check that can fail: a wrong tangent or a dropped term of the double backward --------------
def _param_of(field):
    """'pose_fc1' -> 'pose.fc1.W': the weights whose penalty gradient a layer's input tangent meets."""
    return field.replace("_", ".", 1) + ".W"


def test_the_penalty_check_passes_with_the_library_tangents():
    assert_pass(run_check("gradient_penalty", seed=11))


@pytest.mark.parametrize("field", Layers._fields)
def test_a_wrong_tangent_is_caught_in_its_own_layer(monkeypatch, field):
    """dP/dW = a_u^T delta per layer: a zero tangent at one layer's input fails exactly that
    layer's weights and leaves every other gradient right."""
    one_wrong = output_changed(losses.critic_tangents,
                               lambda t, a_X, cache: t._replace(**{field: np.zeros_like(getattr(t, field))}))
    assert_check_catches(monkeypatch, [(losses, "critic_tangents", one_wrong)],
                         lambda: run_check("gradient_penalty", seed=11), _param_of(field), rest_pass=True)


def test_dropping_the_head_mask_of_the_double_backward_is_caught(monkeypatch):
    """The tangent push through head.fc's LeakyReLU without its slope mask."""
    real = losses.critic_tangents
    no_mask = lambda a_X, cache: real(  # noqa: E731
        a_X, cache._replace(masks=cache.masks._replace(hh=np.ones_like(cache.masks.hh))))
    assert_check_catches(monkeypatch, [(losses, "critic_tangents", no_mask)],
                         lambda: run_check("gradient_penalty", seed=11), "head.out.W")


def test_dropping_the_pose_path_of_the_double_backward_is_caught(monkeypatch):
    """The tangent push with the pose path left out (only the KCS path carries a_X)."""
    real = losses.critic_tangents

    def no_pose_path(a_X, cache):
        params = {**cache.params, "pose.in.W": np.zeros_like(cache.params["pose.in.W"])}
        t = real(a_X, cache._replace(params=params))
        return t._replace(pose_in=np.zeros_like(t.pose_in))

    assert_check_catches(monkeypatch, [(losses, "critic_tangents", no_pose_path)],
                         lambda: run_check("gradient_penalty", seed=11),
                         "pose.in.W", "pose.fc1.W", "pose.fc2.W", "pose.out.W")


def test_dropping_the_kcs_path_of_the_double_backward_is_caught(monkeypatch):
    no_kcs_path = lambda X, C, dX: np.zeros((X.shape[0], C.shape[1] * (C.shape[1] + 1) // 2))  # noqa: E731
    assert_check_catches(monkeypatch, [(critic_mod, "kcs_jvp", no_kcs_path)],
                         lambda: run_check("gradient_penalty", seed=11), "kcs.in.W", "kcs.fc1.W")


# -- the critic loss ------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 7), coords=st.sampled_from([2, 3]))
def test_critic_loss_gradient(seed, B, J, coords):
    assert_pass(run_check("critic_loss", seed=seed, B=B, J=J, coords=coords))


@given(seed=seeds, B=st.integers(1, 4))
def test_critic_loss_is_the_sum_of_its_terms(seed, B):
    rng = np.random.default_rng(seed)
    cfg, params, (X_r, X_f) = critic_case(np, rng, B, 5, **WIDTHS, n_inputs=2)
    eps = rng.uniform(0, 1, B)
    L, grads, info = critic_loss(params, X_r, X_f, eps, cfg, lam=10.0)
    X_hat = eps[:, None, None] * X_r + (1 - eps[:, None, None]) * X_f
    D_r, c_r = critic_forward(params, X_r, cfg)
    D_f, c_f = critic_forward(params, X_f, cfg)
    _, g_r = critic_backward(np.full(B, -1.0 / B), c_r)
    _, g_f = critic_backward(np.full(B, 1.0 / B), c_f)
    P, g_p, info_p = gradient_penalty(params, X_hat, cfg, lam=10.0)
    assert float(L) == pytest.approx(D_f.mean() - D_r.mean() + float(P), rel=1e-10, abs=1e-12)
    assert float(info["wasserstein"]) == pytest.approx(D_r.mean() - D_f.mean(), rel=1e-10, abs=1e-12)
    assert float(info["penalty"]) == pytest.approx(float(P), rel=1e-12)
    assert float(info["grad_norm"]) == pytest.approx(float(info_p["grad_norm"]), rel=1e-12)
    assert list(grads) == list(params)
    for k in params:
        np.testing.assert_allclose(grads[k], g_r[k] + g_f[k] + g_p[k], rtol=1e-9, atol=1e-12)
    assert abs(float(grads["head.out.b"][0])) < 1e-12     # fake and real terms cancel exactly


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 7), coords=st.sampled_from([2, 3]))
def test_stacked_critic_loss_equals_the_plain_sum(seed, B, J, coords):
    """The trainer's fast critic step (three batches stacked in one forward and one backward) is
    losses.critic_loss, the plain sum of SPEC section 5, up to rounding (on 2D poses too)."""
    rng = np.random.default_rng(seed)
    cfg, params, (X_r, X_f) = critic_case(np, rng, B, J, **WIDTHS, n_inputs=2, coords=coords)
    eps = rng.uniform(0, 1, B)
    L, grads, info = critic_loss(params, X_r, X_f, eps, cfg, lam=10.0)
    L_s, grads_s, info_s = stacked_critic_loss(params, X_r, X_f, eps, cfg, lam=10.0)
    assert float(L_s) == pytest.approx(float(L), rel=1e-10, abs=1e-12)
    assert set(info_s) == set(info)
    for k in info:
        assert float(info_s[k]) == pytest.approx(float(info[k]), rel=1e-10, abs=1e-12), k
    assert list(grads_s) == list(params)
    for k in params:
        np.testing.assert_allclose(grads_s[k], grads[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_critic_loss_and_penalty_keep_float32():
    cfg = CriticConfig.from_parents([-1, 0, 1, 2, 0], **WIDTHS)
    params = init_critic(cfg, np.random.default_rng(0), np, np.float32)
    rng = np.random.default_rng(1)
    X_r, X_f = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    for loss in (critic_loss, stacked_critic_loss):
        L, grads, info = loss(params, X_r, X_f, rng.uniform(0, 1, 4), cfg)   # float64 eps
        assert L.dtype == np.float32 and all(v.dtype == np.float32 for v in info.values())
        assert all(grads[k].dtype == np.float32 and grads[k].shape == params[k].shape for k in params)
    P, grads, info = gradient_penalty(params, X_r, cfg)
    assert P.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
