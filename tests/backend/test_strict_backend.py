"""The GPU code path on the strict CuPy stand-in (tests/strict_xp.py): NumPy underneath, so it runs in
CI. It proves the GPU path runs without ever meeting a host array, and counts its kernel launches and
host synchronisations; it proves nothing about CuPy's numerics or speed (scripts/gpu-check.sh does,
on a machine with a GPU)."""
import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

import strict_xp
from helpers import TINY_TRAIN
from strict_xp import xp as sxp

import gatepose.fast.one_pass as one_pass_mod
from gatepose.backend import get_xp, is_gpu, to_host
from gatepose.gradcheck import all_checks, run_check
from gatepose.options import ATTENTION_VARIANTS, TrainOptions
from gatepose.train import Trainer
from gatepose.backend import host_scalars
from gatepose.training import params_finite, train

# Launches per training iteration at SPEC section 1 sizes (batch 256, n_critic 5, d 256, 4 layers),
# counted by the stand-in: 4,408 before the flat Adam (Adam alone 2,457), 2,035 after (Adam 84),
# 1,756 after the elementwise chains were shortened (critic step 130, generator forward 255,
# backward 321), 1,490 after the fakes and the generator step's forward became one pass
# (fast/one_pass.py) and the sampler uploads a permutation per epoch instead of indices per batch.
# The ceiling is the target.
LAUNCH_CEILING = 1500


# -- the stand-in itself ----------------------------------------------------------------------------

