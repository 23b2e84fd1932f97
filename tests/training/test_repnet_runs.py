"""A --generator repnet run does everything a run does: train (weak and --supervision full),
resume exactly, --reference, eval, predict (npy, JSON, COCO, BVH), the ablation; and says in one
error line what it cannot do (plot attention, PoseGate-Former's options)."""
import json

import numpy as np
import pytest

from gatepose.data.prepare import prepare_data
from gatepose.errors import GateposeError
from gatepose.nn.posegate import PoseGateConfig
from gatepose.nn.generator import generator_config_from_dict
from gatepose.nn.repnet import RepNetConfig
from gatepose.runs import load_checkpoint, load_run, read_config
from gatepose.options import TrainOptions
from gatepose.train import Trainer
from gatepose.training import train
from helpers import assert_takes_the_reference_steps, TINY_TRAIN, assert_refused, invoke

TINY = {**TINY_TRAIN, "eval_every": 2, "checkpoint_every": 2, "generator": "repnet", "repnet_width": 24}


def tiny(**kw):
    return TrainOptions(**{**TINY, **kw})


@pytest.mark.parametrize("extra", [dict(), dict(w_geo=1.0, ema=0.9, aug_real=True), dict(supervision="full")],
                         ids=["weak", "weak-geo-ema", "full"])
