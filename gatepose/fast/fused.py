"""The generator's inference path on the CPU: the same function as ``posegate_forward``, with
the cheap elementwise passes folded into the matrix products (no backward, so nothing is cached).

On two CPU cores a pass over a block's activations costs a good fraction of a GEMM on them, and the
training forward makes a dozen such passes per layer besides its products. The rewrites here are
exact algebra, so outputs agree with ``posegate_forward`` to rounding:

* LayerNorm's affine step goes into the next product: (xhat * gamma + beta) W + b =
  xhat (gamma W) + (beta W + b), so the norm only normalises; 1 / sqrt(d_k) goes into the
  queries' columns the same way;
* the gate's two first layers (A1, C1, each reading the flattened LN1 output) are one product;
* the output projection's bias rides in the product as one more input row, x W + b = [x, 1] [W; b]:
  the attention writes its heads straight into a buffer one column wider whose last column is ones;
* the softmax normalisation and the gate share one pass: G (e / s + 1 - Bb) = e (G / s) + G (1 - Bb);
* the first feed-forward bias is added inside GELU's cache blocks (``gelu_inplace``), and each
  block's intermediates live in buffers that every layer reuses (``normalise_into`` writes
  LayerNorm's output into one);
* the softmax skips its shift by the row maximum where no |score| exceeds 80 (``softmax_unnormalised``).

Buffers stay contiguous wherever elementwise work touches them: a ufunc over a row-strided view runs
about four times slower on NumPy than over the same values stored contiguously.

``posegate_inference`` is the entry point for PoseGate-Former's network; ``generator_inference`` (the
trainer's fakes, prediction and validation, FAST DOOR 4) takes either generator and applies the
config's lift (``nn.generator.generator_output``); ``fold_generator`` does the folding once per call (shared by every block); ``fused_forward``
runs one block of poses. Reading order: the plain forward in nn/posegate.py first; this is its
shadow. Its plain reference is ``posegate_forward(params, W, cfg, need_cache=False)``;
``tests/fast/test_fast_paths.py`` proves them equal (1e-10 in float64, over random shapes and parameters).
"""
from __future__ import annotations

from typing import Mapping

import math

from ..backend import get_xp, is_gpu
from ..nn.posegate import check_input, posegate_forward, layer_params
from ..nn.generator import has_fast_path, generator_forward, generator_output
from ..ops.activations import cache_blocks, gelu_forward, gelu_tanh_term, sigmoid_forward
from ..ops.norm import row_dot
from .parallel import run_shards, shard_bounds

# CPU inference runs in blocks of at most this many tokens (B * J): small enough that a block's
# intermediates stay in cache, large enough for full-speed GEMMs (measured best of 512 ... 4096 on
# the 2-core CPU; the batch of 1024 poses runs as 12 blocks).
INFER_BLOCK_TOKENS = 1536


def generator_inference(params: Mapping, W, cfg):
    """FAST DOOR 4's fast side (prediction, evaluation, validation): W (B, J, 2) -> X (B, J, 3) for
    either generator. PoseGate-Former's goes through :func:`posegate_inference` (which itself runs
    the plain forward for small batches and on a GPU); RepNet's has no fast path and runs its plain
    forward. Plain reference: ``generator_forward(need_cache=False)``."""
    if not has_fast_path(cfg):
        return generator_forward(params, W, cfg, need_cache=False)[0]
    return generator_output(W, posegate_inference(params, W, cfg), cfg)


# The attention variants this file has a fused form of (:func:`_attention`). A variant added to
# ops/attention.py and nn/posegate.py alone runs the plain forward everywhere until one is written here.
FUSED_ATTENTION = ("gated", "vanilla", "fixed", "scalar-gate")


def uses_fused(W, cfg) -> bool:
    """Whether :func:`posegate_inference` takes the fused path for W (B, J, 2): on the CPU, above
    INFER_BLOCK_TOKENS tokens, for an attention variant in FUSED_ATTENTION. Below, a block's folding
    costs more than it saves; a GPU wants large kernels and takes the batch in one plain pass."""
    return (W.shape[0] * cfg.n_joints > INFER_BLOCK_TOKENS and not is_gpu(get_xp(W))
            and cfg.attention in FUSED_ATTENTION)


