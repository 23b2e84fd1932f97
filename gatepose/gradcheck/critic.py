"""Gradient-check cases for the weak-supervision models: camera net, projection, KCS, the critic.
(The losses built on them, the penalty's double backward included, are in ``losses.py``.)

Every case is float64 and keeps finite differences off the kinks: LeakyReLU pre-activations are
resampled until |z| > PREACT_MARGIN (far above the checker's step, DEFAULT_EPS = 1e-5).
"""
from __future__ import annotations

import numpy as np

from ..nn.camera import (CameraConfig, camera_backward, camera_forward, camera_min_abs_preactivation,
                        init_camera, perspective_backward, perspective_forward, project_backward,
                        project_forward)
from ..nn.critic import (CriticConfig, critic_backward, critic_forward, critic_min_abs_preactivation,
                         init_critic)
from ..nn.residual import (block_activation_pairs, min_abs_preactivation, residual_block_backward,
                           residual_block_forward)
from ..nn.kcs import incidence_from_parents, kcs_backward, kcs_forward, kcs_jvp
from .checker import CheckResult, check_backward, register_check, rel_error

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


def critic_case(xp, rng, B, J, pose_width, kcs_width, head_width, n_inputs=1, x_scale=0.5, coords=3):
    """(cfg, params, [X ...]) in float64 with every LeakyReLU pre-activation of the critic on each
    X farther than PREACT_MARGIN from zero (resampled until so). ``coords``: 3, or 2 for a critic
    of 2D poses (X: (B, J, coords))."""
    cfg = CriticConfig.from_parents(random_parents(rng, J), pose_width=pose_width,
                                    kcs_width=kcs_width, head_width=head_width, coords=coords)
    for _ in range(_TRIES):
        params = _randomise_biases(init_critic(cfg, rng, xp, F64), rng, xp)
        Xs = [xp.asarray(rng.standard_normal((B, J, coords)) * x_scale) for _ in range(n_inputs)]
        if all(critic_min_abs_preactivation(critic_forward(params, X, cfg)[1]) > PREACT_MARGIN
               for X in Xs):
            return cfg, params, Xs
    raise RuntimeError("could not draw a critic case with pre-activations away from zero")


@register_check("residual_block", B=3, width=6)
def _residual_block(xp, rng, B, width):
    """The residual block of the camera net and RepNet's generator (nn/residual.py), on its own."""
    alpha = 0.3
    for _ in range(_TRIES):
        p = {k: xp.asarray(rng.standard_normal(s) * sc) for k, s, sc in
             (("fc1.W", (width, width), width ** -0.5), ("fc1.b", (width,), 0.5),
              ("fc2.W", (width, width), width ** -0.5), ("fc2.b", (width,), 0.5))}
        u = xp.asarray(rng.standard_normal((B, width)))
        _, c = residual_block_forward(u, p, "", alpha)
        if min_abs_preactivation(block_activation_pairs(c)) > PREACT_MARGIN:
            break
    else:
        raise RuntimeError("could not draw a residual-block case with pre-activations away from zero")
    names = list(p)

    def fwd(i):
        return residual_block_forward(i["u"], {k: i[k] for k in names}, "", alpha)

    def bwd(d, c):
        g = {}
        du = residual_block_backward(d, c, p, "", g)   # the backward runs once, at the inputs p
        return {"u": du, **g}

    return fwd, bwd, {"u": u, **p}


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


@register_check("projection[perspective]", B=3, J=5)
def _projection_perspective(xp, rng, B, J):
    """The projection with perspective (``--perspective``): k drawn in [0.2, 1.5], depths of the
    usual size (a normalised pose's joints lie within about 1 of the root)."""
    k = float(rng.uniform(0.2, 1.5))

    def fwd(i):
        return perspective_forward(i["X"], i["M"], k)

    def bwd(dWp, cache):
        dX, dM = perspective_backward(dWp, cache)
        return {"X": dX, "M": dM}

    return fwd, bwd, {"X": xp.asarray(0.5 * rng.standard_normal((B, J, 3))),
                      "M": xp.asarray(rng.standard_normal((B, 2, 3)))}


@register_check("kcs", B=3, J=5)
def _kcs(xp, rng, B, J):
    """kcs_backward against central differences, and kcs_jvp against them along random directions."""
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


@register_check("critic", B=3, J=5, pose_width=8, kcs_width=12, head_width=6, coords=3)
def _critic(xp, rng, B, J, pose_width, kcs_width, head_width, coords):
    """The critic's backward; ``coords=2``: the same critic on 2D poses (the random-projection critic)."""
    cfg, params, (X,) = critic_case(xp, rng, B, J, pose_width, kcs_width, head_width, coords=coords)

    def fwd(i):
        return critic_forward({k: i[k] for k in params}, i["X"], cfg)

    def bwd(dD, cache):
        dX, grads = critic_backward(dD, cache)
        return {"X": dX, **grads}

    return fwd, bwd, {"X": X, **params}
