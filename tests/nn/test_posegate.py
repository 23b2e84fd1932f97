"""PoseGate-Former: config, parameters, gradient checks of the encoder layer and the whole generator,
equivariance where it holds, float32 end to end, attention maps."""
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from gatepose.errors import GateposeError
from gatepose.gradcheck import all_checks, check_backward
from gatepose.nn import posegate as gen
from gatepose.nn.posegate import (PoseGateConfig, attention_maps, posegate_backward,
                                   posegate_forward, init_posegate)
from gatepose.ops.attention import VARIANTS
from helpers import assert_pass

seeds = st.integers(0, 2**31 - 1)


def _check(name, seed=0, full_limit=16, **sizes):
    """Registered case ``name`` in float64, checked at two steps; each input keeps its better one.

    A finite difference errs by truncation (~eps^2 times the curvature, large where a LayerNorm
    over a few features nearly cancels an input's effect) and by rounding (~1e-16 / eps relative
    to the gradient, large for the small gradients behind the gate's sigmoids). Across a whole
    generator no single eps keeps both far below 1e-6 for every input, so each input is checked
    at eps = 1e-5 and 1e-6 and keeps the smaller error. A wrong backward is wrong at every step.
    """
    case = all_checks()[name]
    fwd, bwd, inputs = case.build(np, np.random.default_rng(seed), **{**case.sizes, **sizes})[:3]
    runs = [check_backward(fwd, bwd, inputs, seed=seed, eps=eps, full_limit=full_limit)
            for eps in (1e-5, 1e-6)]
    return [min(pair, key=lambda r: r.max_rel_error) for pair in zip(*runs)]


def _small(attention="gated", J=5, h=2, d_k=3, L=2, pos_embedding=True):
    return PoseGateConfig(n_joints=J, d_model=h * d_k, n_heads=h, n_layers=L, d_ff=10, gate_hidden=6,
                           attention=attention, pos_embedding=pos_embedding)


def _poses(rng, B, J, dtype=np.float64):
    return rng.standard_normal((B, J, 2)).astype(dtype)


# -- config ----------------------------------------------------------------------------------------
def test_default_config_is_the_papers():
    cfg = PoseGateConfig()
    assert (cfg.n_joints, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.gate_hidden) == \
        (17, 256, 8, 4, 512, 100)
    assert cfg.attention == "gated" and cfg.d_k == 32 and cfg.pos_embedding


def test_config_round_trips_through_json():
    cfg = PoseGateConfig(n_joints=16, attention="scalar-gate", pos_embedding=False)
    assert PoseGateConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("kw, field", [
    (dict(d_model=250, n_heads=8), "d_model"),
    (dict(attention="gatd"), "attention"),
    (dict(n_layers=0), "n_layers"),
    (dict(n_joints=1), "n_joints"),
    (dict(d_ff=2.5), "d_ff"),
    (dict(ln_eps=0.0), "ln_eps"),
])
def test_config_rejects_bad_values(kw, field):
    with pytest.raises(GateposeError, match=field):
        PoseGateConfig(**kw)


def test_config_rejects_unknown_fields():
    with pytest.raises(GateposeError, match="n_head"):
        PoseGateConfig.from_dict({"n_head": 8})


# -- parameters ------------------------------------------------------------------------------------
def _expected_names(cfg):
    names = {"embed.E", "embed.b", "ln_f.gamma", "ln_f.beta", "head.W", "head.b"}
    if cfg.pos_embedding:
        names.add("embed.P")
    for i in range(cfg.n_layers):
        local = ["ln1.gamma", "ln1.beta", "attn.W_qkv", "attn.b_qkv", "attn.W_o", "attn.b_o",
                 "ln2.gamma", "ln2.beta", "ffn.W1", "ffn.b1", "ffn.W2", "ffn.b2"]
        if cfg.attention == "gated":
            local += [f"gate.{n}" for n in ("A1", "a1", "A2", "a2", "C1", "c1", "C2", "c2")]
        if cfg.attention == "scalar-gate":
            local.append("attn.g")
        names |= {f"layers.{i}.{n}" for n in local}
    return names


