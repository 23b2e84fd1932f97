"""Softmax over the last axis (attention scores)."""
from __future__ import annotations

from ..backend import get_xp


def softmax_forward(x):
    """x: (..., n) -> y: (..., n), rows sum to one. Cache: y (the backward needs only the output)."""
    xp = get_xp(x)
    e = xp.exp(x - x.max(axis=-1, keepdims=True))  # shift: exp never overflows, result unchanged
    e /= e.sum(axis=-1, keepdims=True)
    return e, e


def softmax_backward(dy, y):
    """dx = y * (dy - <dy, y>) per row: the Jacobian diag(y) - y y^T applied without forming it."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
