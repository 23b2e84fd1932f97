"""Softmax over the last axis (attention scores)."""
from __future__ import annotations

from ..backend import get_xp


def softmax_forward(x):
    """x: (..., n) -> y: (..., n), rows sum to one. Cache: y (the backward needs only the output).

    y = exp(x - max) / sum exp(x - max) per row: the shift by the row maximum leaves softmax
    unchanged and keeps exp finite. (The fused inference, fast/fused.py, skips the shift where the
    data allow it.)"""
    xp = get_xp(x)
    e = x - x.max(axis=-1, keepdims=True)
    xp.exp(e, out=e)
    # einsum's row sums: faster than .sum(-1) over a short last axis (J = 17)
    e /= xp.einsum("...n->...", e)[..., None]
    return e, e


def softmax_backward(dy, y):
    """dx = y * (dy - <dy, y>) per row: the Jacobian diag(y) - y y^T applied without forming it."""
    xp = get_xp(dy, y)
    dx = dy - xp.einsum("...n,...n->...", dy, y)[..., None]
    dx *= y
    return dx
