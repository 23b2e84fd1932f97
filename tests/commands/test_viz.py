"""`gatepose plot poses|attention|curves` and gatepose.viz: PNGs are written; a missing matplotlib
is one clear line."""
import json
import sys

import numpy as np
import pytest

from gatepose.errors import GateposeError
from helpers import assert_refused, invoke

PNG = b"\x89PNG\r\n\x1a\n"
@pytest.fixture(scope="module")
def run_dir(tiny_run):
    return tiny_run




def _is_png(path, min_size=(300, 200)):
    data = path.read_bytes()
    assert data[:8] == PNG
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert w >= min_size[0] and h >= min_size[1]
    return w, h


def test_plot_poses(run_dir, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "poses.png"
    r = invoke("plot", "poses", "--run", run_dir, "--n", 2, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    w, h = _is_png(out)
    assert h > w / 2  # two rows of three panels


@pytest.mark.parametrize("attention, applied", [("gated", False), ("gated", True)])
def test_plot_attention(run_dir, tmp_path, attention, applied):
    pytest.importorskip("matplotlib")
    out = tmp_path / "att.png"
    args = ["plot", "attention", "--run", run_dir, "--index", 5, "--layer", 0, "--out", out, "--device", "cpu"]
    r = invoke(*(args + (["--applied"] if applied else [])))
    assert r.exit_code == 0, r.output
    _is_png(out)


def test_plot_attention_bad_index_and_layer(run_dir, tmp_path):
    pytest.importorskip("matplotlib")
    r = invoke("plot", "attention", "--run", run_dir, "--index", 10 ** 9, "--out", tmp_path / "a.png")
    assert_refused(r, "--index", "frames", progress=("device:",))
    r = invoke("plot", "attention", "--run", run_dir, "--layer", 3, "--out", tmp_path / "a.png")
    assert_refused(r, "--layer 3", "1 layer", progress=("device:",))


def test_plot_attention_maps_every_variant(tmp_path):
    """viz.plot_attention straight from attention_maps, for the variants with and without gates."""
    pytest.importorskip("matplotlib")
    from gatepose import viz
    from gatepose.nn.posegate import PoseGateConfig, attention_maps, init_posegate

    rng = np.random.default_rng(0)
    W = rng.standard_normal((1, 17, 2)).astype(np.float32)
    for variant in ("gated", "vanilla", "fixed", "scalar-gate"):
        cfg = PoseGateConfig(n_joints=17, d_model=8, n_heads=2, n_layers=2, d_ff=16, gate_hidden=4,
                              attention=variant)
        maps = attention_maps(init_posegate(cfg, rng), W, cfg)
        viz.plot_attention(tmp_path / f"{variant}.png", maps, "h36m17", layer=1)
        _is_png(tmp_path / f"{variant}.png")


def test_plot_curves(run_dir, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    r = invoke("plot", "curves", "--run", run_dir, "--out", out)
    assert r.exit_code == 0, r.output
    _is_png(out)


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    from gatepose import viz

    p = tmp_path / "metrics.jsonl"
    p.write_text(json.dumps({"step": 1, "loss_rep": 0.5}) + "\n" + '{"step": 2, "loss_')
    assert [r["step"] for r in viz.read_metrics(p)] == [1]
    with pytest.raises(GateposeError, match="no such file"):
        viz.read_metrics(tmp_path / "none.jsonl")


def test_curves_needs_a_run(tmp_path):
    pytest.importorskip("matplotlib")
    r = invoke("plot", "curves", "--run", tmp_path, "--out", tmp_path / "c.png")
    assert_refused(r, "metrics.jsonl")


def test_missing_matplotlib_is_one_line(run_dir, tmp_path, monkeypatch):
    # None in sys.modules makes `import matplotlib` raise ImportError, as if it were not installed.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for sub in (["poses"], ["attention"], ["curves"]):
        r = invoke("plot", *sub, "--run", run_dir, "--out", tmp_path / "x.png")
        line = assert_refused(r, not_written=[tmp_path / "x.png"], progress=True)
        assert line == "error: matplotlib is not installed: pip install 'gatepose[viz]'"


def test_plot_help_teaches():
    for sub in ([], ["poses"], ["attention"], ["curves"]):
        r = invoke("plot", *sub, "--help")
        assert r.exit_code == 0 and "gatepose plot" in r.output
