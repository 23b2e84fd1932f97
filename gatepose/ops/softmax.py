"""Softmax over the last axis (attention scores)."""
from __future__ import annotations

from ..backend import get_xp, is_gpu

# exp(x) of float32 neither overflows nor underflows to zero for |x| <= 80 (exp(80) * 17 keys is far
# below float32's maximum, exp(-80) far above its smallest normal), so there softmax needs no shift.
_NO_SHIFT_BOUND = 80.0


def softmax_unnormalised(x, inplace: bool = False):
    """x: (..., n) -> (e, s): e = exp(x - c) with a per-row shift c, s = e's row sums (..., ), so
    that e / s[..., None] is softmax(x). ``inplace``: x is the caller's scratch and becomes e."""
    xp = get_xp(x)
    # Softmax is unchanged by a shift per row; the usual shift by the row maximum keeps exp finite.
    # On NumPy a maximum over a short last axis (n = 17 joints) costs more than the rest of the
    # softmax, while the whole array's extremes are cheap, so when every |x| <= 80 the shift is
    # skipped (host check: free on the CPU, a synchronisation on a GPU, which always shifts).
    if not is_gpu(xp) and x.size and max(float(x.max()), -float(x.min())) <= _NO_SHIFT_BOUND:
        e = xp.exp(x, out=x if inplace else None)
    else:
        e = xp.subtract(x, x.max(axis=-1, keepdims=True), out=x if inplace else None)
        xp.exp(e, out=e)
    # einsum's row sums: faster than .sum(-1) over a short last axis (J = 17)
    return e, xp.einsum("...n->...", e)


def softmax_forward(x):
    """x: (..., n) -> y: (..., n), rows sum to one. Cache: y (the backward needs only the output)."""
    e, s = softmax_unnormalised(x)
    e /= s[..., None]
    return e, e


def softmax_backward(dy, y):
    """dx = y * (dy - <dy, y>) per row: the Jacobian diag(y) - y y^T applied without forming it."""
    xp = get_xp(dy, y)
    dx = dy - xp.einsum("...n,...n->...", dy, y)[..., None]
    dx *= y
    return dx
