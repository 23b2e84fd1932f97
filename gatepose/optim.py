"""Adam, written out (SPEC section 6): bias-corrected, one state per model, saved and restored exactly."""
from __future__ import annotations

import math

from .backend import get_xp
from .fast.parallel import map_balanced


class Adam:
    """Adam over a flat dict of parameters, updated in place.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    Defaults are RepNet's and Gulrajani et al.'s: lr 1e-4, betas (0.5, 0.9), eps 1e-8.
    """

    def __init__(self, params: dict, lr: float = 1e-4, betas=(0.5, 0.9), eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.t = 0
        self.m = {k: get_xp(p).zeros_like(p) for k, p in params.items()}
        self.v = {k: get_xp(p).zeros_like(p) for k, p in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        """One update of every parameter that has a gradient (all must be finite: the trainer checks).

        The update is elementwise, so on the CPU the parameters are dealt to the cores in groups
        (gatepose.fast.parallel.map_balanced): the same numbers, in about half the time on two cores."""
        self.t += 1
        # Python floats keep float32 parameters float32 (a NumPy float64 scalar would upcast).
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        step = self.lr / c1
        inv_sqrt_c2 = 1.0 / math.sqrt(c2)

        def update(k):
            g = grads[k]
            xp = get_xp(g)
            m, v, p = self.m[k], self.v[k], params[k]
            # m <- b1 m + (1 - b1) g, written (m - g) b1 + g: three in-place passes, no temporary
            m -= g
            m *= self.b1
            m += g
            # v <- b2 v + (1 - b2) g^2, with one scratch array s that then holds the step
            s = g * g
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

        keys = [k for k, g in grads.items() if g is not None]
        if keys:
            map_balanced(update, keys, [grads[k].size for k in keys], get_xp(grads[keys[0]]))

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
