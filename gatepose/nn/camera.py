"""RepNet's camera net and the learned weak-perspective projection (SPEC section 2).

The camera net reads the normalised 2D pose W (B, J, 2), flattened to (B, 2J), and regresses six
numbers per sample, reshaped to a camera M (B, 2, 3):

    h = LeakyReLU(Linear(2J, w)(W_flat))
    h = LeakyReLU(h + Linear(w, w)(LeakyReLU(Linear(w, w)(h))))        (n_blocks residual blocks)
    M = Linear(w, 6)(h).reshape(B, 2, 3)

The projection is W' = X M^T: (B, J, 3) @ (B, 3, 2) -> (B, J, 2). With ``--perspective k`` (a
departure, off in the paper's presets) each joint's projection is also shrunk by its depth behind
the root, as a pinhole camera does: W'_j = (X M^T)_j exp(-k z_j) (``perspective_forward``).
The residual block is ``residual.py``'s, shared with RepNet's generator (``repnet.py``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

from ..backend import get_xp
from ..names import SPEC_SIZES
from . import check_config, config_from_dict
from ..ops.activations import leaky_relu_forward
from .residual import (block_activation_pairs, he_std, init_residual_block, min_abs_preactivation,
                       residual_block_forward, trunk_backward)


@dataclass(frozen=True)
class CameraConfig:
    """Sizes of the camera net; the defaults are RepNet's (width 1000, two blocks, slope 0.3)."""

    n_joints: int = 17
    width: int = SPEC_SIZES["camera_width"]
    n_blocks: int = 2
    alpha: float = 0.3

    def __post_init__(self):
        check_config(self, "camera config", positive=("n_joints", "width"), non_negative=("n_blocks",),
                     slopes=("alpha",))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CameraConfig":
        return config_from_dict(cls, d, "camera config")


