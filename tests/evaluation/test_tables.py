"""Tables in the paper's layouts: action families, column orders, and the three renderings."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gatepose.errors import GateposeError
from gatepose.metrics import aggregate
from gatepose.tables import (
    H36M_ACTIONS, Table, h36m_action_family, humaneva_action_family, render, table_ablation,
    table_by_action, table_subject_action,
)

FAST = settings(max_examples=20, deadline=None)
PAPER_COLUMNS = ["Direct", "Disc.", "Eat", "Greet", "Phone", "Photo", "Pose", "Purch.", "Sit",
                 "SitD", "Smoke", "Wait", "Walk", "WalkD", "WalkT"]
# Raw action names as they appear in the common Human3.6M preprocessing (S1, S9, S11 mixed).
H36M_RAW = ["Directions 1", "Directions", "Discussion 1", "Discussion 2", "Eating 2", "Eating",
            "Greeting", "Greeting 1", "Phoning 1", "Phoning", "TakingPhoto", "TakingPhoto 1",
            "Photo", "Photo 1", "Posing", "Posing 1", "Purchases", "Purchases 1", "Sitting 1",
            "Sitting 2", "SittingDown 2", "SittingDown", "Smoking", "Smoking 1", "Waiting 1",
            "Waiting", "Walking 1", "Walking", "WalkDog", "WalkDog 1", "WalkingDog", "WalkingDog 1",
            "WalkTogether 1", "WalkTogether"]


def test_h36m_action_family():
    assert h36m_action_family("Directions 1") == "Directions"
    assert h36m_action_family("SittingDown 2") == "SittingDown"
    assert h36m_action_family("Sitting 1") == "Sitting"
    assert h36m_action_family("TakingPhoto") == "Photo"
    assert h36m_action_family("Photo 1") == "Photo"
    assert h36m_action_family("WalkDog") == "WalkDog"
    assert h36m_action_family("WalkingDog 1") == "WalkDog"
    assert h36m_action_family("WalkTogether 1") == "WalkTogether"
    assert h36m_action_family("Walking") == "Walking"
    assert h36m_action_family("  Eating  2 ") == "Eating"
    assert h36m_action_family("walk") is None  # the synthetic source's names are not H36M's
    assert h36m_action_family("Jog 1") is None
    fams = {h36m_action_family(a) for a in H36M_RAW}
    assert fams == {f for f, _ in H36M_ACTIONS} and len(fams) == 15


def test_humaneva_action_family():
    assert humaneva_action_family("Walking 1 chunk0") == "Walk"
    assert humaneva_action_family("Jog 1 chunk2") == "Jog"
    assert humaneva_action_family("Box 1") == "Box"
    assert humaneva_action_family("Directions 1") is None


def h36m_result(seed=0, per_action=3):
    rng = np.random.default_rng(seed)
    acts = np.repeat(np.array(H36M_RAW), per_action)
    subs = rng.choice(["S9", "S11"], size=len(acts))
    err = {m: rng.random(len(acts)) * 100 for m in ("mpjpe", "n_mpjpe", "p_mpjpe")}
    return aggregate(err, acts, subs, by=("subject", "action")), err, acts


def test_table_by_action_h36m_layout():
    res, err, acts = h36m_result()
    t = table_by_action(res)
    assert t.columns == ["Metric"] + PAPER_COLUMNS + ["Avg.", "All frames"]
    assert [r[0] for r in t.rows] == ["MPJPE", "N-MPJPE", "P-MPJPE", "Frames"]
    fam = np.array([h36m_action_family(a) for a in acts])
    for row, m in zip(t.rows[:3], ("mpjpe", "n_mpjpe", "p_mpjpe")):
        means = [err[m][fam == f].mean() for f, _ in H36M_ACTIONS]
        np.testing.assert_allclose(row[1:16], means)
        assert row[16] == pytest.approx(np.mean(means))  # Avg.: unweighted over the 15 actions
        assert row[17] == pytest.approx(err[m].mean())  # All frames
    frames = t.rows[3]
    assert frames[1:16] == [int((fam == f).sum()) for f, _ in H36M_ACTIONS]
    assert frames[16] is None and frames[17] == len(acts)
    assert any("Avg." in n and "unweighted" in n for n in t.notes)


def test_table_by_action_other_actions_sorted_and_forced_order():
    err = np.array([1.0, 2.0, 3.0, 4.0])
    res = aggregate({"mpjpe": err}, np.array(["wave", "jump", "box", "jump"]))
    t = table_by_action(res)  # the missing metrics are skipped
    assert t.columns == ["Metric", "box", "jump", "wave", "Avg.", "All frames"]
    assert t.rows[0] == ["MPJPE", 3.0, 3.0, 1.0, pytest.approx(7.0 / 3), 2.5]
    t = table_by_action(res, action_order=["wave", "squat"])
    assert t.columns == ["Metric", "wave", "squat", "box", "jump", "Avg.", "All frames"]
    assert t.rows[0][2] is None and t.rows[1][2] == 0  # an absent action shows as empty
    with pytest.raises(GateposeError):
        table_by_action(res, metrics=("p_mpjpe",))


def humaneva_result():
    acts, subs, err = [], [], []
    for a, base in (("Walking 1 chunk0", 10.0), ("Walking 1 chunk1", 10.0), ("Jog 1", 20.0), ("Box 1", 30.0)):
        for k, s in enumerate(("Validate/S1", "Validate/S2", "Validate/S3")):
            acts += [a] * (k + 1)
            subs += [s] * (k + 1)
            err += [base + k] * (k + 1)
    return aggregate({"p_mpjpe": np.array(err)}, np.array(acts), np.array(subs), by=("subject", "action"))


def test_table_subject_action_humaneva_layout():
    t = table_subject_action(humaneva_result(), "p_mpjpe")
    assert t.columns == ["HumanEva-I"] + ["S1", "S2", "S3"] * 3 + ["Avg.", "All frames"]
    assert t.groups == ["Walk"] * 3 + ["Jog"] * 3 + ["Box"] * 3 + ["", ""]
    values, frames = t.rows
    assert values[0] == "P-MPJPE"
    assert values[1:10] == [10.0, 11.0, 12.0, 20.0, 21.0, 22.0, 30.0, 31.0, 32.0]
    assert values[10] == pytest.approx(21.0)  # unweighted over the 9 cells, as Table 2
    assert frames[1:10] == [2, 4, 6, 1, 2, 3, 1, 2, 3]  # Walk's two chunks merged
    md = render(t, "markdown")
    assert "| HumanEva-I | Walk S1 | Walk S2 | Walk S3 | Jog S1 |" in md
    text = render(t, "text").splitlines()
    group_line = text[1]
    assert group_line.split() == ["Walk", "Jog", "Box"]
    # Each group label starts where its first subject column starts (columns as the rule shows).
    rule = text[3]
    starts = [i for i in range(len(rule)) if rule[i] == "-" and (i == 0 or rule[i - 1] == " ")]
    assert [group_line.index(g) for g in ("Walk", "Jog", "Box")] == [starts[1], starts[4], starts[7]]
    with pytest.raises(GateposeError, match="subject"):
        table_subject_action(aggregate({"p_mpjpe": np.zeros(2)}, np.array(["a", "b"])), "p_mpjpe")


def test_table_ablation_layout():
    res_a, err, acts = h36m_result(seed=1)
    res_b, _, _ = h36m_result(seed=2)
    t = table_ablation({"Fix-attn": res_a, "Transformer": res_b, "Fix-bias": res_b, "PoseGate-Former": res_a})
    assert t.columns == ["Action", "Fix-attn", "Transformer", "Fix-bias", "PoseGate-Former"]
    assert [r[0] for r in t.rows] == PAPER_COLUMNS + ["Avg.", "All frames"]
    assert t.rows[-1][1] == pytest.approx(err["mpjpe"].mean())
    assert t.rows[-2][1] == pytest.approx(np.mean([r[1] for r in t.rows[:15]]))
    assert t.rows[0][1] == t.rows[0][4]


# --- rendering -------------------------------------------------------------------------------


def small_table(rng, n_rows, n_cols):
    cols = ["Row"] + [f"c{i}" + "x" * int(rng.integers(0, 6)) for i in range(n_cols)]
    rows = []
    for r in range(n_rows):
        vals = [float(v) for v in rng.random(n_cols) * 10 ** rng.integers(0, 4, n_cols)]
        if n_cols > 1:
            vals[int(rng.integers(n_cols))] = None
        rows.append([f"r{r}" * int(rng.integers(1, 4))] + vals)
    rows.append(["Frames"] + [int(v) for v in rng.integers(0, 100000, n_cols)])
    return Table(title="t", columns=cols, rows=rows, notes=["a note"])


@FAST
@given(n_rows=st.integers(1, 6), n_cols=st.integers(1, 18), seed=st.integers(0, 2**31 - 1))
def test_render_round_trips(n_rows, n_cols, seed):
    t = small_table(np.random.default_rng(seed), n_rows, n_cols)
    # JSON parses back to the same cells.
    d = json.loads(render(t, "json"))
    assert d["columns"] == t.columns and d["title"] == "t"
    assert len(d["rows"]) == len(t.rows)
    for got, want in zip(d["rows"], t.rows):
        assert got[0] == want[0]
        assert got[1:] == [None if v is None else pytest.approx(v) for v in want[1:]]
    # Markdown: header, then a separator with the same number of columns, then one line per row.
    lines = [ln for ln in render(t, "markdown").splitlines() if ln.startswith("|")]
    ncol = len(t.columns)
    assert lines[0].count("|") == ncol + 1
    cells = lines[1].strip("|").split("|")
    assert len(cells) == ncol and all(set(c.strip()) <= set(":-") and "-" in c for c in cells)
    assert len(lines) == 2 + len(t.rows)
    assert all(ln.count("|") == ncol + 1 for ln in lines)
    # Text: the header, rule and rows share column boundaries; every column ends at one place.
    text = render(t, "text").splitlines()
    block = text[1:3 + len(t.rows)]  # title first, notes last
    rule = block[1]
    assert set(rule) <= {"-", " "} and len(rule.split()) == ncol
    ends = [i for i in range(len(rule)) if rule[i] == "-" and (i + 1 == len(rule) or rule[i + 1] == " ")]
    for ln in block[2:] + [block[0]]:
        assert len(ln) == len(rule)
        for e in ends[1:]:  # right-aligned columns end exactly at the rule's end
            assert ln[e] != " " and (e + 1 == len(ln) or ln[e + 1] == " ")


def test_render_formats_and_missing_values():
    t = Table(title="", columns=["M", "a", "b"], rows=[["x", 1.234, None], ["n", 3, float("nan")]])
    text = render(t, "text")
    assert "1.2" in text and "-" in text.splitlines()[2]
    assert "1.23" in render(t, "text", decimals=2)
    d = json.loads(render(t, "json"))
    assert d["rows"] == [["x", 1.234, None], ["n", 3, None]]
    with pytest.raises(GateposeError, match="format"):
        render(t, "html")


def test_render_paper_table_in_all_formats():
    res, _, _ = h36m_result()
    t = table_by_action(res)
    md = render(t, "markdown").splitlines()
    header = next(ln for ln in md if ln.startswith("|"))
    assert header.startswith("| Metric | Direct | Disc. | Eat |") and header.endswith("| Avg. | All frames |")
    assert json.loads(render(t, "json"))["columns"][-2:] == ["Avg.", "All frames"]
    assert "WalkT" in render(t, "text")


def test_detect_layout_from_the_labels():
    from gatepose.tables import detect_layout, evaluation_by_layout

    assert detect_layout(["Directions 1", "TakingPhoto", "WalkDog"], ["S9", "S11"]) == "h36m"
    assert detect_layout(["Walking 1 chunk0", "Box 1"], ["Validate/S1", "Validate/S3"]) == "humaneva"
    assert detect_layout(["Walking 1 chunk0"], ["S4"]) == "generic"          # not a HumanEva-I subject
    assert detect_layout(["walk", "kick"], ["S1"]) == "generic"
    assert detect_layout([], []) == "generic"
    assert evaluation_by_layout("humaneva") == ("subject", "action")
    assert evaluation_by_layout("h36m") == evaluation_by_layout("generic") == ("action",)
