"""The trainer: runs, logs, checkpoints atomically, resumes exactly, and refuses bad options early."""
import json
import math

import numpy as np
import pytest

from gatepose.data.prepare import prepare_data
from gatepose.runs import load_checkpoint, load_run, save_checkpoint
from gatepose.errors import GateposeError, TrainingDiverged
from gatepose.options import TrainOptions
from gatepose.train import Trainer
from gatepose.training import train
from helpers import assert_takes_the_reference_steps, TINY_TRAIN

TINY = {**TINY_TRAIN, "eval_every": 2, "checkpoint_every": 2}


def tiny(**kw):
    return TrainOptions(**{**TINY, **kw})


def _params(run_dir):
    arrays, meta = load_checkpoint(run_dir / "checkpoint.npz")
    return arrays, meta


@pytest.mark.parametrize("attention", ["gated", "scalar-gate"])
def test_resume_is_exact(tmp_path, attention):
    """N steps straight == N/2 steps, resume, N/2 steps: every parameter and optimiser state.

    In float64, to 1e-10: the resumed run repeats the same arithmetic on the same state, but NumPy
    and BLAS may round a float32 sum differently when an array lands at another address, and Adam
    turns the rounding noise of the key bias's exactly-zero gradient into lr-sized steps. A resume
    bug (a lost RNG state, a sampler off by one batch, a moment not restored) moves parameters by
    ~lr = 1e-4, far outside the tolerance. The restored state itself is compared bit for bit below."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny(steps=6, attention=attention), straight, np, progress=False, dtype=np.float64)
    train(tiny(steps=3, attention=attention), split, np, progress=False, dtype=np.float64)
    train(tiny(steps=6, attention=attention), split, np, resume=True, progress=False, dtype=np.float64)
    a, meta_a = _params(straight)
    b, meta_b = _params(split)
    assert meta_a["step"] == meta_b["step"] == 6
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == np.float64, k
        np.testing.assert_allclose(a[k], b[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_a_restored_state_is_the_saved_state_bit_for_bit(tmp_path):
    """Saving and restoring is exact by construction: the arrays, moments, RNG and sampler states."""
    from gatepose.data.prepare import prepare_data
    from gatepose.training import resume_state, save_state, state_dict
    from gatepose.train import Trainer

    run = tmp_path / "r"
    train(tiny(steps=3), run, np, progress=False)
    saved, meta = _params(run)
    opts = tiny(steps=3)
    tr = Trainer(opts, prepare_data(opts), np)
    resume_state(run, tr)
    now = state_dict(tr)["arrays"]
    assert set(now) == set(saved)
    for k in saved:
        np.testing.assert_array_equal(now[k], saved[k], err_msg=k)
    assert tr.step == meta["step"] and tr.s2d.state() == meta["sampler_2d"]
    assert tr.rng_eps.bit_generator.state == meta["rng_eps"]
    (tmp_path / "again").mkdir()
    save_state(tmp_path / "again", tr, {})
    again, _ = _params(tmp_path / "again")
    for k in saved:
        np.testing.assert_array_equal(again[k], saved[k], err_msg=k)


def test_run_folder_contents(tmp_path):
    run = tmp_path / "run"
    train(tiny(steps=4), run, np, progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["steps"] == 4 and config["skeleton"] == "h36m17"
    assert config["normalisation"]["scale_3d_mm"] > 100
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in ("loss_d", "wasserstein", "penalty", "loss_adv", "loss_rep", "loss_cam",
                "grad_norm_gen", "grad_norm_cam", "grad_norm_critic", "poses_per_s"):
        assert all(math.isfinite(r[key]) for r in rows), key
    assert "val_n_mpjpe" in rows[1]
    loaded = load_run(run)
    assert loaded.gcfg.d_model == 16 and loaded.scale_3d > 100
    # no temporary files left behind by the atomic writes
    assert not list(run.glob("*.tmp"))


def test_existing_run_is_not_overwritten(tmp_path):
    train(tiny(steps=1), tmp_path / "r", np, progress=False)
    with pytest.raises(GateposeError, match="--resume"):
        train(tiny(steps=1), tmp_path / "r", np, progress=False)


@pytest.mark.parametrize("bad, match", [
    (dict(batch_size=0), "--batch-size"),
    (dict(lr=-1.0), "--lr"),
    (dict(attention="nope"), "--attention"),
    (dict(d_model=10, n_heads=3), "--d-model"),
    (dict(n_critic=0), "--n-critic"),
    (dict(data="/nonexistent.npz"), "--data"),
    (dict(steps=3, epochs=1.0), "--steps"),
])
def test_bad_options_fail_before_work(tmp_path, bad, match):
    with pytest.raises(GateposeError, match=match):
        train(tiny(**{"steps": 1, **bad}), tmp_path / "r", np, progress=False)
    assert not (tmp_path / "r").exists()


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "r"
    train(tiny(steps=2), run, np, progress=False)
    before, _ = _params(run)
    original = Trainer.iteration

    def poisoned(self, want_stats=False):
        out = original(self, want_stats)
        self.gen["head.W"][...] = np.nan
        out["loss_rep"] = out["loss_rep"] * np.nan
        return out

    monkeypatch.setattr(Trainer, "iteration", poisoned)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(tiny(steps=4), run, np, resume=True, progress=False)
    after, meta = _params(run)
    assert meta["step"] == 2
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"a": np.ones(3)}, {"step": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"a": np.zeros(3)}, {"step": 2})
    arrays, meta = load_checkpoint(path)
    assert meta["step"] == 1 and arrays["a"].tolist() == [1, 1, 1]
    assert not list(tmp_path.glob("*.tmp"))


def test_real_poses_from_another_archive(tmp_path):
    from gatepose.data.archive import save_archive
    from gatepose.data.synthetic import generate

    path = tmp_path / "real.npz"
    save_archive(path, generate(n_subjects=2, seed=5, frames_per_sequence=20, sequences_per_action=1))
    data = prepare_data(tiny(steps=1, real_poses=str(path)))
    assert len(data.X_real) > 0
    assert np.allclose(np.linalg.norm(data.X_real.reshape(len(data.X_real), -1), axis=1), 1, atol=1e-4)


def test_resume_after_a_crash_follows_the_same_schedule(tmp_path, monkeypatch):
    """Cosine schedule, a run killed mid-way (after its step-2 checkpoint): resuming reproduces the
    straight run exactly, because the rate is a function of the step alone."""
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    train(tiny(steps=6, lr_schedule="cosine", lr=1e-3), straight, np, progress=False)
    original = Trainer.iteration

    def dies_at_step_3(self, want_stats=False):
        if self.step == 3:
            raise KeyboardInterrupt
        return original(self, want_stats)

    monkeypatch.setattr(Trainer, "iteration", dies_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(steps=6, lr_schedule="cosine", lr=1e-3), crashed, np, progress=False)
    monkeypatch.setattr(Trainer, "iteration", original)
    assert _params(crashed)[1]["step"] == 2
    train(tiny(steps=6, lr_schedule="cosine", lr=1e-3), crashed, np, resume=True, progress=False)
    a, _ = _params(straight)
    b, _ = _params(crashed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    steps = [json.loads(line)["step"] for line in (crashed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_reference_path_matches_the_fast_path():
    """train --reference (plain forward for the fakes, losses.critic_loss, one shard) and the fast
    path (fused inference, the stacked critic step, two shards) take the same steps: in float64
    their parameters agree to rounding after three iterations. Batch 32 with n_critic 3 puts
    96 x 17 tokens of fakes above the fused path's block size, so both doors are crossed."""
    kw = dict(batch_size=32, n_critic=3, steps=3, n_layers=1, d_model=16, n_heads=2, d_ff=32,
              gate_hidden=8, camera_width=16, critic_pose_width=8, critic_kcs_width=16, synth_subjects=2)
    data = prepare_data(TrainOptions(**kw))
    fast = Trainer(TrainOptions(**kw, shards=2), data, np, np.float64)
    plain = Trainer(TrainOptions(**kw, reference=True), data, np, np.float64)
    assert fast.shards == 2 and plain.shards == 1
    assert_takes_the_reference_steps(fast, plain)



