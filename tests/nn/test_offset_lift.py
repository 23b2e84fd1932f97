"""The offset lift (``train --lift offset``, nn/generator.py): the depth lift with the network's first
two output channels added to the input's x and y. Its backward and the steps through it against
central differences (hypothesis sizes), proof that the checks fail when the offset's gradient is
lost, its geometry, and a run that trains, resumes and lifts with it."""
import numpy as np
from hypothesis import given, settings, strategies as st

import gatepose.nn.generator as lifter
from gatepose.gradcheck import all_checks, check_backward, run_check
from gatepose.nn.generator import depth_lift_forward
from gatepose.options import TrainOptions
from gatepose.runs import load_run
from helpers import TINY_TRAIN, assert_pass, assert_resumes_exactly
from mutations import assert_caught, assert_check_catches, output_changed

seeds = st.integers(0, 2**31 - 1)


@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 17), missing=st.booleans())
def test_offset_lift_gradient(seed, B, J, missing):
    assert_pass(run_check("depth_lift[missing,offset]" if missing else "depth_lift[offset]", seed=seed, B=B, J=J))


# B >= 2: with one pose the root-relative lift can leave the gate's bias path (C1 ... c2) a gradient
# 1e4-1e5 times smaller than the other tensors', at the rounding noise of float64 central differences
# (measured: its error shrinks with a larger step; lifter[depth] shows the same on some single poses)
@settings(max_examples=6, deadline=None)
@given(seed=seeds, B=st.integers(2, 3), J=st.integers(3, 8), d_k=st.integers(2, 3),
       generator=st.sampled_from(["posegate", "repnet"]))
def test_lifter_with_the_offset_lift_gradient(seed, B, J, d_k, generator):
    assert_pass(run_check("lifter[offset]", seed=seed, B=B, J=J, h=2, d_k=d_k, generator=generator))


@settings(max_examples=4, deadline=None)
@given(B=st.integers(4, 9), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16),
       missing=st.sampled_from(["", "missing,"]))
def test_generator_step_with_the_offset_lift_gradient(B, d_model, shards, seed, missing):
    assert_pass(run_check(f"generator_step_priors[{missing}offset]", seed=seed, B=B, d_model=d_model, shards=shards))


def _lost_offset(dWZ, dX, cache):
    """The offset lift's backward as if it were the depth lift's: x and y's gradient not sent to Z."""
    dW, dZ = dWZ
    dZ = dZ.copy()
    dZ[..., :2] = 0.0
    return dW, dZ


def test_offset_checks_catch_a_lost_offset_gradient(monkeypatch):
    case = all_checks()["depth_lift[offset]"]
    fwd, bwd, inputs = case.build(np, np.random.default_rng(4), **case.sizes)
    backward = lambda d, c: dict(zip(("W", "Z"), lifter.depth_lift_backward(d, c)))  # noqa: E731
    assert_check_catches(monkeypatch, [(lifter, "depth_lift_backward", output_changed(lifter.depth_lift_backward,
                                                                                       _lost_offset))],
                         lambda: check_backward(fwd, backward, inputs), "Z")
    assert_caught(run_check("lifter[offset]", seed=4))
    assert_caught(run_check("generator_step_priors[offset]", seed=3))


def test_offset_checks_catch_a_flipped_offset_gradient(monkeypatch):
    def flipped(dWZ, dX, cache):
        dW, dZ = dWZ
        dZ = dZ.copy()
        dZ[..., :2] *= -1.0
        return dW, dZ
    monkeypatch.setattr(lifter, "depth_lift_backward", output_changed(lifter.depth_lift_backward, flipped))
    assert_caught(run_check("depth_lift[missing,offset]", seed=2), "Z")
    assert_caught(run_check("generator_step_priors[missing,offset]", seed=3))


