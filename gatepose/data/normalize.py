"""Normalisation (SPEC section 7), the one place that states it: root-relative poses divided by
their scale, and back; and root-relative itself, with its backward (the losses and the depth lift
use both).

A pose W (J, 2) is made root-relative (the pelvis, joint 0 in every gatepose skeleton, at the
origin) and divided by s = ||W - W_root||_F, the Frobenius norm of the centred 2 x J matrix, so the
generator sees the pose's shape only; real 3D poses get the same treatment in 3D. Works on NumPy and
CuPy arrays alike and keeps the dtype (float32 in, float32 out).

A pose whose joints all sit on the root has no scale; ``eps`` keeps the division finite (such a
pose normalises to zeros) instead of a host-side check that would stall the GPU.

Missing joints (a departure: docs/detector-inputs.md). A missing 2D joint is NaN in both
coordinates (a joint with any NaN coordinate counts as missing). :func:`normalize_missing` makes
such a pose relative to its root joint where the root is present, else to the mean of its present
joints, and divides by s = ||present joints, centred||_F * sqrt(J / n_present), so that a pose
with fewer joints keeps about the same scale; missing joints stay NaN. :func:`normalize_2d` takes
that path only when its input holds a NaN (a host check: its inputs are the host's), so a pose
without NaN is normalised by exactly the arithmetic above, bit for bit. A pose with fewer than 2
present joints has no shape: ``normalize_2d`` refuses it.
"""
from __future__ import annotations

from gatepose.backend import get_xp
from gatepose.errors import GateposeError

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


def missing_joints(P):
    """P (B, J, D) -> (B, J) bool, True where a joint is missing (any coordinate NaN)."""
    return get_xp(P).isnan(P).any(axis=-1)


def normalize_missing(P, eps: float = 1e-6):
    """P (B, J, D) with missing joints (NaN) -> (Pn, s (B,)): centred on the root joint where it is
    present, else on the mean of the present joints, divided by max(s, eps) with
    s = ||centred present joints||_F * sqrt(J / n_present); missing joints stay NaN. For a pose
    without NaN this is :func:`normalize`'s result (the factor is sqrt(J / J) = 1). No host check:
    a pose with no present joint normalises to NaN (callers keep at least 2, module docstring)."""
    xp = get_xp(P)
    J = P.shape[1]
    present = ~missing_joints(P)                                          # (B, J)
    n = present.sum(axis=1)                                               # (B,)
    P0 = xp.where(present[..., None], P, 0.0)
    mean = P0.sum(axis=1) / xp.maximum(n, 1)[:, None]                     # (B, D)
    origin = xp.where(present[:, ROOT:ROOT + 1], P0[:, ROOT], mean)
    centred = xp.where(present[..., None], P0 - origin[:, None, :], 0.0)
    scale = xp.sqrt((centred * centred).sum(axis=(1, 2))) * xp.sqrt(J / xp.maximum(n, 1))
    out = centred / xp.maximum(scale, eps)[:, None, None]
    return xp.where(present[..., None], out, xp.nan).astype(P.dtype, copy=False), scale.astype(P.dtype, copy=False)


def normalize_2d(W, eps: float = 1e-6):
    """W (B, J, 2) pixels -> (Wn (B, J, 2) root-relative with ||Wn||_F = 1, scale (B,) pixels).
    With missing joints (NaN): :func:`normalize_missing`; fewer than 2 present joints in a pose is
    a GateposeError."""
    if W.ndim != 3 or W.shape[-1] != 2:
        raise ValueError(f"normalize_2d expects poses of shape (B, J, 2), got {tuple(W.shape)}")
    xp = get_xp(W)
    if not bool(xp.isnan(W).any()):
        return normalize(W, eps)
    n = (~missing_joints(W)).sum(axis=1)
    few = xp.flatnonzero(n < 2)
    if few.size:
        i = int(few[0])
        raise GateposeError(f"pose {i} has {int(n[i])} present joint(s) ({int(few.size)} such pose(s)); "
                            "normalising a pose needs at least 2")
    return normalize_missing(W, eps)


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
