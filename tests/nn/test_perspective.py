"""The reprojection with perspective (``--perspective k``, a departure): W'_j = (X M^T)_j exp(-k z_j).

Finite-difference checks of the projection and of the trainer's generator step with it, the
projection's properties (the paper's projection at k = 0, a pinhole camera's to first order, the
depth taken along the camera's own viewing direction), checks that fail when the backward or the
step's wiring is broken, and the option's validation and a run that resumes exactly.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gatepose.nn.camera as camera_mod
from gatepose.errors import GateposeError
from gatepose.gradcheck import run_check
from gatepose.nn.camera import perspective_backward, perspective_forward, project_forward
from gatepose.options import TrainOptions
from helpers import TINY_TRAIN, assert_pass, assert_resumes_exactly, random_rotation
from mutations import assert_caught, assert_check_catches

seeds = st.integers(0, 2**31 - 1)


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 17))
def test_perspective_projection_gradient(seed, B, J):
    assert_pass(run_check("projection[perspective]", seed=seed, B=B, J=J))


@settings(max_examples=10, deadline=None)
@given(seed=seeds, B=st.integers(1, 3), J=st.integers(2, 6), attention=st.sampled_from(["gated", "vanilla"]))
def test_consistency_with_perspective_gradient(seed, B, J, attention):
    assert_pass(run_check("consistency_loss[perspective]", seed=seed, B=B, J=J, attention=attention))


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17), perspective=st.booleans())
def test_turned_projection_gradient(seed, B, J, perspective):
    """The random-projection critic's view of a lifted pose, with and without the perspective."""
    name = "turned_projection[perspective]" if perspective else "turned_projection"
    assert_pass(run_check(name, seed=seed, B=B, J=J))


@settings(max_examples=3, deadline=None)
@given(B=st.integers(4, 8), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_generator_step_with_perspective_gradient(B, d_model, shards, seed):
    assert_pass(run_check("generator_step_priors[offset,clean,perspective]", seed=seed, B=B, d_model=d_model,
                          shards=shards))


# -- what the projection is ------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 17))
def test_no_perspective_is_the_papers_projection(seed, B, J):
    rng = np.random.default_rng(seed)
    X, M = rng.standard_normal((B, J, 3)), rng.standard_normal((B, 2, 3))
    np.testing.assert_allclose(perspective_forward(X, M, 0.0)[0], project_forward(X, M)[0], rtol=1e-12, atol=1e-12)


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(1, 17), k=st.floats(0.05, 1.0), s=st.floats(0.2, 5.0))
def test_a_pinhole_camera_to_first_order(seed, B, J, k, s):
    """A scaled rotation's rows as the camera: each joint's projection is the pinhole camera's at
    distance 1 / k, (X M^T)_j / (1 + k z_j) with z_j the depth along the rotation's third row, to
    within (k z)^2 of it."""
    rng = np.random.default_rng(seed)
    X = 0.3 * rng.standard_normal((B, J, 3))
    R = np.stack([random_rotation(rng) for _ in range(B)])
    M = s * R[:, :2]
    z = np.einsum("bjc,bc->bj", X, R[:, 2])
    pinhole = np.einsum("bjc,brc->bjr", X, M) / (1.0 + k * z)[..., None]
    got = perspective_forward(X, M, k)[0]
    bound = (k * z) ** 2 * np.abs(pinhole).max(axis=-1) + 1e-12
    assert (np.abs(got - pinhole).max(axis=-1) <= bound).all()


def test_a_joint_behind_the_root_is_drawn_smaller_and_one_in_front_larger():
    """The camera's rows x and y, its viewing direction x cross y: z forward, as the archives' camera
    coordinates are (x right, y down, z away from the camera)."""
    M = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    X = np.array([[[0.0, 0.0, 0.0], [0.5, 0.5, 0.3], [0.5, 0.5, -0.3]]])
    W = perspective_forward(X, M, 0.5)[0][0]
    np.testing.assert_array_equal(W[0], 0.0)                       # the root stays at the origin
    assert np.all(np.abs(W[1]) < 0.5) and np.all(np.abs(W[2]) > 0.5)


def test_perspective_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 4, 3)).astype(np.float32)
    M = rng.standard_normal((2, 2, 3)).astype(np.float32)
    Wp, cache = perspective_forward(X, M, 0.4)
    dX, dM = perspective_backward(np.ones_like(Wp), cache)
    assert Wp.dtype == dX.dtype == dM.dtype == np.float32


