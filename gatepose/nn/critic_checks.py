"""Gradient-check cases for the weak-supervision half: camera net, projection, the generator-side
losses, KCS, the critic, the gradient penalty's double backward and the critic loss.

Every case is float64 and keeps finite differences off the kinks: LeakyReLU pre-activations are
resampled until |z| > PREACT_MARGIN (far above the step eps = 1e-6), and the L1 losses' arguments
are kept away from zero.
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import CheckResult, check_backward, check_scalar_gradient, register_check, rel_error
from ..losses import (camera_loss, camera_loss_backward, critic_loss, gradient_penalty,
                      reprojection_loss, reprojection_loss_backward)
from ..ops.checks import away_from_zero
from .camera import (CameraConfig, camera_backward, camera_forward, camera_min_abs_preactivation,
                     init_camera, project_backward, project_forward)
from .critic import (CriticConfig, critic_backward, critic_forward, critic_min_abs_preactivation,
                     init_critic)
from .kcs import kcs_backward, kcs_forward, kcs_jvp

PREACT_MARGIN = 1e-3
_TRIES = 200
F64 = np.float64


def random_parents(rng, J: int) -> list:
    """A random tree on J joints rooted at 0 (each joint's parent has a smaller index)."""
    return [-1] + [int(rng.integers(0, j)) for j in range(1, J)]


def _randomise_biases(params, rng, xp, scale=0.5):
    """Init gives zero biases; random ones exercise the bias gradients and move kinks around."""
    for k, v in params.items():
        if k.endswith(".b"):
            params[k] = v + xp.asarray(rng.standard_normal(v.shape) * scale)
    return params


def critic_case(xp, rng, B, J, pose_width, kcs_width, head_width, n_inputs=1, x_scale=0.5):
    """(cfg, params, [X ...]) in float64 with every LeakyReLU pre-activation of the critic on each
    X farther than PREACT_MARGIN from zero (resampled until so)."""
    cfg = CriticConfig.from_parents(random_parents(rng, J), pose_width=pose_width,
                                    kcs_width=kcs_width, head_width=head_width)
    for _ in range(_TRIES):
        params = _randomise_biases(init_critic(cfg, rng, xp, F64), rng, xp)
        Xs = [xp.asarray(rng.standard_normal((B, J, 3)) * x_scale) for _ in range(n_inputs)]
        if all(critic_min_abs_preactivation(critic_forward(params, X, cfg)[1]) > PREACT_MARGIN
               for X in Xs):
            return cfg, params, Xs
    raise RuntimeError("could not draw a critic case with pre-activations away from zero")


@register_check("camera_net", B=3, J=5, width=8, n_blocks=2)
def _camera_net(xp, rng, B, J, width, n_blocks):
    cfg = CameraConfig(n_joints=J, width=width, n_blocks=n_blocks)
    for _ in range(_TRIES):
        params = _randomise_biases(init_camera(cfg, rng, xp, F64), rng, xp)
        params["out.W"] = xp.asarray(rng.standard_normal((width, 6)) / np.sqrt(width))
        W = xp.asarray(rng.standard_normal((B, J, 2)))
        if camera_min_abs_preactivation(camera_forward(params, W, cfg)[1]) > PREACT_MARGIN:
            break
    else:
        raise RuntimeError("could not draw a camera case with pre-activations away from zero")

    def fwd(i):
        return camera_forward({k: i[k] for k in params}, i["W"], cfg)

    def bwd(dM, cache):
        dW, grads = camera_backward(dM, cache)
        return {"W": dW, **grads}

    return fwd, bwd, {"W": W, **params}


@register_check("projection", B=3, J=5)
def _projection(xp, rng, B, J):
    def fwd(i):
        return project_forward(i["X"], i["M"])

    def bwd(dWp, cache):
        dX, dM = project_backward(dWp, cache)
        return {"X": dX, "M": dM}

    return fwd, bwd, {"X": xp.asarray(rng.standard_normal((B, J, 3))),
                      "M": xp.asarray(rng.standard_normal((B, 2, 3)))}


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


@register_check("kcs", B=3, J=5)
def _kcs(xp, rng, B, J):
    """kcs_backward against central differences, and kcs_jvp against them along random directions."""
    from .kcs import incidence_from_parents

    C = xp.asarray(incidence_from_parents(random_parents(rng, J)))
    X = xp.asarray(rng.standard_normal((B, J, 3)))
    results = check_backward(lambda i: kcs_forward(i["X"], C), lambda d, c: {"X": kcs_backward(d, c)},
                             {"X": X}, seed=int(rng.integers(2**31)))
    eps, worst = 1e-6, 0.0
    for _ in range(4):
        dX = xp.asarray(rng.standard_normal((B, J, 3)))
        num = (kcs_forward(X + eps * dX, C)[0] - kcs_forward(X - eps * dX, C)[0]) / (2 * eps)
        worst = max(worst, rel_error(kcs_jvp(X, C, dX), num))
    results.append(CheckResult("X (jvp)", tuple(X.shape), worst, "directions", 1e-6))
    return results


@register_check("critic", B=3, J=5, pose_width=8, kcs_width=12, head_width=6)
def _critic(xp, rng, B, J, pose_width, kcs_width, head_width):
    cfg, params, (X,) = critic_case(xp, rng, B, J, pose_width, kcs_width, head_width)

    def fwd(i):
        return critic_forward({k: i[k] for k in params}, i["X"], cfg)

    def bwd(dD, cache):
        dX, grads = critic_backward(dD, cache)
        return {"X": dX, **grads}

    return fwd, bwd, {"X": X, **params}


@register_check("gradient_penalty", B=3, J=5, pose_width=8, kcs_width=12, head_width=6)
def _gradient_penalty(xp, rng, B, J, pose_width, kcs_width, head_width, lam=10.0):
    """The double backward: dP/dW for every weight matrix against central differences of P itself.
    (Biases get zero from the penalty; the tests check that numerically, in absolute terms.)"""
    cfg, params, (X_hat,) = critic_case(xp, rng, B, J, pose_width, kcs_width, head_width)
    _, grads, _ = gradient_penalty(params, X_hat, cfg, lam)

    def penalty(i):
        return float(gradient_penalty(i, X_hat, cfg, lam)[0])

    weights = [k for k in params if k.endswith(".W")]
    return check_scalar_gradient(penalty, grads, params, wrt=weights, seed=int(rng.integers(2**31)))


@register_check("critic_loss", B=3, J=5, pose_width=8, kcs_width=12, head_width=6)
def _critic_loss(xp, rng, B, J, pose_width, kcs_width, head_width, lam=10.0):
    """L_D = mean D(fake) - mean D(real) + penalty: every parameter by central differences of L_D."""
    for _ in range(_TRIES):
        cfg, params, (X_real, X_fake) = critic_case(xp, rng, B, J, pose_width, kcs_width, head_width,
                                                    n_inputs=2)
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
