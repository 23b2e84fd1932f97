"""Adam, written out (SPEC section 6): bias-corrected, one state per model, saved and restored exactly.

The parameters, and the moments m and v, live in one flat buffer each per model, every tensor a
view into it: on a GPU one step is then a dozen whole-buffer kernels (the gradients gathered by one
``concatenate``) instead of a dozen per tensor, which made the optimiser about half of all kernel
launches of a training iteration (117 tensors, the critic's optimiser stepped ``n_critic`` times).
On the CPU the same arithmetic runs tensor by tensor, in cache-sized blocks (no gather), the
tensors dealt to the cores. Elementwise arithmetic gives the same values however it is grouped.
"""
from __future__ import annotations

import math

from .backend import CACHE_BLOCK_ELEMENTS, get_xp, is_gpu
from .fast.parallel import map_balanced


def flatten_params(params: dict):
    """Move every array of ``params`` into one flat buffer (the first array's dtype) and replace the
    dict's entries by views into it, in order. Returns ``(flat, offsets)``, offsets[k] = (start, stop).
    Whoever holds the dict sees the views; an array taken out of it before this call does not."""
    if not params:   # a model without parameters (full supervision has no camera net and no critic)
        import numpy as np

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


class Adam:
    """Adam over a flat dict of parameters, updated in place.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    Defaults are RepNet's and Gulrajani et al.'s: lr 1e-4, betas (0.5, 0.9), eps 1e-8.

    Construction moves ``params`` into one flat buffer (:func:`flatten_params`): the dict's entries
    become views, so keep using the dict (or dicts built from it afterwards), not arrays taken
    from it before.
    """

    def __init__(self, params: dict, lr: float = 1e-4, betas=(0.5, 0.9), eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.t = 0
        self.keys = list(params)
        self.flat, self.offsets = flatten_params(params)
        self.params = dict(params)            # the views, to recognise them in step()
        xp = get_xp(self.flat)
        self.flat_m, self.flat_v = xp.zeros_like(self.flat), xp.zeros_like(self.flat)
        self.m = {k: self._view(self.flat_m, k) for k in self.keys}
        self.v = {k: self._view(self.flat_v, k) for k in self.keys}

    def _view(self, flat, k):
        a, b = self.offsets[k]
        return flat[a:b].reshape(self.params[k].shape)

    def step(self, params: dict, grads: dict) -> None:
        """One update of every parameter that has a gradient (all must be finite: the trainer checks)."""
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

        # on the CPU the tensors are dealt to the cores (gatepose.fast.parallel.map_balanced)
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

    def state_arrays(self) -> dict:
        """Flat arrays for a checkpoint: 'm/<name>', 'v/<name>' (the step count goes in 't')."""
        out = {f"m/{k}": a for k, a in self.m.items()}
        out.update({f"v/{k}": a for k, a in self.v.items()})
        return out

    def load_state_arrays(self, arrays: dict, t: int) -> None:
        """Restore from :meth:`state_arrays` output (arrays already on the right device)."""
        for k in self.m:
            self.m[k][...] = arrays[f"m/{k}"]
            self.v[k][...] = arrays[f"v/{k}"]
        self.t = int(t)
