"""Gradient-check cases for the losses of ``gatepose.losses3d`` (full supervision, geometric
self-consistency and the pieces they are made of). Registered for `gatepose gradcheck` and the
tests; the tests call the builders with hypothesis sizes."""
from __future__ import annotations

import numpy as np

from .. import losses3d as L3
from ..data.augment import camera_turns
from ..nn.posegate import PoseGateConfig
from .checker import register_check
from .generator import perturbed_params


def _randn(xp, rng, *shape):
    return xp.asarray(rng.standard_normal(shape))


@register_check("supervised_loss", B=3, J=5)
def _supervised(xp, rng, B, J, kind="distance"):
    inputs = {"X": _randn(xp, rng, B, J, 3), "X_gt": _randn(xp, rng, B, J, 3)}

    def fwd(i):
        return L3.supervised_loss(i["X"], i["X_gt"], kind)

    def bwd(d, c):
        return {"X": L3.supervised_loss_backward(d, c)}

    return fwd, bwd, inputs, ["X"]


@register_check("supervised_loss[squared]", B=3, J=5)
def _supervised_squared(xp, rng, B, J):
    """``--sup-loss squared``: the mean squared per-joint distance."""
    return _supervised(xp, rng, B, J, "squared")


@register_check("normalize_2d", B=3, J=5)
def _normalize(xp, rng, B, J):
    inputs = {"Y": _randn(xp, rng, B, J, 2)}

    def fwd(i):
        return L3.normalize_2d_forward(i["Y"])

    def bwd(d, c):
        return {"Y": L3.normalize_2d_backward(d, c)}

    return fwd, bwd, inputs


@register_check("consistency_loss", B=2, J=4, h=2, d_k=3, L=1, attention="gated")
def _consistency(xp, rng, B, J, h, d_k, L, attention, perspective=0.0):
    """L_geo w.r.t. the first lift X1 and every generator parameter (the second lift's gradients)."""
    d = h * d_k
    cfg = PoseGateConfig(n_joints=J, d_model=d, n_heads=h, n_layers=L, d_ff=2 * d, gate_hidden=5,
                          attention=attention)
    params = perturbed_params(cfg, xp, rng)
    names = list(params)
    R = camera_turns(rng, B, xp, np.float64, elevation=0.2, elevation_std=0.3)
    inputs = {"X1": _randn(xp, rng, B, J, 3), **params}

    def fwd(i):
        return L3.consistency_loss({k: i[k] for k in names}, cfg, i["X1"], R, perspective)

    def bwd(dL, c):
        dX1, g = L3.consistency_loss_backward(dL, c)
        return {"X1": dX1, **g}

    # head.b and ln_f.beta shift every joint of X2 alike, which the root-relative loss cancels:
    # their gradient is exactly zero, and a relative error of finite-difference noise means nothing
    return fwd, bwd, inputs, ["X1"] + [k for k in names if k not in ("head.b", "ln_f.beta")]


@register_check("consistency_loss[perspective]", B=2, J=4, h=2, d_k=3, L=1, attention="gated")
def _consistency_perspective(xp, rng, B, J, h, d_k, L, attention):
    """The same with the turned camera's perspective (``--perspective``, k drawn in [0.2, 1.5])."""
    return _consistency(xp, rng, B, J, h, d_k, L, attention, perspective=float(rng.uniform(0.2, 1.5)))


@register_check("turned_projection", B=3, J=5)
def _turned_projection(xp, rng, B, J, perspective=0.0):
    """The random-projection critic's view of a lifted pose: n(p(X R^T)) w.r.t. X (``--w-adv-2d``)."""
    R = camera_turns(rng, B, xp, np.float64, elevation=0.2, elevation_std=0.3)
    inputs = {"X": 0.3 * _randn(xp, rng, B, J, 3)}

    def fwd(i):
        return L3.turned_projection(i["X"], R, perspective)

    def bwd(d, c):
        return {"X": L3.turned_projection_backward(d, c)}

    return fwd, bwd, inputs


