"""Training for what a detector gives (``--aug-noise-2d``, ``--aug-drop-joints``): the inputs'
corruption, the missing token it turns on, weak and full runs that resume exactly, the weak step's
treatment of missing joints (no weight in L_rep, no NaN into the camera net), runs without the
options untouched, and bad values refused in one line."""
import numpy as np
import pytest

from gatepose.data.augment import corrupt_inputs
from gatepose.data.normalize import normalize
from gatepose.data.prepare import prepare_data
from gatepose.errors import GateposeError
from gatepose.losses import generator_loss
from gatepose.options import PRESETS, TrainOptions
from gatepose.runs import load_checkpoint, load_run
from gatepose.train import Trainer
from gatepose.training import train
from helpers import TINY_TRAIN, assert_refused, invoke

TINY = {**TINY_TRAIN, "eval_every": 2, "checkpoint_every": 2}


def tiny(**kw):
    return TrainOptions(**{**TINY, **kw})


def test_corrupt_inputs():
    rng = np.random.default_rng(0)
    W = normalize(rng.standard_normal((4000, 17, 2)))[0]
    out = corrupt_inputs(W, np.random.default_rng(1), noise=0.0, drop=0.25)
    miss = np.isnan(out[..., 0])
    assert (miss.sum(axis=1) >= 0).all() and ((~miss).sum(axis=1) >= 2).all()
    assert abs(miss.mean() - 0.25) < 0.01
    np.testing.assert_array_equal(np.isnan(out[..., 1]), miss)
    noisy = corrupt_inputs(W, np.random.default_rng(1), noise=0.05)
    # 0.05 per coordinate of a unit-norm pose; made root-relative again, a joint's error is its own
    # noise less the root's: a spread of 0.05 sqrt(2) (the rescaling moves it by a few per cent)
    assert abs((noisy - W)[:, 1:].std() / (0.05 * np.sqrt(2)) - 1) < 0.1
    np.testing.assert_allclose(np.sqrt((noisy ** 2).sum(axis=(1, 2))), 1.0)
    a = corrupt_inputs(W[:5], np.random.default_rng(7), 0.02, 0.3)
    np.testing.assert_array_equal(a, corrupt_inputs(W[:5], np.random.default_rng(7), 0.02, 0.3))


def test_noise_spread_draws_one_sigma_per_pose():
    """--aug-noise-spread: each pose's noise has its own sigma, uniform on [0, 2 SIGMA]: the poses'
    noise levels spread (some nearly clean) with the same mean; off, the draws are as before."""
    rng = np.random.default_rng(0)
    W = normalize(rng.standard_normal((4000, 17, 2)))[0]
    per_pose = lambda out: np.sqrt(((out - W)[:, 1:] ** 2).mean(axis=(1, 2)) / 2)   # sigma per pose, as above
    fixed = per_pose(corrupt_inputs(W, np.random.default_rng(1), noise=0.02))
    spread = per_pose(corrupt_inputs(W, np.random.default_rng(1), noise=0.02, spread=True))
    fixed, spread = fixed / fixed.mean(), spread / fixed.mean()      # in units of the mean level
    # (each pose's level is estimated from its few coordinates, made root-relative: a spread of its own)
    assert 0.6 < np.percentile(fixed, 5) and np.percentile(fixed, 95) < 1.6   # every pose near SIGMA
    assert np.percentile(spread, 5) < 0.2 and 1.8 < np.percentile(spread, 95) < 2.5   # [0, 2 SIGMA]
    assert abs(spread.mean() - 1) < 0.05
    assert 0.2 < (spread < 0.5).mean() < 0.32                        # about a quarter below SIGMA / 2
    np.testing.assert_array_equal(corrupt_inputs(W, np.random.default_rng(1), 0.0, 0.2, spread=True),
                                  corrupt_inputs(W, np.random.default_rng(1), 0.0, 0.2))


def test_without_the_options_nothing_is_drawn_and_no_token():
    opts = tiny()
    tr = Trainer(opts, prepare_data(opts), np)
    state = tr.rng_aug.bit_generator.state
    tr.iteration()
    assert tr.rng_aug.bit_generator.state == state
    assert "embed.M" not in tr.gen and "missing_token" not in tr.gcfg.to_dict()
    # the presets: 2D noise in the recommended weak recipe and in the supervised one for detector
    # inputs; joint dropout (the missing token, whose runs infer by the plain forward) only in the latter
    assert [p for p in PRESETS if PRESETS[p].get("aug_noise_2d")] == ["small-weak", "small-full-detector"]
    assert [p for p in PRESETS if PRESETS[p].get("aug_drop_joints")] == ["small-full-detector"]