@pytest.mark.parametrize("how", ["deleted", "moved"])
def test_a_run_folder_deleted_or_moved_while_training_stops_the_run(tmp_path, monkeypatch, how):
    """Nothing is written to a new folder at the old path (which would hold checkpoints without
    config.json), nor after the moved one's checkpoint: the run stops with one error."""
    import shutil

    run = tmp_path / "run"
    original = Trainer.iteration

    def iteration(self, *a, **k):
        out = original(self, *a, **k)
        if self.step == 3:
            shutil.rmtree(run) if how == "deleted" else run.rename(tmp_path / "elsewhere")
        return out
    monkeypatch.setattr(Trainer, "iteration", iteration)
    with pytest.raises(GateposeError, match="deleted or moved during training"):
        train(tiny(steps=8, checkpoint_every=2), run, np, progress=False)
    assert not run.exists()
    if how == "moved":
        _, meta = load_checkpoint(tmp_path / "elsewhere" / "checkpoint.npz")
        assert meta["step"] == 2


def test_two_runs_started_at_once_on_one_new_folder_leave_it_to_the_first(tmp_path, monkeypatch):
    """Two `train --out NEW` at one moment: this run makes the folder, the other takes its lock
    first; this run's failure (the folder is in use) must not remove the folder the other holds."""
    import gatepose.training as training

    run = tmp_path / "new" / "run"
    hold = training.hold_run_folder
    other = {}

    def the_other_run_locks_first(run_dir):
        other["lock"] = hold(run_dir)           # the other run, between this run's mkdir and lock
        return hold(run_dir)
    monkeypatch.setattr(training, "hold_run_folder", the_other_run_locks_first)
    with pytest.raises(GateposeError, match="in use by"):
        train(tiny(steps=2), run, np, progress=False)
    assert run.is_dir(), "this run removed the folder the other run holds"
    training.release_run_folder(other["lock"])


def test_resume_refuses_an_archive_replaced_under_the_run(tmp_path):
    """The archive at --data was replaced (other poses, or another size): the resumed run would mix
    two datasets under one normalisation and one sampler state; refused, nothing written."""
    from gatepose.data.archive import save_archive
    from gatepose.data.synthetic import generate

    data = tmp_path / "data.npz"
    save_archive(data, generate(n_subjects=4, seed=1, frames_per_sequence=20, sequences_per_action=1, n_cameras=2))
    opts = tiny(steps=2, checkpoint_every=1)
    opts.data = str(data)
    opts.synth_subjects = 8
    run = tmp_path / "run"
    train(opts, run, np, progress=False)
    config = (run / "config.json").read_bytes()
    resumed = TrainOptions.from_dict(json.loads(config)["options"])
    resumed.steps = 2                                   # nothing to do: config.json left as it was
    train(resumed, run, np, resume=True, progress=False)
    assert (run / "config.json").read_bytes() == config
    save_archive(data, generate(n_subjects=4, seed=2, frames_per_sequence=20, sequences_per_action=1, n_cameras=2))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    resumed.steps = 4
    with pytest.raises(GateposeError, match="the training data differ from those the run started with"):
        train(resumed, run, np, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
