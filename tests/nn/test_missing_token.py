"""Missing joints in the generators (``missing_token``; docs/detector-inputs.md): the gradient checks
at hypothesis sizes, proof that they fail when the backward is broken (dM dropped or flipped, a
gradient leaking into a missing joint's coordinates, the depth lift's x and y sent to the wrong
place), and that a config without the field runs exactly as before."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gatepose.nn.generator as lifter
import gatepose.nn.posegate as pg
import gatepose.nn.repnet as rn
from gatepose.gradcheck import all_checks, check_backward, run_check
from gatepose.gradcheck.generator import missing_mask, perturbed_params, with_missing
from gatepose.nn.generator import (generator_config_from_dict, generator_forward, has_fast_path,
                                   init_generator)
from helpers import assert_pass
from mutations import assert_caught, assert_check_catches

seeds = st.integers(0, 2**31 - 1)
CASES = ["missing_token[posegate]", "missing_token[posegate,depth]", "missing_token[repnet]",
         "missing_token[repnet,depth]"]


@settings(max_examples=8, deadline=None)
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 9), d_k=st.integers(2, 3), name=st.sampled_from(CASES))
def test_missing_token_gradients(seed, B, J, d_k, name):
    assert_pass(run_check(name, seed=seed, B=B, J=J, h=2, d_k=d_k))


@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 17))
def test_depth_lift_with_missing_joints_gradient(seed, B, J):
    assert_pass(run_check("depth_lift[missing]", seed=seed, B=B, J=J))


# -- the checks fail when the backward is broken ---------------------------------------------------
def _embed_backward(bug):
    def broken(dZ, embed, missing):
        dW, dE, db, dM = REAL_EMBED_BACKWARD(dZ, embed, missing)
        if bug == "no dM":
            dM = 0.0 * dM
        elif bug == "dM sign":
            dM = -dM
        elif bug == "leak":     # the missing tokens' gradient let through to W, E and b
            dW, dE, db = pg.linear_backward(dZ, embed)
        return dW, dE, db, dM
    return broken


REAL_EMBED_BACKWARD = pg.embed_backward


@pytest.mark.parametrize("bug, wrong", [("no dM", "embed.M"), ("dM sign", "embed.M"), ("leak", "W")])
@pytest.mark.parametrize("lift", ["", ",depth"])
def test_posegate_checks_catch_a_broken_missing_token(monkeypatch, bug, wrong, lift):
    errors = assert_check_catches(monkeypatch, [(pg, "embed_backward", _embed_backward(bug))],
                                  lambda: run_check(f"missing_token[posegate{lift}]", seed=1), wrong, what=bug)
    print(bug, lift, {k: f"{v:.1e}" for k, v in errors.items() if v > 1e-3})


def test_repnet_check_catches_a_gradient_into_missing_coordinates(monkeypatch):
    leak = lambda dx, cache: dx[:, :2 * cache.W_shape[1]].reshape(cache.W_shape)   # noqa: E731  (no mask)
    errors = assert_check_catches(monkeypatch, [(rn, "repnet_input_backward", leak)],
                                  lambda: run_check("missing_token[repnet]", seed=1), "W", rest_pass=True)
    print("repnet leak", errors["W"])


@pytest.mark.parametrize("bug", ["xy to W", "xy lost"])
def test_depth_lift_check_catches_missing_xy_sent_wrong(monkeypatch, bug):
    real = lifter.depth_lift_backward

    def broken(dX, cache):
        dW, dZ = real(dX, cache._replace(missing=None))    # as if no joint were missing
        if bug == "xy lost":
            dW = np.where(cache.missing, 0.0, dW)
        return dW, dZ

    case = all_checks()["depth_lift[missing]"]
    fwd, bwd, inputs = case.build(np, np.random.default_rng(2), **case.sizes)
    backward = lambda d, c: dict(zip(("W", "Z"), lifter.depth_lift_backward(d, c)))   # noqa: E731
    errors = assert_check_catches(monkeypatch, [(lifter, "depth_lift_backward", broken)],
                                  lambda: check_backward(fwd, backward, inputs),
                                  *(("W", "Z") if bug == "xy to W" else ("Z",)))
    print(bug, errors)
    assert_caught(run_check("missing_token[posegate,depth]", seed=2))
    assert_caught(run_check("missing_token[repnet,depth]", seed=2))


# -- what the token does, and that old configs are untouched -----------------------------------------
def _cfg(generator, **kw):
    if generator == "repnet":
        return rn.RepNetConfig(n_joints=6, width=8, **kw)
    return pg.PoseGateConfig(n_joints=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, gate_hidden=4, **kw)


@pytest.mark.parametrize("generator", ["posegate", "repnet"])
def test_a_config_without_the_field_is_the_old_one(generator):
    cfg = _cfg(generator)
    d = cfg.to_dict()
    assert "missing_token" not in d and generator_config_from_dict(d) == cfg
    new = _cfg(generator, missing_token=True)
    assert new.to_dict()["missing_token"] is True and generator_config_from_dict(new.to_dict()) == new


def test_the_token_is_drawn_last():
    """Every other parameter is the same draw with or without the token."""
    a = init_generator(_cfg("posegate"), np.random.default_rng(3), np, np.float64)
    b = init_generator(_cfg("posegate", missing_token=True), np.random.default_rng(3), np, np.float64)
    assert set(b) - set(a) == {"embed.M"} and b["embed.M"].shape == (8,)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("lift", ["xyz", "depth"])
def test_without_missing_joints_the_token_changes_nothing(lift):
    cfg = _cfg("posegate", lift=lift)
    p = perturbed_params(dataclasses.replace(cfg, missing_token=True), np, np.random.default_rng(0))
    W = np.random.default_rng(1).standard_normal((4, 6, 2))
    with_token = generator_forward(p, W, dataclasses.replace(cfg, missing_token=True), need_cache=False)[0]
    without = generator_forward({k: v for k, v in p.items() if k != "embed.M"}, W, cfg, need_cache=False)[0]
    np.testing.assert_array_equal(with_token, without)


@pytest.mark.parametrize("generator", ["posegate", "repnet"])
@pytest.mark.parametrize("lift", ["xyz", "depth"])
def test_a_missing_joints_coordinates_do_not_matter(generator, lift):
    cfg = _cfg(generator, lift=lift, missing_token=True)
    p = init_generator(cfg, np.random.default_rng(0), np, np.float64)
    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 6, 2))
    missing = missing_mask(np, rng, 5, 6)
    X = generator_forward(p, with_missing(W, missing), cfg, need_cache=False)[0]
    X2 = generator_forward(p, np.where(missing, 7.0, W), cfg, need_cache=False)[0]  # not marked missing
    assert np.isfinite(X).all()
    assert not np.allclose(X, X2)


def test_the_missing_token_takes_the_plain_path():
    assert has_fast_path(_cfg("posegate")) and not has_fast_path(_cfg("posegate", missing_token=True))