@pytest.mark.parametrize("attention", VARIANTS)
@pytest.mark.parametrize("pos_embedding", [True, False])
def test_parameter_names_and_shapes(attention, pos_embedding):
    cfg = PoseGateConfig(attention=attention, pos_embedding=pos_embedding, n_layers=2)
    p = init_posegate(cfg, np.random.default_rng(0), np, np.float32)
    assert set(p) == _expected_names(cfg)
    assert all(v.dtype == np.float32 for v in p.values())
    d, J = cfg.d_model, cfg.n_joints
    assert p["layers.1.attn.W_qkv"].shape == (d, 3 * d) and p["head.W"].shape == (d, 3)
    assert p["embed.E"].shape == (2, d)
    if pos_embedding:
        assert p["embed.P"].shape == (J, d)
    if attention == "gated":
        assert p["layers.0.gate.A1"].shape == (J * d, 100) and p["layers.0.gate.C2"].shape == (100, 8)
    if attention == "scalar-gate":
        assert p["layers.0.attn.g"].shape == (1,)


def test_init_is_deterministic_for_the_rng():
    cfg = _small()
    a = init_posegate(cfg, np.random.default_rng(7), np, np.float32)
    b = init_posegate(cfg, np.random.default_rng(7), np, np.float32)
    c = init_posegate(cfg, np.random.default_rng(8), np, np.float32)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["layers.0.attn.W_qkv"], c["layers.0.attn.W_qkv"])


@pytest.mark.parametrize("attention", ["gated", "scalar-gate"])
def test_initial_attention_rows_sum_to_about_one(attention):
    # the documented init: G ~ 1/2 and Bb ~ 1 - 1/J, so A = (S + 1/J) / 2; scalar-gate g = 1/J
    cfg = PoseGateConfig(attention=attention, n_layers=2)
    params = init_posegate(cfg, np.random.default_rng(0), np, np.float32)
    W = _poses(np.random.default_rng(1), 8, cfg.n_joints, np.float32) * 0.17
    maps = attention_maps(params, W, cfg)
    np.testing.assert_allclose(maps["A"].sum(-1), 1.0, atol=0.2)
    if attention == "gated":
        np.testing.assert_allclose(maps["G"], 0.5, atol=0.1)
        np.testing.assert_allclose(maps["Bb"], 1 - 1 / cfg.n_joints, atol=0.05)


# -- gradient checks (float64) ---------------------------------------------------------------------
# d_model = h * d_k >= 8: over fewer features a LayerNorm can see a token whose features nearly
# coincide, its curvature explodes (~1 / std^3) and finite differences, not the backward, go wrong.
sizes = dict(B=st.integers(1, 4), J=st.integers(2, 17), h=st.integers(1, 4), d_k=st.integers(1, 8))


@pytest.mark.parametrize("attention", VARIANTS)
@settings(max_examples=15)
@given(seed=seeds, **sizes)
def test_encoder_layer_gradient(attention, seed, B, J, h, d_k):
    assume(h * d_k >= 8)
    assert_pass(_check("encoder_layer", seed, B=B, J=J, h=h, d_k=d_k, attention=attention))


@pytest.mark.parametrize("attention", VARIANTS)
@settings(max_examples=12)
@given(seed=seeds, L=st.integers(1, 2), pos_embedding=st.booleans(), **sizes)
def test_generator_gradient_every_parameter_and_input(attention, seed, L, pos_embedding, B, J, h, d_k):
    assume(h * d_k >= 8)
    results = _check("generator", seed, B=B, J=J, h=h, d_k=d_k, L=L, attention=attention,
                     pos_embedding=pos_embedding)
    cfg = _small(attention, J, h, d_k, L, pos_embedding)
    assert {r.name for r in results} == _expected_names(cfg) | {"W"}
    assert_pass(results)


def test_generator_gradient_default_case():
    assert_pass(_check("generator"))


# -- forward properties ----------------------------------------------------------------------------
@pytest.mark.parametrize("attention", VARIANTS)
def test_float32_in_float32_out(attention):
    cfg = _small(attention)
    params = init_posegate(cfg, np.random.default_rng(0), np, np.float32)
    W = _poses(np.random.default_rng(1), 3, cfg.n_joints, np.float32)
    X, cache = posegate_forward(params, W, cfg)
    assert X.dtype == np.float32 and X.shape == (3, cfg.n_joints, 3)
    dW, grads = posegate_backward(np.ones_like(X), cache)
    assert dW.dtype == np.float32 and dW.shape == W.shape
    assert set(grads) == set(params)
    for k, g in grads.items():
        assert g.dtype == np.float32 and g.shape == params[k].shape, k


