"""The losses, in the paper's order (SPEC sections 3, 5 and 6): reprojection, camera, Wasserstein
(the generator's adversarial term), the gradient penalty with its double backward, and the two
losses the trainer minimises: the critic loss L_D and the generator loss L_G.

Every loss returns a 0-d array of its input's dtype (no host synchronisation; the trainer calls
``float`` once per logged step), and backward functions take the upstream scalar ``dL`` (a Python
float such as the loss weight, or a 0-d array).
"""
from __future__ import annotations

from typing import NamedTuple

from .backend import get_xp, python_scalar
from .errors import GateposeError
from .nn.camera import (camera_backward, camera_forward, perspective_backward, perspective_forward, project_backward,
                         project_forward)
from .nn.critic import (CriticConfig, critic_backward, critic_forward, critic_input_backward,
                        critic_param_grads, critic_tangents)
from .nn.generator import generator_backward, generator_forward, takes_missing


# -- reprojection: L_rep = mean_b (1 / 2J) sum_{j,c} w_j |W_bjc - W'_bjc| ----------------------
class ReprojectionCache(NamedTuple):
    sign: object     # (B, J, 2) sign(W - W'), 0 where equal
    weights: object  # (B|1, J, 1) per-joint weights, or None
    shape: tuple     # (B, J, 2)


def reprojection_loss(W, Wp, weights=None):
    """W: (B, J, 2) input 2D poses, Wp: (B, J, 2) reprojections, weights: None, (J,) or (B, J)
    per-joint weights (0 ignores a joint, e.g. a missing detection) -> (L_rep 0-d, cache)."""
    xp = get_xp(W, Wp)
    if W.shape != Wp.shape or W.ndim != 3 or W.shape[2] != 2:
        raise GateposeError(f"reprojection loss: W and W' must both be (B, J, 2), "
                            f"got {W.shape} and {Wp.shape}")
    B, J = W.shape[:2]
    diff = W - Wp
    w = None
    if weights is not None:
        w = xp.asarray(weights, dtype=Wp.dtype)
        if w.shape not in ((J,), (B, J)):
            raise GateposeError(f"reprojection loss: weights must be ({J},) or ({B}, {J}), got {w.shape}")
        w = w.reshape(-1 if w.ndim == 2 else 1, J, 1)
    err = xp.abs(diff)
    if w is not None:
        err *= w
    L = err.sum() * (1.0 / (2 * J * B))
    return L, ReprojectionCache(xp.sign(diff), w, tuple(W.shape))


def reprojection_loss_backward(dL, cache: ReprojectionCache):
    """-> dW' (B, J, 2): -sign(W - W') w_j dL / (2 J B), with sign(0) = 0."""
    B, J = cache.shape[:2]
    dWp = cache.sign * (python_scalar(dL) * (-1.0 / (2 * J * B)))
    if cache.weights is not None:
        dWp *= cache.weights
    return dWp


# -- camera: L_cam = mean_b sum_rc |(2 / tr(M M^T)) M M^T - I_2| -------------------------------
class CameraLossCache(NamedTuple):
    M: object     # (B, 2, 3)
    A: object     # (B, 2, 2) M M^T
    t: object     # (B, 1, 1) tr(A)
    sign: object  # (B, 2, 2) sign(2 A / t - I)


def camera_loss(M):
    """M: (B, 2, 3) cameras -> (L_cam 0-d, cache). Zero iff the rows of M are orthogonal and of equal
    length (a scaled orthographic projection)."""
    xp = get_xp(M)
    B = M.shape[0]
    A = M @ M.transpose(0, 2, 1)
    t = (A[:, 0, 0] + A[:, 1, 1]).reshape(B, 1, 1)
    N = A * (2.0 / t)
    N -= xp.eye(2, dtype=M.dtype)
    L = xp.abs(N).sum() * (1.0 / B)
    return L, CameraLossCache(M, A, t, xp.sign(N))


def camera_loss_backward(dL, cache: CameraLossCache):
    """-> dM (B, 2, 3). With G = dL/dN = sign(N) dL / B and N = 2 A / t - I:
    dL/dA = 2 G / t - (2 <G, A> / t^2) I, and A = M M^T gives dM = (dA + dA^T) M."""
    xp = get_xp(cache.M)
    M, A, t = cache.M, cache.A, cache.t
    G = cache.sign * (python_scalar(dL) * (1.0 / M.shape[0]))
    GA = (G * A).sum(axis=(1, 2)).reshape(-1, 1, 1)
    dA = G * (2.0 / t)
    dA -= (2.0 * GA / (t * t)) * xp.eye(2, dtype=M.dtype)
    return (dA + dA.transpose(0, 2, 1)) @ M


