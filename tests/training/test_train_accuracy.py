"""The trainer's accuracy options: full supervision, self-consistency, augmentations, the moving
average of the generator, wall-clock minutes in metrics.jsonl; each resumes exactly."""
import json

import numpy as np
import pytest

from gatepose.data.prepare import prepare_data
from gatepose.errors import GateposeError
from gatepose.runs import load_checkpoint, load_run
from gatepose.options import PRESETS, TrainOptions
from gatepose.train import Trainer
from gatepose.training import train
from helpers import TINY_TRAIN

TINY = {**TINY_TRAIN, "eval_every": 2, "checkpoint_every": 2}


def tiny(**kw):
    return TrainOptions(**{**TINY, **kw})


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kw", [dict(supervision="full", aug_flip_2d=True, ema=0.9),
                                dict(w_geo=1.0, w_bone=2.0, aug_real=True, aug_flip_2d=True, ema=0.5),
                                dict(w_adv_2d=0.7, aug_noise_2d=0.01, reproject_clean=True)],
                         ids=["full", "weak-levers", "projection-critic"])
def test_resume_is_exact_with_the_accuracy_options(tmp_path, kw):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny(steps=6, **kw), straight, np, progress=False)
    train(tiny(steps=3, **kw), split, np, progress=False)
    train(tiny(steps=6, **kw), split, np, resume=True, progress=False)
    a, ma = load_checkpoint(straight / "checkpoint.npz")
    b, mb = load_checkpoint(split / "checkpoint.npz")
    assert ma["step"] == mb["step"] == 6 and set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    if kw.get("ema"):
        assert any(k.startswith("ema/") for k in a)


def test_full_supervision_has_no_camera_or_critic_and_learns(tmp_path):
    run = tmp_path / "full"
    train(tiny(supervision="full", steps=30, lr=2e-3, log_every=5, eval_every=10), run, np, progress=False)
    arrays, _ = load_checkpoint(run / "checkpoint.npz")
    assert not any(k.startswith(("cam/", "critic/", "opt_d/")) for k in arrays)
    rows = _rows(run)
    assert "loss_sup" in rows[0] and "loss_rep" not in rows[0]
    assert rows[-1]["loss_sup"] < 0.8 * rows[0]["loss_sup"]
    assert load_run(run).gcfg.d_model == 16          # eval and predict read it like any run


def test_full_supervision_pairs_inputs_with_their_poses():
    tr = Trainer(tiny(supervision="full"), prepare_data(tiny(supervision="full")), np)
    WX = tr.s2d.next()
    W, X = WX[..., :2], WX[..., 2:]
    d = tr.data
    # each sampled row is one training frame: its 2D input and its own normalised 3D pose
    i = np.flatnonzero(np.all(np.isclose(d.W_train, W[0]), axis=(1, 2)))[0]
    np.testing.assert_allclose(X[0], d.X_train[i])


def test_weak_logs_the_consistency_loss_and_minutes(tmp_path):
    run = tmp_path / "geo"
    train(tiny(steps=4, w_geo=0.5), run, np, progress=False)
    rows = _rows(run)
    assert all(r["loss_geo"] > 0 for r in rows)
    minutes = [r["minutes"] for r in rows]
    assert minutes == sorted(minutes) and minutes[0] > 0
    train(tiny(steps=6, w_geo=0.5), run, np, resume=True, progress=False)
    assert _rows(run)[-1]["minutes"] >= minutes[-1]     # a resumed run's clock goes on


def test_bone_prior_targets_the_real_poses_and_is_logged(tmp_path):
    from gatepose.data.skeleton import get_skeleton
    from gatepose.losses3d import bone_ratios

    opts = tiny(w_bone=2.0)
    tr = Trainer(opts, prepare_data(opts), np)
    want = bone_ratios(tr.data.X_real.astype(np.float64), get_skeleton(tr.data.skeleton).incidence).mean(axis=0)
    np.testing.assert_allclose(tr.bone_target, want, rtol=1e-6)
    assert Trainer(tiny(), prepare_data(tiny()), np).bone_target is None      # off: nothing computed
    run = tmp_path / "bone"
    train(tiny(steps=3, w_bone=2.0), run, np, progress=False)
    assert all(r["loss_bone"] > 0 for r in _rows(run)) and "loss_geo" not in _rows(run)[0]


