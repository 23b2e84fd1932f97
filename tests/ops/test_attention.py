"""The gate and gated multi-head self-attention: gradient checks, properties, dtype, broken backwards."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gatepose.gradcheck import CHECKS, all_checks, check_backward
from gatepose.nn import posegate as gen
from gatepose.ops import attention as attn_ops
from gatepose.ops.attention import (VARIANTS, AttentionGrads, attention_backward, attention_forward,
                                    gate_backward, gate_forward)
from gatepose.ops.softmax import softmax_forward
from helpers import assert_pass
from mutations import assert_check_catches

seeds = st.integers(0, 2**31 - 1)
batch, joints, heads, width = st.integers(1, 4), st.integers(2, 17), st.integers(1, 4), st.integers(1, 8)


def _check(name, seed=0, eps=1e-5, **sizes):
    """Build registered case ``name`` in float64 with these sizes and run the checker on it.

    eps = 1e-5: the truncation error (~eps^2) stays near 1e-10 while the rounding noise (~1e-16 /
    eps) is ten times smaller than at 1e-6, which matters for the small gradients behind a sigmoid.
    """
    case = all_checks()[name]
    fwd, bwd, inputs = case.build(np, np.random.default_rng(seed), **{**case.sizes, **sizes})[:3]
    return check_backward(fwd, bwd, inputs, seed=seed, eps=eps)


def _qkv(rng, B, h, J, d_k, dtype=np.float64, scale=1.0):
    return [(rng.standard_normal((B, h, J, d_k)) * scale).astype(dtype) for _ in range(3)]


def _gates(rng, B, h, dtype=np.float64):
    return rng.uniform(0.1, 0.9, (B, h)).astype(dtype), rng.uniform(0.1, 0.9, (B, h)).astype(dtype)


# -- gradient checks (float64) ------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=25)
@given(seed=seeds, B=batch, J=joints, h=heads, d_k=width)
def test_attention_gradient(variant, seed, B, J, h, d_k):
    assert_pass(_check(f"attention[{variant}]", seed, B=B, h=h, J=J, d_k=d_k))


@settings(max_examples=30)
@given(seed=seeds, B=batch, n=st.integers(1, 40), hidden=st.integers(1, 8), h=heads)
def test_gate_gradient(seed, B, n, hidden, h):
    assert_pass(_check("gate", seed, B=B, n=n, hidden=hidden, h=h))


# -- properties ------------------------------------------------------------------------------------
@given(seed=seeds, B=batch, J=joints, h=heads, d_k=width)
def test_gated_with_unit_gate_and_bias_is_vanilla(seed, B, J, h, d_k):
    rng = np.random.default_rng(seed)
    Q, K, V = _qkv(rng, B, h, J, d_k)
    one = np.ones((B, h))
    y_g, c_g = attention_forward(Q, K, V, one, one, "gated")
    y_v, c_v = attention_forward(Q, K, V, variant="vanilla")
    np.testing.assert_allclose(y_g, y_v, rtol=1e-12, atol=1e-12)
    d = rng.standard_normal(y_g.shape)
    for a, b in zip(attention_backward(d, c_g)[:3], attention_backward(d, c_v)[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@given(seed=seeds, B=batch, J=joints, h=heads, d_k=width)
def test_gated_with_constant_gate_is_scalar_gate(seed, B, J, h, d_k):
    # scalar-gate is gated attention with G = g and B = 1/J for every sample and head
    rng = np.random.default_rng(seed)
    Q, K, V = _qkv(rng, B, h, J, d_k)
    g = rng.uniform(0.2, 2.0, (1,))
    y_s, _ = attention_forward(Q, K, V, variant="scalar-gate", gscalar=g)
    y_g, _ = attention_forward(Q, K, V, np.full((B, h), g[0]), np.full((B, h), 1.0 / J), "gated")
    np.testing.assert_allclose(y_s, y_g, rtol=1e-12, atol=1e-12)


@given(seed=seeds, B=batch, J=joints, h=heads, d_k=width)
def test_fixed_attention_is_the_mean_of_the_values(seed, B, J, h, d_k):
    rng = np.random.default_rng(seed)
    Q, K, V = _qkv(rng, B, h, J, d_k)
    y, c = attention_forward(Q, K, V, variant="fixed")
    np.testing.assert_allclose(y, np.broadcast_to(V.mean(axis=2, keepdims=True), V.shape), atol=1e-12)
    gr = attention_backward(rng.standard_normal(y.shape), c)
    assert not gr.dQ.any() and not gr.dK.any()


@given(seed=seeds, B=batch, J=joints, h=heads, d_k=width)
def test_gated_attention_matches_eq1(seed, B, J, h, d_k):
    # head_i = (softmax(q k^T / sqrt(d_k)) g_i + (1 - b_i) g_i) v_i, one head at a time
    rng = np.random.default_rng(seed)
    Q, K, V = _qkv(rng, B, h, J, d_k)
    G, Bb = _gates(rng, B, h)
    y, _ = attention_forward(Q, K, V, G, Bb, "gated")
    b, i = rng.integers(B), rng.integers(h)
    s, _ = softmax_forward(Q[b, i] @ K[b, i].T / np.sqrt(d_k))
    np.testing.assert_allclose(y[b, i], (s * G[b, i] + (1 - Bb[b, i]) * G[b, i]) @ V[b, i], rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
@given(seed=seeds, B=batch, J=joints, h=heads, d_k=width)
def test_attention_is_equivariant_to_permuting_joints(variant, seed, B, J, h, d_k):
    # holds for fixed G and Bb: the joint order only reaches the output through the gate module
    rng = np.random.default_rng(seed)
    Q, K, V = _qkv(rng, B, h, J, d_k)
    G, Bb = _gates(rng, B, h)
    g = np.array([0.7])
    perm = rng.permutation(J)
    y, _ = attention_forward(Q, K, V, G, Bb, variant, g)
    y_p, _ = attention_forward(Q[:, :, perm], K[:, :, perm], V[:, :, perm], G, Bb, variant, g)
    np.testing.assert_allclose(y_p, y[:, :, perm], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_in_float32_out(variant):
    rng = np.random.default_rng(0)
    Q, K, V = _qkv(rng, 2, 3, 5, 4, np.float32)
    G, Bb = _gates(rng, 2, 3, np.float32)
    g = np.array([0.5], np.float32)
    y, c = attention_forward(Q, K, V, G, Bb, variant, g)
    assert y.dtype == np.float32
    for grad in attention_backward(np.ones_like(y), c):
        assert grad is None or grad.dtype == np.float32


def test_gate_float32_in_float32_out():
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    p = {"A1": f32(12, 5), "a1": f32(5), "A2": f32(5, 2), "a2": f32(2),
         "C1": f32(12, 5), "c1": f32(5), "C2": f32(5, 2), "c2": f32(2)}
    (G, Bb), c = gate_forward(f32(3, 12), p)
    assert G.dtype == Bb.dtype == np.float32 and G.shape == (3, 2)
    assert ((G > 0) & (G < 1)).all() and ((Bb > 0) & (Bb < 1)).all()
    dU, grads = gate_backward(np.ones_like(G), np.ones_like(Bb), c)
    assert dU.dtype == np.float32 and all(v.dtype == np.float32 for v in grads.values())
    assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in p.items()}


def test_huge_logits_stay_finite():
    rng = np.random.default_rng(1)
    Q, K, V = _qkv(rng, 2, 2, 6, 4, scale=1000.0)
    G, Bb = _gates(rng, 2, 2)
    y, c = attention_forward(Q, K, V, G, Bb, "gated")
    grads = attention_backward(rng.standard_normal(y.shape), c)
    assert np.isfinite(y).all() and all(np.isfinite(g).all() for g in grads[:5])


def test_non_contiguous_inputs():
    rng = np.random.default_rng(2)
    Q, K, V = (np.ascontiguousarray(x.swapaxes(1, 2)).swapaxes(1, 2) for x in _qkv(rng, 2, 3, 5, 4))
    assert not Q.flags.c_contiguous
    G, Bb = _gates(rng, 2, 3)
    y, _ = attention_forward(Q, K, V, G, Bb, "gated")
    y_c, _ = attention_forward(*(np.ascontiguousarray(x) for x in (Q, K, V)), G, Bb, "gated")
    np.testing.assert_array_equal(y, y_c)


# -- the checker catches broken backwards ----------------------------------------------------------
def _reference_backward(dhead, cache, bug=None):
    """Gated-attention backward derived independently with einsum; ``bug`` plants one mistake."""
    _, Q, K, V, S, A, G, Bb = cache[:8]
    d_k = Q.shape[-1]
    dA = np.einsum("bhid,bhjd->bhij", dhead, V)
    dV = np.einsum("bhij,bhid->bhjd", A, dhead)
    dG = np.einsum("bhij,bhij->bh", dA, S + (1 - Bb)[..., None, None])
    dBb = -G * dA.sum(axis=(2, 3))
    if bug == "sign":
        dBb = -dBb
    dS = G[..., None, None] * dA
    row = 0.0 if bug == "softmax" else np.einsum("bhij,bhij->bhi", dS, S)[..., None]
    dL = S * (dS - row) / np.sqrt(d_k)
    dQ = np.einsum("bhij,bhjd->bhid", dL, K)
    # correct: dK_j = sum_i dL_ij q_i  (dL^T Q); the bug uses dL Q
    dK = np.einsum("bhij,bhjd->bhid" if bug == "transpose" else "bhij,bhid->bhjd", dL, Q)
    return AttentionGrads(dQ, dK, dV, dG, dBb)


def test_reference_backward_agrees():
    rng = np.random.default_rng(3)
    Q, K, V = _qkv(rng, 3, 2, 5, 4)
    G, Bb = _gates(rng, 3, 2)
    y, c = attention_forward(Q, K, V, G, Bb, "gated")
    d = rng.standard_normal(y.shape)
    for a, b in zip(attention_backward(d, c)[:5], _reference_backward(d, c)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bug, wrong", [("sign", "Bb"), ("softmax", "Q"), ("transpose", "K")])
def test_checker_catches_broken_attention_backward(monkeypatch, bug, wrong):
    sizes = dict(B=3, h=2, J=5, d_k=4)
    monkeypatch.setattr(attn_ops, "attention_backward", lambda d, c: _reference_backward(d, c))
    assert_pass(_check("attention[gated]", **sizes))  # the planted bug is the only difference
    broken = lambda d, c: _reference_backward(d, c, bug)  # noqa: E731
    assert_check_catches(monkeypatch, [(attn_ops, "attention_backward", broken)],
                         lambda: _check("attention[gated]", **sizes), wrong)
    # and through a whole encoder layer, where it is one term among many
    assert_check_catches(monkeypatch, [(gen, "attention_backward", broken)],
                         lambda: _check("encoder_layer", J=5, h=2, d_k=4))


def test_checker_catches_a_missing_softmax_term_in_the_real_code(monkeypatch):
    errors = assert_check_catches(monkeypatch, [(attn_ops, "softmax_backward", lambda dy, y: y * dy)],
                                  lambda: _check("attention[vanilla]", B=3, h=2, J=5, d_k=4), "Q", "K")
    assert errors["V"] < 1e-6, errors


def test_cases_are_registered():
    names = set(all_checks())
    assert {"gate", "encoder_layer", "generator"} <= names
    assert {f"attention[{v}]" for v in VARIANTS} <= set(CHECKS)
