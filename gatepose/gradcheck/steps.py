"""Gradient-check cases for the trainer's two steps, through the trainer's own code path.

The op and loss cases check each backward on its own; these check the wiring above them: that
``Trainer.generator_gradients`` returns the gradient of

    L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam      (SPEC section 3)

for every generator and camera parameter (``generator_step``; ``generator_step_geo`` adds
w_geo L_geo, geometric self-consistency; the ``[repnet]`` cases put RepNet's generator in
PoseGate-Former's place, ``train --generator repnet``; ``generator_step_priors`` adds w_geo L_geo,
w_bone L_bone, the bone-length prior, and w_adv_2d L_adv2d, the random-projection critic, and its
``[depth]`` cases the depth lift), and ``Trainer.speed.batch_mean(Trainer.critic_loss, ...)``
the gradient of L_D (SPEC section 5) for every critic parameter (``critic_step[2d]``: the 2D critic's). The objective each is compared
with is written here from the forward passes alone, so a wrong seed in a backward (a flipped sign
of the adversarial term, one loss's weight used for another) cannot cancel out. The weights are
three different non-default numbers, and the batch is cut into two shards, so that the sharded
averaging is checked too. Float64, a tiny model, kinks avoided as in the other cases.
"""
from __future__ import annotations

import numpy as np

from ..data.normalize import normalize
from ..data.prepare import TrainData
from ..losses import adversarial_loss, camera_loss, critic_loss, reprojection_loss
from ..data.augment import camera_turns
from ..losses3d import bone_prior_loss, consistency_loss, turned_projection
from ..nn.camera import camera_forward, perspective_forward, project_forward
from ..nn.critic import critic_forward, critic_min_abs_preactivation
from ..nn.generator import generator_forward
from ..options import TrainOptions
from ..train import Trainer
from .checker import DEFAULT_EPS, DEFAULT_RTOL, CheckResult, check_scalar_gradient, register_check, rel_error
from .critic import _TRIES

# A parameter step of 1e-5 along a unit direction moves a pre-activation by about that much, so a
# margin ten times larger keeps every LeakyReLU on its side (the cases' own margin is 1e-3, but
# these models have many more units: at 1e-3 almost every draw would have one closer).
PREACT_MARGIN = 1e-4

# Three different weights (and a non-default lambda): a swapped or dropped weight changes the sum.
STEP_WEIGHTS = dict(w_adv=0.7, w_rep=1.9, w_cam=0.45, lam=7.3)
STEP_W_GEO = 1.3     # the self-consistency weight of the generator_step_geo case
STEP_W_BONE = 0.35   # the bone prior's weight of the generator_step_priors case
STEP_W_ADV2D = 0.55  # the random-projection critic's weight of the generator_step_priors case
STEP_PERSPECTIVE = 0.6  # the perspective of the [perspective] cases (--perspective)


def _trainer(xp, rng, B, d_model, shards, w_geo=0.0, generator="posegate", w_bone=0.0, lift="xyz", missing=False,
             w_adv_2d=0.0, perspective=0.0):
    """A float64 Trainer of a tiny model on random normalised poses of the h36m17 skeleton
    (``generator="repnet"``: RepNet's generator of width ``d_model`` in PoseGate-Former's place)."""
    J = 17

    def unit(x):
        return normalize(x)[0]

    W = unit(rng.standard_normal((4 * B, J, 2)))
    X = unit(rng.standard_normal((4 * B, J, 3)))
    data = TrainData("h36m17", W, X, W[:0], X[:0], 1000.0, "random", X.mean(0))
    opts = TrainOptions(batch_size=B, d_model=d_model, n_heads=2, n_layers=1, d_ff=2 * d_model,
                        gate_hidden=6, camera_width=8, critic_pose_width=8, critic_kcs_width=12,
                        n_critic=1, shards=shards, seed=int(rng.integers(2**31)), w_geo=w_geo,
                        w_bone=w_bone, w_adv_2d=w_adv_2d, lift=lift, generator=generator, repnet_width=d_model,
                        aug_drop_joints=0.2 if missing else 0.0, perspective=perspective, **STEP_WEIGHTS)
    tr = Trainer(opts, data, xp, np.float64)
    for k, v in tr.critic.items():   # init gives zero biases; random ones move the kinks around (both critics)
        if k.endswith(".b"):
            v[...] = xp.asarray(rng.standard_normal(v.shape) * 0.5)
    if lift != "xyz":
        # The camera starts at M = [I | 0] and the depth lift keeps the input's x and y: W' would be
        # W up to the small depths, every reprojection residual near the kink of its |.|. A camera
        # off its start gives residuals of the usual size.
        tr.cam["out.b"][...] += xp.asarray(0.3 * rng.standard_normal(tr.cam["out.b"].shape))
    return tr, W, X