def test_the_critic_has_its_own_rate_on_the_same_schedule(tmp_path):
    from gatepose.options import learning_rate

    opts = tiny(lr=1e-3, lr_critic=3e-3, lr_schedule="cosine", steps=10)
    assert learning_rate(opts, 5, 10, opts.lr_critic) == 3 * learning_rate(opts, 5, 10)
    seen = []
    real = Trainer.set_lr
    Trainer.set_lr = lambda self, lr, lr_critic=None: seen.append((lr, lr_critic)) or real(self, lr, lr_critic)
    try:
        train(opts, tmp_path / "r", np, progress=False)
    finally:
        Trainer.set_lr = real
    assert len(seen) == 10 and all(abs(c - 3 * g) < 1e-15 for g, c in seen) and seen[-1][0] < seen[0][0]
    tr = Trainer(tiny(lr=1e-3, lr_critic=3e-3), prepare_data(tiny()), np)
    assert tr.opt_g.lr == 1e-3 and tr.opt_d.lr == 3e-3
    tr = Trainer(tiny(lr=1e-3), prepare_data(tiny()), np)
    assert tr.opt_g.lr == tr.opt_d.lr == 1e-3


def test_ema_is_what_validation_and_best_use(tmp_path):
    opts = tiny(ema=0.9)
    tr = Trainer(opts, prepare_data(opts), np)
    before = {k: v.copy() for k, v in tr.gen.items()}
    tr.iteration()
    k = "head.W"
    np.testing.assert_allclose(tr.ema[k], 0.9 * before[k] + 0.1 * tr.gen[k], rtol=1e-5, atol=1e-7)
    assert tr.eval_gen is tr.ema


@pytest.mark.parametrize("bad,match", [(dict(supervision="semi"), "--supervision"), (dict(w_geo=-1.0), "--w-geo"),
                                       (dict(w_bone=-0.5), "--w-bone"), (dict(w_bone=float("nan")), "--w-bone"),
                                       (dict(w_adv_2d=-1.0), "--w-adv-2d"), (dict(w_adv_2d=float("inf")), "--w-adv-2d"),
                                       (dict(ema=1.0), "--ema"), (dict(lr_critic=0.0), "--lr-critic"),
                                       (dict(lr_critic=float("inf")), "--lr-critic")])
def test_bad_accuracy_options(tmp_path, bad, match):
    with pytest.raises(GateposeError, match=match):
        train(tiny(**bad), tmp_path / "r", np, progress=False)
    assert not (tmp_path / "r").exists()


def test_paper_preset_keeps_every_departure_off():
    d = TrainOptions(**PRESETS["paper"])
    assert d.supervision == "weak" and d.w_geo == 0 and d.w_bone == 0 and d.w_adv_2d == 0 and not d.aug_real and not d.aug_flip_2d and d.ema == 0


def test_the_projection_critic_trains_beside_the_kcs_critic():
    """--w-adv-2d: a second critic of 2D poses ('2d/...' in the critic's optimiser) that moves in
    every critic step, its losses logged; without the option the critic is the paper's alone."""
    tr = Trainer(tiny(w_adv_2d=0.7), prepare_data(tiny()), np)
    assert tr.dcfg_2d.coords == 2 and tr.critic_2d and set(tr.critic) == set(tr.critic_3d) | {"2d/" + k for k in tr.critic_2d}
    assert tr.critic_2d["pose.in.W"].shape[0] == 2 * tr.dcfg.n_joints
    before = {k: v.copy() for k, v in tr.critic.items()}
    losses = tr.iteration()
    assert {"loss_adv_2d", "loss_d_2d", "wasserstein_2d"} <= set(losses)
    assert all(not np.array_equal(before[k], tr.critic[k]) for k in tr.critic if k.endswith(".W"))
    plain = Trainer(tiny(), prepare_data(tiny()), np)
    assert plain.dcfg_2d is None and not plain.critic_2d and "loss_adv_2d" not in plain.iteration()