# -- the checks fail on a broken backward or a step that ignores the option ------------------------------
def _broken(what):
    real = camera_mod.perspective_backward

    def backward(dWp, cache):
        X, M, Y, e, r, n, k = cache
        if what == "depth sign":          # the depth's term flipped
            cache = cache._replace(k=-k)
            dX, _ = real(dWp, cache)
            return dX, real(dWp, cache._replace(k=k))[1]
        if what == "viewing direction":   # dM without the terms through the viewing direction
            return real(dWp, cache)[0], (dWp * e[..., None]).transpose(0, 2, 1) @ X
        raise ValueError(what)

    return backward


@pytest.mark.parametrize("what, wrong", [("depth sign", "X"), ("viewing direction", "M")])
def test_perspective_check_catches_a_broken_backward(monkeypatch, what, wrong):
    from gatepose.gradcheck import critic as gc_critic

    assert_check_catches(monkeypatch, [(gc_critic, "perspective_backward", _broken(what))],
                         lambda: run_check("projection[perspective]", seed=5), wrong, what=what)


def test_step_check_catches_a_step_without_its_perspective(monkeypatch):
    import gatepose.train as train_mod

    real = train_mod.generator_loss
    monkeypatch.setattr(train_mod, "generator_loss", lambda *a, perspective=0.0, **k: real(*a, **k))
    assert_caught(run_check("generator_step_priors[offset,clean,perspective]", seed=3))


def test_consistency_check_catches_a_dropped_depth_term(monkeypatch):
    """consistency_loss_backward without the perspective's depth term (as if exp(-k z) were a constant)."""
    import gatepose.losses3d as L3

    real = L3.consistency_loss_backward
    monkeypatch.setattr(L3, "consistency_loss_backward", lambda dL, cache: real(dL, cache._replace(k=0.0)))
    assert_caught(run_check("consistency_loss[perspective]", seed=4), "X1")


def test_step_check_catches_self_consistency_without_the_perspective(monkeypatch):
    """The trainer's self-consistency term projecting the turned pose without the perspective that
    L_rep has: the step's check fails."""
    import gatepose.train as train_mod

    real = train_mod.consistency_term
    monkeypatch.setattr(train_mod, "consistency_term", lambda gen, gcfg, R, w, perspective=0.0: real(gen, gcfg, R, w))
    assert_caught(run_check("generator_step_priors[offset,clean,perspective]", seed=3))


def test_step_check_catches_a_broken_perspective_backward(monkeypatch):
    import gatepose.losses as losses_mod

    monkeypatch.setattr(losses_mod, "perspective_backward", _broken("viewing direction"))
    assert_caught(run_check("generator_step_priors[offset,clean,perspective]", seed=3))


@pytest.mark.parametrize("what", ["depth term dropped", "depth term's sign"])
def test_turned_projection_check_catches_a_broken_backward(monkeypatch, what):
    """turned_projection_backward with the perspective's depth term dropped (exp(-k z) taken as a
    constant) or its sign flipped."""
    import gatepose.losses3d as L3

    real = L3.turned_projection_backward
    k_of = {"depth term dropped": lambda k: 0.0, "depth term's sign": lambda k: -k}[what]

    def broken(dW, cache):
        dP = L3.normalize_2d_backward(dW, cache.norm)
        dP, dz = camera_mod.depth_shrink_backward(dP, cache.Y[..., :2], cache.e, k_of(cache.k))
        return np.concatenate([dP, dz[..., None]], axis=-1) @ cache.R

    monkeypatch.setattr(L3, "turned_projection_backward", broken)
    assert_caught(run_check("turned_projection[perspective]", seed=6), "X")
    monkeypatch.setattr(L3, "turned_projection_backward", real)
    assert_pass(run_check("turned_projection[perspective]", seed=6))


def test_step_check_catches_the_projection_critic_without_the_perspective(monkeypatch):
    """The trainer's random-projection critic term seeing its turned poses orthographically while
    L_rep has the perspective: the step's check fails."""
    import gatepose.train as train_mod

    real = train_mod.projection_critic_term
    monkeypatch.setattr(train_mod, "projection_critic_term",
                        lambda critic, dcfg, R, w, perspective=0.0: real(critic, dcfg, R, w))
    assert_caught(run_check("generator_step_priors[offset,clean,perspective]", seed=3))


# -- the option -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [-0.1, float("inf"), float("nan")])
def test_a_bad_perspective_is_refused(value):
    with pytest.raises(GateposeError, match="perspective"):
        TrainOptions(perspective=value).check()


def test_a_run_with_perspective_trains_and_resumes(tmp_path):
    assert_resumes_exactly(dict(TINY_TRAIN, lift="offset", perspective=0.4, eval_every=2, checkpoint_every=2), tmp_path)
