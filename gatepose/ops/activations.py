"""Pointwise activations: sigmoid (gate module), LeakyReLU (camera net, critic), GELU (FFN).

Speed: these chains are memory-bound (a pass over a (B*J, d_ff) float32 array costs about what a
sixth of a GEMM on it does), so each is written to make few passes and few fresh arrays: in-place
ufuncs with ``out=`` on arrays this function has just created itself, never on its inputs.

Why GELU's cache blocks are here and not behind a door in ``gatepose/fast/``: GELU's cached forward
and its backward are the training step's own (no fast path shadows them), and running the same
passes block by block instead of over the whole array changes the order of the passes only, never
the arithmetic: each output element is the same sequence of float operations on the same inputs.
So the blocked op is its own plain reference, bit for bit
(``tests/fast/test_fast_paths.py::test_gelu_blocks_change_no_bit`` proves it), and on the 2-core CPU it
is 1.7x faster at SPEC sizes. ``fast.fused.gelu_inplace`` reuses :func:`gelu_tanh_term` and the blocks.
"""
from __future__ import annotations

import math

from ..backend import get_xp, is_gpu, special


# Elementwise chains on the CPU run block by block so that all their passes over one block hit the
# core's L2 cache instead of main memory: 64 Ki float32 values (256 KiB) per block measured fastest
# for GELU on the 2-core CPU (1.7x over whole-array passes). A GPU takes the whole array at once.
CACHE_BLOCK_ELEMENTS = 1 << 16


def cache_blocks(xp, n_rows: int, row_len: int) -> list:
    """Row slices covering range(n_rows), each at most CACHE_BLOCK_ELEMENTS values on NumPy; one
    slice covering everything on CuPy."""
    if is_gpu(xp):
        return [slice(None)]
    step = max(1, CACHE_BLOCK_ELEMENTS // max(row_len, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


# -- sigmoid: keep the output, the backward needs only y (1 - y) -------------------------------
def sigmoid_forward(x):
    """x: any shape -> y = 1 / (1 + exp(-x)), same shape; cache is y."""
    # SciPy's expit (CuPy's on a GPU) is one pass, stable for large |x| (no overflow in exp) and
    # keeps float32 float32; the same function written in NumPy ufuncs takes six passes.
    y = special(get_xp(x)).expit(x)
    return y, y


def sigmoid_backward(dy, y):
    return dy * y * (1.0 - y)


# -- LeakyReLU: the cache is the slope mask, which the double backward reuses ---------------------
def leaky_relu_forward(x, alpha: float = 0.3, out=None):
    """x: any shape -> y = x where x > 0 else alpha x. Cache: the slope m (1 or alpha), x's dtype.

    ``out``: where to write y; callers pass ``out=x`` when x is a fresh GEMM output of their own,
    to skip an allocation and a pass (the mask is taken before y overwrites x).
    """
    xp = get_xp(x)
    # Built in x's dtype directly, the comparison writing 0 / 1 into the float array (one pass, no
    # bool temporary to convert): xp.where with Python scalars would make a float64 temporary, and
    # xp.where with float32 scalars, sign/fmax or copysign are several times slower on NumPy.
    m = xp.greater(x, 0, out=xp.empty_like(x))
    m *= 1.0 - alpha
    m += alpha
    return xp.multiply(x, m, out=out), m


def leaky_relu_backward(dy, m):
    """The backward is multiplication by the slope mask: linear in dy, which section 5 relies on."""
    return dy * m


# -- GELU, tanh form: 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2 / pi) -----------------
_C = math.sqrt(2.0 / math.pi)
_K = 0.044715


def gelu_tanh_term(xp, x, out):
    """out = tanh(c (x + k x^3)), computed as tanh(x (c + c k x^2)) in out's memory (shared with
    fast.fused.gelu_inplace, so that both compute the same bits)."""
    xp.multiply(x, x, out=out)
    out *= _C * _K
    out += _C
    out *= x
    xp.tanh(out, out=out)


def gelu_forward(x):
    """x: any shape -> GELU(x) (tanh approximation). Cache: (x, tanh term)."""
    xp = get_xp(x)
    x = xp.ascontiguousarray(x)   # the blocks below write through reshaped views of t and y
    t, y = xp.empty_like(x), xp.empty_like(x)
    x2, t2, y2 = (a.reshape(-1, x.shape[-1]) for a in (x, t, y))
    for r in cache_blocks(xp, *x2.shape):     # every pass over one block while it is in cache
        xb, tb, yb = x2[r], t2[r], y2[r]
        gelu_tanh_term(xp, xb, tb)
        # y = 0.5 x (1 + t)
        xp.add(tb, 1.0, out=yb)
        yb *= xb
        yb *= 0.5
    return y, (x, t)


def gelu_backward(dy, cache):
    x, t = cache
    xp = get_xp(dy)
    dy = xp.ascontiguousarray(dy)
    # d/dx [0.5 x (1 + t)] = 0.5 (1 + t) + p (1 - t^2), p = 0.5 c x (1 + 3 k x^2), factored as
    # (1 + t) (0.5 + p (1 - t)): ten passes, block by block in a, b
    a = xp.empty_like(x)
    x2, t2, a2, dy2 = (v.reshape(-1, x.shape[-1]) for v in (x, t, a, dy))
    blocks = cache_blocks(xp, *x2.shape)
    b = xp.empty_like(x2[blocks[0]])          # the first block is the largest
    for r in blocks:
        xb, tb, ab, dyb = x2[r], t2[r], a2[r], dy2[r]
        bb = b[:ab.shape[0]]
        xp.multiply(xb, xb, out=ab)
        ab *= 1.5 * _C * _K
        ab += 0.5 * _C
        ab *= xb                        # p = x (0.5 c + 1.5 c k x^2)
        xp.subtract(1.0, tb, out=bb)
        ab *= bb
        ab += 0.5                       # 0.5 + p (1 - t)
        xp.add(tb, 1.0, out=bb)
        ab *= bb
        ab *= dyb
    return a
