"""The depth lift (``train --lift depth``, nn/generator.py): the generator predicts each joint's depth,
its x and y are the 2D input's. Its backward and the steps through it against central differences
(hypothesis sizes), proof that the checks fail when that backward is broken, its geometry, and a
run that trains, resumes and predicts with it."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gatepose.nn.generator as lifter
from gatepose.gradcheck import all_checks, check_backward, run_check
from gatepose.nn.camera import project_forward
from gatepose.nn.posegate import PoseGateConfig
from gatepose.nn.generator import depth_lift_forward, init_generator, generator_forward
from gatepose.runs import load_run, read_config
from gatepose.options import TrainOptions
from gatepose.training import train
from helpers import TINY_TRAIN, assert_pass, assert_resumes_exactly
from mutations import assert_caught, assert_check_catches, output_changed

seeds = st.integers(0, 2**31 - 1)


# -- gradients ---------------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 17))
def test_depth_lift_gradient(seed, B, J):
    assert_pass(run_check("depth_lift", seed=seed, B=B, J=J))


@settings(max_examples=6, deadline=None)
@given(seed=seeds, B=st.integers(1, 3), J=st.integers(3, 8), d_k=st.integers(2, 3),
       generator=st.sampled_from(["posegate", "repnet"]))
def test_lifter_with_the_depth_lift_gradient(seed, B, J, d_k, generator):
    assert_pass(run_check("lifter[depth]", seed=seed, B=B, J=J, h=2, d_k=d_k, generator=generator))


@given(B=st.integers(4, 9), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16),
       generator=st.sampled_from(["", "repnet,"]))
@settings(max_examples=4, deadline=None)
def test_generator_step_with_the_depth_lift_gradient(B, d_model, shards, seed, generator):
    assert_pass(run_check(f"generator_step_priors[{generator}depth]", seed=seed, B=B, d_model=d_model, shards=shards))


def _broken_depth_backward(change):
    """The depth lift's backward with one piece broken: 'root' skips the root-relative step,
    'projection' drops the norm's share (X <X, dX>), 'channel' sends the depth's gradient into x."""
    def broken(dX, cache):
        X, scale = cache.X, cache.scale
        inner = 0.0 if change == "projection" else np.einsum("bjc,bjc->b", X, dX).reshape(-1, 1, 1)
        dP = (dX - X * inner) / scale
        if change != "root":
            dP[:, 0] -= dP.sum(axis=1)
        dZ = np.zeros_like(dP)
        dZ[..., 0 if change == "channel" else 2] = dP[..., 2]
        return dP[..., :2], dZ
    return broken


@pytest.mark.parametrize("change", ["root", "projection", "channel"])
def test_depth_checks_catch_a_broken_backward(monkeypatch, change):
    case = all_checks()["depth_lift"]
    fwd, bwd, inputs = case.build(np, np.random.default_rng(4), **case.sizes)
    backward = lambda d, c: dict(zip(("W", "Z"), lifter.depth_lift_backward(d, c)))  # noqa: E731
    assert_check_catches(monkeypatch, [(lifter, "depth_lift_backward", _broken_depth_backward(change))],
                         lambda: check_backward(fwd, backward, inputs))
    assert_caught(run_check("lifter[depth]", seed=4))
    assert_caught(run_check("generator_step_priors[depth]", seed=3))


def test_depth_checks_catch_a_lost_direct_path(monkeypatch):
    """dW without the direct path (x and y are W's): the lifter's check w.r.t. W fails, and the
    step's, where self-consistency's second input W2 carries it back to the first lift."""
    no_direct_path = output_changed(lifter.depth_lift_backward, lambda dWZ, d, c: (0.0 * dWZ[0], dWZ[1]))
    assert_check_catches(monkeypatch, [(lifter, "depth_lift_backward", no_direct_path)],
                         lambda: run_check("lifter[depth]", seed=4), "W")
    assert_caught(run_check("generator_step_priors[depth]", seed=3))


# -- geometry ---------------------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 6), scale=st.floats(0.1, 10.0))
def test_depth_lift_keeps_the_input_and_has_the_critics_scale(seed, B, scale):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((B, 17, 2))
    W -= W[:, :1]
    Z = rng.standard_normal((B, 17, 3))
    X, s = depth_lift_forward(W, Z)
    np.testing.assert_allclose(np.linalg.norm(X.reshape(B, -1), axis=1), 1.0)
    np.testing.assert_array_equal(X[:, 0], 0.0)
    np.testing.assert_allclose(X[..., :2] * s, W, atol=1e-12)            # x, y: the input's, scaled
    # the first two channels of Z are unused, and a scaled orthographic camera reprojects X onto W
    Z2 = Z.copy()
    Z2[..., :2] = rng.standard_normal((B, 17, 2))
    np.testing.assert_array_equal(depth_lift_forward(W, Z2)[0], X)
    M = np.broadcast_to(scale * np.array([[1.0, 0, 0], [0, 1.0, 0]]), (B, 2, 3)) * s
    np.testing.assert_allclose(project_forward(X, M)[0], scale * W, atol=1e-12)
    # the depths: the predicted ones, up to the root and the same factor
    np.testing.assert_allclose(X[..., 2] * s[..., 0], Z[..., 2] - Z[:, :1, 2], atol=1e-12)


def test_lifter_output_is_the_forwards_pose():
    cfg = PoseGateConfig(n_joints=17, d_model=8, n_heads=2, n_layers=1, d_ff=16, gate_hidden=4, lift="depth")
    rng = np.random.default_rng(0)
    p = init_generator(cfg, rng, np, np.float64)
    W = rng.standard_normal((5, 17, 2))
    from gatepose.nn.posegate import posegate_forward
    Z = posegate_forward(p, W, cfg, need_cache=False)[0]
    np.testing.assert_array_equal(lifter.generator_output(W, Z, cfg), generator_forward(p, W, cfg, need_cache=False)[0])
    xyz = PoseGateConfig(n_joints=17, d_model=8, n_heads=2, n_layers=1, d_ff=16, gate_hidden=4)
    assert lifter.generator_output(W, Z, xyz) is Z


# -- runs ---------------------------------------------------------------------------------------------------
def test_a_depth_run_trains_resumes_and_predicts(tmp_path):
    opts = dict(TINY_TRAIN, lift="depth", w_geo=1.0, w_bone=1.0, eval_every=2, checkpoint_every=2)
    straight = assert_resumes_exactly(opts, tmp_path)
    assert read_config(straight)["generator"]["lift"] == "depth"
    run = load_run(straight)
    assert run.gcfg.lift == "depth"
    W = np.random.default_rng(0).standard_normal((3, 17, 2)).astype(np.float32)
    X = generator_forward(run.gen, W, run.gcfg, need_cache=False)[0]
    np.testing.assert_allclose(np.linalg.norm(X.reshape(3, -1), axis=1), 1.0, rtol=1e-5)


def test_a_run_written_before_the_lift_existed_is_xyz(tmp_path, tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    config["generator"].pop("lift", None)
    old = tmp_path / "old"
    old.mkdir()
    for f in tiny_run.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    (old / "config.json").write_text(json.dumps(config))
    assert load_run(old).gcfg.lift == "xyz"


def test_a_bad_lift_is_refused(tmp_path):
    from gatepose.errors import GateposeError

    with pytest.raises(GateposeError, match="--lift"):
        train(TrainOptions(**TINY_TRAIN, lift="z"), tmp_path / "r", np, progress=False)
    with pytest.raises(GateposeError, match="lift='z'"):
        PoseGateConfig(lift="z")
