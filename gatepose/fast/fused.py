"""The generator's inference path on the CPU: the same function as ``generator_forward``, with
the cheap elementwise passes folded into the matrix products (no backward, so nothing is cached).

On two CPU cores a pass over a block's activations costs a good fraction of a GEMM on them, and the
training forward makes a dozen such passes per layer besides its products. The rewrites here are
exact algebra, so outputs agree with ``generator_forward`` to rounding:

* LayerNorm's affine step goes into the next product: (xhat * gamma + beta) W + b =
  xhat (gamma W) + (beta W + b), so the norm only normalises; 1 / sqrt(d_k) goes into the
  queries' columns the same way;
* the gate's two first layers (A1, C1, each reading the flattened LN1 output) are one product;
* the output projection's bias rides in the product as one more input row, x W + b = [x, 1] [W; b]:
  the attention writes its heads straight into a buffer one column wider whose last column is ones;
* the softmax normalisation and the gate share one pass: G (e / s + 1 - Bb) = e (G / s) + G (1 - Bb);
* the first feed-forward bias is added inside GELU's cache blocks (``gelu_inplace``), and each
  block's intermediates live in buffers that every layer reuses.

Buffers stay contiguous wherever elementwise work touches them: a ufunc over a row-strided view runs
about four times slower on NumPy than over the same values stored contiguously.

``generator_inference`` is the entry point (the trainer's fakes, prediction, validation, the
bench); ``fold_generator`` does the folding once per call (shared by every block); ``fused_forward``
runs one block of poses. Reading order: the plain forward in nn/generator.py first; this is its
shadow. Its plain reference is ``generator_forward(params, W, cfg, need_cache=False)``;
``tests/test_fast_paths.py`` proves them equal (1e-10 in float64, over random shapes and parameters).
"""
from __future__ import annotations

from typing import Mapping

from ..backend import get_xp, is_gpu
from ..nn.generator import check_input, generator_forward, layer_params
from ..ops.activations import gelu_inplace, sigmoid_forward
from ..ops.attention import attention_forward
from ..ops.norm import normalise_into
from ..ops.softmax import softmax_unnormalised
from .parallel import run_shards, shard_bounds

# CPU inference runs in blocks of at most this many tokens (B * J): small enough that a block's
# intermediates stay in cache, large enough for full-speed GEMMs (measured best of 512 ... 4096 on
# the 2-core CPU; the batch of 1024 poses runs as 12 blocks).
INFER_BLOCK_TOKENS = 1536


def generator_inference(params: Mapping, W, cfg):
    """W: (B, J, 2) normalised 2D poses -> X (B, J, 3), nothing kept for a backward.

    On the CPU, batches above INFER_BLOCK_TOKENS tokens take the fused path in blocks side by side on
    the cores; smaller ones, and a GPU (which wants large kernels, so takes the batch in one pass),
    run the plain forward.
    """
    xp = get_xp(W)
    B = W.shape[0]
    if B * cfg.n_joints <= INFER_BLOCK_TOKENS or is_gpu(xp):
        return generator_forward(params, W, cfg, need_cache=False)[0]
    check_input(W, cfg)
    # The folding is done once here for every block, the blocks side by side on the cores; an even
    # number of blocks, so that neither of two cores idles while the other runs the last one.
    n = -(-B * cfg.n_joints // INFER_BLOCK_TOKENS)
    plan = fold_generator(params, cfg, run=lambda fn, args: run_shards(fn, args, xp))
    outs = run_shards(lambda a, b: fused_forward(plan, W[a:b], cfg), shard_bounds(B, n + n % 2), xp)
    return xp.concatenate(outs)


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
        if cfg.attention == "fixed":
            attention_forward(qkv[0], qkv[1], qkv[2], variant="fixed", out=heads)
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
