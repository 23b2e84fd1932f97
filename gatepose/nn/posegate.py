"""PoseGate-Former, the generator: 2D pose (B, J, 2) -> 3D pose (B, J, 3) (SPEC section 1).

    Z0 = W E + b_E + P                                   embedding, one token per joint: (B, J, d)
         (with ``missing_token``: a missing joint's token is M + P instead, M learnt)
    for each of L pre-norm encoder layers:
        U  = LN1(Z);  Q, K, V = split_heads(U W_qkv + b_qkv)           (B, h, J, d_k) each
        G, Bb = gate(U flattened to (B, J*d))                          (B, h)  ('gated' only)
        Z  = Z + concat_heads(attention(Q, K, V, G, Bb)) W_o + b_o
        Z  = Z + GELU(LN2(Z) W1 + b1) W2 + b2
    X  = LN_f(Z) W_head + b_head                                       (B, J, 3)

Parameters live in one flat dict (names below); ``posegate_backward`` returns gradients keyed the
same way, so one optimiser serves every model. Every linear runs as one 2-D GEMM over all B*J tokens.

Missing joints (a departure, ``missing_token``; docs/detector-inputs.md): a joint that is NaN in
the input W is missing; with ``cfg.missing_token`` its token is the learnt embedding ``embed.M``
(d,) instead of W_j E + b_E (the positional embedding is added as for any joint); no gradient
reaches its coordinates, and dM collects the missing tokens' gradients. A config without the field
(every run written before it existed) has no M and runs exactly the code it ran before.

This is the plain forward, the one the backward inverts. Inference on the CPU has a faster shadow,
``gatepose.fast.fused.posegate_inference`` (the same function up to rounding); this module does not
know about it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np

from ..backend import get_xp
from ..errors import GateposeError
from ..names import SPEC_SIZES
from . import check_config, check_lift, config_from_dict, generator_config_dict
from ..ops.activations import gelu_backward, gelu_forward
from ..ops.attention import (GATE_PARAMS, VARIANTS, attention_backward, attention_forward,
                             gate_backward, gate_forward)
from ..ops.linear import linear_backward, linear_forward
from ..ops.norm import layer_norm_backward, layer_norm_forward
from ..ops.softmax import softmax_forward


# -- configuration -------------------------------------------------------------------------------
def heads_divide(d_model: int, n_heads: int) -> bool:
    """The model width cuts into n_heads heads of equal width d_k = d_model / n_heads (SPEC section 1)."""
    return d_model % n_heads == 0


@dataclass(frozen=True)
class PoseGateConfig:
    """Sizes of PoseGate-Former; the defaults are the paper's (SPEC section 1)."""

    n_joints: int = 17
    d_model: int = SPEC_SIZES["d_model"]
    n_heads: int = SPEC_SIZES["n_heads"]
    n_layers: int = SPEC_SIZES["n_layers"]
    d_ff: int = SPEC_SIZES["d_ff"]
    gate_hidden: int = SPEC_SIZES["gate_hidden"]
    attention: str = "gated"  # one of VARIANTS: 'gated', 'vanilla', 'fixed', 'scalar-gate'
    pos_embedding: bool = True
    ln_eps: float = 1e-5
    lift: str = "xyz"         # one of LIFTS: what the output is (nn/generator.py)
    missing_token: bool = False   # a learnt embedding for missing (NaN) joints (module docstring)

    def __post_init__(self):
        where = "generator config"
        check_config(self, where, positive=("n_joints", "d_model", "n_heads", "n_layers", "d_ff", "gate_hidden"))
        if self.n_joints < 2:
            raise GateposeError(f"{where}: n_joints={self.n_joints}, expected at least 2 joints")
        if not heads_divide(self.d_model, self.n_heads):
            raise GateposeError(f"{where}: d_model={self.d_model} is not divisible by "
                                f"n_heads={self.n_heads}, expected d_model % n_heads == 0")
        if self.attention not in VARIANTS:
            raise GateposeError(f"{where}: attention={self.attention!r}, expected one of "
                                f"{', '.join(VARIANTS)}")
        check_lift(self, where)
        for name in ("pos_embedding", "missing_token"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise GateposeError(f"{where}: {name}={getattr(self, name)!r}, expected true or false")
        if isinstance(self.ln_eps, bool) or not isinstance(self.ln_eps, (int, float)) or not self.ln_eps > 0:
            raise GateposeError(f"{where}: ln_eps={self.ln_eps!r}, expected a positive number")

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return generator_config_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "generator config") -> "PoseGateConfig":
        """Build from a JSON object; unknown keys are an error (a typo must not pass silently)."""
        return config_from_dict(cls, d, where)


