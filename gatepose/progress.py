"""Progress output of a training run: a one-line bar on a terminal, periodic lines in a log file."""
from __future__ import annotations

import math
import sys
import time


class Progress:
    """A one-line progress bar on a terminal; plain periodic lines otherwise."""

    def __init__(self, total: int, stream=None, every_s: float = 10.0):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s, self.last = every_s, -math.inf  # a log file gets a line every 10 s, not every step

    def update(self, step: int, row: dict):
        keys = ("loss_rep", "loss_cam", "wasserstein", "val_n_mpjpe", "poses_per_s")
        text = "  ".join(f"{k}={row[k]:.4g}" for k in keys if k in row)
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s and step != self.total:
            return
        self.last = now
        if self.tty:
            width = 24
            done = int(width * step / max(self.total, 1))
            self.stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{self.total}  {text}\033[K")
        else:
            self.stream.write(f"step {step}/{self.total}  {text}\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
