"""Augmentations of training poses: a turn about the body's vertical axis as the camera sees it, and
a left/right mirror (the rotations are the self-consistency loss's too); noise on the 2D inputs and
joints made missing (``--aug-noise-2d``, ``--aug-drop-joints``, :func:`corrupt_inputs`).

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
from .corrupt import keep_mask
from .normalize import normalize, normalize_missing


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


def camera_turns(rng, B: int, xp, dtype, elevation: float = 0.0, elevation_std: float = 0.0):
    """(B, 3, 3) random rotations R = Rx(e2) Ry(theta) Rx(-e1), for the self-consistency loss and the
    real poses' augmentation.

    theta uniform in [-pi, pi) turns the pose about the body's vertical axis as a camera at
    elevation e1 sees it, then e2 views it from another elevation; e1, e2 ~ N(elevation,
    elevation_std^2) (radians), the spread of the data's camera elevations. With both 0: a yaw.
    """
    e1 = elevation + elevation_std * rng.standard_normal(B)
    e2 = elevation + elevation_std * rng.standard_normal(B)
    theta = rng.uniform(-np.pi, np.pi, B)
    R = (pitch_matrices(e2, np, np.float64) @ yaw_matrices(theta, np, np.float64)
         @ pitch_matrices(-e1, np, np.float64))
    return xp.asarray(R, dtype=dtype)



def flip_half(rng: np.random.Generator, flip_permutation, *poses):
    """Each pose mirrored with probability 1/2 (``--aug-flip-2d``): one draw per pose, shared by the
    arrays given, so a 2D input and its paired 3D pose mirror together. poses: (B, J, D) arrays ->
    the same, one array or a tuple."""
    mask = rng.random(poses[0].shape[0]) < 0.5
    out = tuple(mirror(P, flip_permutation, mask) for P in poses)
    return out if len(out) > 1 else out[0]


def augment_real_poses(X, rng: np.random.Generator, flip_permutation, elevation: float):
    """The critic's real poses, augmented (``--aug-real``): X (B, J, 3) root-relative -> (B, J, 3),
    each mirrored with probability 1/2, then turned about the body's vertical axis as a camera at
    ``elevation`` (radians) sees it (:func:`camera_turns`, the elevation undone and redone)."""
    X = flip_half(rng, flip_permutation, X)
    return rotate(X, camera_turns(rng, X.shape[0], get_xp(X), X.dtype, elevation, 0.0))


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


def corrupt_inputs(W, rng: np.random.Generator, noise: float = 0.0, drop: float = 0.0, spread: bool = False):
    """Normalised 2D inputs W (B, J, 2) as a detector would give them (``--aug-noise-2d SIGMA``,
    ``--aug-drop-joints P``), normalised again: N(0, SIGMA^2) on every coordinate (SIGMA a fraction
    of the pose's scale, since ||W||_F = 1), then each joint missing (NaN) with probability P, at
    least 2 kept per pose (``corrupt.keep_mask``). With ``spread`` (``--aug-noise-spread``) each pose
    draws its own sigma, uniform on [0, 2 SIGMA], as a detector is sure of some poses and not of
    others (measured against one level: docs/detector-inputs.md).
    Draws: the per-pose uniforms (B,) with ``spread``, the normals (B, J, 2), then the uniforms
    (B, J); none for an option that is off. The result is normalised like any input with missing
    joints (``normalize.normalize_missing``), so a corrupted input looks like a corrupted test pose."""
    xp = get_xp(W)
    if noise:
        sigma = 2 * noise * rng.random((W.shape[0], 1, 1)) if spread else noise
        W = W + xp.asarray(rng.standard_normal(W.shape) * sigma, dtype=W.dtype)
    if not drop:
        return normalize(W)[0]
    missing = xp.asarray(~keep_mask(rng.random(W.shape[:2]), drop))
    return normalize_missing(xp.where(missing[..., None], xp.nan, W).astype(W.dtype, copy=False))[0]