# -- Wasserstein, generator side: L_adv = -mean_b D(X_b) ----------------------------------------
def adversarial_loss(D):
    """D: (B,) critic scores of generated poses -> (L_adv 0-d, cache)."""
    return -D.mean(), D


def adversarial_loss_backward(dL: float, cache):
    """dL: the loss's weight (a number) -> dD (B,): -dL / B everywhere (in D's dtype and on D's device)."""
    D = cache
    return get_xp(D).full(D.shape, -float(dL) / D.shape[0], dtype=D.dtype)


# -- the gradient penalty (WGAN-GP) and its double backward (SPEC section 5) --------------------
def _penalty_and_adjoint(g, lam: float):
    """g: (B, J, 3) input gradients -> (P = lam mean_b (||g_b|| - 1)^2 (0-d), a_g = dP/dg (B, J, 3),
    ||g_b|| (B,))."""
    xp = get_xp(g)
    B = g.shape[0]
    # einsum's sums of products: no squared temporary (one pass fewer each)
    norm = xp.sqrt(xp.einsum("bjc,bjc->b", g, g))
    r = norm - 1.0
    P = xp.einsum("b,b->", r, r) * (lam / B)
    # a_g = (2 lam / B) (||g|| - 1) g / ||g||; the floor only matters for an exactly zero gradient
    coef = r / xp.maximum(norm, 1e-12) * (2.0 * lam / B)
    return P, g * coef.reshape(B, 1, 1), norm


def gradient_penalty(params: dict, X_hat, cfg: CriticConfig, lam: float = 10.0):
    """P = lam mean_b (||dD/dX (X_hat_b)|| - 1)^2 and dP/dtheta for every critic parameter.

    X_hat: (B, J, c), c = cfg.coords (constants: no gradient flows into them). Returns (P 0-d, grads keyed like
    ``params``, info {'grad_norm': mean ||g||, 'penalty': P}, 0-d arrays).

    The double backward, as SPEC section 5 derives it: with the slope masks fixed, g is the output
    of a linear network (the first backward) run on the seed; P depends on theta through that
    network's weights, so dP/dtheta comes from pushing a_g = dP/dg forward through it (a
    forward-mode product, ``critic_tangents``) and meeting the first backward's deltas at each layer:
    dP/dW = a_u^T (m * delta_y). Biases only move the masks, which are piecewise constant: zero.
    """
    xp = get_xp(X_hat)
    D, cache = critic_forward(params, X_hat, cfg)
    # first backward, seed ones: g = dD/dX at X_hat; its deltas are the second backward's cache
    g, deltas = critic_input_backward(xp.ones_like(D), cache)
    P, a_g, norm = _penalty_and_adjoint(g, float(lam))
    # a_X = a_g (pose path), a_Psi = J_KCS(X_hat) a_g (KCS path), then a_y = m * (a_u W) per layer
    tangents = critic_tangents(a_g, cache)
    # dP/dW += a_u^T (m * delta_y) per layer; biases get zero
    grads = critic_param_grads(tangents, deltas, params, bias="zero")
    return P, grads, {"grad_norm": norm.mean(), "penalty": P}


# -- the critic's loss: L_D = mean D(X_f) - mean D(X_r) + lam mean (||g|| - 1)^2 ---------------
def critic_loss(params: dict, X_real, X_fake, eps, cfg: CriticConfig, lam: float = 10.0):
    """X_real, X_fake: (B, J, 3) (constants), eps: (B,) in [0, 1] -> (L_D 0-d, grads keyed like
    ``params``, info). The penalty is taken at X_hat = eps X_real + (1 - eps) X_fake.

    info: 'wasserstein' (mean D(real) - mean D(fake), the critic's estimate of the distance),
    'penalty', 'grad_norm' (mean ||g|| at X_hat), 'd_real', 'd_fake' (mean scores); 0-d arrays.

    The plain sum of SPEC section 5: the critic's backward on the real batch (seed -1/B) and on the
    fake batch (seed +1/B), plus the gradient penalty at X_hat. The trainer's fast path computes the
    same with the three batches stacked (``gatepose.fast.critic_step``).
    """
    xp = get_xp(X_real, X_fake)
    B, dtype = X_real.shape[0], X_real.dtype
    e = xp.asarray(eps, dtype=dtype).reshape(B, 1, 1)
    X_hat = X_real - X_fake                  # eps X_real + (1 - eps) X_fake, in three passes
    X_hat *= e
    X_hat += X_fake
    D_real, c_real = critic_forward(params, X_real, cfg)
    D_fake, c_fake = critic_forward(params, X_fake, cfg)
    _, g_real = critic_backward(xp.full(B, -1.0 / B, dtype=dtype), c_real)   # d(-mean D(X_r))
    _, g_fake = critic_backward(xp.full(B, 1.0 / B, dtype=dtype), c_fake)    # d(+mean D(X_f))
    P, g_pen, info = gradient_penalty(params, X_hat, cfg, lam)
    grads = {k: g_real[k] + g_fake[k] + g_pen[k] for k in params}
    d_real, d_fake = D_real.mean(), D_fake.mean()
    info = {"wasserstein": d_real - d_fake, "penalty": P, "grad_norm": info["grad_norm"],
            "d_real": d_real, "d_fake": d_fake}
    return d_fake - d_real + P, grads, info


