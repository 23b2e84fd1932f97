"""What a 2D detector really gives: noisy, occluded and missing joints, made on purpose from clean
2D poses, so that ``gatepose eval`` can measure a lifter on them (``--noise-2d``, ``--drop-joints``,
``--detector-noise``; docs/detector-inputs.md).

Every function is pure NumPy on host arrays (N, J, 2) in pixels, draws from the host
``numpy.random.Generator`` it is given and from nothing else, and returns a new float64 array: the
same generator state gives the same corruption. A missing joint is NaN in both coordinates (the
convention of the whole package: ``data/normalize.py``); a NaN joint stays NaN.

The detector-like setting (:func:`detector_noise`) follows COCO's keypoint similarity (OKS): COCO
publishes a per-keypoint constant sigma_i (the spread of human annotators, in units of the
object's scale s = sqrt(area)); a detection at distance d from the truth scores
exp(-d^2 / (2 s^2 (2 sigma_i)^2)). Here each coordinate of joint i gets Gaussian noise of standard
deviation ``sigma_i * s`` pixels, s the square root of the area of the pose's own 2D bounding box:
the expected OKS of a joint is then 1 / (1 + 1/4) = 0.8, about what a good detector reaches on
COCO (AP ~ 0.75). On top of it, with the rates below: a left/right pair of the skeleton swapped
(SWAP_RATE, per pair and pose) and an outlier (OUTLIER_RATE, per joint: the joint moved to a point
drawn uniformly in the pose's bounding box grown by half on every side).
"""
from __future__ import annotations

import numpy as np

# COCO's published keypoint sigmas (cocoapi, pycocotools/cocoeval.py: COCOeval.computeOks).
COCO_SIGMAS = {"nose": 0.026, "eye": 0.025, "ear": 0.035, "shoulder": 0.079, "elbow": 0.072,
               "wrist": 0.062, "hip": 0.107, "knee": 0.087, "ankle": 0.089}
# A skeleton joint's sigma, by the part of its name after 'l_' / 'r_'. Joints COCO does not label
# take the sigma of the COCO keypoints they are made of (data/coco.py: pelvis = mid-hips, thorax =
# mid-shoulders, spine = all four, neck = the nose, head = the eyes).
JOINT_SIGMAS = {**COCO_SIGMAS, "pelvis": COCO_SIGMAS["hip"], "thorax": COCO_SIGMAS["shoulder"],
                "spine": (COCO_SIGMAS["hip"] + COCO_SIGMAS["shoulder"]) / 2, "neck": COCO_SIGMAS["nose"],
                "head": COCO_SIGMAS["eye"]}
SWAP_RATE = 0.02       # per left/right pair of joints and pose: the two swapped (a detector's confusion)
OUTLIER_RATE = 0.01    # per joint: put anywhere in the person's box grown by half (a false detection)
OUTLIER_MARGIN = 0.5


def joint_sigmas(skeleton) -> np.ndarray:
    """(J,) the COCO sigma of each joint of ``skeleton`` (a Skeleton or its name)."""
    from .skeleton import get_skeleton

    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    return np.array([JOINT_SIGMAS[n.split("_", 1)[1] if n[:2] in ("l_", "r_") else n]
                     for n in sk.joint_names])


def _check(W) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 3 or W.shape[-1] != 2:
        raise ValueError(f"expected 2D poses of shape (N, J, 2), got {W.shape}")
    return W