@register_check("turned_projection[perspective]", B=3, J=5)
def _turned_projection_perspective(xp, rng, B, J):
    """The same with the turned camera's perspective (``--perspective``, k drawn in [0.2, 1.5])."""
    return _turned_projection(xp, rng, B, J, perspective=float(rng.uniform(0.2, 1.5)))


@register_check("bone_prior_loss", B=3, skeleton="h36m17")
def _bone_prior(xp, rng, B, skeleton):
    """L_bone w.r.t. the lifted pose, against a target of ratios off the pose's own (a residual of
    zero would make every term's gradient vanish)."""
    from ..data.skeleton import get_skeleton

    C = xp.asarray(get_skeleton(skeleton).incidence)
    target = xp.asarray(1.0 + 0.3 * rng.standard_normal(C.shape[1]))
    inputs = {"X": _randn(xp, rng, B, C.shape[0], 3)}

    def fwd(i):
        return L3.bone_prior_loss(i["X"], C, target)

    def bwd(d, c):
        return {"X": L3.bone_prior_loss_backward(d, c)}

    return fwd, bwd, inputs, ["X"]


def _whole_step(xp, rng, B, J, h, d_k, which, kind="distance"):
    """A whole step's generator gradients against central differences of its loss (both lifts for
    the self-consistency step)."""
    from .checker import check_scalar_gradient

    d = h * d_k
    cfg = PoseGateConfig(n_joints=J, d_model=d, n_heads=h, n_layers=1, d_ff=2 * d, gate_hidden=5)
    params = perturbed_params(cfg, xp, rng)
    W = _randn(xp, rng, B, J, 2)
    if which == "supervised":
        X_gt = _randn(xp, rng, B, J, 3)
        step = lambda p: L3.supervised_step(p, cfg, W, X_gt, kind)   # noqa: E731
    else:
        R = camera_turns(rng, B, xp, np.float64, elevation=0.2, elevation_std=0.3)
        step = lambda p: L3.consistency_step(p, cfg, W, R)     # noqa: E731
    _, grads = step(params)
    # both losses are root-relative: head.b and ln_f.beta (a shift of every joint) have zero gradient
    wrt = [k for k in params if k not in ("head.b", "ln_f.beta")]
    return check_scalar_gradient(lambda p: float(step(p)[0]), grads, params, wrt=wrt, seed=int(rng.integers(1 << 30)))


@register_check("supervised_step", B=3, J=4, h=2, d_k=2)
def _supervised_step(xp, rng, B, J, h, d_k):
    return _whole_step(xp, rng, B, J, h, d_k, "supervised")


@register_check("supervised_step[squared]", B=3, J=4, h=2, d_k=2)
def _supervised_step_squared(xp, rng, B, J, h, d_k):
    """``train --supervision full --sup-loss squared``'s step."""
    return _whole_step(xp, rng, B, J, h, d_k, "supervised", "squared")


@register_check("consistency_step", B=2, J=4, h=2, d_k=2)
def _consistency_step(xp, rng, B, J, h, d_k):
    return _whole_step(xp, rng, B, J, h, d_k, "consistency")


@register_check("supervised_step[repnet]", B=3, J=4, width=6)
def _supervised_step_repnet(xp, rng, B, J, width):
    """``train --generator repnet --supervision full``'s step: RepNet's generator, every parameter."""
    from ..nn.repnet import RepNetConfig
    from .checker import check_scalar_gradient
    from .generator import repnet_case

    cfg = RepNetConfig(n_joints=J, width=width)
    params, W = repnet_case(cfg, xp, rng, B)
    X_gt = _randn(xp, rng, B, J, 3)
    _, grads = L3.supervised_step(params, cfg, W, X_gt)
    return check_scalar_gradient(lambda p: float(L3.supervised_step(p, cfg, W, X_gt)[0]), grads, params,
                                 seed=int(rng.integers(1 << 30)))