def test_resume_is_exact(tmp_path, extra):
    """N steps straight == N/2 steps, resume, N/2 steps (float64, to rounding; see test_train.py)."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny(steps=4, **extra), straight, np, progress=False, dtype=np.float64)
    train(tiny(steps=2, **extra), split, np, progress=False, dtype=np.float64)
    train(tiny(steps=4, **extra), split, np, resume=True, progress=False, dtype=np.float64)
    a, meta_a = load_checkpoint(straight / "checkpoint.npz")
    b, meta_b = load_checkpoint(split / "checkpoint.npz")
    assert meta_a["step"] == meta_b["step"] == 4 and set(a) == set(b)
    assert "gen/fc.W" in a and "gen/blocks.2.fc2.W" in a and ("cam/in.W" in a) == (extra.get("supervision") != "full")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_a_restored_state_is_the_saved_state_bit_for_bit(tmp_path):
    from gatepose.training import resume_state, state_dict

    run = tmp_path / "r"
    train(tiny(steps=2), run, np, progress=False)
    saved, meta = load_checkpoint(run / "checkpoint.npz")
    tr = Trainer(tiny(steps=2), prepare_data(tiny(steps=2)), np)
    resume_state(run, tr)
    now = state_dict(tr)["arrays"]
    assert set(now) == set(saved)
    for k in saved:
        np.testing.assert_array_equal(now[k], saved[k], err_msg=k)


def test_reference_path_matches_the_sharded_path():
    """RepNet's generator takes the plain forward on both (it has no fast path); the shards and the
    stacked critic step still differ from --reference, and agree with it to rounding."""
    kw = dict(batch_size=32, n_critic=3, steps=3, generator="repnet", repnet_width=16, camera_width=16,
              critic_pose_width=8, critic_kcs_width=16, synth_subjects=2)
    data = prepare_data(TrainOptions(**kw))
    fast = Trainer(TrainOptions(**kw, shards=2), data, np, np.float64)
    plain = Trainer(TrainOptions(**kw, reference=True), data, np, np.float64)
    assert isinstance(fast.gcfg, RepNetConfig) and fast.shards == 2 and plain.shards == 1
    assert_takes_the_reference_steps(fast, plain)


def test_the_fast_generator_paths_are_never_taken(monkeypatch, tmp_path):
    import gatepose.fast.fused as fused_mod
    import gatepose.fast.one_pass as one_pass_mod

    def refuse(*a, **k):
        raise AssertionError("a PoseGate-Former fast path was given RepNet's generator")

    for mod, name in ((one_pass_mod, "generator_forward_rows"), (fused_mod, "posegate_inference")):
        monkeypatch.setattr(mod, name, refuse)
    train(tiny(steps=2), tmp_path / "r", np, progress=False)


def test_config_records_the_kind_and_old_runs_are_posegate(tmp_path, tiny_run):
    run = tmp_path / "r"
    train(tiny(steps=1), run, np, progress=False)
    config = read_config(run)
    assert config["generator"] == {"n_joints": 17, "width": 24, "n_blocks": 3, "alpha": 0.3, "kind": "repnet",
                                  "lift": "xyz"}
    assert config["options"]["generator"] == "repnet"
    assert isinstance(load_run(run).gcfg, RepNetConfig)
    # a PoseGate-Former run's config has no kind (as every run written before RepNet): posegate
    old = read_config(tiny_run)
    assert "kind" not in old["generator"] and isinstance(load_run(tiny_run).gcfg, PoseGateConfig)
    assert isinstance(generator_config_from_dict({**old["generator"], "kind": "posegate"}), PoseGateConfig)
    with pytest.raises(GateposeError, match="kind"):
        generator_config_from_dict({**old["generator"], "kind": "mlp"})
    opts = TrainOptions.from_dict({k: v for k, v in old["options"].items() if k != "generator"})
    assert opts.generator == "posegate"


def test_the_generator_names_are_one_list():
    from gatepose.nn.generator import GENERATORS
    from gatepose.options import GENERATORS as OPTION_CHOICES

    assert OPTION_CHOICES == GENERATORS == ("posegate", "repnet")


def test_weights_that_do_not_match_the_config_are_one_error(tmp_path):
    run = tmp_path / "r"
    train(tiny(steps=1), run, np, progress=False)
    config = json.loads((run / "config.json").read_text())
    config["generator"]["width"] = 32
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(GateposeError, match="shape"):
        load_run(run)


# -- the command line -------------------------------------------------------------------------------
SIZES = ["--repnet-width", 16, "--camera-width", 16, "--critic-pose-width", 8, "--critic-kcs-width", 16,
         "--batch-size", 32, "--synth-subjects", 4]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("repnet")
    for name, extra in (("weak", []), ("full", ["--supervision", "full"])):
        r = invoke("train", "--generator", "repnet", "--steps", 2, "--device", "cpu", "--quiet",
                   "--out", d / name, *SIZES, *extra)
        assert r.exit_code == 0, r.output
    return d


@pytest.mark.parametrize("name", ["weak", "full"])
def test_cli_train_resume_eval_predict(cli_runs, tmp_path, name):
    from gatepose.data.synthetic import generate

    run = cli_runs / name
    r = invoke("train", "--resume", run, "--steps", 3, "--device", "cpu", "--quiet")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(run / "checkpoint.npz")[1]["step"] == 3
    r = invoke("eval", "--run", run, "--device", "cpu", "--max-frames", 100)
    assert r.exit_code == 0 and "N-MPJPE" in r.output, r.output
    poses = generate(n_subjects=2, seed=1, frames_per_sequence=5, sequences_per_action=1,
                     n_cameras=1).poses_2d[:4].astype(np.float32)
    np.save(tmp_path / "in.npy", poses)
    for out in ("out.npy", "out.json", "out.bvh"):
        r = invoke("predict", "--run", run, "--input", tmp_path / "in.npy", "--out", tmp_path / out, "--device", "cpu")
        assert r.exit_code == 0, r.output
    X = np.load(tmp_path / "out.npy")
    assert X.shape == (4, 17, 3) and np.isfinite(X).all() and np.all(X[:, 0] == 0)
    assert np.asarray(json.loads((tmp_path / "out.json").read_text())["poses"]).shape == (4, 17, 3)
    assert (tmp_path / "out.bvh").read_text().startswith("HIERARCHY")
    # COCO keypoints (x, y, confidence) of a 2D detector
    kp = np.concatenate([poses, np.full((4, 17, 1), 0.9, np.float32)], axis=2)
    np.save(tmp_path / "kp.npy", kp)
    r = invoke("predict", "--run", run, "--input", tmp_path / "kp.npy", "--out", tmp_path / "c.npy", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "c.npy").shape == (4, 17, 3)


def test_cli_what_repnet_does_not_have_is_one_error_line(cli_runs, tmp_path):
    r = invoke("plot", "attention", "--run", cli_runs / "weak", "--out", tmp_path / "a.png")
    assert_refused(r, "no attention")
    for flag, value in (("--heads", 2), ("--attention", "vanilla"), ("--d-model", 32), ("--layers", 1)):
        r = invoke("train", "--generator", "repnet", flag, value, "--steps", 1, "--out", tmp_path / "x")
        assert assert_refused(r).startswith(f"error: {flag}")
    r = invoke("train", "--repnet-width", 8, "--steps", 1, "--out", tmp_path / "x")
    assert_refused(r, "error: --repnet-width", not_written=[tmp_path / "x"])
    r = invoke("train", "--resume", cli_runs / "weak", "--repnet-width", 8, "--steps", 9)
    assert_refused(r, "cannot change now")


def test_cli_a_preset_with_repnet(tmp_path, monkeypatch):
    """A preset's PoseGate-Former sizes are not 'given': --preset small-weak --generator repnet runs."""
    from gatepose import options as train_mod

    monkeypatch.setitem(train_mod.PRESETS, "small-weak", {**train_mod.PRESETS["small-weak"], "repnet_width": 16,
                                                           "camera_width": 16, "critic_kcs_width": 16,
                                                           "critic_pose_width": 8, "batch_size": 32})
    r = invoke("train", "--preset", "small-weak", "--generator", "repnet", "--steps", 1, "--synth-subjects", 4,
               "--device", "cpu", "--quiet", "--out", tmp_path / "r")
    assert r.exit_code == 0, r.output
    opts = read_config(tmp_path / "r")["options"]
    assert opts["generator"] == "repnet" and opts["w_geo"] == 3.0 and opts["ema"] == 0.99


def test_cli_ablate_with_repnet_and_seeds(tmp_path, monkeypatch):
    from gatepose import options as train_mod

    tiny_preset = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, gate_hidden=8, camera_width=16,
                       critic_pose_width=8, critic_kcs_width=16, batch_size=32, synth_subjects=4, val_frames=64,
                       eval_every=1, log_every=1, repnet_width=16)
    monkeypatch.setitem(train_mod.PRESETS, "small", tiny_preset)
    r = invoke("ablate", "--steps", 1, "--variants", "gated,repnet", "--device", "cpu", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    assert "PoseGate-Former" in r.output and "RepNet" in r.output
    assert read_config(tmp_path / "a" / "repnet")["generator"]["kind"] == "repnet"
    r = invoke("ablate", "--steps", 1, "--variants", "gated,repnet", "--seeds", 2, "--supervision", "full",
               "--device", "cpu", "--out", tmp_path / "b")
    assert r.exit_code == 0, r.output
    assert "repnet" in r.output and "+-" in r.output
    assert read_config(tmp_path / "b" / "seed1" / "repnet")["options"]["supervision"] == "full"
    r = invoke("ablate", "--variants", "gated,mlp", "--device", "cpu")
    assert_refused(r, "repnet")
