"""Adam with every model's parameters and moments in one flat buffer: the trainer's fast update
(FAST DOOR 3 in train.py). Plain reference: ``gatepose.optim.Adam``, which updates tensor by tensor;
``tests/training/test_optim.py::test_flat_adam_matches_plain_adam`` proves them equal (float64, 1e-12).

Why: on a GPU the per-tensor update is a dozen kernels per tensor, which made the optimiser about
half of all kernel launches of a training iteration (117 tensors, the critic's optimiser stepped
``n_critic`` times). With the parameters, m and v each one flat buffer (every tensor a view into
it), one step is one gather of the gradients (``concatenate``) and a dozen whole-buffer kernels.
On the CPU the same arithmetic runs tensor by tensor, in cache-sized blocks (no gather), the
tensors dealt to the cores. Elementwise arithmetic gives the same values however it is grouped.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_xp, is_gpu
from ..ops.activations import CACHE_BLOCK_ELEMENTS
from ..optim import Adam
from .parallel import map_balanced


def flatten_params(params: dict):
    """Move every array of ``params`` into one flat buffer (the first array's dtype) and replace the
    dict's entries by views into it, in order. Returns ``(flat, offsets)``, offsets[k] = (start, stop).
    Whoever holds the dict sees the views; an array taken out of it before this call does not."""
    if not params:   # a model without parameters (full supervision has no camera net and no critic)
        return np.empty(0, np.float32), {}
    first = next(iter(params.values()))
    xp = get_xp(first)
    offsets, n = {}, 0
    for k, p in params.items():
        offsets[k] = (n, n + p.size)
        n += p.size
    flat = xp.empty(n, dtype=first.dtype)
    for k, p in params.items():
        a, b = offsets[k]
        view = flat[a:b].reshape(p.shape)
        view[...] = p
        params[k] = view
    return flat, offsets


class FlatAdam(Adam):
    """:class:`gatepose.optim.Adam` (same state, checkpoints and results up to rounding) over flat
    buffers. Construction moves ``params`` into one flat buffer (:func:`flatten_params`): the dict's
    entries become views, so keep using the dict (or dicts built from it afterwards), not arrays
    taken from it before."""

    def __init__(self, params: dict, lr: float = 1e-4, betas=(0.5, 0.9), eps: float = 1e-8):
        self.flat, self.offsets = flatten_params(params)
        super().__init__(params, lr, betas, eps)     # self.params: the views, to recognise them in step()
        xp = get_xp(self.flat)
        self.flat_m, self.flat_v = xp.zeros_like(self.flat), xp.zeros_like(self.flat)
        self.m = {k: self._view(self.flat_m, k) for k in self.keys}
        self.v = {k: self._view(self.flat_v, k) for k in self.keys}

    def _view(self, flat, k):
        a, b = self.offsets[k]
        return flat[a:b].reshape(self.params[k].shape)

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        # Python floats keep float32 parameters float32 (a NumPy float64 scalar would upcast).
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        coef = (self.lr / c1, 1.0 / math.sqrt(c2))
        keys = [k for k in self.keys if grads.get(k) is not None]
        if not keys:
            return
        xp = get_xp(grads[keys[0]])
        whole = len(keys) == len(self.keys) and all(params[k] is self.params[k] for k in keys)
        if whole and is_gpu(xp):
            # one gather, then every pass over the whole buffer: a dozen launches for all tensors
            g = xp.concatenate([grads[k].reshape(-1) for k in keys])
            self._update(xp, self.flat, self.flat_m, self.flat_v, g, xp.empty_like(g), coef)
            return

        def update(k):
            g = grads[k].reshape(-1)
            p = params[k].reshape(-1) if params[k] is self.params[k] else None
            a, b = self.offsets[k]
            m, v = self.flat_m[a:b], self.flat_v[a:b]
            if p is None:                     # a dict of other arrays: update them as they are
                self._update(xp, params[k], self.m[k], self.v[k], grads[k], xp.empty_like(grads[k]), coef)
                return
            # cache-sized blocks: the eleven passes over a block run while it is in cache
            s = xp.empty(min(g.size, CACHE_BLOCK_ELEMENTS), dtype=g.dtype)
            for i in range(0, g.size, CACHE_BLOCK_ELEMENTS):
                r = slice(i, min(i + CACHE_BLOCK_ELEMENTS, g.size))
                self._update(xp, p[r], m[r], v[r], g[r], s[:r.stop - r.start], coef)

        # on the CPU the tensors are dealt to the cores
        map_balanced(update, keys, [grads[k].size for k in keys], xp)

    def _update(self, xp, p, m, v, g, s, coef):
        """The update of one block, in place on p, m, v (same shapes as g); s: scratch like g."""
        step, inv_sqrt_c2 = coef
        # m <- b1 m + (1 - b1) g, written (m - g) b1 + g: three in-place passes, no temporary
        m -= g
        m *= self.b1
        m += g
        # v <- b2 v + (1 - b2) g^2, with the scratch s that then holds the step
        xp.multiply(g, g, out=s)
        s *= 1.0 - self.b2
        v *= self.b2
        v += s
        # p <- p - step m / (sqrt(v) / sqrt(c2) + eps), reusing s for the denominator
        xp.sqrt(v, out=s)
        s *= inv_sqrt_c2
        s += self.eps
        xp.divide(m, s, out=s)
        s *= step
        p -= s

    def all_finite(self):
        """A 0-d device bool: every parameter finite (one reduction over the flat buffer)."""
        return get_xp(self.flat).isfinite(self.flat).all()