@pytest.mark.parametrize("attention", VARIANTS)
def test_inference_path_matches_and_keeps_nothing(attention):
    cfg = _small(attention)
    params = init_posegate(cfg, np.random.default_rng(0), np, np.float32)
    W = _poses(np.random.default_rng(1), 4, cfg.n_joints, np.float32)
    X, _ = posegate_forward(params, W, cfg)
    X_inf, cache = posegate_forward(params, W, cfg, need_cache=False)
    assert cache is None
    np.testing.assert_array_equal(X, X_inf)


def test_non_contiguous_input():
    cfg = _small()
    params = init_posegate(cfg, np.random.default_rng(0), np, np.float64)
    W = np.ascontiguousarray(_poses(np.random.default_rng(1), 4, cfg.n_joints).transpose(0, 2, 1))
    W = W.transpose(0, 2, 1)
    assert not W.flags.c_contiguous
    np.testing.assert_allclose(posegate_forward(params, W, cfg)[0],
                               posegate_forward(params, np.ascontiguousarray(W), cfg)[0], rtol=1e-12)


@pytest.mark.parametrize("attention", ["vanilla", "fixed", "scalar-gate"])
@settings(max_examples=5)
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17))
def test_generator_without_positions_is_equivariant(attention, seed, B, J):
    rng = np.random.default_rng(seed)
    cfg = _small(attention, J=J, pos_embedding=False)
    params = init_posegate(cfg, rng, np, np.float64)
    W = _poses(rng, B, J)
    perm = rng.permutation(J)
    X, _ = posegate_forward(params, W, cfg, need_cache=False)
    X_p, _ = posegate_forward(params, W[:, perm], cfg, need_cache=False)
    np.testing.assert_allclose(X_p, X[:, perm], rtol=1e-9, atol=1e-12)


def test_gated_generator_is_equivariant_only_with_a_fixed_gate(monkeypatch):
    # The gate reads U flattened in joint order, so permuting joints changes G and Bb ...
    rng = np.random.default_rng(4)
    cfg = _small("gated", J=6, pos_embedding=False)
    params = {k: v + 0.3 * rng.standard_normal(v.shape)
              for k, v in init_posegate(cfg, rng, np, np.float64).items()}
    W = _poses(rng, 3, cfg.n_joints)
    perm = rng.permutation(cfg.n_joints)
    X, _ = posegate_forward(params, W, cfg)
    X_p, _ = posegate_forward(params, W[:, perm], cfg)
    assert not np.allclose(X_p, X[:, perm], atol=1e-6)
    # ... and with G and Bb held fixed the rest of the layer is equivariant again.
    fixed = lambda U_flat, p: ((np.full((len(U_flat), cfg.n_heads), 0.6),  # noqa: E731
                                np.full((len(U_flat), cfg.n_heads), 0.3)), None)
    monkeypatch.setattr(gen, "gate_forward", fixed)
    X, _ = posegate_forward(params, W, cfg)
    X_p, _ = posegate_forward(params, W[:, perm], cfg)
    np.testing.assert_allclose(X_p, X[:, perm], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("attention", VARIANTS)
def test_attention_maps(attention):
    cfg = _small(attention, J=5, h=2, L=2)
    rng = np.random.default_rng(5)
    params = init_posegate(cfg, rng, np, np.float64)
    maps = attention_maps(params, _poses(rng, 3, cfg.n_joints), cfg)
    S, A = maps["S"], maps["A"]
    assert S.shape == A.shape == (2, 3, 2, 5, 5)
    np.testing.assert_allclose(S.sum(-1), 1.0, rtol=1e-12)
    if attention == "gated":
        G, Bb = maps["G"], maps["Bb"]
        assert G.shape == Bb.shape == (2, 3, 2)
        np.testing.assert_allclose(A, G[..., None, None] * (S + (1 - Bb)[..., None, None]), rtol=1e-12)
    else:
        assert "G" not in maps
    if attention == "vanilla":
        np.testing.assert_array_equal(A, S)
    if attention == "fixed":
        np.testing.assert_allclose(A, 1 / 5)
    if attention == "scalar-gate":
        np.testing.assert_allclose(A, maps["g"][:, None, None, None, None] * (S + 1 - 1 / 5), rtol=1e-12)


def test_wrong_input_shape_is_a_clear_error():
    cfg = _small(J=5)
    params = init_posegate(cfg, np.random.default_rng(0), np, np.float32)
    with pytest.raises(GateposeError, match=r"\(batch, 5, 2\)"):
        posegate_forward(params, np.zeros((2, 4, 2), np.float32), cfg)
