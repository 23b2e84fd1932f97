"""A seeded, shuffled batch iterator over arrays that already live on the device.

Each epoch's order is ``numpy.random.default_rng([seed, epoch]).permutation(N)``: computed on the
host, copied to the device once per epoch, and the gather (``a[idx]``) happens on the device. The
state is just (seed, epoch, position), so a resumed run draws exactly the batches it would have.
"""
from __future__ import annotations

import numpy as np

from gatepose.backend import get_xp
from gatepose.errors import GateposeError


class BatchIterator:
    """Shuffled batches from ``arrays`` (a dict of (N, ...) device arrays with one N).

    ``next()`` returns the next batch (a dict keyed like ``arrays``), moving on to a freshly
    shuffled epoch when one is used up; iterating (``for batch in it``) yields the rest of the
    current epoch. With ``drop_last`` a short final batch is skipped, so every batch has
    ``batch_size`` rows.
    """

    def __init__(self, arrays: dict, batch_size: int, seed: int = 0, drop_last: bool = True,
                 epoch: int = 0, position: int = 0):
        if not arrays:
            raise GateposeError("BatchIterator needs at least one array")
        sizes = {k: int(a.shape[0]) for k, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise GateposeError(f"BatchIterator: arrays differ in length: {sizes}")
        self.n = next(iter(sizes.values()))
        if batch_size < 1:
            raise GateposeError(f"batch size must be positive, got {batch_size}")
        if drop_last and batch_size > self.n:
            raise GateposeError(f"batch size {batch_size} is larger than the dataset ({self.n} poses)")
        self.arrays = dict(arrays)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.xp = get_xp(*arrays.values())
        self.epoch, self.position = int(epoch), int(position)
        self._order_epoch, self._order = None, None

    @property
    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def order(self, epoch: int) -> np.ndarray:
        """The host permutation (N,) of ``epoch``."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def _device_order(self):
        if self._order_epoch != self.epoch:
            self._order = self.xp.asarray(self.order(self.epoch))
            self._order_epoch = self.epoch
        return self._order

    def _epoch_done(self) -> bool:
        left = self.n - self.position
        return left <= 0 or (self.drop_last and left < self.batch_size)

    def next(self) -> dict:
        if self._epoch_done():
            self.epoch, self.position = self.epoch + 1, 0
        idx = self._device_order()[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return {k: a[idx] for k, a in self.arrays.items()}

    __next__ = next

    def __iter__(self):
        """The remaining batches of the current epoch (the next epoch's if this one is used up)."""
        if self._epoch_done():
            self.epoch, self.position = self.epoch + 1, 0
        epoch = self.epoch
        while self.epoch == epoch and not self._epoch_done():
            yield self.next()

    def state(self) -> dict:
        """JSON-able state for checkpoints."""
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position, "n": self.n,
                "batch_size": self.batch_size, "drop_last": self.drop_last}

    @classmethod
    def from_state(cls, arrays: dict, state: dict) -> "BatchIterator":
        """Resume: the same arrays (same N) and a :meth:`state`; continues with the next batch."""
        it = cls(arrays, state["batch_size"], state["seed"], state["drop_last"], state["epoch"], state["position"])
        if it.n != state["n"]:
            raise GateposeError(f"cannot resume the batch iterator: the data has {it.n} poses, "
                                f"the checkpoint was made with {state['n']}")
        return it
