"""Linear (affine) layer: y = x W + b."""
from __future__ import annotations

from typing import NamedTuple


class LinearCache(NamedTuple):
    x: object  # (..., d_in), kept for dW
    W: object  # (d_in, d_out), kept for dx


def linear_forward(x, W, b=None):
    """x: (..., d_in), W: (d_in, d_out), b: (d_out,) or None -> y: (..., d_out)."""
    # One 2-D GEMM over all leading axes: BLAS is fastest on a tall matrix, not a batch of small ones.
    y = (x.reshape(-1, x.shape[-1]) @ W).reshape(*x.shape[:-1], W.shape[1])
    if b is not None:
        y += b
    return y, LinearCache(x, W)


def linear_backward(dy, cache: LinearCache):
    """dy: (..., d_out) -> (dx (..., d_in), dW (d_in, d_out), db (d_out,))."""
    x, W = cache
    dy2 = dy.reshape(-1, dy.shape[-1])
    dW = x.reshape(-1, x.shape[-1]).T @ dy2
    db = dy2.sum(axis=0)
    dx = (dy2 @ W.T).reshape(x.shape)
    return dx, dW, db

