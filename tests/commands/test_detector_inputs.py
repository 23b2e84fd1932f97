"""`gatepose eval --noise-2d / --drop-joints / --detector-noise` and `gatepose predict` with missing
joints, on tiny runs with and without the missing-joint token; the fallback fill; bad values."""
import json

import numpy as np
import pytest

from gatepose.data.corrupt import fill_missing
from gatepose.options import TrainOptions
from gatepose.runs import load_run
from gatepose.training import train
from helpers import TINY_TRAIN, assert_one_error, assert_refused, invoke, stdout_of


@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("token") / "run"
    train(TrainOptions(steps=2, aug_drop_joints=0.2, aug_noise_2d=0.01, **TINY_TRAIN), d, np, progress=False)
    return d


def _eval(run, *args):
    r = invoke("eval", "--run", run, "--device", "cpu", "--format", "json", "--max-frames", "200", *args)
    assert r.exit_code == 0, r.output
    return json.loads(stdout_of(r)), r.output


@pytest.mark.parametrize("which", ["tiny_run", "token_run"])
@pytest.mark.parametrize("args", [[], ["--noise-2d", "5"], ["--drop-joints", "3"], ["--detector-noise"],
                                  ["--detector-noise", "--noise-2d", "2", "--drop-joints", "1", "--noise-seed", "4"]],
                         ids=["clean", "noise-2d", "drop-joints", "detector", "all"])
def test_eval_with_corrupted_inputs(request, which, args):
    run = request.getfixturevalue(which)
    d, _ = _eval(run, *args)
    assert d["n_frames"] == 200
    for name in ("model", "mean pose", "zero depth"):   # a NaN metric would be written as null
        avg = d["results"][name]["Avg."]
        assert avg and all(isinstance(v, float) and np.isfinite(v) for v in avg.values()), (name, avg)
    assert d["corruption"]["drop_joints"] == (int(args[args.index("--drop-joints") + 1]) if "--drop-joints" in args else 0)
    if args:
        again, _ = _eval(run, *args)
        assert again["results"] == d["results"]                 # the seed makes it repeatable
        clean, _ = _eval(run)
        assert clean["results"]["model"] != d["results"]["model"]


def test_a_noise_seed_changes_the_draws(tiny_run):
    a, _ = _eval(tiny_run, "--noise-2d", "5", "--noise-seed", "1")
    b, _ = _eval(tiny_run, "--noise-2d", "5", "--noise-seed", "2")
    assert a["results"]["model"] != b["results"]["model"]


@pytest.mark.parametrize("args,match", [(["--noise-2d", "-1"], "--noise-2d"), (["--noise-2d", "nan"], "--noise-2d"),
                                        (["--drop-joints", "16"], "--drop-joints"), (["--drop-joints", "-1"], "--drop-joints"),
                                        (["--noise-seed", "x"], "--noise-seed")])
def test_eval_bad_corruption_values(tiny_run, args, match):
    assert_refused(invoke("eval", "--run", tiny_run, "--device", "cpu", *args), match)


# -- the fallback fill ----------------------------------------------------------------------------------
def test_fill_missing_recovers_a_similar_pose():
    rng = np.random.default_rng(0)
    T = rng.standard_normal((17, 2))
    a = 3.0 * np.exp(0.7j)
    P = a * (T[:, 0] + 1j * T[:, 1]) + (40 + 20j)
    W = np.stack([P.real, P.imag], axis=-1)[None].repeat(2, axis=0)
    Wm = W.copy()
    Wm[0, [2, 5, 9]] = np.nan
    Wm[1, 0] = np.nan
    np.testing.assert_allclose(fill_missing(Wm, T), W, atol=1e-9)
    np.testing.assert_array_equal(fill_missing(W, T), W)


# -- predict -------------------------------------------------------------------------------------------
def _coco_npy(tmp_path, run, low_joints, n=3):
    """COCO (n, 17, 3) keypoints whose COCO joints listed in low_joints have confidence 0.1."""
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(100, 400, (n, 17, 2)), np.full((n, 17, 1), 0.9)], axis=2)
    for i, joints in low_joints.items():
        kp[i, joints, 2] = 0.1
    path = tmp_path / "kp.npy"
    np.save(path, kp)
    return path


@pytest.mark.parametrize("which", ["tiny_run", "token_run"])
def test_predict_infers_low_confidence_joints(request, tmp_path, which):
    run = request.getfixturevalue(which)
    src = _coco_npy(tmp_path, run, {1: [9]})     # pose 1's left wrist (COCO 9 -> h36m17 l_wrist)
    out = tmp_path / "out.json"
    r = invoke("predict", "--run", run, "--input", src, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "1 joints in 1 of 3 poses below confidence 0.3" in r.output and "inferred" in r.output
    assert ("missing-joint token" if which == "token_run" else "mean-pose fallback") in r.output
    d = json.loads(out.read_text())
    assert d["inferred"] == [[], ["l_wrist"], []]
    assert np.isfinite(np.asarray(d["poses"])).all()


def test_predict_ignores_a_missing_joints_detected_coordinates(tmp_path, token_run):
    """The detected coordinates of a joint below the threshold are not used: moving them changes nothing."""
    src = _coco_npy(tmp_path, token_run, {0: [9, 10]})
    kp = np.load(src)
    out_a, out_b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert invoke("predict", "--run", token_run, "--input", src, "--out", out_a, "--device", "cpu").exit_code == 0
    kp[0, [9, 10], :2] += 50.0
    np.save(src, kp)
    assert invoke("predict", "--run", token_run, "--input", src, "--out", out_b, "--device", "cpu").exit_code == 0
    np.testing.assert_array_equal(np.load(out_a), np.load(out_b))


def test_predict_refuses_a_detection_with_too_few_joints(tmp_path, tiny_run):
    src = _coco_npy(tmp_path, tiny_run, {2: list(range(5, 17))})   # body joints all below the threshold
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", tmp_path / "o.json", "--device", "cpu"],
                     "detection 2 has")


def test_predict_npy_with_nan_joints(tmp_path, tiny_run):
    W = np.random.default_rng(0).uniform(100, 400, (2, 17, 2))
    W[1, 4] = np.nan
    src, out = tmp_path / "p.npy", tmp_path / "o.json"
    np.save(src, W)
    r = invoke("predict", "--run", tiny_run, "--input", src, "--out", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["inferred"] == [[], ["l_hip"]]
    # an old run (no token) is given a pose without NaN exactly as before: normalize_2d's numbers
    from gatepose.data.normalize import normalize_2d

    np.testing.assert_array_equal(load_run(tiny_run).normalise_inputs(W[:1]), normalize_2d(W[:1])[0])
    W[0, :10] = np.nan
    np.save(src, W)
    assert_one_error(["predict", "--run", tiny_run, "--input", src, "--out", tmp_path / "o2.json", "--device", "cpu"], "pose 0 has 7 of 17")