@given(seed=seeds, B=st.integers(1, 6))
def test_zero_offsets_are_the_depth_lift_and_offsets_move_x_and_y(seed, B):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((B, 17, 2))
    W -= W[:, :1]
    Z = rng.standard_normal((B, 17, 3))
    depth, _ = depth_lift_forward(W, Z)
    Z0 = Z.copy()
    Z0[..., :2] = 0.0
    np.testing.assert_allclose(depth_lift_forward(W, Z0, offset=True)[0], depth, atol=1e-12)
    X, s = depth_lift_forward(W, Z, offset=True)
    P = np.concatenate([W + Z[..., :2], Z[..., 2:]], axis=2)
    P -= P[:, :1]
    np.testing.assert_allclose(X * s, P, atol=1e-12)
    # a missing joint's x and y are the network's own, not offset from anything
    missing = np.zeros((B, 17, 1), bool)
    missing[:, 5] = True
    X, s = depth_lift_forward(np.where(missing, np.nan, W), Z, missing, offset=True)
    P = np.concatenate([np.where(missing, Z[..., :2], W + Z[..., :2]), Z[..., 2:]], axis=2)
    np.testing.assert_allclose(X * s, P - P[:, :1], atol=1e-12)


def test_an_offset_run_trains_resumes_and_lifts(tmp_path):
    opts = dict(TINY_TRAIN, lift="offset", w_geo=1.0, eval_every=2, checkpoint_every=2)
    straight = assert_resumes_exactly(opts, tmp_path)
    run = load_run(straight)
    assert run.gcfg.lift == "offset"
    W = np.random.default_rng(0).standard_normal((3, 17, 2)).astype(np.float32)
    X = run.predict(W)
    np.testing.assert_allclose(np.linalg.norm(X.reshape(3, -1), axis=1), 1.0, rtol=1e-5)


# -- --reproject-clean: L_rep against the input before its noise ----------------------------------------------
@settings(max_examples=3, deadline=None)
@given(B=st.integers(4, 8), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 2), seed=st.integers(0, 2**16),
       missing=st.sampled_from(["", "missing,"]))
def test_generator_step_against_a_clean_target_gradient(B, d_model, shards, seed, missing):
    assert_pass(run_check(f"generator_step_priors[{missing}offset,clean]", seed=seed, B=B, d_model=d_model,
                          shards=shards))


def test_clean_target_checks_catch_a_step_that_ignores_or_misuses_the_target(monkeypatch):
    """The trainer's step with L_rep against W after all (the target dropped), or with the lifter and
    the camera fed the target instead of W: the step's check fails either way."""
    import gatepose.train as train_mod

    real = train_mod.generator_loss
    monkeypatch.setattr(train_mod, "generator_loss", lambda *a, W_target=None, **k: real(*a, **k))
    assert_caught(run_check("generator_step_priors[offset,clean]", seed=3))
    monkeypatch.setattr(train_mod, "generator_loss", lambda gen, cam, critic, W, *a, W_target=None, **k:
                        real(gen, cam, critic, W_target, *a, W_target=W_target, **k))
    assert_caught(run_check("generator_step_priors[offset,clean]", seed=3))


def test_an_offset_run_with_a_clean_target_trains_and_resumes(tmp_path):
    opts = dict(TINY_TRAIN, lift="offset", aug_noise_2d=0.02, reproject_clean=True, eval_every=2, checkpoint_every=2)
    assert_resumes_exactly(opts, tmp_path)


def test_reproject_clean_without_noise_or_with_full_supervision_changes_nothing():
    """Accepted (small-weak sets it, and --aug-noise-2d 0 or --supervision full may follow), and then
    the run is the run without it, parameter for parameter (the same computation, by construction)."""
    from gatepose.bench import random_train_data
    from gatepose.train import Trainer

    import dataclasses

    data = random_train_data(17, 64)
    data = dataclasses.replace(data, X_train=data.X_real)     # pairs, for full supervision
    for extra in (dict(), dict(supervision="full", aug_noise_2d=0.01)):
        runs = []
        for clean in (False, True):
            opts = TrainOptions(**{**TINY_TRAIN, **extra, "reproject_clean": clean, "steps": 2})
            opts.check_values()
            trainer = Trainer(opts, data, np, np.float64)
            for _ in range(2):
                trainer.iteration()
            runs.append(trainer.gen)
        for k in runs[0]:
            np.testing.assert_array_equal(runs[0][k], runs[1][k])
