"""Result tables in the paper's layouts, rendered as aligned text, Markdown or JSON.

- :func:`table_by_action`: Table 1 (Human3.6M): rows = metrics (and frames), columns = actions,
  then 'Avg.' (unweighted over actions, as in the paper) and 'All frames' (frame-weighted).
- :func:`table_subject_action`: Table 2 (HumanEva-I): actions as column groups, subjects under
  each, then 'Avg.' (unweighted over the subject x action cells) and 'All frames'.
- :func:`table_ablation`: Table 3: rows = actions, then 'Avg.' and 'All frames'; one column per
  attention variant.
- :func:`baseline_table`: the model beside the two trivial baselines, Avg. and All frames per metric.
- :func:`detect_layout` picks a test set's layout from its labels; :func:`evaluation_tables`
  builds what `gatepose eval` prints for it.
Human3.6M action names ('Directions 1', 'TakingPhoto', 'WalkDog', ...) are merged into the paper's
15 families with frame-weighted means; HumanEva-I names ('Walking 1 chunk0') into Walk, Jog, Box.
Any other action set keeps its labels, in sorted order.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .errors import GateposeError
from .metrics import METRIC_LABELS, METRICS, Result

# The paper's Table 1 order: (family, short column name).
H36M_ACTIONS = (
    ("Directions", "Direct"), ("Discussion", "Disc."), ("Eating", "Eat"), ("Greeting", "Greet"),
    ("Phoning", "Phone"), ("Photo", "Photo"), ("Posing", "Pose"), ("Purchases", "Purch."),
    ("Sitting", "Sit"), ("SittingDown", "SitD"), ("Smoking", "Smoke"), ("Waiting", "Wait"),
    ("Walking", "Walk"), ("WalkDog", "WalkD"), ("WalkTogether", "WalkT"),
)
H36M_SHORT = dict(H36M_ACTIONS)
_H36M_ALIASES = {fam.lower(): fam for fam, _ in H36M_ACTIONS}
_H36M_ALIASES.update({
    "takingphoto": "Photo", "walkingdog": "WalkDog", "walkingtogether": "WalkTogether",
    "phone": "Phoning", "purchase": "Purchases", "direction": "Directions",
})

HUMANEVA_ACTIONS = ("Walk", "Jog", "Box")
HUMANEVA_SUBJECTS = ("S1", "S2", "S3")
_HUMANEVA_ALIASES = {"walking": "Walk", "walk": "Walk", "jog": "Jog", "jogging": "Jog",
                     "box": "Box", "boxing": "Box", "gestures": "Gestures", "throwcatch": "ThrowCatch"}


def h36m_action_family(name: str) -> str | None:
    """The Human3.6M action family of a raw action name, or None if it is not one.

    Trailing sequence numbers and separators are stripped and case and spacing are ignored:
    'Directions 1' -> 'Directions', 'SittingDown 2' -> 'SittingDown', 'TakingPhoto' and
    'Photo 1' -> 'Photo', 'WalkDog' and 'WalkingDog' -> 'WalkDog'.
    """
    base = re.sub(r"[\s_.\-\d]+$", "", str(name).strip())
    key = re.sub(r"[\s_\-]+", "", base).lower()
    return _H36M_ALIASES.get(key)


def humaneva_action_family(name: str) -> str | None:
    """'Walking 1 chunk0' -> 'Walk', 'Jog 1' -> 'Jog', 'Box 1 chunk2' -> 'Box'; None otherwise."""
    m = re.match(r"\s*([A-Za-z]+)", str(name))
    return _HUMANEVA_ALIASES.get(m.group(1).lower()) if m else None


def humaneva_subject(name: str) -> str:
    """'Validate/S1' and 'Train/S1' -> 'S1' (the table merges the two splits' labels)."""
    return str(name).rsplit("/", 1)[-1]


@dataclass
class Table:
    """A rendered-agnostic table.

    columns: headers, the first being the row-label column's. rows: [label, value, ...] with values
    float, int or None (shown as '-'). groups: optional group label per data column (HumanEva's
    actions over subjects; '' for none): text prints each group once above its first column,
    Markdown joins it to the header ('Walk S1'). notes: lines printed below.
    """

    title: str
    columns: list[str]
    rows: list[list]
    groups: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {
            "title": self.title,
            "columns": list(self.columns),
            "groups": list(self.groups) if self.groups else None,
            "rows": [[r[0]] + [clean(v) for v in r[1:]] for r in self.rows],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# Action families and orders


def _action_mapping(labels: Sequence[str]):
    """(relabel function or None, ordered family list, display-name function) for an action set."""
    labels = list(labels)
    if labels and all(h36m_action_family(a) for a in labels):
        fams = {h36m_action_family(a) for a in labels}
        order = [f for f, _ in H36M_ACTIONS if f in fams]
        return h36m_action_family, order, lambda f: H36M_SHORT.get(f, f)
    if labels and all(humaneva_action_family(a) for a in labels):
        fams = {humaneva_action_family(a) for a in labels}
        order = [f for f in HUMANEVA_ACTIONS if f in fams] + sorted(fams - set(HUMANEVA_ACTIONS))
        return humaneva_action_family, order, str
    return None, sorted(set(labels)), str


def _order(present: Sequence[str], default_order: Sequence[str], action_order) -> list[str]:
    """action_order (when given) first, missing ones included as empty columns; the rest after."""
    if action_order is None:
        return list(default_order)
    forced = [str(a) for a in action_order]
    return forced + sorted(set(present) - set(forced))


def _by_action(result: Result):
    """The result merged to one cell per action family, its order and display names."""
    relabel, order, show = _action_mapping(result.labels("action"))
    r = result if result.by == ("action",) and relabel is None else \
        result.regroup(by=("action",), action=relabel)
    return r, order, show


def _avg_notes(result: Result, what: str) -> list[str]:
    return [
        f"Avg. = unweighted mean over the {len(result.keys)} {what} (as in the paper's tables); "
        f"All frames = mean over all {result.n_frames} frames.",
        "Errors in mm.",
    ]


# ---------------------------------------------------------------------------------------------
# The three layouts


def table_by_action(result: Result, metrics: Sequence[str] = ("mpjpe", "n_mpjpe", "p_mpjpe"),
                    action_order: Sequence[str] | None = None, title: str = "") -> Table:
    """Table 1 layout: rows = metrics then 'Frames'; columns = actions, 'Avg.', 'All frames'.

    Subject x action results are merged over subjects. action_order, if given, names columns in
    the result's action labels after family merging (e.g. 'Directions', 'Walking').
    """
    metrics = [m for m in metrics if m in result.metrics]
    if not metrics:
        raise GateposeError(f"table_by_action: none of the requested metrics are in the result ({result.metrics})")
    r, order, show = _by_action(result)
    actions = _order([k[0] for k in r.keys], order, action_order)
    cells = {k[0]: r.cell(k) for k in r.keys}
    rows = []
    for m in metrics:
        rows.append([METRIC_LABELS.get(m, m)] + [cells[a][m] if a in cells else None for a in actions]
                    + [r.avg[m], r.all_frames[m]])
    rows.append(["Frames"] + [cells[a]["count"] if a in cells else 0 for a in actions]
                + [None, r.n_frames])
    return Table(title=title or "Per-action error (mm)",
                 columns=["Metric"] + [show(a) for a in actions] + ["Avg.", "All frames"],
                 rows=rows, notes=_avg_notes(r, "actions"))


def table_subject_action(result: Result, metric: str = "p_mpjpe", title: str = "") -> Table:
    """Table 2 layout (HumanEva-I): one row of ``metric`` and one of frame counts; columns are
    actions as groups (Walk, Jog, Box first) with subjects under each, then 'Avg.' (unweighted
    over the subject x action cells) and 'All frames'."""
    if result.by != ("subject", "action"):
        raise GateposeError(f"table_subject_action: needs a result aggregated by ('subject', 'action'), got {result.by}")
    if metric not in result.metrics:
        raise GateposeError(f"table_subject_action: metric {metric!r} is not in the result ({result.metrics})")
    relabel, order, show = _action_mapping(result.labels("action"))
    r = result.regroup(action=relabel, subject=humaneva_subject)
    subjects = r.labels("subject")
    columns, groups, values, counts = ["HumanEva-I"], [], [METRIC_LABELS.get(metric, metric)], ["Frames"]
    for a in order:
        for s in subjects:
            c = r.cell((s, a))
            columns.append(s)
            groups.append(show(a))
            values.append(c[metric] if c else None)
            counts.append(c["count"] if c else 0)
    columns += ["Avg.", "All frames"]
    groups += ["", ""]
    values += [r.avg[metric], r.all_frames[metric]]
    counts += [None, r.n_frames]
    return Table(title=title or f"{METRIC_LABELS.get(metric, metric)} per subject and action (mm)",
                 columns=columns, rows=[values, counts], groups=groups,
                 notes=_avg_notes(r, "subject x action cells"))


def table_ablation(results: Mapping[str, Result], metric: str = "mpjpe", title: str = "") -> Table:
    """Table 3 layout: rows = actions, then 'Avg.' and 'All frames'; one column per variant."""
    if not results:
        raise GateposeError("table_ablation: no results given")
    for name, res in results.items():
        if metric not in res.metrics:
            raise GateposeError(f"table_ablation: variant {name!r} has no metric {metric!r} ({res.metrics})")
    all_labels = sorted({a for res in results.values() for a in res.labels("action")})
    relabel, order, show = _action_mapping(all_labels)
    merged = {n: res.regroup(by=("action",), action=relabel) for n, res in results.items()}
    names = list(merged)
    rows = []
    for a in order:
        row = [show(a)]
        for n in names:
            c = merged[n].cell((a,))
            row.append(c[metric] if c else None)
        rows.append(row)
    rows.append(["Avg."] + [merged[n].avg[metric] for n in names])
    rows.append(["All frames"] + [merged[n].all_frames[metric] for n in names])
    notes = ["Avg. = unweighted mean over each variant's actions (as in the paper's tables); "
             "All frames = mean over all its frames.", "Errors in mm."]
    return Table(title=title or f"Ablation: {METRIC_LABELS.get(metric, metric)} per action (mm)",
                 columns=["Action"] + names, rows=rows, notes=notes)


def baseline_table(results: Mapping[str, Result],
                   title: str = "Model and trivial baselines on the same frames (mm)") -> Table:
    """Rows: one per result (the model, then 'mean pose' and 'zero depth' as evaluate_run names
    them); per metric two columns, its Avg. (over the by-action table's actions, families merged
    as there) and All frames."""
    columns, groups, rows = ["Method"], [], []
    for m in METRICS:
        columns += ["Avg.", "All frames"]
        groups += [METRIC_LABELS[m]] * 2
    for name, res in results.items():
        t = table_by_action(res)
        row = [name]
        for m in METRICS:
            r = next(r for r in t.rows if r[0] == METRIC_LABELS[m])
            row += [r[-2], r[-1]]
        rows.append(row)
    n = next(iter(results.values())).n_frames
    notes = [f"Avg. = unweighted mean over actions; All frames = mean over all {n} frames. "
             "mean pose: the training set's mean 3D pose for every frame; zero depth: the input 2D pose "
             "with z = 0. Both scaled to mm like the model."]
    return Table(title=title, columns=columns, rows=rows, groups=groups, notes=notes)


# ---------------------------------------------------------------------------------------------
# Which layout a test set gets


def detect_layout(actions: Sequence[str], subjects: Sequence[str]) -> str:
    """'h36m' (every action a Human3.6M family), 'humaneva' (HumanEva-I subjects S1-S3 with its
    actions Walk/Jog/Box...), or 'generic', for a test set's action and subject labels."""
    actions = sorted(set(map(str, actions)))
    if actions and all(h36m_action_family(a) for a in actions):
        return "h36m"
    subjects = {humaneva_subject(s) for s in set(map(str, subjects))}
    if actions and all(humaneva_action_family(a) for a in actions) and subjects <= set(HUMANEVA_SUBJECTS):
        return "humaneva"
    return "generic"


def evaluation_by_layout(layout: str) -> tuple[str, ...]:
    """How evaluate_run should aggregate for ``layout``: by subject and action for HumanEva-I
    (Table 2), by action otherwise."""
    return ("subject", "action") if layout == "humaneva" else ("action",)


def evaluation_tables(results: Mapping[str, Result], layout: str) -> dict[str, Table]:
    """The tables `gatepose eval` prints for evaluate_run's ``results`` ('model' and the baselines):
    the model's errors in ``layout``'s paper table ('by_action', and for HumanEva-I first
    'subject_action'), then 'baselines', then N-MPJPE and P-MPJPE per action for the model and the
    baselines side by side ('baselines_by_action_n_mpjpe', '..._p_mpjpe')."""
    model = results["model"]
    tables = {}
    if layout == "h36m":
        tables["by_action"] = table_by_action(model, action_order=[f for f, _ in H36M_ACTIONS],
                                              title="Human3.6M, per action (mm), as in the paper's Table 1")
    elif layout == "humaneva":
        tables["subject_action"] = table_subject_action(
            model, "p_mpjpe", title="HumanEva-I, P-MPJPE per subject and action (mm), as in the paper's Table 2")
        tables["by_action"] = table_by_action(model, title="HumanEva-I, per action, subjects merged (mm)")
    else:
        tables["by_action"] = table_by_action(model, title="Per-action error (mm)")
    tables["baselines"] = baseline_table(results)
    # per action against the baselines: where a model beats zero depth and where it does not
    # (held-out kinds of motion) is invisible in the averages
    for m in ("n_mpjpe", "p_mpjpe"):
        tables[f"baselines_by_action_{m}"] = table_ablation(
            results, m, title=f"{METRIC_LABELS[m]} per action, model and trivial baselines (mm)")
    return tables


# ---------------------------------------------------------------------------------------------
# Rendering


def _fmt(v, decimals: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{decimals}f}" if math.isfinite(v) else "-"
    return str(v)


def _text(table: Table, decimals: int) -> str:
    header = [str(c) for c in table.columns]
    body = [[str(r[0])] + [_fmt(v, decimals) for v in r[1:]] for r in table.rows]
    grid = [header] + body
    group_line = None
    if table.groups:
        # Each group's label once, over its first column.
        group_line = [""] + [g if i == 0 or g != table.groups[i - 1] else ""
                             for i, g in enumerate(table.groups)]
        grid = [group_line] + grid
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]

    def line(cells, left_first=True, left_all=False):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.ljust(w) if (i == 0 and left_first) or left_all else c.rjust(w))
        return "  ".join(out).rstrip()

    lines = [table.title] if table.title else []
    if group_line:
        lines.append(line(group_line, left_all=True))
    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(r) for r in body]
    lines += table.notes
    return "\n".join(lines) + "\n"


def _markdown(table: Table, decimals: int) -> str:
    def esc(s):
        return str(s).replace("|", r"\|")

    groups = [""] + list(table.groups) if table.groups else [""] * len(table.columns)
    header = [esc(f"{g} {c}" if g else c) for g, c in zip(groups, table.columns)]
    sep = [":---"] + ["---:"] * (len(header) - 1)
    lines = [f"**{esc(table.title)}**", ""] if table.title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(sep) + "|")
    for r in table.rows:
        lines.append("| " + " | ".join([esc(r[0])] + [_fmt(v, decimals) for v in r[1:]]) + " |")
    if table.notes:
        lines.append("")
        lines += table.notes
    return "\n".join(lines) + "\n"


def render(table: Table, fmt: str = "text", decimals: int = 1) -> str:
    """The table as 'text' (aligned columns), 'markdown' (a GitHub table) or 'json' (a dict)."""
    if fmt == "text":
        return _text(table, decimals)
    if fmt == "markdown":
        return _markdown(table, decimals)
    if fmt == "json":
        return json.dumps(table.to_dict(), indent=2) + "\n"
    raise GateposeError(f"render: unknown format {fmt!r}; expected text, markdown or json")
