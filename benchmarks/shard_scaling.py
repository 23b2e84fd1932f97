"""How well a preset's generator step uses the second core (not a test; run by hand, machine idle).

    python benchmarks/shard_scaling.py [--preset small-weak] [--rounds 15] [--json]

Times the generator step's loss and gradients (``Trainer.generator_loss``, self-consistency and the
clean target included) on one batch of the preset, alternating in each round:

* ``half``: half the batch, one thread, single-threaded BLAS (one shard's work);
* ``whole``: the whole batch, one thread, single-threaded BLAS (no sharding);
* ``threads``: the whole batch as the trainer runs it, two shards in two threads
  (``fast.parallel.run_shards``, each with single-threaded BLAS).

If the shards were held back by Python's GIL, ``threads`` would be far above ``half``; it is the
ideal two-core time. ``whole / threads`` is what the second core buys. Medians in ms.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from gatepose.bench import random_train_data
from gatepose.data.augment import camera_turns
from gatepose.fast import parallel
from gatepose.names import PRESETS
from gatepose.options import TrainOptions
from gatepose.train import Trainer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small-weak", choices=[p for p in PRESETS if p not in ("small-full", "small-full-detector")])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    opts = TrainOptions(**{**PRESETS[a.preset], "seed": 0, "steps": 1})
    opts.check()
    data = random_train_data(17, 20000, 0)
    tr = Trainer(opts, dataclasses.replace(data, X_train=data.X_real[:len(data.W_train)]), np, np.float32)
    for _ in range(3):
        tr.iteration()
    B = opts.batch_size
    W = tr.s2d.next()
    R = camera_turns(np.random.default_rng(0), B, np, np.float32, *tr.elevation) if tr.turns else None
    batches = [W] + ([R] if tr.turns else []) + [W.copy()]      # the step's batch, turns, L_rep's target

    def loss(W, *rest):
        return tr.generator_loss(W, *(rest if tr.turns else (None, *rest)))
    halves = [[x[:B // 2] for x in batches], [x[B // 2:] for x in batches]]
    times = {"half": [], "whole": [], "threads": []}
    for _ in range(a.rounds):
        with parallel.blas_threads(1):
            for name, call in (("half", lambda: loss(*halves[0])), ("whole", lambda: loss(*batches))):
                t = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - t)
        t = time.perf_counter()
        parallel.run_shards(loss, halves)
        times["threads"].append(time.perf_counter() - t)
    ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    ms["whole_over_threads"] = ms["whole"] / ms["threads"]
    ms["threads_over_half"] = ms["threads"] / ms["half"]
    if a.json:
        print(json.dumps({"preset": a.preset, "batch": B, "rounds": a.rounds, **ms}))
        return
    print(f"{a.preset}, batch {B}, {a.rounds} rounds (medians): half {ms['half']:.1f} ms, whole {ms['whole']:.1f} ms, "
          f"two threads {ms['threads']:.1f} ms; the second core buys {ms['whole_over_threads']:.2f}x, "
          f"the threads take {ms['threads_over_half']:.2f}x one half")


if __name__ == "__main__":
    main()
