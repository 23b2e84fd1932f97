"""The kinematic chain space (Wandt et al.; SPEC section 4): bone vectors and their Gram matrix.

For bones k = 1..nb (child c_k, parent p_k) and the J x nb incidence matrix C (+1 at the child,
-1 at the parent), a pose's bones are B = X^T C (paper: 3 x nb); in code, per sample and with bones
as rows, bones = C^T X: (B, nb, 3). Psi = bones bones^T: (B, nb, nb) holds squared bone lengths on
its diagonal and the (unnormalised) angles between bones off it. Psi is symmetric, so the critic
reads its upper triangle, diagonal included: nb (nb + 1) / 2 features.

Three functions: the forward, its backward (J_KCS^T, used by every critic backward) and its
forward-mode product (J_KCS a, used by the gradient penalty's double backward).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..backend import get_xp
from ..errors import GateposeError


def incidence_from_parents(parents, dtype=np.float64) -> np.ndarray:
    """J x nb incidence matrix (host NumPy) from parent indices (-1 for a root): one bone per
    non-root joint j, in joint order, with +1 at j (the child) and -1 at its parent."""
    parents = [int(p) for p in parents]
    J = len(parents)
    children = [j for j, p in enumerate(parents) if p >= 0]
    C = np.zeros((J, len(children)), dtype=dtype)
    for k, j in enumerate(children):
        p = parents[j]
        if not (0 <= p < J) or p == j:
            raise GateposeError(f"skeleton parents: joint {j} has parent {p}, expected -1 or another "
                                f"joint index in [0, {J})")
        C[j, k] = 1.0
        C[p, k] = -1.0
    return C


@lru_cache(maxsize=None)
def triu_flat_indices(nb: int, xp) -> object:
    """Flat indices into an nb x nb matrix of its upper triangle, diagonal included (row-major),
    made once per size and array module so the hot path never copies them to the device."""
    r, c = np.triu_indices(nb)
    return xp.asarray(r * nb + c)


def n_kcs_features(nb: int) -> int:
    return nb * (nb + 1) // 2


def kcs_psi(X, C):
    """X: (B, J, 3), C: (J, nb) -> Psi = bones bones^T: (B, nb, nb), the full Gram matrix (for
    inspection and tests; the critic reads only its upper triangle through kcs_forward)."""
    bones = C.T @ X
    return bones @ bones.transpose(0, 2, 1)


class KCSCache(NamedTuple):
    bones: object  # (B, nb, 3) bone vectors of the forward input
    C: object      # (J, nb) incidence matrix


def kcs_forward(X, C):
    """X: (B, J, 3) poses, C: (J, nb) incidence -> (features (B, nb (nb + 1) / 2), cache).

    features = triu(Psi), Psi = bones bones^T, bones = C^T X: (B, nb, 3)."""
    xp = get_xp(X)
    B, nb = X.shape[0], C.shape[1]
    bones = C.T @ X                                      # (nb, J) @ (B, J, 3) -> (B, nb, 3)
    Psi = bones @ bones.transpose(0, 2, 1)               # (B, nb, nb)
    feat = xp.take(Psi.reshape(B, nb * nb), triu_flat_indices(nb, xp), axis=1)
    return feat, KCSCache(bones, C)


def kcs_backward(dfeat, cache: KCSCache):
    """dfeat: (B, nb (nb + 1) / 2) -> dX: (B, J, 3), i.e. J_KCS^T dfeat.

    Scatter dfeat into an nb x nb matrix T (upper triangle), then with Psi_kl = b_k . b_l,
    d/db_m sum_{k<=l} T_kl b_k . b_l = ((T + T^T) bones)_m: the symmetrisation S = T + T^T doubles
    the diagonal, as d(b_k . b_k)/db_k = 2 b_k. Joints' gradient: C times the bones' gradient."""
    bones, C = cache
    xp = get_xp(dfeat)
    B, nb = bones.shape[0], bones.shape[1]
    T = xp.zeros((B, nb * nb), dtype=dfeat.dtype)
    T[:, triu_flat_indices(nb, xp)] = dfeat
    T = T.reshape(B, nb, nb)
    S = T + T.transpose(0, 2, 1)
    dbones = S @ bones                                   # (B, nb, 3)
    return C @ dbones                                    # (J, nb) @ (B, nb, 3) -> (B, J, 3)


def kcs_jvp_square(X, C, dX):
    """Forward-mode product J_KCS(X) dX before the upper triangle is taken: (B, J, 3) -> dPsi
    (B, nb, nb). With dB = C^T dX the bones of the direction, dPsi = dB bones^T + bones dB^T (the
    product rule on Psi = bones bones^T; the two terms are transposes of each other)."""
    bones = C.T @ X
    dPsi = (C.T @ dX) @ bones.transpose(0, 2, 1)         # dB bones^T: (B, nb, nb)
    return dPsi + dPsi.transpose(0, 2, 1)


def kcs_jvp(X, C, dX):
    """Forward-mode product J_KCS(X) dX: (B, J, 3) -> (B, nb (nb + 1) / 2), the upper triangle of
    :func:`kcs_jvp_square` (the features' layout)."""
    xp = get_xp(X, dX)
    B, nb = X.shape[0], C.shape[1]
    return xp.take(kcs_jvp_square(X, C, dX).reshape(B, nb * nb), triu_flat_indices(nb, xp), axis=1)