def gaussian_noise(W, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """W (N, J, 2) + N(0, sigma^2) on every coordinate (``eval --noise-2d SIGMA``, pixels). One
    draw of N*J*2 normals, whatever sigma is (so sigma 0 returns W and still moves ``rng``)."""
    W = _check(W)
    if not (sigma >= 0 and np.isfinite(sigma)):
        raise ValueError(f"noise sigma must be a non-negative number, got {sigma}")
    return W + sigma * rng.standard_normal(W.shape)


def drop_joints(W, k: int, rng: np.random.Generator) -> np.ndarray:
    """W (N, J, 2) with ``k`` joints of each pose, drawn uniformly without replacement, set missing
    (NaN) (``eval --drop-joints K``). 0 <= k <= J - 2: a pose keeps at least 2 joints."""
    W = _check(W).copy()
    N, J = W.shape[:2]
    if not (0 <= k <= J - 2):
        raise ValueError(f"can drop 0 to {J - 2} of {J} joints per pose, got {k}")
    if k:
        order = np.argsort(rng.random((N, J)), axis=1)[:, :k]     # k distinct joints per pose
        W[np.arange(N)[:, None], order] = np.nan
    return W


def keep_mask(u, p: float) -> np.ndarray:
    """Uniforms u (B, J) -> (B, J) bool, True where a joint is kept: each dropped with probability
    p (u < p), except that the two joints with the largest u are always kept, so a pose keeps at
    least 2 joints (``train --aug-drop-joints P``; a pose that already keeps two or more is
    untouched by the rule, since its two largest u are then >= p)."""
    u = np.asarray(u)
    keep = u >= p
    J = u.shape[1]
    top2 = np.argpartition(u, J - 2, axis=1)[:, J - 2:]
    keep[np.arange(u.shape[0])[:, None], top2] = True
    return keep


def _boxes(W):
    """(lo (N, 2), hi (N, 2)) the bounding box of each pose's present joints."""
    return np.nanmin(W, axis=1), np.nanmax(W, axis=1)


def detector_noise(W, skeleton, rng: np.random.Generator, swap_rate: float = SWAP_RATE,
                   outlier_rate: float = OUTLIER_RATE) -> np.ndarray:
    """W (N, J, 2) pixels -> a detector-like corruption (``eval --detector-noise``; the module
    docstring gives the model). Draws, in this order: the normals (N, J, 2), the swaps (N, pairs),
    the outliers (N, J), their positions (N, J, 2)."""
    from .skeleton import get_skeleton

    W = _check(W)
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    N, J = W.shape[:2]
    if J != sk.n_joints:
        raise ValueError(f"poses have {J} joints, the skeleton {sk.name!r} {sk.n_joints}")
    lo, hi = _boxes(W)
    s = np.sqrt(np.prod(np.maximum(hi - lo, 0.0), axis=1))               # (N,) sqrt(box area)
    out = W + rng.standard_normal(W.shape) * (joint_sigmas(sk)[None, :, None] * s[:, None, None])
    flip = np.asarray(sk.flip_permutation)
    left = np.array([j for j in range(J) if flip[j] > j])                # one joint of each pair
    if left.size:
        swap = rng.random((N, left.size)) < swap_rate
        rows, cols = np.nonzero(swap)
        a, b = left[cols], flip[left[cols]]
        out[rows, a], out[rows, b] = out[rows, b].copy(), out[rows, a].copy()
    outlier = rng.random((N, J)) < outlier_rate
    grow = OUTLIER_MARGIN * (hi - lo)
    where = (lo - grow)[:, None, :] + rng.random((N, J, 2)) * (hi - lo + 2 * grow)[:, None, :]
    return np.where(outlier[..., None] & ~np.isnan(out), where, out)


def corrupt_poses(W, skeleton, rng: np.random.Generator, noise_2d: float = 0.0, drop: int = 0,
                  detector: bool = False) -> np.ndarray:
    """The corruption ``gatepose eval`` applies, in this order: the detector-like noise (if
    ``detector``), the Gaussian noise (if ``noise_2d`` > 0), then ``drop`` joints per pose missing."""
    W = _check(W)
    if detector:
        W = detector_noise(W, skeleton, rng)
    if noise_2d:
        W = gaussian_noise(W, noise_2d, rng)
    if drop:
        W = drop_joints(W, drop, rng)
    return W


def fill_missing(W, template) -> np.ndarray:
    """The fallback for a lifter trained without the missing token: W (N, J, 2) with missing (NaN)
    joints -> W with each missing joint taken from ``template`` (J, 2) (a run's mean training pose,
    its x and y: the orthographic projection of ``normalisation.mean_pose_3d``), mapped onto the
    pose by the 2D similarity (scale, rotation, translation; no reflection) that best fits the
    template's present joints to the pose's in least squares. Needs 2 present joints per pose;
    present joints are returned unchanged. In complex numbers a similarity is p = a t + b, so the
    fit is one weighted linear regression per pose: a = <t_c, p_c> / <t_c, t_c> on the centred
    present joints."""
    W = _check(W)
    T = np.asarray(template, dtype=np.float64)
    present = ~np.isnan(W).any(axis=-1)                                   # (N, J)
    if present.all():
        return W.copy()
    n = present.sum(axis=1, keepdims=True)                               # (N, 1)
    if (n < 2).any():
        raise ValueError("filling a pose's missing joints needs at least 2 present joints")
    p = np.where(present, W[..., 0] + 1j * W[..., 1], 0)                  # (N, J) complex
    t = np.broadcast_to(T[:, 0] + 1j * T[:, 1], p.shape) * present
    pc = np.where(present, p - p.sum(axis=1, keepdims=True) / n, 0)
    tc = np.where(present, t - t.sum(axis=1, keepdims=True) / n, 0)
    a = (np.conj(tc) * pc).sum(axis=1, keepdims=True) / np.maximum((np.abs(tc) ** 2).sum(axis=1, keepdims=True), 1e-300)
    b = (p.sum(axis=1, keepdims=True) - a * t.sum(axis=1, keepdims=True)) / n
    fit = a * (T[:, 0] + 1j * T[:, 1])[None] + b
    filled = np.stack([fit.real, fit.imag], axis=-1)
    return np.where(present[..., None], W, filled)
