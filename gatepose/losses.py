"""The losses, in the paper's order (SPEC sections 3 and 5): reprojection, camera, Wasserstein
(the generator's adversarial term), the gradient penalty with its double backward, the critic loss.

Every loss returns a 0-d array of its input's dtype (no host synchronisation; the trainer calls
``float`` once per logged step), and backward functions take the upstream scalar ``dL`` (a Python
float such as the loss weight, or a 0-d array).
"""
from __future__ import annotations

from typing import NamedTuple

from .backend import get_xp
from .errors import GateposeError
from .nn.critic import (CriticConfig, Layers, critic_forward, critic_input_backward, critic_param_grads,
                        critic_rows, critic_tangents)


def _scalar(dL):
    """A Python float for host scalars (never a NumPy float64 that would upcast float32); a device
    0-d array stays on the device."""
    return float(dL) if get_xp(dL).__name__ == "numpy" else dL


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
    dWp = cache.sign * (_scalar(dL) * (-1.0 / (2 * J * B)))
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
    G = cache.sign * (_scalar(dL) * (1.0 / M.shape[0]))
    GA = (G * A).sum(axis=(1, 2)).reshape(-1, 1, 1)
    dA = G * (2.0 / t)
    dA -= (2.0 * GA / (t * t)) * xp.eye(2, dtype=M.dtype)
    return (dA + dA.transpose(0, 2, 1)) @ M


# -- Wasserstein, generator side: L_adv = -mean_b D(X_b) ----------------------------------------
def adversarial_loss(D):
    """D: (B,) critic scores of generated poses -> (L_adv 0-d, cache)."""
    return -D.mean(), D


def adversarial_loss_backward(dL, cache):
    """-> dD (B,): -dL / B everywhere (in D's dtype and on D's device)."""
    D = cache
    xp = get_xp(D)
    return xp.full(D.shape, -1.0 / D.shape[0], dtype=D.dtype) * _scalar(dL)


# -- the gradient penalty (WGAN-GP) and its double backward (SPEC section 5) --------------------
def _penalty_and_adjoint(g, lam: float):
    """g: (B, J, 3) input gradients -> (P = lam mean_b (||g_b|| - 1)^2 (0-d), a_g = dP/dg (B, J, 3),
    ||g_b|| (B,))."""
    xp = get_xp(g)
    B = g.shape[0]
    norm = xp.sqrt((g * g).sum(axis=(1, 2)))
    r = norm - 1.0
    P = (r * r).mean() * lam
    # a_g = (2 lam / B) (||g|| - 1) g / ||g||; the floor only matters for an exactly zero gradient
    coef = r / xp.maximum(norm, 1e-12) * (2.0 * lam / B)
    return P, g * coef.reshape(B, 1, 1), norm


def gradient_penalty(params: dict, X_hat, cfg: CriticConfig, lam: float = 10.0):
    """P = lam mean_b (||dD/dX (X_hat_b)|| - 1)^2 and dP/dtheta for every critic parameter.

    X_hat: (B, J, 3) (constants: no gradient flows into them). Returns (P 0-d, grads keyed like
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

    Same gradients as ``critic_backward`` on the real and fake batches plus ``gradient_penalty``
    at X_hat, computed with the three batches stacked so that each layer is one GEMM over 3B rows.
    """
    xp = get_xp(X_real, X_fake)
    B, dtype = X_real.shape[0], X_real.dtype
    e = xp.asarray(eps, dtype=dtype).reshape(B, 1, 1)
    X_hat = e * X_real + (1.0 - e) * X_fake
    D, cache = critic_forward(params, xp.concatenate([X_real, X_fake, X_hat]), cfg)
    D_real, D_fake, hat = D[:B], D[B:2 * B], slice(2 * B, 3 * B)
    # One backward seeded with ones. Each row's deltas are linear in its own seed, so the
    # Wasserstein terms' deltas are these scaled per row by s (-1/B real, +1/B fake), and the
    # X_hat rows give g = dD/dX for the penalty and the deltas of its double backward.
    g_all, deltas = critic_input_backward(xp.ones_like(D), cache)
    P, a_g, norm = _penalty_and_adjoint(g_all[hat], float(lam))
    tangents = critic_tangents(a_g, critic_rows(cache, hat))
    # dL_D/dW = left^T delta over all 3B rows: left = s u on the real and fake rows (first order),
    # the tangent a_u on the X_hat rows (the penalty); the biases see the first-order terms only.
    s = xp.concatenate([xp.full((B, 1), -1.0 / B, dtype=dtype), xp.full((B, 1), 1.0 / B, dtype=dtype)])
    left = Layers(*(xp.concatenate([u[:2 * B] * s, a_u]) for u, a_u in zip(cache.inputs, tangents)))
    bias_rows = xp.concatenate([s[:, 0], xp.zeros(B, dtype=dtype)])
    grads = critic_param_grads(left, deltas, params, bias=bias_rows)
    d_real, d_fake = D_real.mean(), D_fake.mean()
    L = d_fake - d_real + P
    info = {"wasserstein": d_real - d_fake, "penalty": P, "grad_norm": norm.mean(),
            "d_real": d_real, "d_fake": d_fake}
    return L, grads, info
