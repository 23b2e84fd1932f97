"""LayerNorm over the last axis (pre-norm encoder layers and the final norm)."""
from __future__ import annotations

from typing import NamedTuple

from ..backend import get_xp


class LayerNormCache(NamedTuple):
    xhat: object   # (..., d) normalised input
    inv: object    # (..., 1) 1 / std
    gamma: object  # (d,)


def layer_norm_forward(x, gamma, beta, eps: float = 1e-5):
    """x: (..., d), gamma, beta: (d,) -> (x - mean) / sqrt(var + eps) * gamma + beta."""
    xp = get_xp(x)
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    inv = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    xhat = xc * inv
    return xhat * gamma + beta, LayerNormCache(xhat, inv, gamma)


def layer_norm_backward(dy, cache: LayerNormCache):
    """dy: (..., d) -> (dx (..., d), dgamma (d,), dbeta (d,))."""
    xhat, inv, gamma = cache
    d = xhat.shape[-1]
    lead = tuple(range(dy.ndim - 1))
    dgamma = (dy * xhat).sum(axis=lead)
    dbeta = dy.sum(axis=lead)
    g = dy * gamma
    # dx = inv * (g - mean(g) - xhat * mean(g * xhat)): the two projections LayerNorm removes.
    dx = inv * (g - g.mean(axis=-1, keepdims=True) - xhat * ((g * xhat).sum(axis=-1, keepdims=True) * (1.0 / d)))
    return dx, dgamma, dbeta
