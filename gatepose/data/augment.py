"""Augmentations of training poses: rotation about the vertical axis, left/right mirror, scale.

Not in the paper (a departure, off in the ``paper`` preset): the critic's real 3D poses and the
generator's 2D inputs can be augmented so that a few thousand training poses cover more of the
views and sides a test subject shows.

Coordinates are a camera's: x right, y down (the vertical axis, up to the camera's elevation),
z forward. Every function takes its namespace from its input (NumPy or CuPy) and keeps the dtype;
random draws come from a host ``numpy.random.Generator`` (one small upload per batch).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..backend import get_xp


def yaw_matrices(angles, xp=np, dtype=np.float32):
    """angles: (B,) radians -> R (B, 3, 3), rotations about the y axis (x toward z for angle > 0)."""
    a = np.asarray(angles, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    R[..., 0, 0], R[..., 0, 2] = c, s
    R[..., 1, 1] = 1.0
    R[..., 2, 0], R[..., 2, 2] = -s, c
    return xp.asarray(R, dtype=dtype)


def pitch_matrices(angles, xp=np, dtype=np.float32):
    """angles: (B,) radians -> R (B, 3, 3), rotations about the x axis (a change of camera elevation)."""
    a = np.asarray(angles, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    R[..., 0, 0] = 1.0
    R[..., 1, 1], R[..., 1, 2] = c, -s
    R[..., 2, 1], R[..., 2, 2] = s, c
    return xp.asarray(R, dtype=dtype)


def rotate(X, R):
    """X (B, J, 3), R (B, 3, 3) -> X R^T (B, J, 3): each pose's joints rotated by its R."""
    return X @ R.transpose(0, 2, 1)


@lru_cache(maxsize=None)
def _index_on(xp, permutation: tuple):
    """A permutation as an int64 index array on xp's device, made once per skeleton and backend: a
    training step mirrors every batch, and must not upload the same indices each time."""
    return xp.asarray(np.asarray(permutation, dtype=np.int64))


def mirror(P, flip_permutation, mask=None):
    """Mirror poses left/right: x negated and the left and right joints swapped.

    P: (B, J, D) with D = 2 or 3, flip_permutation: the skeleton's (J,) left/right permutation,
    mask: optional (B,) bool, which poses to mirror (default all). Bone lengths are unchanged, and a
    left bone's length becomes its right partner's.
    """
    xp = get_xp(P)
    M = P[:, _index_on(xp, tuple(int(j) for j in flip_permutation))]
    M[..., 0] *= -1
    if mask is None:
        return M
    m = xp.asarray(mask).reshape(-1, 1, 1)
    return xp.where(m, M, P)


def augment_poses_3d(X, rng: np.random.Generator, flip_permutation, *, yaw: bool = True,
                     flip: bool = True, scale: float = 0.0):
    """The critic's real poses, augmented: X (B, J, 3) root-relative -> (B, J, 3).

    yaw: a rotation about the vertical axis by an angle uniform in [-pi, pi); flip: each pose
    mirrored with probability 1/2; scale: each pose multiplied by a factor uniform in
    [1 - scale, 1 + scale] (0: none).
    """
    xp, B = get_xp(X), X.shape[0]
    if flip:
        X = mirror(X, flip_permutation, rng.random(B) < 0.5)
    if yaw:
        X = rotate(X, yaw_matrices(rng.uniform(-np.pi, np.pi, B), xp, X.dtype))
    if scale:
        X = X * xp.asarray(rng.uniform(1 - scale, 1 + scale, (B, 1, 1)), dtype=X.dtype)
    return X


def augment_poses_2d(W, rng: np.random.Generator, flip_permutation, *, flip: bool = True,
                     roll: float = 0.0):
    """The generator's 2D inputs, augmented: W (B, J, 2) normalised -> (B, J, 2), still normalised.

    flip: each pose mirrored with probability 1/2; roll: an in-plane rotation by an angle uniform
    in [-roll, roll] radians (0: none). Both keep the root at the origin and the Frobenius norm.
    """
    xp, B = get_xp(W), W.shape[0]
    if flip:
        W = mirror(W, flip_permutation, rng.random(B) < 0.5)
    if roll:
        a = rng.uniform(-roll, roll, B)
        c, s = np.cos(a), np.sin(a)
        R = xp.asarray(np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2), dtype=W.dtype)
        W = W @ R.transpose(0, 2, 1)
    return W


def estimate_elevation(X, skeleton) -> tuple[float, float]:
    """The camera elevation the 3D poses X (N, J, 3), in camera coordinates, were seen from:
    (mean, std) in radians of the tilt about the x axis of the body's up vector (pelvis to thorax,
    or to the mean of the joints above the pelvis where there is no thorax). ``pitch_matrices(e)``
    applied to an upright pose gives this tilt, so the self-consistency loss can undo it before
    turning a pose about its vertical axis (ElePose samples elevations like the data's likewise).
    Needs only unpaired 3D poses, the critic's."""
    X = np.asarray(X, dtype=np.float64)
    names = skeleton.joint_names
    if "thorax" in names:
        up = X[:, names.index("thorax")] - X[:, 0]
    else:
        upper = [i for i, n in enumerate(names) if n in ("neck", "head") or n.endswith("shoulder")]
        up = X[:, upper].mean(axis=1) - X[:, 0]
    # an upright pose's up vector is -y (y points down); pitch_matrices(e) turns it to (0, -cos e, -sin e)
    e = np.arctan2(-up[:, 2], -up[:, 1])
    return float(e.mean()), float(e.std())
