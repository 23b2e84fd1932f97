"""The critic step with its three batches stacked: one critic forward and one backward over 3B rows.

Plain reference: ``gatepose.losses.critic_loss`` (the sum of SPEC section 5 written term by term).
``tests/losses/test_penalty.py::test_stacked_critic_loss_equals_the_plain_sum`` proves them equal (1e-9 in
float64); the ``critic_loss[stacked]`` gradient check tests this one against central differences.

Plain array code with fewer, larger kernels than the plain sum, so it is the trainer's critic step on
every backend (on the CPU its shards run side by side; on a GPU it is one pass over the 3B rows).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..backend import get_xp
from ..losses import _penalty_and_adjoint
from ..nn.critic import (CriticCache, CriticConfig, Layers, critic_forward, critic_input_backward,
                         critic_param_grads, critic_rows)
from ..nn.kcs import kcs_jvp_square, triu_flat_indices


@lru_cache(maxsize=16)
def _seed(B: int, xp, dtype_str: str):
    """The backward's seed over the stacked rows, made once per (B, backend, dtype): -1/B on the
    real rows, +1/B on the fake rows (d L_D / d D), 1 on the X_hat rows (g = dD/dX there)."""
    s = np.concatenate([np.full(B, -1.0 / B), np.full(B, 1.0 / B), np.ones(B)])
    return xp.asarray(s.astype(dtype_str))


def stacked_critic_loss(params: dict, X_real, X_fake, eps, cfg: CriticConfig, lam: float = 10.0):
    """X_real, X_fake: (B, J, 3) (constants), eps: (B,) in [0, 1] -> (L_D 0-d, grads keyed like
    ``params``, info). The penalty is taken at X_hat = eps X_real + (1 - eps) X_fake.

    info: 'wasserstein' (mean D(real) - mean D(fake), the critic's estimate of the distance),
    'penalty', 'grad_norm' (mean ||g|| at X_hat), 'd_real', 'd_fake' (mean scores); 0-d arrays.

    Same value and gradients as ``losses.critic_loss`` (the plain sum: ``critic_backward`` on the
    real and fake batches plus ``gradient_penalty`` at X_hat), computed with the three batches
    stacked so that each layer is one GEMM over 3B rows.
    """
    xp = get_xp(X_real, X_fake)
    B, dtype = X_real.shape[0], X_real.dtype
    e = xp.asarray(eps, dtype=dtype).reshape(B, 1, 1)
    # [X_real; X_fake; X_hat], X_hat = eps X_real + (1 - eps) X_fake written in its rows
    X_all = xp.concatenate([X_real, X_fake, X_fake])
    hat = slice(2 * B, 3 * B)
    d = X_real - X_fake
    d *= e
    X_hat = X_all[hat]                       # a view: += on it writes the rows, no copy back
    X_hat += d
    D, cache = critic_forward(params, X_all, cfg)
    # One backward over all rows. Each row's deltas are linear in its own seed, so seeding the real
    # and fake rows with d L_D / d D (-1/B, +1/B) gives the Wasserstein terms' deltas directly, and
    # the X_hat rows (seed 1) give g = dD/dX for the penalty and the deltas of its double backward.
    g_all, deltas = critic_input_backward(_seed(B, xp, np.dtype(dtype).str), cache)
    P, a_g, norm = _penalty_and_adjoint(g_all[hat], float(lam))
    # dL_D/dW = left^T delta over all 3B rows: left = u (the layer inputs) on the real and fake rows
    # (first order), the tangent a_u on the X_hat rows (the penalty). The forward's inputs on the
    # X_hat rows are not needed after the first backward, so the tangents are written over them and
    # cache.inputs is the whole left factor. The biases see the first-order rows only.
    critic_tangents_into(a_g, critic_rows(cache, hat), Layers(*(u[hat] for u in cache.inputs)))
    grads = critic_param_grads(cache.inputs, deltas, params, bias=slice(0, 2 * B))
    d_real, d_fake = D[:B].mean(), D[B:2 * B].mean()
    w = d_real - d_fake
    L = P - w
    info = {"wasserstein": w, "penalty": P, "grad_norm": norm.mean(), "d_real": d_real, "d_fake": d_fake}
    return L, grads, info


def critic_tangents_into(a_X, cache: CriticCache, out: Layers) -> Layers:
    """``nn.critic.critic_tangents`` (its plain reference; equal up to rounding, proved through
    tests/losses/test_penalty.py::test_stacked_critic_loss_equals_the_plain_sum) writing the tangents into
    ``out``, a Layers of (B, width) C-contiguous arrays, instead of fresh ones. They may share memory
    with cache.X and the cache's layer inputs, which are read before they are written over: the
    stacked step passes the X_hat rows of its forward's layer inputs, dead after the first backward,
    so that its left factors need no concatenation."""
    p, m, o = cache.params, cache.masks, out
    xp = get_xp(a_X)
    # KCS path first: a_Psi = J_KCS(X) a_X (nn.kcs.kcs_jvp, its upper triangle taken straight into
    # out.kcs_in) reads cache.X, which out.pose_in may be
    B, nb = a_X.shape[0], cache.C.shape[1]
    a_feat = xp.take(kcs_jvp_square(cache.X, cache.C, a_X).reshape(B, nb * nb), triu_flat_indices(nb, xp),
                     axis=1, out=o.kcs_in)
    o.pose_in[...] = a_X.reshape(a_X.shape[0], -1)               # pose path: a_X enters as it is
    a_h1 = xp.matmul(o.pose_in, p["pose.in.W"], out=o.pose_fc1)
    a_h1 *= m.h1
    a_h2 = xp.matmul(a_h1, p["pose.fc1.W"], out=o.pose_fc2)
    a_h2 *= m.h2
    a_z3 = xp.matmul(a_h2, p["pose.fc2.W"], out=o.pose_out)
    a_z3 += a_h1                                                   # h1 + pose.fc2(h2)
    a_z3 *= m.h3
    a_p = a_z3 @ p["pose.out.W"]
    a_k1 = xp.matmul(a_feat, p["kcs.in.W"], out=o.kcs_fc1)
    a_k1 *= m.k1
    a_k2 = xp.matmul(a_k1, p["kcs.fc1.W"], out=o.kcs_fc2)
    a_k2 *= m.k2
    a_k = a_k2 @ p["kcs.fc2.W"]
    # head: a_c = concat(a_p, a_k1 + a_k), written into its halves
    a_c = o.head_fc
    a_c[:, :a_p.shape[1]] = a_p
    xp.add(a_k, a_k1, out=a_c[:, a_p.shape[1]:])
    a_hh = xp.matmul(a_c, p["head.fc.W"], out=o.head_out)
    a_hh *= m.hh
    return Layers(o.pose_in, a_h1, a_h2, a_z3, a_feat, a_k1, a_k2, a_c, a_hh)