def posegate_inference(params: Mapping, W, cfg):
    """W: (B, J, 2) normalised 2D poses -> X (B, J, 3), nothing kept for a backward.

    Where :func:`uses_fused` (the CPU, batches above INFER_BLOCK_TOKENS tokens): the fused path in
    blocks side by side on the cores. Elsewhere (small batches, a GPU): the plain forward
    ``posegate_forward(need_cache=False)`` itself.
    """
    xp = get_xp(W)
    B = W.shape[0]
    if not uses_fused(W, cfg):
        return posegate_forward(params, W, cfg, need_cache=False)[0]
    check_input(W, cfg)
    # The folding is done once here for every block, the blocks side by side on the cores; an even
    # number of blocks, so that neither of two cores idles while the other runs the last one.
    n = -(-B * cfg.n_joints // INFER_BLOCK_TOKENS)
    plan = fold_generator(params, cfg, run=lambda fn, args: run_shards(fn, args, xp))
    outs = run_shards(lambda a, b: fused_forward(plan, W[a:b], cfg), shard_bounds(B, n + n % 2), xp)
    return xp.concatenate(outs)


# -- the elementwise helpers of the fused path (the plain ops make fresh arrays and always shift) --
def normalise_into(x2, out, eps: float = 1e-5):
    """x2: (R, d) -> out[...] = (x2 - row mean) / sqrt(row var + eps), written into the caller's
    buffer; returns 1 / std: (R,). The arithmetic of ``ops.norm.layer_norm_forward`` without its
    affine step (folded into the next product here)."""
    xp = get_xp(x2)
    d = x2.shape[-1]
    mu = row_dot(x2, None) * (1.0 / d)                             # (R,)
    xp.subtract(x2, mu[:, None], out=out)
    # 1 / sqrt(var + eps) as sqrt(d) / sqrt(sum of squares + d eps): three passes over (R,), no power
    inv = row_dot(out, out) + d * eps                              # (R,)
    xp.sqrt(inv, out=inv)
    xp.divide(math.sqrt(d), inv, out=inv)
    out *= inv[:, None]
    return inv


def gelu_inplace(x, b=None):
    """x <- GELU(x + b) in place, x: (..., n) a fresh array of the caller's (or a (R, n) view with
    strided rows), b: (n,) or None. The same arithmetic as ``ops.activations.gelu_forward`` (bit for
    bit), with the bias added while each block is in cache and one block-sized scratch array instead
    of two full ones."""
    xp = get_xp(x)
    if x.ndim == 2 and x.strides[-1] == x.itemsize:
        x2 = x                    # rows may be strided (a view into a wider buffer)
    elif x.flags.c_contiguous:
        x2 = x.reshape(-1, x.shape[-1])
    else:                         # reshape would copy, and the blocks below would miss x
        x[...] = gelu_forward(x if b is None else x + b)[0]
        return x
    blocks = cache_blocks(xp, *x2.shape)
    scratch = xp.empty_like(x2[blocks[0]])
    for r in blocks:
        xb = x2[r]
        tb = scratch[:xb.shape[0]]
        if b is not None:
            xb += b
        gelu_tanh_term(xp, xb, tb)
        tb += 1.0
        xb *= tb
        xb *= 0.5
    return x


# exp(x) of float32 neither overflows nor underflows to zero for |x| <= 80 (exp(80) * 17 keys is far
# below float32's maximum, exp(-80) far above its smallest normal), so there softmax needs no shift.
NO_SHIFT_BOUND = 80.0


def softmax_unnormalised(x, inplace: bool = False):
    """x: (..., n) -> (e, s): e = exp(x - c) with a per-row shift c, s = e's row sums (...,), so
    that e / s[..., None] is softmax(x) (``ops.softmax.softmax_forward``, which always shifts by the
    row maximum). ``inplace``: x is the caller's scratch and becomes e.

    On NumPy a maximum over a short last axis (n = 17 joints) costs more than the rest of the
    softmax, while the whole array's extremes are cheap, so when every |x| <= NO_SHIFT_BOUND the
    shift is skipped (c = 0; a host check: free on the CPU, a synchronisation on a GPU, which always
    shifts). Softmax is unchanged by a shift per row, so both give the same values up to rounding."""
    xp = get_xp(x)
    if not is_gpu(xp) and x.size and max(float(x.max()), -float(x.min())) <= NO_SHIFT_BOUND:
        e = xp.exp(x, out=x if inplace else None)
    else:
        e = xp.subtract(x, x.max(axis=-1, keepdims=True), out=x if inplace else None)
        xp.exp(e, out=e)
    # einsum's row sums: faster than .sum(-1) over a short last axis (J = 17)
    return e, xp.einsum("...n->...", e)


# -- folding ---------------------------------------------------------------------------------------
def _fold_affine(W, b, gamma, beta):
    """(gamma W, beta W + b): a Linear after LayerNorm's affine step, as a Linear after the norm."""
    return gamma[:, None] * W, beta @ W + b


def fold_layer(p: Mapping, cfg) -> dict:
    """One encoder layer's parameters (local names) -> the matrices of the fused layer."""
    xp = get_xp(p["attn.W_o"])
    J, d = cfg.n_joints, cfg.d_model
    g1, b1 = p["ln1.gamma"], p["ln1.beta"]
    f = {}
    f["qkv_W"], f["qkv_b"] = _fold_affine(p["attn.W_qkv"], p["attn.b_qkv"], g1, b1)
    # the attention's 1 / sqrt(d_k) goes into the queries' columns
    f["qkv_W"][:, :d] *= (d // cfg.n_heads) ** -0.5
    f["qkv_b"][:d] *= (d // cfg.n_heads) ** -0.5
    f["ffn1_W"], f["ffn1_b"] = _fold_affine(p["ffn.W1"], p["ffn.b1"], p["ln2.gamma"], p["ln2.beta"])
    f["o"] = xp.concatenate([p["attn.W_o"], p["attn.b_o"][None]])     # [W_o; b_o]: (d + 1, d)
    f["ffn2_W"], f["ffn2_b"] = p["ffn.W2"], p["ffn.b2"]
    if cfg.attention == "gated":
        # U_flat [A1 | C1] + [a1 | c1], U_flat = xhat_flat * tile(gamma) + tile(beta) (J copies)
        AC = xp.concatenate([p["gate.A1"], p["gate.C1"]], axis=1)          # (J d, 2 hidden)
        f["gate_W"], f["gate_b"] = _fold_affine(AC, xp.concatenate([p["gate.a1"], p["gate.c1"]]),
                                                xp.tile(g1, J), xp.tile(b1, J))
        f.update({k: p["gate." + k] for k in ("A2", "a2", "C2", "c2")})
    if cfg.attention == "scalar-gate":
        f["g"] = p["attn.g"]
    return f


def fold_generator(params: Mapping, cfg, run=None) -> dict:
    """All matrices of the fused forward: 'layers' (one dict per layer), the embedding and the head
    (LN_f folded into the output Linear). ``run(fn, args)`` may map the per-layer folds side by
    side (gatepose.fast.parallel.run_shards)."""
    run = run or (lambda fn, args: [fn(*a) for a in args])
    layers = run(lambda i: fold_layer(layer_params(params, i), cfg), [[i] for i in range(cfg.n_layers)])
    head_W, head_b = _fold_affine(params["head.W"], params["head.b"], params["ln_f.gamma"],
                                  params["ln_f.beta"])
    return {"layers": layers, "E": params["embed.E"], "b_E": params["embed.b"], "P": params.get("embed.P"),
            "head_W": head_W, "head_b": head_b}


def _attention(Q, K, V, G, Bb, g, out):
    """head = A V written into out (B, J, h, d_k), A as in ops/attention.py for 'gated' (G, Bb),
    'scalar-gate' (g) or 'vanilla' (neither), with Q already scaled by 1 / sqrt(d_k). The softmax
    normalisation and the gate share one pass: G (e / s + 1 - Bb) = e (G / s) + G (1 - Bb)."""
    xp = get_xp(Q)
    J = Q.shape[-2]
    e, s = softmax_unnormalised(Q @ K.swapaxes(-1, -2), inplace=True)       # (B, h, J, J), (B, h, J)
    if G is not None:
        xp.divide(G[..., None], s, out=s)
        e *= s[..., None]
        e += (G * (1.0 - Bb))[..., None, None]
    elif g is not None:
        xp.divide(g, s, out=s)
        e *= s[..., None]
        e += g * (1.0 - 1.0 / J)
    else:
        e /= s[..., None]
    return xp.matmul(e, V, out=out.transpose(0, 2, 1, 3))


def fused_forward(plan: dict, W, cfg):
    """W: (B, J, 2) normalised 2D poses, plan from fold_generator -> X: (B, J, 3).

    Z (B J, d) is the residual stream, X the normalised (not yet affine) LayerNorm output, and Ha
    the concatenated heads with a trailing column of ones (for the output projection's bias row).
    """
    xp = get_xp(W)
    B, J, d, h = W.shape[0], cfg.n_joints, cfg.d_model, cfg.n_heads
    R = B * J
    Z = W.reshape(R, 2) @ plan["E"]
    Z += plan["b_E"]
    if plan["P"] is not None:
        Z.reshape(B, J, d)[...] += plan["P"]
    # every intermediate lives in one buffer per block, reused by all layers (they stay in cache)
    X = xp.empty((R, d), dtype=W.dtype)
    Ha = xp.empty((R, d + 1), dtype=W.dtype)
    Ha[:, d] = 1.0
    QKV = xp.empty((R, 3 * d), dtype=W.dtype)
    Fh = xp.empty((R, cfg.d_ff), dtype=W.dtype)
    T = xp.empty((R, d), dtype=W.dtype)
    for f in plan["layers"]:
        # Z <- Z + MHA(LN1(Z)) W_o + b_o
        normalise_into(Z, X, cfg.ln_eps)
        xp.matmul(X, f["qkv_W"], out=QKV)
        QKV += f["qkv_b"]
        qkv = QKV.reshape(B, J, 3, h, d // h).transpose(2, 0, 3, 1, 4)
        G = Bb = None
        if cfg.attention == "gated":
            hidden = X.reshape(B, J * d) @ f["gate_W"]                  # [zG | zB], (B, 2 hidden)
            hidden += f["gate_b"]
            hidden, _ = sigmoid_forward(hidden)
            H = hidden.shape[1] // 2
            G, _ = sigmoid_forward(hidden[:, :H] @ f["A2"] + f["a2"])
            Bb, _ = sigmoid_forward(hidden[:, H:] @ f["C2"] + f["c2"])
        heads = Ha[:, :d].reshape(B, J, h, d // h)
        if cfg.attention == "fixed":    # A = 1/J: every head row is the mean of the values
            heads[...] = qkv[2].mean(axis=-2, keepdims=True).transpose(0, 2, 1, 3)
        else:
            _attention(qkv[0], qkv[1], qkv[2], G, Bb, f.get("g"), heads)
        Z += xp.matmul(Ha, f["o"], out=T)
        # Z <- Z + GELU(LN2(Z) W1 + b1) W2 + b2
        normalise_into(Z, X, cfg.ln_eps)
        gelu_inplace(xp.matmul(X, f["ffn1_W"], out=Fh), f["ffn1_b"])
        Z += xp.matmul(Fh, f["ffn2_W"], out=T)
        Z += f["ffn2_b"]
    normalise_into(Z, X, cfg.ln_eps)
    out = X @ plan["head_W"]
    out += plan["head_b"]
    return out.reshape(B, J, 3)
