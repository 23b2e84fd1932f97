#!/usr/bin/env python3
"""runs-table.py: one Markdown row per group of runs (seeds), from their folders and eval files.

    scripts/runs-table.py RUN [RUN ...]

Each RUN is a run folder written by `gatepose train`, with `RUN.eval.json` beside it written by
`gatepose eval --run RUN --data ... --format json`. Runs whose names differ only in a trailing
`-sN` (the seed) form one row: the mean +- sample standard deviation over them of the wall-clock
minutes and steps of training (metrics.jsonl), the best validation N-MPJPE (what best.npz was chosen
on), the test MPJPE / N-MPJPE / P-MPJPE over all frames of the test split (best.npz), and the time
to accuracy: the minutes (and steps) until validation N-MPJPE first came within 5 % of the run's
final value. A last row gives the two trivial baselines from the first eval file.

Uses the standard library only, so it runs anywhere the runs are.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path


def _mean_std(values: list[float], digits: int = 1) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def _run(path: Path) -> dict:
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [(r["step"], r["minutes"], r["val_n_mpjpe"]) for r in rows if "val_n_mpjpe" in r]
    if not val:
        raise SystemExit(f"error: {path}: no validation rows in metrics.jsonl")
    final = val[-1][2]
    to_5 = next((step, minutes) for step, minutes, v in val if v <= 1.05 * final)
    eval_file = path.with_name(path.name + ".eval.json")
    if not eval_file.is_file():
        raise SystemExit(f"error: {eval_file}: missing (gatepose eval --run {path} --data ... --format json > {eval_file})")
    results = json.loads(eval_file.read_text())["results"]
    return {"steps": rows[-1]["step"], "minutes": rows[-1]["minutes"], "val": min(v for _, _, v in val),
            "test": results["model"]["All frames"], "steps_5": to_5[0], "minutes_5": to_5[1],
            "baselines": {k: v["All frames"] for k, v in results.items() if k != "model"}}


def main(paths: list[str]) -> None:
    if not paths:
        raise SystemExit(__doc__.strip().splitlines()[2])
    groups: dict[str, list[dict]] = {}
    for p in paths:
        path = Path(p.rstrip("/"))
        groups.setdefault(re.sub(r"-s\d+$", "", path.name), []).append(_run(path))
    print("| runs | seeds | steps | minutes | val N-MPJPE | test MPJPE | test N-MPJPE | test P-MPJPE "
          "| minutes to 5 % (steps) |")
    print("|:--|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, runs in groups.items():
        col = lambda f: [f(r) for r in runs]   # noqa: E731
        print(f"| {name} | {len(runs)} | {_mean_std(col(lambda r: r['steps']), 0)} "
              f"| {_mean_std(col(lambda r: r['minutes']))} | {_mean_std(col(lambda r: r['val']))} "
              f"| {_mean_std(col(lambda r: r['test']['mpjpe']))} | {_mean_std(col(lambda r: r['test']['n_mpjpe']))} "
              f"| {_mean_std(col(lambda r: r['test']['p_mpjpe']))} "
              f"| {_mean_std(col(lambda r: r['minutes_5']))} ({_mean_std(col(lambda r: r['steps_5']), 0)}) |")
    for name, b in next(iter(groups.values()))[0]["baselines"].items():
        print(f"| {name} | | | | | {b['mpjpe']:.1f} | {b['n_mpjpe']:.1f} | {b['p_mpjpe']:.1f} | |")


if __name__ == "__main__":
    main(sys.argv[1:])
