"""The trainer's two steps against central differences of the losses they claim to minimise
(gatepose/gradcheck/steps.py), and proof that these checks catch wrong wiring: a flipped sign of
the adversarial or camera term, one loss weighted by another's weight, the penalty's gradient
scaled, the trainer's lambda ignored. Each of these passed every op-level check before."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gatepose.fast.critic_step as critic_step
import gatepose.losses as losses
from gatepose.gradcheck import run_check
import gatepose.losses3d as losses3d
from gatepose.gradcheck.steps import STEP_W_ADV2D, STEP_W_BONE, STEP_W_GEO, STEP_WEIGHTS
from gatepose.train import Trainer
from helpers import assert_pass
from mutations import assert_caught, output_changed


# d_model >= 8: with 4 features, LayerNorm's gain on a near-constant token can push a critic
# pre-activation across its kink within the finite-difference step.
@given(B=st.integers(4, 9), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=4)
def test_generator_step_gradient(B, d_model, shards, seed):
    assert_pass(run_check("generator_step", seed=seed, B=B, d_model=d_model, shards=shards))


@given(B=st.integers(4, 9), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=3)
def test_generator_step_with_self_consistency_gradient(B, d_model, shards, seed):
    assert_pass(run_check("generator_step_geo", seed=seed, B=B, d_model=d_model, shards=shards))


@given(B=st.integers(4, 9), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=3)
def test_generator_step_with_every_prior_gradient(B, d_model, shards, seed):
    assert_pass(run_check("generator_step_priors", seed=seed, B=B, d_model=d_model, shards=shards))


@given(B=st.integers(4, 9), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16),
       case=st.sampled_from(["generator_step_priors[depth]", "generator_step_priors[repnet,depth]"]))
@settings(max_examples=4)
def test_generator_step_with_every_prior_and_the_depth_lift_gradient(B, d_model, shards, seed, case):
    """The recommended recipe's terms (self-consistency, the bone prior) with the depth lift, for
    both generators."""
    assert_pass(run_check(case, seed=seed, B=B, d_model=d_model, shards=shards))


@given(B=st.integers(4, 9), width=st.sampled_from([6, 8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=4)
def test_generator_step_with_repnet_gradient(B, width, shards, seed):
    """train --generator repnet: the same step with RepNet's generator (of this width) in its place."""
    assert_pass(run_check("generator_step[repnet]", seed=seed, B=B, d_model=width, shards=shards))


