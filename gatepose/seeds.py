"""Statistics over training seeds: mean and spread per variant and metric, and whether a variant's
difference to a reference (the gated model) is larger than that spread.

"Larger than its spread" means |mean_v - mean_ref| > 2 sqrt(s_v^2 / n_v + s_ref^2 / n_ref), twice
the standard error of the difference of the two means (s: the sample standard deviation over
seeds, ddof 1). With 3 seeds this is a screen, not a significance test: a difference that fails it
is inside the seed-to-seed noise, one that passes it is worth believing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import GateposeError


@dataclass(frozen=True)
class SeedStat:
    """One variant's metric over seeds."""

    values: tuple       # one per seed
    mean: float
    std: float          # sample standard deviation (ddof 1); 0 for one seed


def summarize(values) -> SeedStat:
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise GateposeError("seed statistics: no values")
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return SeedStat(tuple(float(x) for x in v), float(v.mean()), std)


def beyond_spread(a: SeedStat, ref: SeedStat) -> bool | None:
    """|mean_a - mean_ref| > 2 sqrt(s_a^2/n_a + s_ref^2/n_ref); None with fewer than 2 seeds on
    either side (no spread to compare with)."""
    if len(a.values) < 2 or len(ref.values) < 2:
        return None
    se = math.sqrt(a.std ** 2 / len(a.values) + ref.std ** 2 / len(ref.values))
    return abs(a.mean - ref.mean) > 2.0 * se


def seed_table(per_variant: dict, metrics, reference: str = "gated") -> list[dict]:
    """per_variant: variant -> list (one per seed) of {metric: value} -> one row per variant and
    metric: {variant, metric, mean, std, n, values, diff (mean - reference mean), beyond_spread}."""
    rows = []
    for variant, runs in per_variant.items():
        for m in metrics:
            st = summarize(r[m] for r in runs)
            row = {"variant": variant, "metric": m, "mean": st.mean, "std": st.std, "n": len(st.values),
                   "values": list(st.values), "diff": None, "beyond_spread": None}
            if reference in per_variant and variant != reference:
                ref = summarize(r[m] for r in per_variant[reference])
                row["diff"] = st.mean - ref.mean
                row["beyond_spread"] = beyond_spread(st, ref)
            rows.append(row)
    return rows


def format_seed_table(rows: list[dict], fmt: str = "text", reference: str = "gated") -> str:
    """The rows of :func:`seed_table` as text or markdown: mean +- std per variant (rows) and metric
    (columns), then the difference to ``reference`` and whether it is beyond the spread."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    cell = {(r["variant"], r["metric"]): r for r in rows}
    head = ["variant", "seeds"] + [f"{m} mean +- std" for m in metrics] + \
        [f"{m} - {reference}" for m in metrics]
    body = []
    for v in variants:
        line = [v, str(cell[(v, metrics[0])]["n"])]
        line += [f"{cell[(v, m)]['mean']:.1f} +- {cell[(v, m)]['std']:.1f}" for m in metrics]
        for m in metrics:
            r = cell[(v, m)]
            if r["diff"] is None:
                line.append("-")
            else:
                verdict = {True: "beyond spread", False: "within spread", None: "no spread"}[r["beyond_spread"]]
                line.append(f"{r['diff']:+.1f} ({verdict})")
        body.append(line)
    if fmt == "markdown":
        out = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(out)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    lines = ["  ".join(x.ljust(w) for x, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(b, widths)) for b in body]
    return "\n".join(lines)
