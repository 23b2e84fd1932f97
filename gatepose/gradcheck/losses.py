"""Gradient-check cases for the losses (SPEC sections 3 and 5): reprojection, camera, the gradient
penalty's double backward and the critic loss.

Float64 throughout; the L1 losses' arguments are kept away from their kinks at zero, and the critic's
LeakyReLU pre-activations away from theirs (``critic.PREACT_MARGIN``).
"""
from __future__ import annotations

import numpy as np

from ..losses import (camera_loss, camera_loss_backward, critic_loss, gradient_penalty,
                      reprojection_loss, reprojection_loss_backward)
from ..fast.critic_step import stacked_critic_loss
from ..nn.critic import critic_forward, critic_min_abs_preactivation
from .checker import check_scalar_gradient, register_check
from .critic import _TRIES, PREACT_MARGIN, critic_case
from .ops import away_from_zero


@register_check("reprojection_loss", B=3, J=5)
def _reprojection_loss(xp, rng, B, J):
    W = xp.asarray(rng.standard_normal((B, J, 2)))
    Wp = W + away_from_zero(xp, rng, B, J, 2, margin=0.05)      # |W - W'| >= 0.05: off the kink
    weights = xp.asarray(rng.uniform(0.5, 1.5, J))

    def fwd(i):
        return reprojection_loss(i["W"], i["Wp"], i["weights"])

    def bwd(dL, cache):
        return {"Wp": reprojection_loss_backward(dL, cache)}

    return fwd, bwd, {"W": W, "Wp": Wp, "weights": weights}, ["Wp"]


def _camera_residual_min(M) -> float:
    """min |(2 / tr(M M^T)) M M^T - I| over entries: the L1 kinks of the camera loss."""
    A = M @ M.transpose(0, 2, 1)
    t = (A[:, 0, 0] + A[:, 1, 1])[:, None, None]
    return float(abs(2.0 * A / t - np.eye(2)).min())


@register_check("camera_loss", B=3)
def _camera_loss(xp, rng, B):
    for _ in range(_TRIES):
        M = rng.standard_normal((B, 2, 3))
        if _camera_residual_min(M) > 0.05:
            break
    else:
        raise RuntimeError("could not draw cameras away from the camera loss's kinks")

    def fwd(i):
        return camera_loss(i["M"])

    def bwd(dL, cache):
        return {"M": camera_loss_backward(dL, cache)}

    return fwd, bwd, {"M": xp.asarray(M)}


@register_check("gradient_penalty", B=3, J=5, pose_width=8, kcs_width=12, head_width=6, coords=3)
def _gradient_penalty(xp, rng, B, J, pose_width, kcs_width, head_width, coords, lam=10.0):
    """The double backward: dP/dW for every weight matrix against central differences of P itself.
    (Biases get zero from the penalty; the tests check that numerically, in absolute terms.)
    ``coords=2``: the critic of 2D poses."""
    cfg, params, (X_hat,) = critic_case(xp, rng, B, J, pose_width, kcs_width, head_width, coords=coords)
    _, grads, _ = gradient_penalty(params, X_hat, cfg, lam)

    def penalty(i):
        return float(gradient_penalty(i, X_hat, cfg, lam)[0])

    weights = [k for k in params if k.endswith(".W")]
    return check_scalar_gradient(penalty, grads, params, wrt=weights, seed=int(rng.integers(2**31)))


@register_check("critic_loss", B=3, J=5, pose_width=8, kcs_width=12, head_width=6, coords=3)
def _critic_loss(xp, rng, B, J, pose_width, kcs_width, head_width, coords, lam=10.0):
    """L_D = mean D(fake) - mean D(real) + penalty: every parameter by central differences of L_D.
    ``coords=2``: the critic of 2D poses."""
    return _critic_loss_case(critic_loss, xp, rng, B, J, pose_width, kcs_width, head_width, lam, coords)


@register_check("critic_loss[stacked]", B=3, J=5, pose_width=8, kcs_width=12, head_width=6, coords=3)
def _stacked_critic_loss(xp, rng, B, J, pose_width, kcs_width, head_width, coords, lam=10.0):
    """The trainer's fast critic step (three batches stacked), checked the same way."""
    return _critic_loss_case(stacked_critic_loss, xp, rng, B, J, pose_width, kcs_width, head_width, lam, coords)


def _critic_loss_case(critic_loss, xp, rng, B, J, pose_width, kcs_width, head_width, lam, coords=3):
    for _ in range(_TRIES):
        cfg, params, (X_real, X_fake) = critic_case(xp, rng, B, J, pose_width, kcs_width, head_width,
                                                    n_inputs=2, coords=coords)
        eps = xp.asarray(rng.uniform(0.0, 1.0, B))
        X_hat = eps[:, None, None] * X_real + (1.0 - eps[:, None, None]) * X_fake
        if critic_min_abs_preactivation(critic_forward(params, X_hat, cfg)[1]) > PREACT_MARGIN:
            break
    else:
        raise RuntimeError("could not draw a critic-loss case with pre-activations away from zero")
    _, grads, _ = critic_loss(params, X_real, X_fake, eps, cfg, lam)

    def loss(i):
        return float(critic_loss(i, X_real, X_fake, eps, cfg, lam)[0])

    weights = [k for k in params if k.endswith(".W")]
    results = check_scalar_gradient(loss, grads, params, wrt=weights, seed=int(rng.integers(2**31)))
    # The biases are checked as one vector: a bias gradient can be exactly 0 (head.out.b always is,
    # 1/B sum over fake - 1/B sum over real, and so is any layer whose downstream slope masks agree
    # on the real and fake rows), and a relative error per layer would then weigh rounding noise
    # against zero. Normalised by the largest bias gradient, a wrong term still shows at order 1.
    biases = [k for k in params if k.endswith(".b")]
    cuts = np.cumsum([params[k].shape[0] for k in biases])[:-1].tolist()   # host indices, as a list

    def loss_of_biases(i):
        return loss({**params, **dict(zip(biases, xp.split(i["biases"], cuts)))})

    results += check_scalar_gradient(loss_of_biases, {"biases": xp.concatenate([grads[k] for k in biases])},
                                     {"biases": xp.concatenate([params[k] for k in biases])},
                                     seed=int(rng.integers(2**31)))
    return results
