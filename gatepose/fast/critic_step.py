"""The critic step with its three batches stacked: one critic forward and one backward over 3B rows.

Plain reference: ``gatepose.losses.critic_loss`` (the sum of SPEC section 5 written term by term).
``tests/test_penalty.py::test_stacked_critic_loss_equals_the_plain_sum`` proves them equal (1e-9 in
float64); the ``critic_loss[stacked]`` gradient check tests this one against central differences.

Plain array code with fewer, larger kernels than the plain sum, so it is the trainer's critic step on
every backend (on the CPU its shards run side by side; on a GPU it is one pass over the 3B rows).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..backend import get_xp
from ..losses import _penalty_and_adjoint
from ..nn.critic import (CriticConfig, Layers, critic_forward, critic_input_backward, critic_param_grads,
                         critic_rows, critic_tangents)


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
    critic_tangents(a_g, critic_rows(cache, hat), out=Layers(*(u[hat] for u in cache.inputs)))
    grads = critic_param_grads(cache.inputs, deltas, params, bias=slice(0, 2 * B))
    d_real, d_fake = D[:B].mean(), D[B:2 * B].mean()
    w = d_real - d_fake
    L = P - w
    info = {"wasserstein": w, "penalty": P, "grad_norm": norm.mean(), "d_real": d_real, "d_fake": d_fake}
    return L, grads, info