def _seen(xp, W):
    """What the camera net and L_rep see of W (B, J, 2) with missing (NaN) joints: zeros in their
    place, and the (B, J) weights of L_rep, 1 on present joints and 0 on missing ones."""
    present = ~xp.isnan(W).any(axis=-1)
    return xp.where(present[..., None], W, 0.0), present.astype(W.dtype)


def _project(X, M, perspective: float):
    """The step's projection: X M^T, or with --perspective its perspective form."""
    return perspective_forward(X, M, perspective) if perspective else project_forward(X, M)


def _l1_margin(xp, gen, cam, W, tr, T=None) -> float:
    """How far the reprojection and camera residuals are from the kinks of their |.| (T: L_rep's
    target if not W)."""
    X, _ = generator_forward(gen, W, tr.gcfg, need_cache=False)
    T = _seen(xp, W if T is None else xp.where(xp.isnan(W), xp.nan, T))[0]
    W, present = _seen(xp, W)
    M, _ = camera_forward(cam, W, tr.ccfg)
    Wp, _ = _project(X, M, tr.opts.perspective)
    A = M @ M.transpose(0, 2, 1)
    t = (A[:, 0, 0] + A[:, 1, 1])[:, None, None]
    cam_res = 2.0 * A / t - xp.eye(2)
    # with the depth (or offset) lift the root is at the origin in W and X alike: its residual is zero for any
    # parameters (no kink is crossed), and the other joints' are what can cross one
    joints = slice(1, None) if tr.gcfg.lift != "xyz" else slice(None)
    res = (abs(T - Wp) + 1e9 * (1.0 - present)[..., None])[:, joints]   # missing joints: no kink to cross
    return float(min(float(res.min()), float(abs(cam_res).min())))


