"""LayerNorm over the last axis (pre-norm encoder layers and the final norm).

Speed: the per-row sums are GEMVs against a ones vector or ``einsum`` dot products (no squared
temporary), and the chains run in place on arrays created here, never on the inputs.
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import get_xp


class LayerNormCache(NamedTuple):
    xhat: object   # (..., d) normalised input
    inv: object    # (..., 1) 1 / std
    gamma: object  # (d,)


def _row_dot(a, b):
    """(R, d), (R, d) -> (R,): sum_k a_rk b_rk without the product as a temporary."""
    return get_xp(a).einsum("rk,rk->r", a, b)


def layer_norm_forward(x, gamma, beta, eps: float = 1e-5):
    """x: (..., d), gamma, beta: (d,) -> (x - mean) / sqrt(var + eps) * gamma + beta."""
    xp = get_xp(x)
    d = x.shape[-1]
    x2 = x.reshape(-1, d)
    mu = x2 @ xp.full(d, 1.0 / d, dtype=x.dtype)                  # (R,) row means, one GEMV
    xhat = x2 - mu[:, None]                                        # fresh: x - mean, then scaled
    inv = 1.0 / xp.sqrt(_row_dot(xhat, xhat) * (1.0 / d) + eps)    # (R,)
    xhat *= inv[:, None]
    y = xhat * gamma
    y += beta
    return y.reshape(x.shape), LayerNormCache(xhat.reshape(x.shape), inv.reshape(*x.shape[:-1], 1), gamma)


def layer_norm_backward(dy, cache: LayerNormCache):
    """dy: (..., d) -> (dx (..., d), dgamma (d,), dbeta (d,))."""
    xhat, inv, gamma = cache
    xp = get_xp(dy)
    d = xhat.shape[-1]
    dy2, xhat2 = dy.reshape(-1, d), xhat.reshape(-1, d)
    ones = xp.ones(dy2.shape[0], dtype=dy.dtype)
    dbeta = ones @ dy2                                             # column sums as a GEMV
    t = dy2 * xhat2
    dgamma = ones @ t
    g = dy2 * gamma
    # dx = inv * (g - mean(g) - xhat * mean(g * xhat)): the two projections LayerNorm removes.
    mean_g = g @ xp.full(d, 1.0 / d, dtype=g.dtype)                # (R,)
    mean_gx = _row_dot(g, xhat2) * (1.0 / d)                       # (R,)
    xp.multiply(xhat2, mean_gx[:, None], out=t)                    # t is free again after dgamma
    g -= t
    g -= mean_g[:, None]
    g *= inv.reshape(-1, 1)
    return g.reshape(dy.shape), dgamma, dbeta
