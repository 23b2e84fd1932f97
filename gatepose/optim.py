"""Adam, written out (SPEC section 6): bias-corrected, one state per model, saved and restored exactly.

This is the plain update, tensor by tensor, as the SPEC writes it. The trainer's fast path
(``gatepose.fast.adam.FlatAdam``, entered at FAST DOOR 3 in train.py) keeps parameters and moments
in one flat buffer per model so that a GPU step is a dozen whole-buffer kernels; it has the same
state (``m``, ``v``, ``t``) and checkpoints, so either can resume the other.
"""
from __future__ import annotations

from .backend import get_xp


class Adam:
    """Adam over a flat dict of parameters, updated in place.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    Defaults are RepNet's and Gulrajani et al.'s: lr 1e-4, betas (0.5, 0.9), eps 1e-8.
    """

    def __init__(self, params: dict, lr: float = 1e-4, betas=(0.5, 0.9), eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), float(eps)
        self.t = 0
        self.keys = list(params)
        self.params = dict(params)            # the arrays, for all_finite()
        self.m = {k: get_xp(p).zeros_like(p) for k, p in params.items()}
        self.v = {k: get_xp(p).zeros_like(p) for k, p in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        """One update of every parameter that has a gradient (all must be finite: the trainer checks)."""
        self.t += 1
        # Python floats keep float32 parameters float32 (a NumPy float64 scalar would upcast).
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        for k in self.keys:
            g = grads.get(k)
            if g is None:
                continue
            xp = get_xp(g)
            m, v = self.m[k], self.v[k]
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * (g * g)
            params[k] -= (self.lr / c1) * m / (xp.sqrt(v / c2) + self.eps)

    def all_finite(self):
        """A 0-d bool (a device array on a GPU): every parameter finite."""
        if not self.params:
            return True
        xp = get_xp(*self.params.values())
        return xp.stack([xp.isfinite(p).all() for p in self.params.values()]).all()

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

