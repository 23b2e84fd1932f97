"""Pointwise activations: sigmoid (gate module), LeakyReLU (camera net, critic), GELU (FFN).

Speed: these chains are memory-bound (a pass over a (B*J, d_ff) float32 array costs about what a
sixth of a GEMM on it does), so each is written to make few passes and few fresh arrays: in-place
ufuncs with ``out=`` on arrays this function has just created itself, never on its inputs.
"""
from __future__ import annotations

import math

from ..backend import get_xp


# -- sigmoid: keep the output, the backward needs only y (1 - y) -------------------------------
def sigmoid_forward(x):
    """x: any shape -> y = 1 / (1 + exp(-x)), same shape; cache is y."""
    xp = get_xp(x)
    # exp of -|x| never overflows; the two branches are the same function.
    e = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
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
    # Built in x's dtype directly: xp.where with Python scalars would make a float64 temporary
    # (and xp.where with 0-d float32 arrays is several times slower than these three passes).
    m = (x > 0).astype(x.dtype)
    m *= 1.0 - alpha
    m += alpha
    return xp.multiply(x, m, out=out), m


def leaky_relu_backward(dy, m):
    """The backward is multiplication by the slope mask: linear in dy, which section 5 relies on."""
    return dy * m


# -- GELU, tanh form: 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2 / pi) -----------------
_C = math.sqrt(2.0 / math.pi)
_K = 0.044715


def gelu_forward(x):
    """x: any shape -> GELU(x) (tanh approximation). Cache: (x, tanh term)."""
    xp = get_xp(x)
    # t = tanh(c (x + k x^3)) = tanh(x (c + c k x^2)), built in place in one fresh array
    t = x * x
    t *= _C * _K
    t += _C
    t *= x
    xp.tanh(t, out=t)
    # y = 0.5 x (1 + t), in place in a second fresh array
    y = t + 1.0
    y *= x
    y *= 0.5
    return y, (x, t)


def gelu_backward(dy, cache):
    x, t = cache
    xp = get_xp(dy)
    # d/dx [0.5 x (1 + t)] = 0.5 (1 + t) + 0.5 c x (1 + 3 k x^2) (1 - t^2), in two fresh arrays a, b
    a = x * x
    a *= 3.0 * _K
    a += 1.0
    a *= x                          # x (1 + 3 k x^2)
    b = t * t
    xp.subtract(1.0, b, out=b)      # 1 - t^2
    a *= b
    a *= 0.5 * _C
    a += 0.5
    xp.multiply(t, 0.5, out=b)      # b is free again: 0.5 t
    a += b
    a *= dy
    return a
