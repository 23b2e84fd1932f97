#!/usr/bin/env python3
"""gap-table.py: the tables of scripts/supervision-gap-benchmark.sh, from its output folder.

    scripts/gap-table.py OUT_FOLDER

Runs (those evaluated: RUN.test.json there) are OUT/weak-sN, OUT/full-tuned-sN and the other groups
of GROUPS below, each with RUN.test.json,
RUN.test-seen.json (and, for the detector table, RUN.noise-5.json, RUN.noise-10.json,
RUN.drop-1.json, RUN.detector.json) beside it, written by `gatepose eval ... --format json`. Prints Markdown:
1. both tests, one row per group: mean +- sample standard deviation over seeds of the steps, the
   minutes of training (metrics.jsonl: the run's own wall clock, which other work on the machine
   stretches), the steps until validation N-MPJPE first came within 5 % of its final value, the
   best validation N-MPJPE and MPJPE / N-MPJPE / P-MPJPE over all frames; then the trivial
   baselines on each test;
2. weak over tuned supervised, N-MPJPE and P-MPJPE, on each test (ratio of the seed means);
3. test-seen in two parts: HDM05's takes (its 11 motion classes: the same people doing the same
   kinds of motion as in training) and the CMU takes (each subject's held-out clips, often a motion
   of its own), N-MPJPE / P-MPJPE from the per-action rows (weighted by their frames);
4. detector-like inputs on the test split: N-MPJPE with exact 2D, 5 and 10 px noise, one joint
   missing and the detector-like corruption (--detector-noise), and each over the exact figure;
   a group whose runs also have RUN.<test>-refined.json (evaluated lifting twice where noisy:
   gatepose eval --refine-above, scripts/refine-threshold.py) gets a second row from those.
5. the fixed rig's runs (OUT/rig-weak-sN, OUT/rig-full-sN and the levers of RIG_GROUPS, evaluated on
   OUT/hdm05-h36m.npz): N / P-MPJPE on 6000 training frames, test-seen and test, and each weak
   group over full on each (printed alone when these are the only runs).
Uses the standard library only.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

GROUPS = (("weak", "weak (small-weak)"), ("full-tuned", "full, searched recipe"),
          ("full-untuned", "full, the search's start (no EMA, cosine)"),
          ("weak-cosine", "weak, small-weak with the cosine rate (--lr-schedule cosine)"),
          ("weak-ortho", "weak, orthographic small-weak (--perspective 0)"),
          ("weak-depth", "weak, small-weak before 2026-12-07 (depth lift, exact 2D)"),
          ("full-cosine", "full, the first search's recipe (EMA, cosine)"),
          ("weak-noise16", "weak, orthographic small-weak with noise 0.016"),
          ("weak-noise20", "weak, orthographic small-weak with twice the noise (0.02)"),
          ("det-weak", "weak, orthographic small-weak without the clean target, with dropout"),
          ("weak-spread12", "weak, orthographic small-weak with a noise level per pose (0.012)"),
          ("weak-spread14", "weak, orthographic small-weak with a noise level per pose (0.014)"),
          ("weak-spread16", "weak, orthographic small-weak with a noise level per pose (0.016)"),
          ("weak-d96", "weak, orthographic small-weak at d 96 (equal minutes: 4150 steps)"),
          ("weak-d128", "weak, orthographic small-weak at d 128 (equal minutes: 3150 steps)"),
          ("weak-adv2d", "weak, orthographic small-weak with the random-projection critic (equal minutes: 4900 steps)"),
          ("weak-b64", "weak, orthographic small-weak with batch 64 (equal minutes: 8000 steps)"),
          ("weak-nc3", "weak, orthographic small-weak with three critic steps (equal minutes: 5000 steps)"),
          ("weak-kcs512", "weak, orthographic small-weak with the critic's KCS path 512 wide (equal minutes: 4900 steps)"),
          ("weak-adv2dp", "weak, small-weak with the random-projection critic (equal minutes: 4900 steps)"),
          ("det-full", "full, searched recipe with noise and dropout"),
          ("full-spread", "full, searched recipe with a noise level per pose and dropout"),
          ("full-spreadnd", "full, searched recipe with a noise level per pose"),
          ("full-n006d", "full, searched recipe with noise 0.006 and dropout"),
          ("full-n008d", "full, searched recipe with noise 0.008 and dropout"),
          ("full-off", "full, searched recipe with the offset lift"),
          ("full-off012d", "full, searched recipe with the offset lift, noise and dropout"))
# the fixed-rig archive's runs (OUT/hdm05-h36m.npz: every take filmed by Human3.6M's four cameras),
# in tables of their own: their tests are other images of the same takes; (key, label, the name of its
# ratio over rig-full, None for rig-full itself)
RIG_GROUPS = (("rig-weak", "weak (small-weak), fixed rig", "weak"),
              ("rig-full", "full, searched recipe, fixed rig", None),
              ("rig-cosine", "weak, small-weak with the cosine rate (--lr-schedule cosine), fixed rig", "cosine rate"),
              ("rig-geo6", "weak, small-weak with the cosine rate and --w-geo 6, fixed rig", "cosine rate, w_geo 6"),
              ("rig-ema998", "weak, small-weak with --ema 0.998, fixed rig", "EMA 0.998"),
              ("rig-adv2d", "weak, orthographic small-weak with the random-projection critic (4900 steps), fixed rig", "random-projection critic"),
              ("rig-b64", "weak, orthographic small-weak with batch 64 (8000 steps), fixed rig", "batch 64"),
              ("rig-nc3", "weak, orthographic small-weak with three critic steps (5000 steps), fixed rig", "three critic steps"),
              ("rig-kcs512", "weak, orthographic small-weak with the critic's KCS path 512 wide (4900 steps), fixed rig", "KCS path 512"),
              ("rig-ortho", "weak, orthographic small-weak (--perspective 0), fixed rig", "orthographic"),
              ("rig-k02", "weak, small-weak with --perspective 0.2 (half the rig's), fixed rig", "K 0.2"),
              ("rig-k08", "weak, small-weak with --perspective 0.8 (twice the rig's), fixed rig", "K 0.8"),
              ("rig-adv2dp", "weak, small-weak with the random-projection critic (4900 steps), fixed rig", "random-projection critic, perspective"))
# weak / full ratios: the benchmark's, small-weak before its constant rate, before its perspective, and
# what this page first reported
PAIRS = (("weak", "full-tuned"), ("weak-cosine", "full-tuned"), ("weak-ortho", "full-tuned"),
         ("weak-depth", "full-cosine"))
METRICS = ("mpjpe", "n_mpjpe", "p_mpjpe")
HDM05_CLASSES = {"depositFloorR", "elbowToKnee1RepsLelbowStart", "grabHighR", "hopBothLegs1hops",
                 "jogLeftCircle4StepsRstart", "kickLFront1Reps", "lieDownFloor", "rotateArmsBothBackward1Reps",
                 "sneak2StepsLStart", "squat1Reps", "throwBasketball"}


def _part(result, hdm05: bool, metric: str):
    """A metric over the per-action rows of HDM05's classes (or the others), weighted by frames."""
    cells = [c for c in result["cells"] if (c["action"] in HDM05_CLASSES) == hdm05]
    n = sum(c["count"] for c in cells)
    return sum(c[metric] * c["count"] for c in cells) / n if n else None