# -- the generator's loss: L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam (SPEC section 6) --------
def generator_loss(gen: dict, cam: dict, critic: dict, W, gcfg, ccfg, dcfg, w_adv: float = 1.0,
                   w_rep: float = 1.0, w_cam: float = 1.0, forward=None, terms=(), W_target=None,
                   perspective: float = 0.0):
    """W: (B, J, 2) 2D poses -> ((L_adv, L_rep, L_cam, *terms' losses) 0-d, generator grads,
    camera grads) of L_G, all means over the batch. The critic is frozen: only its input gradient
    is taken.

    X = G(W), M = C(W), W' = X M^T; L_rep(W, W'), L_cam(M), L_adv = -mean D(X).
    ``forward``: (X, cache) of ``generator_forward(gen, W)`` when it is already done (the trainer's
    one-pass path on a GPU, ``fast.one_pass``); None computes it here.
    ``terms``: further losses on the lifted poses, beyond the paper (``losses3d``'s), each a
    function X (B, J, 3) -> (its loss 0-d, d(weight * loss)/dX (B, J, 3), its own generator
    gradients or None). They share this lift: their gradients meet the paper's at X, before the one
    backward through the generator.

    ``W_target``: (B, J, 2) what L_rep compares the reprojection with, if not W (``--reproject-clean``,
    a departure: W before the noise of ``--aug-noise-2d``, so the lifter learns to undo it).
    ``perspective``: k > 0 projects with the depth's perspective (``camera.perspective_forward``,
    ``--perspective``, a departure); 0 is the paper's W' = X M^T.

    Missing joints (NaN in W, a generator with ``missing_token``): the camera net sees W with
    zeros in their place, and they weigh nothing in L_rep (its mean still divides by all 2J
    coordinates); the generator takes them as its config says.
    """
    X, gcache = generator_forward(gen, W, gcfg) if forward is None else forward
    T = W if W_target is None else W_target
    W_seen, T_seen, weights = W, T, None
    if takes_missing(gcfg):
        xp = get_xp(W)
        present = ~xp.isnan(W).any(axis=-1)
        W_seen, T_seen = (xp.where(present[..., None], A, 0.0).astype(W.dtype, copy=False) for A in (W, T))
        weights = present
    M, ccache = camera_forward(cam, W_seen, ccfg)
    project, project_bwd = ((project_forward, project_backward) if not perspective else
                            (lambda X, M: perspective_forward(X, M, perspective), perspective_backward))
    Wp, pcache = project(X, M)
    L_rep, rcache = reprojection_loss(T_seen, Wp, weights)
    L_cam, mcache = camera_loss(M)
    D, dcache = critic_forward(critic, X, dcfg)
    L_adv, acache = adversarial_loss(D)
    # Backward through the frozen critic: its input gradient only, no weight gradients.
    dX_adv, _ = critic_input_backward(adversarial_loss_backward(w_adv, acache), dcache)
    dX_rep, dM_rep = project_bwd(reprojection_loss_backward(w_rep, rcache), pcache)
    dM = dM_rep + camera_loss_backward(w_cam, mcache)
    dX = dX_adv + dX_rep
    term_losses, term_grads = [], []
    for term in terms:
        L_t, dX_t, grads_t = term(X)
        dX += dX_t
        term_losses.append(L_t)
        term_grads.append(grads_t or {})
    _, grads_gen = generator_backward(dX, gcache)
    for grads_t in term_grads:
        for k, g in grads_t.items():
            grads_gen[k] += g
    _, grads_cam = camera_backward(dM, ccache)
    return (L_adv, L_rep, L_cam, *term_losses), grads_gen, grads_cam
