#!/usr/bin/env python3
"""refine-threshold.py: the refine threshold of a run, from its own validation poses.

    scripts/refine-threshold.py RUN_FOLDER [ARCHIVE]

Prints what ``gatepose train`` keeps in best.npz as ``refine_above`` for an offset-lift run
(``gatepose.runs.refine_threshold`` on the clean validation poses, lifted by best.npz's generator):
for runs trained before best.npz kept it, so that ``gatepose eval --refine-above`` can use the same
rule. ARCHIVE is the archive the run trained on, if not where its config says (its validation
takes are drawn again from it by the run's own options and seed). Prints nothing and exits 2 for a run without the offset lift.
"""
from __future__ import annotations

import sys

import numpy as np


def main(run_dir: str, archive: str | None = None) -> None:
    from gatepose.data.prepare import prepare_data
    from gatepose.options import TrainOptions
    from gatepose.runs import load_run, refine_threshold

    run = load_run(run_dir)
    if run.gcfg.lift != "offset":
        print(f"error: {run_dir}: lift {run.gcfg.lift!r}; only an offset-lift run is lifted twice", file=sys.stderr)
        raise SystemExit(2)
    opts = TrainOptions.from_dict(run.config["options"])
    opts.data = archive or opts.data
    data = prepare_data(opts)
    run.refine_above = None
    print(f"{refine_threshold(np.asarray(data.W_val, np.float64), run.predict(data.W_val)):.6g}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__.strip().splitlines()[2])
    main(*sys.argv[1:])