@given(B=st.integers(4, 9), width=st.sampled_from([6, 8, 12]), shards=st.integers(1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=3)
def test_generator_step_geo_with_repnet_gradient(B, width, shards, seed):
    assert_pass(run_check("generator_step_geo[repnet]", seed=seed, B=B, d_model=width, shards=shards))


@given(B=st.integers(4, 9), shards=st.integers(1, 3), seed=st.integers(0, 2**16),
       case=st.sampled_from(["critic_step", "critic_step[2d]"]))
@settings(max_examples=6)
def test_critic_step_gradient(B, shards, seed, case):
    """The KCS critic's step, and the random-projection critic's on 2D poses (--w-adv-2d)."""
    assert_pass(run_check(case, seed=seed, B=B, shards=shards))


def test_the_unbroken_cases_used_below_pass():
    assert_pass(run_check("generator_step", seed=3))
    assert_pass(run_check("generator_step_geo", seed=3))
    assert_pass(run_check("generator_step_priors", seed=3))
    assert_pass(run_check("generator_step_priors[depth]", seed=3))
    assert_pass(run_check("generator_step_priors[repnet,depth]", seed=3))
    assert_pass(run_check("critic_step", seed=5))
    assert_pass(run_check("critic_step[2d]", seed=5))
    assert_pass(run_check("generator_step[repnet]", seed=3))
    assert_pass(run_check("generator_step_geo[repnet]", seed=3))


def test_the_weights_differ():
    """Three different weights (and lambda off its default): a swap cannot go unnoticed."""
    w = [STEP_WEIGHTS[k] for k in ("w_adv", "w_rep", "w_cam")] + [STEP_W_GEO, STEP_W_BONE, STEP_W_ADV2D]
    assert len(set(w)) == 6 and 1.0 not in w and STEP_WEIGHTS["lam"] != 10.0


# -- the checks fail on wrong wiring -------------------------------------------------------------
def _scaled_backward(name: str, factor: float):
    """A mutation: losses.<name>'s gradient multiplied by ``factor`` (-1: a flipped sign; a ratio of
    two weights: one loss weighted by another's weight)."""
    def mutate(monkeypatch):
        monkeypatch.setattr(losses, name, output_changed(getattr(losses, name), lambda g, dL, cache: g * factor))

    mutate.__name__ = f"{name}_times_{factor:.3g}"
    return mutate


_flip_adversarial = _scaled_backward("adversarial_loss_backward", -1.0)
_camera_weighted_by_w_rep = _scaled_backward("camera_loss_backward", STEP_WEIGHTS["w_rep"] / STEP_WEIGHTS["w_cam"])
_flip_camera = _scaled_backward("camera_loss_backward", -1.0)
_reprojection_weighted_by_w_adv = _scaled_backward("reprojection_loss_backward",
                                                   STEP_WEIGHTS["w_adv"] / STEP_WEIGHTS["w_rep"])


@pytest.mark.parametrize("mutation", [_flip_adversarial, _camera_weighted_by_w_rep, _flip_camera,
                                      _reprojection_weighted_by_w_adv])
def test_generator_step_check_catches_wrong_wiring(monkeypatch, mutation):
    mutation(monkeypatch)
    assert_caught(run_check("generator_step", seed=3))


@pytest.mark.parametrize("mutation", [_flip_adversarial, _reprojection_weighted_by_w_adv])
def test_generator_step_check_with_repnet_catches_wrong_wiring(monkeypatch, mutation):
    mutation(monkeypatch)
    assert_caught(run_check("generator_step[repnet]", seed=3))


def test_generator_step_check_with_repnet_catches_a_broken_generator_backward(monkeypatch):
    """RepNet's backward with its last block's skip connection dropped: the step's check fails."""
    import gatepose.nn.residual as residual     # RepNet's trunk calls the block from there
    no_skip = output_changed(residual.residual_block_backward,
                             lambda du, dout, cache, p, pre, grads: du - dout * cache.m2)
    monkeypatch.setattr(residual, "residual_block_backward", no_skip)
    assert_caught(run_check("generator_step[repnet]", seed=3))


def _term_mutation(name: str, change, prefix: str = ""):
    """A mutation of a term the trainer builds with ``losses3d.<name>(..., weight, **options)`` (its
    weight the last positional argument): ``change(L, dX, grads, weight) -> (L, dX, grads)`` on what
    the term returns."""
    real = getattr(losses3d, name)

    def mutate(monkeypatch):
        def term(*args, **options):
            inner = real(*args, **options)
            return lambda X: change(*inner(X), args[-1])

        monkeypatch.setattr(f"gatepose.train.{name}", term)

    mutate.__name__ = prefix + change.__name__
    return mutate


def _geo_term(change):
    """A mutation of the self-consistency term (losses3d.consistency_term)."""
    return _term_mutation("consistency_term", change)


def _weight_ignored(L, dX1, grads, weight):
    return L, dX1 / weight, grads and {k: g / weight for k, g in grads.items()}


def _second_lift_dropped(L, dX1, grads, weight):
    """The gradient through the first lift only (the second lift's path lost)."""
    return L, dX1, None


def _first_lift_share_dropped(L, dX1, grads, weight):
    """The second lift's gradients only (the first lift, target and second input, taken as constants)."""
    return L, 0.0 * dX1, grads


def _term_not_added(L, dX1, grads, weight):
    return L, 0.0 * dX1, None


_geo_weight_ignored, _geo_second_lift_dropped, _geo_first_lift_share_dropped, _geo_gradient_not_added = (
    _geo_term(c) for c in (_weight_ignored, _second_lift_dropped, _first_lift_share_dropped, _term_not_added))


@pytest.mark.parametrize("mutation", [_geo_weight_ignored, _geo_second_lift_dropped, _geo_first_lift_share_dropped,
                                      _geo_gradient_not_added])
def test_generator_step_geo_check_catches_wrong_wiring(monkeypatch, mutation):
    mutation(monkeypatch)
    assert_caught(run_check("generator_step_geo", seed=3))


def _bone_term(change):
    """A mutation of the bone-prior term (losses3d.bone_prior_term)."""
    return _term_mutation("bone_prior_term", change, "bone_")


def _flipped(L, dX, grads, weight):
    return L, -dX, grads


_bone_mutations = [_bone_term(c) for c in (_weight_ignored, _term_not_added, _flipped)]


def _adv2d_term(change):
    """A mutation of the random-projection critic's term (losses3d.projection_critic_term)."""
    return _term_mutation("projection_critic_term", change, "adv2d_")


def _turned_projection_without_normalisation(monkeypatch):
    """The turned projection's backward without its normalisation's (only the rotation's transpose)."""
    monkeypatch.setattr(losses3d, "turned_projection_backward", lambda dW, cache: dW @ cache.R[:, :2, :])


_turned_projection_without_normalisation.__name__ = "adv2d_without_normalisation_backward"
_adv2d_mutations = [_adv2d_term(c) for c in (_weight_ignored, _term_not_added, _flipped)]


@pytest.mark.parametrize("mutation", _bone_mutations + [_geo_second_lift_dropped] + _adv2d_mutations
                         + [_turned_projection_without_normalisation], ids=lambda m: m.__name__)
def test_generator_step_priors_check_catches_wrong_wiring(monkeypatch, mutation):
    mutation(monkeypatch)
    assert_caught(run_check("generator_step_priors", seed=3))


def _penalty_gradient_halved(monkeypatch):
    half = output_changed(critic_step._penalty_and_adjoint, lambda out, g, lam: (out[0], 0.5 * out[1], out[2]))
    monkeypatch.setattr(critic_step, "_penalty_and_adjoint", half)


def _trainer_ignores_its_lambda(monkeypatch):
    monkeypatch.setattr(Trainer, "critic_loss", lambda self, X_real, X_fake, eps: self.speed.critic_loss(
        self.critic_3d, X_real, X_fake, eps, self.dcfg, 10.0))


def _wasserstein_sign_flipped(monkeypatch):
    real = critic_step.stacked_critic_loss

    def flipped(params, X_real, X_fake, eps, cfg, lam=10.0):
        b = real(params, X_fake, X_real, 1.0 - eps, cfg, lam)   # real and fake swapped
        return b[0], b[1], b[2]

    monkeypatch.setattr(critic_step, "stacked_critic_loss", flipped)


@pytest.mark.parametrize("mutation", [_penalty_gradient_halved, _trainer_ignores_its_lambda, _wasserstein_sign_flipped])
def test_critic_step_check_catches_wrong_wiring(monkeypatch, mutation):
    mutation(monkeypatch)
    assert_caught(run_check("critic_step", seed=5))


def _trainer_2d_ignores_its_lambda(monkeypatch):
    monkeypatch.setattr(Trainer, "critic_loss_2d", lambda self, W_real, W_fake, eps: self.speed.critic_loss(
        self.critic_2d, W_real, W_fake, eps, self.dcfg_2d, 10.0))


@pytest.mark.parametrize("mutation", [_penalty_gradient_halved, _trainer_2d_ignores_its_lambda, _wasserstein_sign_flipped])
def test_critic_step_2d_check_catches_wrong_wiring(monkeypatch, mutation):
    """The random-projection critic's step: the same bugs caught on 2D poses."""
    mutation(monkeypatch)
    assert_caught(run_check("critic_step[2d]", seed=5))


# -- the generator step with missing joints (--aug-drop-joints: the missing token) ------------------------
@given(B=st.integers(4, 8), d_model=st.sampled_from([8, 12]), shards=st.integers(1, 2), seed=st.integers(0, 2**16),
       case=st.sampled_from(["generator_step_priors[missing,depth]", "generator_step[repnet,missing]"]))
@settings(max_examples=3)
def test_generator_step_with_missing_joints_gradient(B, d_model, shards, seed, case):
    assert_pass(run_check(case, seed=seed, B=B, d_model=d_model, shards=shards))


def _missing_joints_weighted(monkeypatch):
    """L_rep counts the missing joints' residuals (their weights lost)."""
    import gatepose.losses as losses

    real = losses.reprojection_loss
    monkeypatch.setattr(losses, "reprojection_loss", lambda W, Wp, weights=None: real(W, Wp))


def _missing_token_gradient_dropped(monkeypatch):
    """The missing token gets no gradient (PoseGate-Former's embed.M)."""
    import gatepose.nn.generator as generator

    real = generator.generator_backward

    def backward(dX, cache):
        dW, grads = real(dX, cache)
        if "embed.M" in grads:
            grads["embed.M"] = 0.0 * grads["embed.M"]
        return dW, grads

    monkeypatch.setattr(generator, "generator_backward", backward)
    monkeypatch.setattr("gatepose.losses.generator_backward", backward)


@pytest.mark.parametrize("mutation", [_missing_joints_weighted, _missing_token_gradient_dropped])
def test_generator_step_check_with_missing_joints_catches_wrong_wiring(monkeypatch, mutation):
    assert_pass(run_check("generator_step_priors[missing,depth]", seed=3))
    mutation(monkeypatch)
    assert_caught(run_check("generator_step_priors[missing,depth]", seed=3))