@pytest.mark.parametrize("kw", [dict(aug_noise_2d=0.02, aug_drop_joints=0.2),
                                dict(aug_drop_joints=0.2, supervision="full", aug_noise_2d=0.02, aug_noise_spread=True),
                                dict(aug_drop_joints=0.2, aug_noise_2d=0.01, lift="depth", w_geo=1.0, aug_flip_2d=True),
                                dict(aug_drop_joints=0.3, generator="repnet", repnet_width=16, lift="depth")],
                         ids=["weak", "full", "weak-depth-geo", "repnet"])
def test_runs_with_missing_joints_resume_exactly_and_predict(tmp_path, kw):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny(steps=4, **kw), straight, np, progress=False)
    train(tiny(steps=2, **kw), split, np, progress=False)
    train(tiny(steps=4, **kw), split, np, resume=True, progress=False)
    a, _ = load_checkpoint(straight / "checkpoint.npz")
    b, _ = load_checkpoint(split / "checkpoint.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    run = load_run(straight)
    assert run.gcfg.missing_token
    if kw.get("generator") != "repnet":
        assert "embed.M" in run.gen
    W = np.random.default_rng(0).uniform(0, 300, (3, 17, 2))
    W[0, 3] = np.nan
    assert np.isfinite(run.predict_mm(W)).all()


def test_the_weak_step_gives_missing_joints_no_weight_and_the_camera_no_nan(monkeypatch):
    opts = tiny(aug_drop_joints=0.3)
    tr = Trainer(opts, prepare_data(opts), np, np.float64)
    W, _ = tr._inputs()
    assert np.isnan(W).any()
    import gatepose.losses as losses

    seen = {}
    real_cam, real_rep = losses.camera_forward, losses.reprojection_loss
    monkeypatch.setattr(losses, "camera_forward", lambda p, Wc, c: seen.setdefault("cam", Wc) is Wc and real_cam(p, Wc, c))
    monkeypatch.setattr(losses, "reprojection_loss", lambda a, b, w=None: seen.setdefault("w", w) is w and real_rep(a, b, w))
    values, grads_gen, grads_cam = generator_loss(tr.gen, tr.cam, tr.critic, W, tr.gcfg, tr.ccfg, tr.dcfg)
    assert np.isfinite(seen["cam"]).all() and (seen["cam"][np.isnan(W)] == 0).all()
    np.testing.assert_array_equal(seen["w"], ~np.isnan(W[..., 0]))
    assert all(np.isfinite(float(v)) for v in values)
    assert all(np.isfinite(g).all() for g in (*grads_gen.values(), *grads_cam.values()))
    # moving a missing joint's coordinate changes nothing (it is NaN: there is nothing to move),
    # and the loss equals the loss on W with the missing joints weighted out by hand
    W2 = np.where(np.isnan(W), 0.0, W)
    tok = tr.gcfg
    L_rep_manual = real_rep(W2, losses.project_forward(losses.generator_forward(tr.gen, W, tok)[0],
                                                       real_cam(tr.cam, W2, tr.ccfg)[0])[0], ~np.isnan(W[..., 0]))[0]
    assert float(values[1]) == pytest.approx(float(L_rep_manual), rel=1e-12)


@pytest.mark.parametrize("bad,match", [(dict(aug_noise_2d=-0.1), "--aug-noise-2d"),
                                       (dict(aug_noise_2d=float("inf")), "--aug-noise-2d"),
                                       (dict(aug_drop_joints=1.0), "--aug-drop-joints"),
                                       (dict(aug_drop_joints=-0.2), "--aug-drop-joints"),
                                       (dict(aug_drop_joints=float("nan")), "--aug-drop-joints")])
def test_bad_augment_options(tmp_path, bad, match):
    with pytest.raises(GateposeError, match=match):
        train(tiny(**bad), tmp_path / "r", np, progress=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args,match", [(["--aug-noise-2d", "-1"], "--aug-noise-2d"),
                                        (["--aug-drop-joints", "1"], "--aug-drop-joints"),
                                        (["--aug-drop-joints", "x"], "--aug-drop-joints")])
def test_bad_augment_options_on_the_command_line(tmp_path, args, match):
    out = tmp_path / "r"
    assert_refused(invoke("train", "--steps", "1", "--out", out, *args), match, not_written=[out])