def _ms(values, digits=1) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def _cell(runs, test: str, metrics) -> str:
    """'mean +- std / ...' of the model's metrics over all frames of one test, over the runs."""
    return " / ".join(_ms([r[test]["model"]["All frames"][m] for r in runs if r[test]]) for m in metrics)


def _eval(run: Path, name: str):
    f = run.with_name(f"{run.name}.{name}.json")
    return json.loads(f.read_text())["results"] if f.is_file() else None


def _run(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [(r["step"], r["val_n_mpjpe"]) for r in rows if "val_n_mpjpe" in r]
    out = {"steps": rows[-1]["step"], "minutes": rows[-1]["minutes"], "val": min(v for _, v in val),
           "steps_5": next(step for step, v in val if v <= 1.05 * val[-1][1])}
    for name in ("test", "test-seen", "train", "noise-5", "noise-10", "drop-1", "detector"):
        out[name] = _eval(run, name)
        out[name + "-refined"] = _eval(run, name + "-refined")   # lifted twice where noisy, if evaluated so
    return out


def refined(runs) -> list:
    """The runs' evaluations lifted twice where noisy (RUN.<test>-refined.json) in the plain ones'
    places; [] unless every run has them."""
    if not all(r["test-refined"] for r in runs):
        return []
    return [{**r, **{k[:-len("-refined")]: v for k, v in r.items() if k.endswith("-refined")}} for r in runs]


def _groups(root: Path, keys) -> dict:
    """{key: (label, runs)} of the groups with evaluated runs (RUN.test.json: a run still training has
    none yet); a group's runs are the folders KEY-sN exactly ("weak-s*" would take weak-spread12-s0)."""
    groups = {}
    for key, label in keys:
        runs = [_run(p) for p in sorted(root.glob(f"{key}-s*")) if re.fullmatch(rf"{re.escape(key)}-s\d+", p.name)
                and p.is_dir() and p.with_name(f"{p.name}.test.json").is_file()]
        if runs:
            groups[key] = (label, runs)
    return groups


def mean(runs, test, metric="n_mpjpe", who="model"):
    """The mean over the runs of one metric over all frames of one test (None where none has it)."""
    v = [r[test][who]["All frames"][metric] for r in runs if r[test]]
    return statistics.mean(v) if v else None


def main(folder: str) -> None:
    root = Path(folder)
    groups, rig = _groups(root, GROUPS), _groups(root, [(key, label) for key, label, _ in RIG_GROUPS])
    if not groups and not rig:
        raise SystemExit(f"error: {folder}: no weak-sN, full-*-sN or rig-*-sN run folders")
    if groups:
        archive_tables(groups)
    if rig:
        rig_table(rig)


def archive_tables(groups: dict) -> None:
    """The tables of the runs on the archive's tests (OUT/hdm05.npz)."""
    print("| runs | seeds | steps | minutes | steps to 5 % | val N-MPJPE | test MPJPE / N / P "
          "| test-seen MPJPE / N / P |")
    print("|:--|--:|--:|--:|--:|--:|--:|--:|")
    for label, runs in groups.values():
        cells = [_cell(runs, t, METRICS) for t in ("test", "test-seen")]
        print(f"| {label} | {len(runs)} | {_ms([r['steps'] for r in runs], 0)} | {_ms([r['minutes'] for r in runs])} "
              f"| {_ms([r['steps_5'] for r in runs], 0)} | {_ms([r['val'] for r in runs])} | {cells[0]} | {cells[1]} |")
    first = next(iter(groups.values()))[1][0]
    for who in ("zero depth", "mean pose"):
        cells = [" / ".join(f"{first[t][who]['All frames'][m]:.1f}" for m in METRICS) if first[t] else "-"
                 for t in ("test", "test-seen")]
        print(f"| {who} | | | | | | {cells[0]} | {cells[1]} |")

    pairs = [(w, f) for w, f in PAIRS if w in groups and f in groups]
    if pairs:
        print("\n| weak / tuned full | N-MPJPE | P-MPJPE |")
        print("|:--|--:|--:|")
    for wk, fk in pairs:
        w, f = groups[wk][1], groups[fk][1]
        for test, what in (("test", "new people (test)"), ("test-seen", "new takes of seen people (test-seen)"),
                           ("train", "the training frames themselves (train, 6000 of them)")):
            ratios = []
            for m in ("n_mpjpe", "p_mpjpe"):
                a, b = mean(w, test, m), mean(f, test, m)
                ratios.append(f"{a / b:.2f}x" if a and b else "-")
            label = {"weak": what, "weak-cosine": f"{what}, small-weak with the cosine rate",
                     "weak-ortho": f"{what}, orthographic small-weak"}.get(
                wk, f"{what}, the runs first reported ({wk} / {fk})")
            print(f"| {label} | {ratios[0]} | {ratios[1]} |")

    print("\n| runs (N / P-MPJPE) | training frames (6000) | new takes (test-seen) | new people (test) |")
    print("|:--|--:|--:|--:|")
    for label, runs in groups.values():
        cells = [_cell(runs, t, ("n_mpjpe", "p_mpjpe")) for t in ("train", "test-seen", "test")]
        print(f"| {label} | " + " | ".join(cells) + " |")

    print("\n| runs (test-seen, N / P-MPJPE) | HDM05 takes | CMU takes |")
    print("|:--|--:|--:|")
    for label, runs in list(groups.values()) + [("zero depth", [first])]:
        who = "zero depth" if label == "zero depth" else "model"
        cells = [" / ".join(_ms([v for r in runs if r["test-seen"]
                                 for v in [_part(r["test-seen"][who], hdm05, m)] if v is not None])
                            for m in ("n_mpjpe", "p_mpjpe")) for hdm05 in (True, False)]
        print(f"| {label} | {cells[0]} | {cells[1]} |")

    print("\n| runs (test split, N-MPJPE) | exact 2D | 5 px noise | 10 px noise | one joint missing | detector-like |")
    print("|:--|--:|--:|--:|--:|--:|")
    rows = [(label, runs) for label, runs in groups.values()]
    rows += [(f"{label}, lifted twice where noisy", twice) for label, runs in groups.values() if (twice := refined(runs))]
    for label, runs in rows:
        exact = mean(runs, "test")
        cells = [_cell(runs, "test", ("n_mpjpe",))]
        for name in ("noise-5", "noise-10", "drop-1", "detector"):
            v = mean(runs, name)
            cells.append(f"{v:.1f} ({v / exact:.2f}x)" if v and exact else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")


def rig_table(rig: dict) -> None:
    """The fixed rig's runs (OUT/hdm05-h36m.npz) on its own tests and training frames."""
    print("\n| fixed rig (N / P-MPJPE) | steps | minutes | val N-MPJPE | training frames (6000) "
          "| new takes (test-seen) | new people (test) |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    rows = list(rig.values()) + [(f"{label}, lifted twice where noisy", twice)
                                 for label, runs in rig.values() if (twice := refined(runs))]
    for label, runs in rows:
        cells = [_cell(runs, t, ("n_mpjpe", "p_mpjpe")) for t in ("train", "test-seen", "test")]
        print(f"| {label} ({len(runs)} seed{'s' * (len(runs) > 1)}) | {_ms([r['steps'] for r in runs], 0)} "
              f"| {_ms([r['minutes'] for r in runs])} | {_ms([r['val'] for r in runs])} | " + " | ".join(cells) + " |")
    for key, _, name in RIG_GROUPS:
        if name is None or key not in rig or "rig-full" not in rig:
            continue
        w, f = rig[key][1], rig["rig-full"][1]
        cells = []
        for t in ("train", "test-seen", "test"):
            ratio = [mean(w, t, m) / mean(f, t, m) if mean(w, t, m) and mean(f, t, m) else None
                     for m in ("n_mpjpe", "p_mpjpe")]
            cells.append(" / ".join(f"{x:.2f}x" if x else "-" for x in ratio))
        print(f"| {name} / full | | | | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.strip().splitlines()[2])
    main(sys.argv[1])
