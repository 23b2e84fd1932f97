"""LayerNorm over the last axis (pre-norm encoder layers and the final norm).

Speed: row dot products go through ``einsum`` (no squared temporary), and the chains run in place
on arrays created here, never on the inputs. Sums stay NumPy reductions rather than GEMVs against a
ones vector: on a shared machine a threaded BLAS call can stall for a scheduler tick.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import get_xp


class LayerNormCache(NamedTuple):
    xhat: object   # (..., d) normalised input
    inv: object    # (..., 1) 1 / std
    gamma: object  # (d,)


def row_dot(a, b):
    """(R, d), (R, d) -> (R,): sum_k a_rk b_rk without the product as a temporary; b None: row
    sums (einsum's are several times faster than ``mean(axis=-1)`` here)."""
    if b is None:
        return get_xp(a).einsum("rk->r", a)
    return get_xp(a).einsum("rk,rk->r", a, b)


def layer_norm_forward(x, gamma, beta, eps: float = 1e-5, need_cache: bool = True):
    """x: (..., d), gamma, beta: (d,) -> (x - mean) / sqrt(var + eps) * gamma + beta.

    need_cache=False: the same arithmetic, and the cache is None.
    """
    xp = get_xp(x)
    d = x.shape[-1]
    x2 = x.reshape(-1, d)
    mu = row_dot(x2, None) * (1.0 / d)                            # (R,)
    xhat = x2 - mu[:, None]
    # 1 / sqrt(var + eps) as sqrt(d) / sqrt(sum of squares + d eps): three passes over (R,), no power
    inv = row_dot(xhat, xhat) + d * eps                           # (R,)
    xp.sqrt(inv, out=inv)
    xp.divide(math.sqrt(d), inv, out=inv)
    xhat *= inv[:, None]
    y = xhat * gamma
    y += beta
    if not need_cache:
        return y.reshape(x.shape), None
    return y.reshape(x.shape), LayerNormCache(xhat.reshape(x.shape), inv.reshape(*x.shape[:-1], 1), gamma)


def layer_norm_backward(dy, cache: LayerNormCache):
    """dy: (..., d) -> (dx (..., d), dgamma (d,), dbeta (d,))."""
    xhat, inv, gamma = cache
    xp = get_xp(dy)
    d = xhat.shape[-1]
    dy2, xhat2 = dy.reshape(-1, d), xhat.reshape(-1, d)
    dbeta = dy2.sum(axis=0)
    dgamma = xp.einsum("rk,rk->k", dy2, xhat2)                     # no product temporary
    g = dy2 * gamma
    # dx = inv * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma: the three terms of the
    # derivation, with d xhat_k / d x_i = inv (delta_ik - 1/d - xhat_i xhat_k / d): the direct term
    # g (through x_i itself), the mean term mean(g) (through the row mean) and the variance term
    # xhat mean(g xhat) (through the row's 1 / std).
    mean_g = g.mean(axis=-1)                                       # (R,)
    mean_gx = row_dot(g, xhat2) * (1.0 / d)                       # (R,)
    g -= xhat2 * mean_gx[:, None]
    g -= mean_g[:, None]
    g *= inv.reshape(-1, 1)
    return g.reshape(dy.shape), dgamma, dbeta
