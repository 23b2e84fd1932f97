"""The critic step with its three batches stacked: one critic forward and one backward over 3B rows.

Plain reference: ``gatepose.losses.critic_loss`` (the sum of SPEC section 5 written term by term).
``tests/test_penalty.py::test_stacked_critic_loss_equals_the_plain_sum`` proves them equal (1e-9 in
float64); the ``critic_loss[stacked]`` gradient check tests this one against central differences.
"""
from __future__ import annotations

from ..backend import get_xp
from ..losses import _penalty_and_adjoint
from ..nn.critic import (CriticConfig, Layers, critic_forward, critic_input_backward, critic_param_grads,
                         critic_rows, critic_tangents)


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