# -- parameters ----------------------------------------------------------------------------------
def init_posegate(cfg: PoseGateConfig, rng: np.random.Generator, xp=np, dtype=np.float32) -> dict:
    """Initial parameters, deterministic for ``rng`` (drawn on the host, then moved to ``xp``).

    Names: embed.{E (2, d), b (d,), P (J, d) if pos_embedding};
    layers.i.ln1.{gamma, beta} (d,); layers.i.attn.{W_qkv (d, 3d), b_qkv (3d,), W_o (d, d), b_o (d,)};
    'gated': layers.i.gate.{A1, C1 (J*d, H), a1, c1 (H,), A2, C2 (H, h), a2, c2 (h,)};
    'scalar-gate': layers.i.attn.g (1,);  layers.i.ln2.{gamma, beta};
    layers.i.ffn.{W1 (d, d_ff), b1 (d_ff,), W2 (d_ff, d), b2 (d,)}; ln_f.{gamma, beta};
    head.{W (d, 3), b (3,)}; with ``missing_token``: embed.M (d,), drawn last (so every other
    parameter is the same draw as without it).

    Weights are Glorot-normal (He-normal for W1, which feeds the GELU), biases zero, LayerNorm
    gamma one, P ~ N(0, 0.02^2) as in BERT/ViT. The gate starts where attention is a well-scaled
    mixture: G ~= 1/2 (a2 = 0, the sigmoid's steepest point, so the gate learns fastest) and
    Bb ~= 1 - 1/J (c2 = log(J - 1)), so A = G (S + 1/J) = (S + uniform) / 2 has rows summing to ~1,
    like softmax attention. With Bb = 1/2 instead, the added constant would be J/2 times the
    softmax's mass and swamp it. A2 and C2 are scaled by 0.1 so the gates start near those values
    for every input while still passing gradient to A1 and C1. For 'scalar-gate', g = 1/J gives
    rows summing to g (1 + J - 1) = 1 for the same reason.
    """
    d, J, h, H, F = cfg.d_model, cfg.n_joints, cfg.n_heads, cfg.gate_hidden, cfg.d_ff

    def glorot(n_in, n_out, gain=1.0):
        return rng.normal(0.0, gain * math.sqrt(2.0 / (n_in + n_out)), (n_in, n_out))

    def he(n_in, n_out):
        return rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, n_out))

    zeros, ones = np.zeros, np.ones
    p = {"embed.E": glorot(2, d), "embed.b": zeros(d)}
    if cfg.pos_embedding:
        p["embed.P"] = rng.normal(0.0, 0.02, (J, d))
    for i in range(cfg.n_layers):
        pre = f"layers.{i}."
        p[pre + "ln1.gamma"], p[pre + "ln1.beta"] = ones(d), zeros(d)
        # Q, K and V are three d x d maps stored side by side: Glorot for each, not for (d, 3d).
        p[pre + "attn.W_qkv"] = np.concatenate([glorot(d, d) for _ in range(3)], axis=1)
        p[pre + "attn.b_qkv"] = zeros(3 * d)
        p[pre + "attn.W_o"], p[pre + "attn.b_o"] = glorot(d, d), zeros(d)
        if cfg.attention == "gated":
            p[pre + "gate.A1"], p[pre + "gate.a1"] = glorot(J * d, H), zeros(H)
            p[pre + "gate.A2"], p[pre + "gate.a2"] = glorot(H, h, gain=0.1), zeros(h)
            p[pre + "gate.C1"], p[pre + "gate.c1"] = glorot(J * d, H), zeros(H)
            p[pre + "gate.C2"] = glorot(H, h, gain=0.1)
            p[pre + "gate.c2"] = np.full(h, math.log(J - 1))
        elif cfg.attention == "scalar-gate":
            p[pre + "attn.g"] = np.full(1, 1.0 / J)
        p[pre + "ln2.gamma"], p[pre + "ln2.beta"] = ones(d), zeros(d)
        p[pre + "ffn.W1"], p[pre + "ffn.b1"] = he(d, F), zeros(F)
        p[pre + "ffn.W2"], p[pre + "ffn.b2"] = glorot(F, d), zeros(d)
    p["ln_f.gamma"], p["ln_f.beta"] = ones(d), zeros(d)
    p["head.W"], p["head.b"] = glorot(d, 3), zeros(3)
    if cfg.missing_token:
        p["embed.M"] = rng.normal(0.0, 0.02, d)   # like P: a token of the embedding's small spread
    return {k: xp.asarray(v, dtype=dtype) for k, v in p.items()}