@register_check("generator_step", B=6, d_model=8, shards=2)
def _generator_step(xp, rng, B, d_model, shards, w_geo=0.0, generator="posegate", w_bone=0.0, lift="xyz",
                    missing=False, clean=False, w_adv_2d=0.0, perspective=0.0):
    """L_G's gradient for every generator and camera parameter, from Trainer.generator_gradients.
    ``missing``: three joints of every pose missing (NaN), the generator with its missing token.
    ``clean``: L_rep against a target other than the input (``--reproject-clean``).
    ``perspective``: the reprojection with perspective (``--perspective``)."""
    for _ in range(_TRIES):
        tr, W_host, _ = _trainer(xp, rng, B, d_model, shards, w_geo, generator, w_bone, lift, missing, w_adv_2d,
                                 perspective)
        W_host = W_host[:B].copy()
        if missing:
            for b in range(B):
                W_host[b, rng.choice(W_host.shape[1], 3, replace=False)] = np.nan
        W = xp.asarray(W_host)
        # the target: the input before a noise of its own (where W is missing, any value: unseen)
        T = xp.asarray(np.nan_to_num(W_host) + 0.05 * rng.standard_normal(W_host.shape)) if clean else None
        X, _ = generator_forward(tr.gen, W, tr.gcfg, need_cache=False)
        R = camera_turns(rng, B, xp, np.float64, *tr.elevation) if (w_geo or w_adv_2d) else None
        if (_l1_margin(xp, tr.gen, tr.cam, W, tr, T) > 1e-3
                and critic_min_abs_preactivation(critic_forward(tr.critic, X, tr.dcfg)[1]) > PREACT_MARGIN
                and (not w_adv_2d or critic_min_abs_preactivation(
                    critic_forward(tr.critic_2d, turned_projection(X, R, perspective)[0], tr.dcfg_2d)[1]) > PREACT_MARGIN)):
            break
    else:
        raise RuntimeError("could not draw a generator-step case away from the kinks")
    o = tr.opts
    _, grads_gen, grads_cam = tr.generator_gradients(W, R, W_target=T)

    def L_G(i):
        gen = {**tr.gen, **{k[4:]: v for k, v in i.items() if k.startswith("gen/")}}
        cam = {k[4:]: v for k, v in i.items() if k.startswith("cam/")}
        X, _ = generator_forward(gen, W, tr.gcfg, need_cache=False)
        W_seen, present = _seen(xp, W)
        M, _ = camera_forward(cam, W_seen, tr.ccfg)
        Wp, _ = _project(X, M, o.perspective)
        D, _ = critic_forward(tr.critic, X, tr.dcfg)
        T_seen = W_seen if T is None else _seen(xp, xp.where(xp.isnan(W), xp.nan, T))[0]
        L = (o.w_adv * adversarial_loss(D)[0] + o.w_rep * reprojection_loss(T_seen, Wp, present)[0]
             + o.w_cam * camera_loss(M)[0])
        if o.w_geo:
            L = L + o.w_geo * consistency_loss(gen, tr.gcfg, X, R, o.perspective)[0]
        if o.w_bone:
            L = L + o.w_bone * bone_prior_loss(X, tr.incidence, tr.bone_target)[0]
        if o.w_adv_2d:   # -mean D_2d of the pose seen by the turned cameras
            L = L + o.w_adv_2d * adversarial_loss(critic_forward(tr.critic_2d, turned_projection(X, R, o.perspective)[0], tr.dcfg_2d)[0])[0]
        return float(L)

    # with the depth lift, head.b and ln_f.beta move every joint's depth alike, which the lift's
    # root-relative step cancels: their gradients are exactly zero (the lifter[depth] case says so)
    fixed = ("head.b", "ln_f.beta") if lift != "xyz" else ()
    params = {**{"gen/" + k: v for k, v in tr.gen.items() if k not in fixed},
              **{"cam/" + k: v for k, v in tr.cam.items()}}
    grads = {**{"gen/" + k: v for k, v in grads_gen.items()}, **{"cam/" + k: v for k, v in grads_cam.items()}}
    # Each parameter tensor separately, so that a failure names the tensor whose gradient is wrong.
    return _smooth_directions(L_G, grads, params, np.random.default_rng(int(rng.integers(2**31))), xp)


@register_check("generator_step_geo", B=6, d_model=8, shards=2)
def _generator_step_geo(xp, rng, B, d_model, shards):
    """The same with geometric self-consistency on (a departure, losses3d): L_G + w_geo L_geo."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO)


@register_check("generator_step_priors", B=6, d_model=8, shards=2)
def _generator_step_priors(xp, rng, B, d_model, shards):
    """Every departure of the generator step at once: L_G + w_geo L_geo + w_bone L_bone."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D)


@register_check("generator_step_priors[depth]", B=6, d_model=8, shards=2)
def _generator_step_priors_depth(xp, rng, B, d_model, shards):
    """The same with the depth lift (``lift="depth"``), through both lifts of self-consistency."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="depth")


@register_check("generator_step_priors[offset]", B=6, d_model=8, shards=2)
def _generator_step_priors_offset(xp, rng, B, d_model, shards):
    """The same with the offset lift (``lift="offset"``), through both lifts of self-consistency."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="offset")