def init_camera(cfg: CameraConfig, rng, xp, dtype) -> dict:
    """Parameters of the camera net: 'in.W' (2J, w), 'blocks.i.fc1.W', 'blocks.i.fc2.W' (w, w),
    'out.W' (w, 6) and a bias '*.b' for each. ``rng`` is a numpy Generator (deterministic for a seed).

    The output layer starts near M = [[1, 0, 0], [0, 1, 0]], the orthographic projection onto x, y
    (small 'out.W', 'out.b' = [1, 0, 0, 0, 1, 0]). Why: 2D inputs and real 3D poses are normalised
    to the same scale (SPEC section 7), so this is already a sensible camera, and the reprojection
    loss sends useful gradients into X from the first step; a zero-initialised M would make X
    invisible to the reprojection and put the camera loss at its singularity tr(M M^T) = 0.
    The small random 'out.W' keeps M input-dependent, so the net can learn to rotate and scale.
    """
    J, w, a = cfg.n_joints, cfg.width, float(cfg.alpha)

    def normal(shape, std):
        return xp.asarray(rng.standard_normal(shape) * std, dtype=dtype)

    p = {"in.W": normal((2 * J, w), he_std(2 * J, a)), "in.b": xp.zeros(w, dtype=dtype)}
    for i in range(cfg.n_blocks):
        init_residual_block(p, f"blocks.{i}.", w, a, rng, xp, dtype)
    p["out.W"] = normal((w, 6), 1e-2 / math.sqrt(w))
    p["out.b"] = xp.asarray([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=dtype)
    return p


class CameraCache(NamedTuple):
    x: object        # (B, 2J) flattened 2D input, the input of 'in'
    m_in: object     # (B, w) slope mask after 'in'
    h0: object       # (B, w) LeakyReLU of 'in', the first block's input
    blocks: list     # ResidualBlockCache per block
    h_out: object    # (B, w) input of 'out'
    params: dict
    W_shape: tuple   # (B, J, 2)


def camera_forward(params: dict, W, cfg: CameraConfig):
    """W: (B, J, 2) normalised 2D poses -> M: (B, 2, 3) cameras, and the cache."""
    B = W.shape[0]
    alpha = float(cfg.alpha)
    x = W.reshape(B, -1)
    z = x @ params["in.W"]
    z += params["in.b"]
    # LeakyReLU in place (out=z): z is a fresh GEMM output, read again only through the mask
    h0, m_in = leaky_relu_forward(z, alpha, out=z)
    h, blocks = h0, []
    for i in range(cfg.n_blocks):
        h, c = residual_block_forward(h, params, f"blocks.{i}.", alpha)
        blocks.append(c)
    out = h @ params["out.W"]
    out += params["out.b"]
    M = out.reshape(B, 2, 3)
    return M, CameraCache(x, m_in, h0, blocks, h, params, tuple(W.shape))


def camera_backward(dM, cache: CameraCache):
    """dM: (B, 2, 3) -> (dW (B, J, 2), grads keyed like the params)."""
    p = cache.params
    B = dM.shape[0]
    grads = {}
    dout = dM.reshape(B, 6)
    # out = h W_out + b_out
    grads["out.W"] = cache.h_out.T @ dout
    grads["out.b"] = dout.sum(axis=0)
    dx = trunk_backward(dout @ p["out.W"].T, cache.blocks, cache.m_in, cache.x, p, grads)
    return dx.reshape(cache.W_shape), {k: grads[k] for k in p}


def camera_min_abs_preactivation(cache: CameraCache) -> float:
    """Smallest |pre-activation| of any LeakyReLU in the forward (for gradient checks: the kink at 0
    must sit farther than the finite-difference step)."""
    pairs = [(cache.h0, cache.m_in)] + [pr for c in cache.blocks for pr in block_activation_pairs(c)]
    return min_abs_preactivation(pairs)


# -- projection: W' = X M^T -------------------------------------------------------------------
class ProjectionCache(NamedTuple):
    X: object  # (B, J, 3)
    M: object  # (B, 2, 3)


def project_forward(X, M):
    """X: (B, J, 3) poses, M: (B, 2, 3) cameras -> W' = X M^T: (B, J, 2), and the cache."""
    return X @ M.transpose(0, 2, 1), ProjectionCache(X, M)


def project_backward(dWp, cache: ProjectionCache):
    """dWp: (B, J, 2) -> (dX (B, J, 3), dM (B, 2, 3)).

    W'_bjr = sum_c X_bjc M_brc, so dX = dW' M and dM = dW'^T X (per sample)."""
    X, M = cache
    return dWp @ M, dWp.transpose(0, 2, 1) @ X


# -- the projection with perspective (a departure: --perspective) -----------------------------------
class PerspectiveCache(NamedTuple):
    X: object  # (B, J, 3)
    M: object  # (B, 2, 3)
    Y: object  # (B, J, 2) X M^T
    e: object  # (B, J) exp(-k z)
    r: object  # (B, 3) the viewing direction: M's rows' cross product, unit length
    n: object  # (B, 1) that cross product's length
    k: float


def depth_shrink(Y, z, k: float):
    """Y: (..., 2) image points, z: (...) their depths behind the root, k >= 0 -> (Y e (..., 2),
    e = exp(-k z) (...)): a pinhole camera's shrink to first order (``perspective_forward``; the
    turned cameras of ``losses3d.turned_view`` draw with it too)."""
    e = get_xp(Y).exp(-k * z)
    return Y * e[..., None], e


def depth_shrink_backward(dP, Y, e, k: float):
    """dP: (..., 2) -> (dY (..., 2), dz (...)): dY = dP e, dz = -k e sum_c(dP_c Y_c)."""
    return dP * e[..., None], (dP * Y).sum(axis=-1) * e * (-k)


def perspective_forward(X, M, k: float):
    """X: (B, J, 3) root-relative poses, M: (B, 2, 3) cameras, k >= 0 -> W' (B, J, 2), cache.

    W'_j = (X M^T)_j exp(-k z_j), z_j = X_j . r the joint's depth behind the root along the
    viewing direction r = (m1 x m2) / |m1 x m2| (image x, y, depth right-handed). A pinhole camera
    at distance D from the root projects (X M^T)_j / (1 + z_j / D); with k = 1 / D (in the pose's
    normalised units: its size over the camera's distance) exp(-k z) is that to first order in
    z / D (relative difference (k z)^2 / 2, under 0.5 % for |k z| < 0.1), and stays positive and
    smooth for any z. k = 0 is ``project_forward``'s scaled orthographic projection."""
    xp = get_xp(X, M)
    Y = X @ M.transpose(0, 2, 1)
    c = xp.cross(M[:, 0], M[:, 1])                                   # (B, 3)
    n = xp.sqrt((c * c).sum(axis=1, keepdims=True))
    r = c / xp.maximum(n, 1e-12)
    Wp, e = depth_shrink(Y, (X @ r[:, :, None])[..., 0], k)         # e (B, J)
    return Wp, PerspectiveCache(X, M, Y, e, r, n, float(k))


def perspective_backward(dWp, cache: PerspectiveCache):
    """dWp: (B, J, 2) -> (dX (B, J, 3), dM (B, 2, 3)).

    With W' = Y e: dY = dW' e, dz = -k e sum_c(dW'_c Y_c); dX = dY M + dz r; dr = sum_j dz_j X_j,
    dc = (dr - r (r . dr)) / |c| (r = c / |c|), and c = m1 x m2 gives dm1 = m2 x dc, dm2 = dc x m1;
    dM = dY^T X + those."""
    xp = get_xp(dWp)
    X, M, Y, e, r, n, k = cache
    dY, dz = depth_shrink_backward(dWp, Y, e, k)                      # dz (B, J)
    dX = dY @ M + dz[..., None] * r[:, None, :]
    dr = (dz[..., None] * X).sum(axis=1)                              # (B, 3)
    dc = (dr - r * (r * dr).sum(axis=1, keepdims=True)) / xp.maximum(n, 1e-12)
    dM = dY.transpose(0, 2, 1) @ X
    dM[:, 0] += xp.cross(M[:, 1], dc)
    dM[:, 1] += xp.cross(dc, M[:, 0])
    return dX, dM
