"""Normalisation (SPEC section 7), the one place that states it: root-relative poses divided by
their scale, and back; and root-relative itself, with its backward (the losses and the depth lift
use both).

A pose W (J, 2) is made root-relative (the pelvis, joint 0 in every gatepose skeleton, at the
origin) and divided by s = ||W - W_root||_F, the Frobenius norm of the centred 2 x J matrix, so the
generator sees the pose's shape only; real 3D poses get the same treatment in 3D. Works on NumPy and
CuPy arrays alike and keeps the dtype (float32 in, float32 out).

A pose whose joints all sit on the root has no scale; ``eps`` keeps the division finite (such a
pose normalises to zeros) instead of a host-side check that would stall the GPU.
"""
from __future__ import annotations

from gatepose.backend import get_xp

ROOT = 0   # the pelvis, joint 0 of every gatepose skeleton


def root_relative(P):
    """P (..., J, D) -> the pose with joint ROOT at the origin; same shape and dtype."""
    return P - P[..., ROOT:ROOT + 1, :]


def root_relative_backward(dQ):
    """dQ (B, J, D) -> dP: dQ, with the root's row less the sum over all joints."""
    dP = dQ.copy()
    dP[:, ROOT] -= dQ.sum(axis=1)
    return dP


def normalize(P, eps: float = 1e-6):
    """P (B, J, D) -> (root_relative(P) / max(s, eps), s (B,)), s = ||root_relative(P)||_F."""
    xp = get_xp(P)
    centred = root_relative(P)
    scale = xp.sqrt((centred * centred).sum(axis=(1, 2)))                   # (B,)
    return centred / xp.maximum(scale, eps)[:, None, None], scale


def normalize_2d(W, eps: float = 1e-6):
    """W (B, J, 2) pixels -> (Wn (B, J, 2) root-relative with ||Wn||_F = 1, scale (B,) pixels)."""
    if W.ndim != 3 or W.shape[-1] != 2:
        raise ValueError(f"normalize_2d expects poses of shape (B, J, 2), got {tuple(W.shape)}")
    return normalize(W, eps)


def normalize_3d(X, eps: float = 1e-6):
    """X (B, J, 3) mm -> (Xn (B, J, 3) root-relative with ||Xn||_F = 1, scale (B,) mm)."""
    if X.ndim != 3 or X.shape[-1] != 3:
        raise ValueError(f"normalize_3d expects poses of shape (B, J, 3), got {tuple(X.shape)}")
    return normalize(X, eps)


def denormalize(Pn, scale, root=None):
    """The inverse: Pn (B, J, D) * scale (B,) (or a scalar), plus ``root`` (B, D) if given.

    With the scales returned by :func:`normalize_2d` / :func:`normalize_3d` and the original root
    joint this gives the original poses back; with a scalar (e.g. the training set's mean 3D scale,
    SPEC section 8) it maps predictions to millimetres, root-relative.
    """
    xp = get_xp(Pn)
    scale = xp.asarray(scale, dtype=Pn.dtype)
    P = Pn * (scale[:, None, None] if scale.ndim == 1 else scale)
    if root is not None:
        P = P + root[:, None, :]
    return P


def mean_scale(X, eps: float = 1e-6) -> float:
    """The mean Frobenius scale of root-relative poses X (B, J, 3): the factor for MPJPE in mm."""
    _, s = normalize(X, eps)
    return float(s.mean())