@register_check("generator_step_priors[missing,offset]", B=6, d_model=8, shards=2)
def _generator_step_priors_missing_offset(xp, rng, B, d_model, shards):
    """Missing joints through every departure of the step with the offset lift."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="offset",
                           missing=True)


@register_check("generator_step_priors[offset,clean]", B=6, d_model=8, shards=2)
def _generator_step_priors_offset_clean(xp, rng, B, d_model, shards):
    """The offset lift with L_rep against the input before its noise (``--reproject-clean``)."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="offset",
                           clean=True)


@register_check("generator_step_priors[offset,clean,perspective]", B=6, d_model=8, shards=2)
def _generator_step_priors_offset_clean_perspective(xp, rng, B, d_model, shards):
    """The same with the reprojection's perspective (``--perspective``, small-weak's options besides)."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="offset",
                           clean=True, perspective=STEP_PERSPECTIVE)


@register_check("generator_step_priors[missing,offset,clean]", B=6, d_model=8, shards=2)
def _generator_step_priors_missing_offset_clean(xp, rng, B, d_model, shards):
    """The same with missing joints: the target weighs nothing there either."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="offset",
                           missing=True, clean=True)


@register_check("generator_step_priors[repnet,depth]", B=6, d_model=8, shards=2)
def _generator_step_priors_repnet_depth(xp, rng, B, d_model, shards):
    """RepNet's generator with every departure of the step and the depth lift."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="depth",
                           generator="repnet")


@register_check("generator_step_priors[missing,depth]", B=6, d_model=8, shards=2)
def _generator_step_priors_missing_depth(xp, rng, B, d_model, shards):
    """Missing joints (NaN; the missing token, ``--aug-drop-joints``) through every departure of the
    step with the depth lift: the camera sees zeros there, L_rep weighs them 0, the lift infers them."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, w_bone=STEP_W_BONE, w_adv_2d=STEP_W_ADV2D, lift="depth",
                           missing=True)


@register_check("generator_step[repnet,missing]", B=6, d_model=8, shards=2)
def _generator_step_repnet_missing(xp, rng, B, d_model, shards):
    """RepNet's generator with missing joints (zeros and its mask input)."""
    return _generator_step(xp, rng, B, d_model, shards, generator="repnet", missing=True)


@register_check("generator_step[repnet]", B=6, d_model=8, shards=2)
def _generator_step_repnet(xp, rng, B, d_model, shards):
    """The same with RepNet's generator (``train --generator repnet``; width d_model) in its place."""
    return _generator_step(xp, rng, B, d_model, shards, generator="repnet")


@register_check("generator_step_geo[repnet]", B=6, d_model=8, shards=2)
def _generator_step_geo_repnet(xp, rng, B, d_model, shards):
    """RepNet's generator with geometric self-consistency: L_G + w_geo L_geo through both lifts."""
    return _generator_step(xp, rng, B, d_model, shards, w_geo=STEP_W_GEO, generator="repnet")