def layer_params(params: Mapping, i: int) -> dict:
    """Layer i's parameters under their local names ('attn.W_qkv', 'gate.A1', ...)."""
    pre = f"layers.{i}."
    return {k[len(pre):]: v for k, v in params.items() if k.startswith(pre)}


# -- heads ---------------------------------------------------------------------------------------
def _split_qkv(qkv, h):
    """(B, J, 3d) -> Q, K, V: (B, h, J, d_k) views (no copy; matmul reads the strides)."""
    B, J, d3 = qkv.shape
    t = qkv.reshape(B, J, 3, h, d3 // (3 * h)).transpose(2, 0, 3, 1, 4)  # (3, B, h, J, d_k)
    return t[0], t[1], t[2]


def _merge_heads(x):
    """(B, h, J, d_k) -> (B, J, h*d_k), the concatenation of the heads. No copy when x is what
    attention_forward returns: it writes the heads into (B, J, h, d_k) memory, so this is a view."""
    B, h, J, d_k = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, J, h * d_k)


# -- one encoder layer ---------------------------------------------------------------------------
class EncoderLayerCache(NamedTuple):
    ln1: object    # LayerNormCache of U = LN1(Z)
    qkv: object    # LinearCache of U W_qkv + b_qkv
    gate: object   # GateCache ('gated') or None
    attn: object   # AttentionCache
    proj: object   # LinearCache of concat(heads) W_o + b_o
    ln2: object    # LayerNormCache of LN2(Z1)
    ffn1: object   # LinearCache of LN2(Z1) W1 + b1
    gelu: object   # GELU cache
    ffn2: object   # LinearCache of GELU(.) W2 + b2


def encoder_layer_forward(Z, p: Mapping, cfg: PoseGateConfig, need_cache: bool = True):
    """Z: (B, J, d); p: one layer's params by local name -> (Z_out (B, J, d), cache or None)."""
    B, J, d = Z.shape
    eps = cfg.ln_eps
    # attention block: Z1 = Z + MHA(LN1(Z)) W_o + b_o
    U, ln1 = layer_norm_forward(Z, p["ln1.gamma"], p["ln1.beta"], eps, need_cache)
    qkv, lin_qkv = linear_forward(U, p["attn.W_qkv"], p["attn.b_qkv"])
    Q, K, V = _split_qkv(qkv, cfg.n_heads)
    G = Bb = gate = None
    if cfg.attention == "gated":
        (G, Bb), gate = gate_forward(U.reshape(B, J * d), {n: p["gate." + n] for n in GATE_PARAMS})
    head, attn = attention_forward(Q, K, V, G, Bb, cfg.attention, p.get("attn.g"))
    Z1, proj = linear_forward(_merge_heads(head), p["attn.W_o"], p["attn.b_o"])
    Z1 += Z
    # feed-forward block: Z2 = Z1 + GELU(LN2(Z1) W1 + b1) W2 + b2
    U2, ln2 = layer_norm_forward(Z1, p["ln2.gamma"], p["ln2.beta"], eps, need_cache)
    F1, ffn1 = linear_forward(U2, p["ffn.W1"], p["ffn.b1"])
    Hf, gelu = gelu_forward(F1)
    Z2, ffn2 = linear_forward(Hf, p["ffn.W2"], p["ffn.b2"])
    Z2 += Z1
    if not need_cache:
        return Z2, None
    return Z2, EncoderLayerCache(ln1, lin_qkv, gate, attn, proj, ln2, ffn1, gelu, ffn2)