def test_stand_in_is_strict_and_counts():
    a = sxp.asarray(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert get_xp(a) is sxp and is_gpu(sxp)
    for bad in (lambda: np.asarray(a), lambda: np.exp(a), lambda: a + np.ones(3, np.float32),
                lambda: np.ones(3, np.float32) * a, lambda: sxp.concatenate([a, np.ones((1, 3))]),
                lambda: a.__setitem__(0, np.zeros(3)), lambda: np.sum(a)):
        with pytest.raises(TypeError, match="strict xp|ufunc"):
            bad()
    with strict_xp.counting():
        s = (a * 2.0).sum()
        assert isinstance(s, strict_xp.StrictArray) and s.shape == ()     # a 0-d device array
        a.T.reshape(-1)                  # a copy (not contiguous): counted
        a[0]                             # a view: free
        assert float(s) == 30.0 and bool(s)
    assert strict_xp.counts["elementwise"] == 1 and strict_xp.counts["reduction"] == 1
    assert strict_xp.counts["copy"] == 1 and strict_xp.counts["sync"] == 2
    np.testing.assert_array_equal(to_host(a), np.arange(6.0).reshape(2, 3))


def test_stand_in_refuses_argument_forms_cupy_rejects():
    """Forms NumPy takes and CuPy refuses (each with CuPy's source or docs as the reason, see the
    stand-in's docstring) are refused here too, so the GPU path cannot start using them unseen."""
    a = sxp.asarray(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    idx = sxp.asarray(np.array([0, 2]))
    refused = {
        "list operand of a ufunc": lambda: sxp.add(a, [1.0, 2.0, 3.0]),
        "list operand of an operator": lambda: a * [1.0, 2.0, 3.0],
        "list operand, reflected": lambda: [1.0, 2.0, 3.0] - a,
        "list operand, in place": lambda: a.__iadd__([1.0, 2.0, 3.0]),
        "list operand of a comparison": lambda: a > [0.0, 1.0, 2.0],
        "ufunc where=": lambda: sxp.exp(a, where=a > 1),
        "ufunc order=": lambda: sxp.exp(a, order="F"),
        "reduction where=": lambda: a.sum(where=a > 1),
        "reduction initial=": lambda: sxp.max(a, initial=0.0),
        "einsum out=": lambda: sxp.einsum("rk->r", a, out=sxp.empty(2, dtype=np.float32)),
        "einsum casting=": lambda: sxp.einsum("rk->r", a, casting="unsafe"),
        "take into another dtype": lambda: sxp.take(a, idx, axis=1, out=sxp.empty((2, 2), np.float64)),
        "take into another shape": lambda: sxp.take(a, idx, axis=1, out=sxp.empty((2, 2, 1), np.float32)),
        "take mode=": lambda: sxp.take(a, idx, axis=1, mode="clip"),
        "an array as repeat's count": lambda: a.repeat(sxp.asarray(np.array([2, 1]))),
    }
    for what, bad in refused.items():
        with pytest.raises((TypeError, ValueError), match="strict xp"):
            bad()
            pytest.fail(what)
    # what CuPy takes passes: ufunc out of another dtype (bool -> float32, same_kind), a
    # non-contiguous out, take into an out of the right dtype and shape, einsum's dtype
    m = sxp.greater(a, 1, out=sxp.empty_like(a))
    assert m.dtype == np.float32 and to_host(m).tolist() == [[0, 0, 1], [1, 1, 1]]
    sxp.add(a[:, :2], 1.0, out=sxp.empty((2, 4), np.float32)[:, ::2])
    out = sxp.empty((2, 2), np.float32)
    assert sxp.take(a, idx, axis=1, out=out) is out
    assert sxp.einsum("rk,rk->r", a, a, dtype=np.float64).dtype == np.float64


def test_stand_in_einsum_results_are_not_c_contiguous():
    """cupy.einsum's docs: the memory contiguity of its result is not always NumPy's; the stand-in
    never returns a C-contiguous result with an axis, same values."""
    a = sxp.asarray(np.arange(12.0).reshape(3, 4))
    for sub in ("rk->r", "rk,rk->r", "rk,rk->k", "...n,...n->..."):
        r = sxp.einsum(sub, *([a] * sub.split("->")[0].count(",")), a)
        assert not r.flags.c_contiguous
        np.testing.assert_array_equal(to_host(r), np.einsum(sub, *([to_host(a)] * (sub.count(",") + 1))))
    assert sxp.einsum("rk,rk->", a, a).shape == ()


def test_mirror_uploads_only_its_mask():
    """The flip permutation goes to the device once per skeleton; a mirrored batch uploads only its
    random mask (before, the permutation was uploaded again on every call)."""
    from gatepose.data.augment import mirror
    from gatepose.data.skeleton import get_skeleton

    flip = get_skeleton("h36m17").flip_permutation
    P = sxp.asarray(np.random.default_rng(0).standard_normal((4, 17, 3)))
    mirror(P, flip, np.array([True, False, True, False]))
    with strict_xp.counting():
        M = mirror(P, flip, np.array([True, False, True, False]))
    assert strict_xp.counts["upload"] == 1, dict(strict_xp.counts)
    expected = to_host(P)[:, list(flip)] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(to_host(M)[[0, 2]], expected[[0, 2]])
    np.testing.assert_array_equal(to_host(M)[[1, 3]], to_host(P)[[1, 3]])


@pytest.mark.parametrize("value, on", [(None, False), ("0", False), ("1", True), ("2", True), ("x", False)])
def test_tf32_reported_as_cupy_decides(monkeypatch, value, on):
    """CuPy enables TF32 when int(CUPY_TF32) > 0 (get_compute_type); bench reports the same."""
    from gatepose.bench import tf32_enabled

    if value is None:
        monkeypatch.delenv("CUPY_TF32", raising=False)
    else:
        monkeypatch.setenv("CUPY_TF32", value)
    assert tf32_enabled(sxp) is on and tf32_enabled(np) is None


# -- gradient checks --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(all_checks()))
def test_every_gradient_check_runs_and_passes_on_the_gpu_path(name):
    """Every registered check at the CLI's sizes (`gatepose gradcheck --device gpu`). With the
    directions taken from the output's namespace (a Python float for a scalar loss), the penalty's
    and critic loss's checks met host arrays and raised."""
    results = run_check(name, sxp)
    assert results and all(r.passed for r in results), results


# -- training, resume, eval, predict, bench ---------------------------------------------------------

TINY = dict(TINY_TRAIN, batch_size=16, synth_subjects=2, val_frames=64)


@pytest.mark.parametrize("attention", ATTENTION_VARIANTS)
def test_one_training_iteration_per_variant(attention, tmp_path):
    opts = TrainOptions(steps=1, attention=attention, **TINY)
    train(opts, tmp_path / "run", sxp, progress=False)
    assert (tmp_path / "run" / "checkpoint.npz").is_file()


@pytest.mark.parametrize("supervision", ["weak", "full"])
def test_repnet_trains_and_resumes_exactly_on_the_gpu_path(supervision, tmp_path):
    """--generator repnet on the stand-in: its plain path on a GPU (the one pass is the transformer's,
    and is not taken), weak and supervised, resumed bit for bit like any run."""
    seen = []
    real = one_pass_mod.generator_forward_rows
    one_pass_mod.generator_forward_rows = lambda *a: seen.append(1) or real(*a)
    try:
        kw = dict(TINY, generator="repnet", repnet_width=16, supervision=supervision, w_geo=1.0)
        straight, split = tmp_path / "a", tmp_path / "b"
        train(TrainOptions(steps=4, **kw), straight, sxp, progress=False)
        train(TrainOptions(steps=2, **kw), split, sxp, progress=False)
        opts = TrainOptions.from_dict(json.loads((split / "config.json").read_text())["options"])
        train(dataclasses.replace(opts, steps=4), split, sxp, resume=True, progress=False)
    finally:
        one_pass_mod.generator_forward_rows = real
    assert not seen
    a, b = _params(straight), _params(split)
    assert a.keys() == b.keys() and "gen/fc.W" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _params(run_dir):
    from gatepose.runs import load_checkpoint
    return load_checkpoint(run_dir / "checkpoint.npz")[0]


def test_resume_is_exact_on_the_gpu_path(tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    train(TrainOptions(steps=4, **TINY), straight, sxp, progress=False)
    train(TrainOptions(steps=2, **TINY), split, sxp, progress=False)
    opts = TrainOptions.from_dict(json.loads((split / "config.json").read_text())["options"])
    train(dataclasses.replace(opts, steps=4), split, sxp, resume=True, progress=False)
    a, b = _params(straight), _params(split)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture
def on_stand_in(monkeypatch):
    """`--device gpu` in the CLI resolves to the stand-in."""
    import cli.common
    monkeypatch.setattr(cli.common, "resolve_device", lambda name: (sxp, "gpu (strict CuPy stand-in)"))


def test_cli_train_eval_predict_bench_on_the_gpu_path(tmp_path, on_stand_in):
    from cli.main import cli

    def invoke(*args):
        r = CliRunner().invoke(cli, [str(a) for a in args])
        assert r.exit_code == 0, r.output + repr(r.exception)
        return r

    run = tmp_path / "run"
    sizes = ["--layers", 1, "--d-model", 16, "--heads", 2, "--d-ff", 32, "--gate-hidden", 8,
             "--camera-width", 16, "--critic-pose-width", 8, "--critic-kcs-width", 16]
    invoke("train", "--device", "gpu", "--steps", 2, "--batch-size", 16, "--synth-subjects", 2,
           "--out", run, "--quiet", *sizes)
    invoke("eval", "--run", run, "--device", "gpu", "--max-frames", 200)
    poses = np.random.default_rng(0).standard_normal((5, 17, 2)).astype(np.float32) * 100
    np.save(tmp_path / "in.npy", poses)
    invoke("predict", "--run", run, "--input", tmp_path / "in.npy", "--out", tmp_path / "out.npy",
           "--device", "gpu")
    assert np.load(tmp_path / "out.npy").shape == (5, 17, 3)
    r = invoke("bench", "--device", "gpu", "--tiny", "--json")
    assert json.loads(r.output[r.output.index("{"):])["device"] == "gpu"
    # RepNet's generator: train, eval, predict and bench on the GPU path too
    rep = tmp_path / "repnet"
    invoke("train", "--device", "gpu", "--steps", 2, "--batch-size", 16, "--synth-subjects", 2, "--out", rep,
           "--quiet", "--generator", "repnet", "--repnet-width", 16, *sizes[10:])
    invoke("eval", "--run", rep, "--device", "gpu", "--max-frames", 200)
    invoke("predict", "--run", rep, "--input", tmp_path / "in.npy", "--out", tmp_path / "rep.npy", "--device", "gpu")
    assert np.load(tmp_path / "rep.npy").shape == (5, 17, 3)
    r = invoke("bench", "--device", "gpu", "--tiny", "--json", "--generator", "repnet")
    assert json.loads(r.output[r.output.index("{"):])["config"]["generator"]["kind"] == "repnet"


# -- launches and host synchronisations at SPEC sizes ------------------------------------------------

@pytest.fixture(scope="module")
def spec_trainer():
    from gatepose.bench import random_train_data

    opts = TrainOptions(steps=2)          # SPEC section 1 and 6 sizes
    trainer = Trainer(opts, random_train_data(17, 4 * opts.batch_size * (opts.n_critic + 1)), sxp)
    trainer.iteration()                   # first-call work (caches) out of the way
    return trainer


def test_launches_per_spec_iteration_under_ceiling_and_no_host_sync(spec_trainer):
    with strict_xp.counting():
        losses = spec_trainer.iteration(want_stats=False)
    n = strict_xp.launches()
    assert n <= LAUNCH_CEILING, dict(strict_xp.counts)
    assert strict_xp.counts["sync"] == 0, "a non-logging training step must not wait for the device"
    # a logging step: every logged scalar in one copy
    with strict_xp.counting():
        row = host_scalars(spec_trainer.iteration(want_stats=True))
    assert strict_xp.counts["sync"] == 1 and all(isinstance(v, float) for v in row.values())
    assert set(losses) <= set(row)


def test_adam_is_fourteen_launches_per_step(spec_trainer):
    t = spec_trainer
    grads = {k: sxp.zeros_like(p) for k, p in t.critic.items()}
    with strict_xp.counting():
        t.opt_d.step(t.critic, grads)
    assert strict_xp.launches() <= 14, dict(strict_xp.counts)   # one gather, thirteen passes


def test_params_finite_is_one_host_read(spec_trainer):
    with strict_xp.counting():
        assert params_finite(spec_trainer)
    assert strict_xp.counts["sync"] == 1


def test_one_pass_path_matches_the_reference(monkeypatch):
    """On a GPU the trainer lifts the fakes and the generator step's rows in one cached pass
    (fast/one_pass.py, one shard, the stacked critic step): in float64 it takes the steps of
    train --reference on NumPy, to rounding."""
    from gatepose.data.prepare import prepare_data

    kw = dict(batch_size=16, n_critic=3, steps=3, n_layers=1, d_model=16, n_heads=2, d_ff=32,
              gate_hidden=8, camera_width=16, critic_pose_width=8, critic_kcs_width=16, synth_subjects=2,
              aug_real=True, aug_flip_2d=True)
    data = prepare_data(TrainOptions(**kw))
    gpu = Trainer(TrainOptions(**kw), data, sxp, np.float64)
    plain = Trainer(TrainOptions(**kw, reference=True), data, np, np.float64)
    assert gpu.shards == 1
    seen = []
    real = one_pass_mod.generator_forward_rows
    monkeypatch.setattr(one_pass_mod, "generator_forward_rows", lambda *a: seen.append(1) or real(*a))
    for _ in range(3):
        lg, lp = host_scalars(gpu.iteration()), plain.iteration()
        for k in lp:
            assert lg[k] == pytest.approx(float(lp[k]), rel=1e-8, abs=1e-10), k
    assert len(seen) == 3, "the one-pass path was not taken"
    for a, b in ((gpu.gen, plain.gen), (gpu.cam, plain.cam), (gpu.critic, plain.critic)):
        for k in a:
            np.testing.assert_allclose(to_host(a[k]), b[k], rtol=1e-7, atol=1e-10, err_msg=k)