@register_check("critic_step", B=6, d_model=8, shards=2)
def _critic_step(xp, rng, B, d_model, shards, two_d=False):
    """L_D's gradient for every critic weight, from the trainer's speed paths (the stacked, sharded step).
    ``two_d``: the random-projection critic's step on 2D poses (``Trainer.critic_loss_2d``)."""
    for _ in range(_TRIES):
        tr, W_host, X_host = _trainer(xp, rng, B, d_model, shards, w_adv_2d=STEP_W_ADV2D if two_d else 0.0)
        P_host = W_host if two_d else X_host
        X_real, X_fake = xp.asarray(P_host[:B]), xp.asarray(P_host[B:2 * B])
        eps = xp.asarray(rng.uniform(0.0, 1.0, B))
        X_hat = eps[:, None, None] * X_real + (1.0 - eps[:, None, None]) * X_fake
        params, cfg = (tr.critic_2d, tr.dcfg_2d) if two_d else (tr.critic_3d, tr.dcfg)
        if all(critic_min_abs_preactivation(critic_forward(params, X, cfg)[1]) > PREACT_MARGIN
               for X in (X_real, X_fake, X_hat)):
            break
    else:
        raise RuntimeError("could not draw a critic-step case away from the kinks")
    _, grads, _ = tr.speed.batch_mean(tr.critic_loss_2d if two_d else tr.critic_loss, X_real, X_fake, eps)

    def L_D(i):
        return float(critic_loss(i, X_real, X_fake, eps, cfg, tr.opts.lam)[0])

    # The weight matrices: the penalty's double backward and the two Wasserstein terms meet there.
    # (Bias gradients can be exactly zero; the critic_loss case checks them as one vector.)
    weights = [k for k in params if k.endswith(".W")]
    return check_scalar_gradient(L_D, grads, dict(params), wrt=weights, seed=int(rng.integers(2**31)))


@register_check("critic_step[2d]", B=6, d_model=8, shards=2)
def _critic_step_2d(xp, rng, B, d_model, shards):
    """The random-projection critic's step (``--w-adv-2d``): its L_D on 2D poses, every weight."""
    return _critic_step(xp, rng, B, d_model, shards, two_d=True)


def _smooth_directions(loss, grads: dict, params: dict, rng, xp, n_directions: int = 3, tries: int = 30,
                       eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL) -> list:
    """<dL/dp, v> against central differences along random unit directions v, one tensor at a time,
    keeping only directions along which L is smooth over the step.

    L_G holds hundreds of |.| terms (the L1 losses) and LeakyReLU kinks, and a step of a bias moves
    every token of every pose: along some directions one of them lies within the step of its kink,
    and the central difference there measures the kink, not the gradient (errors up to 0.2 were
    seen at eps 1e-5 with correct code). Such a direction shows itself: the differences at eps and
    eps / 2 disagree. It is drawn again. A wrong gradient is wrong along every direction, smooth
    ones included, so this cannot hide a bug (tests/training/test_step_gradchecks.py breaks the wiring)."""
    results = []
    for name, x0 in params.items():
        g = grads[name]
        trial = dict(params)
        ana, num = [], []

        def diff(v, h):
            trial[name] = x0 + h * v
            lp = loss(trial)
            trial[name] = x0 - h * v
            lm = loss(trial)
            # the difference's float64 rounding: a few ulps of the loss over the step
            return (lp - lm) / (2 * h), 4 * np.finfo(np.float64).eps * max(abs(lp), abs(lm)) / h

        # a tenth of the step if the first finds too few smooth directions (a bias of the
        # embedding moves all 17 tokens through LayerNorm: kinks are close along most directions)
        for h in (eps, eps / 10):
            ana, num = [], []
            for _ in range(tries):
                v = rng.standard_normal(x0.shape)
                v = xp.asarray(v / np.linalg.norm(v))
                (d1, round1), (d2, round2) = diff(v, h), diff(v, h / 2)
                # smooth: the two steps agree, up to their rounding (a small derivative of a large
                # loss differs by its rounding alone, which is no kink)
                if abs(d1 - d2) <= 0.1 * rtol * max(abs(d1), abs(d2), 1e-12) + round1 + round2 + 1e-12:
                    ana.append(float((g * v).sum()))
                    num.append(d1)
                    if len(num) == n_directions:
                        break
            if len(num) == n_directions:
                break
        trial[name] = x0
        err = rel_error(np.array(ana), np.array(num)) if len(num) == n_directions else float("inf")
        results.append(CheckResult(name, tuple(x0.shape), err, "directions", rtol))
    return results