def encoder_layer_backward(dZ2, cache: EncoderLayerCache):
    """dZ2: (B, J, d) -> (dZ (B, J, d), grads keyed by local names like encoder_layer_forward's p)."""
    xp = get_xp(dZ2)
    ln1, lin_qkv, gate, attn, proj, ln2, ffn1, gelu, ffn2 = cache
    g = {}
    # Z2 = Z1 + F2,  F2 = GELU(F1) W2 + b2,  F1 = LN2(Z1) W1 + b1
    dHf, g["ffn.W2"], g["ffn.b2"] = linear_backward(dZ2, ffn2)
    dF1 = gelu_backward(dHf, gelu)
    dU2, g["ffn.W1"], g["ffn.b1"] = linear_backward(dF1, ffn1)
    dZ1, g["ln2.gamma"], g["ln2.beta"] = layer_norm_backward(dU2, ln2)
    dZ1 += dZ2                                             # the residual path
    # Z1 = Z + concat(heads) W_o + b_o
    dHc, g["attn.W_o"], g["attn.b_o"] = linear_backward(dZ1, proj)
    B, J, d = dHc.shape
    h = attn.V.shape[1]
    dhead = dHc.reshape(B, J, h, d // h).transpose(0, 2, 1, 3)  # split the concatenation
    dQ, dK, dV, dG, dBb, dg = attention_backward(dhead, attn)
    if dg is not None:
        g["attn.g"] = dg
    # Q, K, V = split_heads(U W_qkv + b_qkv): write the three head gradients back into one (B, J, 3d)
    dqkv = xp.empty((B, J, 3, h, d // h), dtype=dHc.dtype)
    for k, dx in enumerate((dQ, dK, dV)):
        dqkv[:, :, k] = dx.transpose(0, 2, 1, 3)
    dU, g["attn.W_qkv"], g["attn.b_qkv"] = linear_backward(dqkv.reshape(B, J, 3 * d), lin_qkv)
    # G, Bb = gate(U flattened): the gate is a second reader of U
    if gate is not None:
        dU_flat, gg = gate_backward(dG, dBb, gate)
        dU += dU_flat.reshape(B, J, d)
        g.update({"gate." + n: v for n, v in gg.items()})
    # U = LN1(Z), and Z reaches Z1 directly
    dZ, g["ln1.gamma"], g["ln1.beta"] = layer_norm_backward(dU, ln1)
    dZ += dZ1
    return dZ, g


# -- the whole generator -------------------------------------------------------------------------
class PoseGateCache(NamedTuple):
    cfg: PoseGateConfig
    embed: object   # LinearCache of W E + b_E
    layers: list    # EncoderLayerCache per layer
    ln_f: object    # LayerNormCache of the final norm
    head: object    # LinearCache of LN_f(Z) W_head + b_head
    missing: object = None   # (B, J, 1) bool, the missing joints (missing_token), or None


def check_input(W, cfg: PoseGateConfig):
    if getattr(W, "ndim", None) != 3 or W.shape[1] != cfg.n_joints or W.shape[2] != 2:
        raise GateposeError(f"generator input: shape {getattr(W, 'shape', None)}, expected "
                            f"(batch, {cfg.n_joints}, 2) normalised 2D poses")


def posegate_forward(params: Mapping, W, cfg: PoseGateConfig, need_cache: bool = True):
    """W: (B, J, 2) normalised 2D poses -> (X (B, J, 3), cache or None).

    need_cache=False: the same computation, with nothing returned for a backward (the cache is None).
    """
    check_input(W, cfg)
    Z, embed, missing = embed_forward(W, params, cfg)
    if cfg.pos_embedding:
        Z += params["embed.P"]  # (J, d), broadcast over the batch
    layers = []
    for i in range(cfg.n_layers):
        Z, c = encoder_layer_forward(Z, layer_params(params, i), cfg, need_cache)
        layers.append(c)
    Zf, ln_f = layer_norm_forward(Z, params["ln_f.gamma"], params["ln_f.beta"], cfg.ln_eps, need_cache)
    X, head = linear_forward(Zf, params["head.W"], params["head.b"])
    if not need_cache:
        return X, None
    return X, PoseGateCache(cfg, embed, layers, ln_f, head, missing)


def embed_forward(W, params: Mapping, cfg: PoseGateConfig):
    """The joint embedding: W (B, J, 2) -> (W E + b_E (B, J, d), its LinearCache, None); with
    ``missing_token``, a missing (NaN) joint's token is M instead, and the third value is the
    (B, J, 1) mask of the missing joints (W's NaN never enters a product: zeros stand in)."""
    if not cfg.missing_token:
        Z, embed = linear_forward(W, params["embed.E"], params["embed.b"])
        return Z, embed, None
    xp = get_xp(W)
    missing = xp.isnan(W).any(axis=-1, keepdims=True)
    Z, embed = linear_forward(xp.where(missing, 0.0, W).astype(W.dtype, copy=False),
                              params["embed.E"], params["embed.b"])
    return xp.where(missing, params["embed.M"], Z), embed, missing


def embed_backward(dZ, embed, missing):
    """-> (dW, dE, db_E, dM or None). dM is the sum of the missing tokens' gradients; a missing
    joint's tokens pass nothing to E, b_E or its coordinates (dW is zero there)."""
    if missing is None:
        return (*linear_backward(dZ, embed), None)
    xp = get_xp(dZ)
    dM = xp.where(missing, dZ, 0.0).sum(axis=(0, 1))
    return (*linear_backward(xp.where(missing, 0.0, dZ), embed), dM)


def posegate_backward(dX, cache: PoseGateCache):
    """dX: (B, J, 3) -> (dW (B, J, 2), grads keyed exactly like the params)."""
    if cache is None:
        raise ValueError("posegate_backward needs the cache of posegate_forward(need_cache=True)")
    cfg = cache.cfg
    grads = {}
    # X = LN_f(Z) W_head + b_head
    dZf, grads["head.W"], grads["head.b"] = linear_backward(dX, cache.head)
    dZ, grads["ln_f.gamma"], grads["ln_f.beta"] = layer_norm_backward(dZf, cache.ln_f)
    for i in reversed(range(cfg.n_layers)):
        dZ, g = encoder_layer_backward(dZ, cache.layers[i])
        grads.update({f"layers.{i}.{k}": v for k, v in g.items()})
    # Z0 = W E + b_E + P
    if cfg.pos_embedding:
        grads["embed.P"] = dZ.sum(axis=0)
    dW, grads["embed.E"], grads["embed.b"], dM = embed_backward(dZ, cache.embed, cache.missing)
    if dM is not None:
        grads["embed.M"] = dM
    return dW, grads


def attention_maps(params: Mapping, W, cfg: PoseGateConfig) -> dict:
    """The attention of every layer, for plots (the paper's Fig. 4).

    Returns 'S' (L, B, h, J, J) softmax scores, 'A' (L, B, h, J, J) the attention actually applied,
    and for 'gated' 'G', 'Bb' (L, B, h); for 'scalar-gate' 'g' (L,). Arrays on W's device.
    For 'fixed', S is what the (unused) queries and keys would give.
    """
    xp = get_xp(W)
    _, cache = posegate_forward(params, W, cfg, need_cache=True)
    S, A, G, Bb = [], [], [], []
    for c in cache.layers:
        a = c.attn
        if cfg.attention == "fixed":
            s, _ = softmax_forward((a.Q @ a.K.swapaxes(-1, -2)) * cfg.d_k ** -0.5)
            S.append(s)
            A.append(xp.full_like(s, 1.0 / cfg.n_joints))
        else:
            S.append(a.S)
            A.append(a.A)
        if a.G is not None:
            G.append(a.G)
            Bb.append(a.Bb)
    out = {"S": xp.stack(S), "A": xp.stack(A)}
    if G:
        out["G"], out["Bb"] = xp.stack(G), xp.stack(Bb)
    if cfg.attention == "scalar-gate":
        out["g"] = xp.concatenate([params[f"layers.{i}.attn.g"] for i in range(cfg.n_layers)])
    return out
