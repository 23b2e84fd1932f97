"""cProfile of hot paths at the default configuration (not a test; run by hand).

    python benchmarks/profile_iteration.py [--what train|infer] [--preset NAME] [--batch 256]
                                           [--iterations 3] [--top 25] [--sequential]

Prints the top functions by total (self) time; the lines quoted in performance reports come from here.
cProfile sees only the thread it runs in, and the data-parallel shards (gatepose.fast.parallel) run on
worker threads: with --sequential they run one after another in this thread, each with
single-threaded BLAS, so the profile shows every op (and the total is about twice the wall time).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats

import numpy as np

from gatepose.bench import random_train_data
from gatepose.fast.fused import posegate_inference
from gatepose.train import Trainer
from gatepose.options import TrainOptions


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", choices=("train", "infer"), default="train")
    ap.add_argument("--batch", type=int, default=None, help="[default: the preset's, else 256]")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--preset", default=None, help="a named option set (gatepose.names.PRESETS); its batch unless --batch")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--sequential", action="store_true",
                    help="run the shards in this thread (single-threaded BLAS) so cProfile sees them")
    a = ap.parse_args(argv)
    if a.sequential:
        from gatepose.fast import parallel

        single = parallel.blas_threads(1)       # entered for the rest of the process (kept referenced:
        single.__enter__()                      # a collected context would restore the count)
        parallel.cpu_threads = lambda: 1
        main.single_blas = single
    from gatepose.names import PRESETS

    preset = dict(PRESETS[a.preset]) if a.preset else {}
    a.batch = a.batch or preset.get("batch_size", 256)
    opts = TrainOptions(**{**preset, "batch_size": a.batch, "steps": 1})
    data = random_train_data(17, max(4 * a.batch * 6, 1024))
    trainer = Trainer(opts, data, np, np.float32)
    W = data.W_train[:a.batch]
    if a.what == "train":
        fn = trainer.iteration
    else:
        def fn():
            posegate_inference(trainer.gen, W, trainer.gcfg)
    fn()  # warm-up: first-touch page faults and BLAS start-up out of the profile
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(a.iterations):
        fn()
    prof.disable()
    pstats.Stats(prof).sort_stats(a.sort).print_stats(a.top)


if __name__ == "__main__":
    main()
