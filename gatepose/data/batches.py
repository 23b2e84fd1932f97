"""The training sampler: shuffled batches from an array that already lives on the device.

Each epoch is one permutation drawn on the host from the sampler's own RNG and uploaded once (one
copy per epoch, not per batch); a batch is a slice of it and one gather on the device. A short tail
that does not fill a batch is skipped. The saved state is the RNG state *before* the current
epoch's shuffle plus the position, so a resumed sampler redraws the same permutation and goes on
identically.
"""
from __future__ import annotations

import numpy as np

from gatepose.backend import get_xp


class Sampler:
    """``next()``: the next (B, ...) batch of ``data`` (N, ...), reshuffling when an epoch is used up."""

    def __init__(self, data, batch_size: int, seed: int):
        self.data, self.B = data, batch_size
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._reshuffle()

    def _reshuffle(self):
        self.rng_before = self.rng.bit_generator.state
        self.perm = self.rng.permutation(len(self.data))
        self.perm_on_device = get_xp(self.data).asarray(self.perm)
        self.pos = 0

    def next(self):
        if self.pos + self.B > len(self.perm):
            self.epoch += 1
            self._reshuffle()
        idx = self.perm_on_device[self.pos:self.pos + self.B]
        self.pos += self.B
        return self.data[idx]

    def state(self) -> dict:
        """JSON-serialisable: the RNG state before this epoch's shuffle, the position, the epoch."""
        return {"rng_before_shuffle": self.rng_before, "pos": self.pos, "epoch": self.epoch}

    def load_state(self, s: dict) -> None:
        self.rng.bit_generator.state = s["rng_before_shuffle"]
        self._reshuffle()
        self.pos, self.epoch = int(s["pos"]), int(s["epoch"])
