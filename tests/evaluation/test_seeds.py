"""Statistics over training seeds (gatepose ablate --seeds)."""
import math

import pytest

from gatepose.errors import GateposeError
from gatepose.seeds import beyond_spread, format_seed_table, seed_table, summarize


def test_summarize_mean_and_sample_std():
    s = summarize([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and math.isclose(s.std, 1.0)
    assert summarize([5.0]).std == 0.0
    with pytest.raises(GateposeError):
        summarize([])


def test_beyond_spread():
    ref = summarize([100.0, 101.0, 99.0])                   # std 1, se 1/sqrt(3)
    assert beyond_spread(summarize([110.0, 111.0, 109.0]), ref)
    assert not beyond_spread(summarize([101.0, 102.0, 100.0]), ref)   # 1 mm < 2 * sqrt(2/3)
    assert beyond_spread(summarize([110.0]), ref) is None


def test_seed_table_and_format():
    per = {"gated": [{"n_mpjpe": 100.0}, {"n_mpjpe": 102.0}, {"n_mpjpe": 98.0}],
           "vanilla": [{"n_mpjpe": 120.0}, {"n_mpjpe": 121.0}, {"n_mpjpe": 119.0}]}
    rows = seed_table(per, ["n_mpjpe"])
    g, v = rows
    assert g["diff"] is None and v["diff"] == 20.0 and v["beyond_spread"] is True
    text = format_seed_table(rows)
    assert "100.0 +- 2.0" in text and "+20.0 (beyond spread)" in text
    md = format_seed_table(rows, "markdown")
    assert md.startswith("| variant | seeds |") and md.count("\n") == 3
