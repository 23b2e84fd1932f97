"""RepNet's generator, the baseline of the paper's Table 1 (SPEC section 1b): 2D pose (B, J, 2) ->
3D pose (B, J, 3), an MLP on the flattened pose, every LeakyReLU of slope alpha (0.3, Keras' default):

    h0 = LeakyReLU(Linear(2J, w)(W_flat))
    h_{i+1} = LeakyReLU(h_i + Linear(w, w)(LeakyReLU(Linear(w, w)(h_i))))   n_blocks residual blocks
    h4 = LeakyReLU(Linear(w, w)(h3))
    X  = Linear(w, 3J)(h4).reshape(B, J, 3)

w = 1000 and three blocks by default, as in RepNet's code. The residual block is the camera net's
(``residual.py``: one implementation, two users). In a run it takes PoseGate-Former's place and
nothing else changes: the same camera net, critic, losses and options (``train --generator repnet``).

Missing joints (a departure, ``missing_token``; docs/detector-inputs.md): a missing (NaN) joint's
coordinates enter as zeros, and a (J,) mask, 1 where a joint is missing, is concatenated to the
input, so 'in.W' is (3J, w); no gradient reaches a missing joint's coordinates.

One plain path: the forward and the backward that inverts it. It has no fast shadow (the fused
inference and the GPU one pass of ``gatepose/fast`` are the transformer's): every caller runs this.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, NamedTuple

from ..backend import get_xp
from ..errors import GateposeError
from ..names import SPEC_SIZES
from . import check_config, check_lift, config_from_dict, generator_config_dict
from ..ops.activations import leaky_relu_backward, leaky_relu_forward
from .posegate import check_input
from .residual import (block_activation_pairs, he_std, init_residual_block, min_abs_preactivation,
                       residual_block_forward, trunk_backward)


@dataclass(frozen=True)
class RepNetConfig:
    """Sizes of RepNet's generator; ``kind`` tells it from PoseGate-Former's config in a run's
    config.json (a config without it is PoseGate-Former's)."""

    n_joints: int = 17
    width: int = SPEC_SIZES["repnet_width"]
    n_blocks: int = 3
    alpha: float = 0.3
    kind: str = "repnet"
    lift: str = "xyz"         # one of LIFTS: what the output is (nn/generator.py)
    missing_token: bool = False   # zeros and a missing-joint mask in the input (module docstring)

    def __post_init__(self):
        where = "repnet generator config"
        check_config(self, where, positive=("n_joints", "width"), non_negative=("n_blocks",), slopes=("alpha",))
        if self.kind != "repnet":
            raise GateposeError(f"{where}: kind={self.kind!r}, expected 'repnet'")
        check_lift(self, where)
        if not isinstance(self.missing_token, bool):
            raise GateposeError(f"{where}: missing_token={self.missing_token!r}, expected true or false")

    @property
    def n_inputs(self) -> int:
        """The input layer's width: 2J coordinates, plus J mask entries with ``missing_token``."""
        return (3 if self.missing_token else 2) * self.n_joints

    def to_dict(self) -> dict:
        return generator_config_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "generator config") -> "RepNetConfig":
        return config_from_dict(cls, d, where)


def init_repnet(cfg: RepNetConfig, rng, xp, dtype) -> dict:
    """Parameters: 'in.W' (2J, w) (3J with ``missing_token``), 'blocks.i.fc1.W', 'blocks.i.fc2.W' (w, w), 'fc.W' (w, w),
    'out.W' (w, 3J), a bias '*.b' for each (zero). Drawn from ``rng`` (a numpy Generator) in that order.

    He-normal for the layers that feed a LeakyReLU, like the camera net. 'out.W' has std
    1 / sqrt(3J w): rows h4 of unit RMS then give poses X of Frobenius norm about 1, the scale
    of the normalised poses (SPEC section 7) that the critic compares them with.
    """
    J, w, a = cfg.n_joints, cfg.width, float(cfg.alpha)

    def normal(shape, std):
        return xp.asarray(rng.standard_normal(shape) * std, dtype=dtype)

    n_in = cfg.n_inputs
    p = {"in.W": normal((n_in, w), he_std(n_in, a)), "in.b": xp.zeros(w, dtype=dtype)}
    for i in range(cfg.n_blocks):
        init_residual_block(p, f"blocks.{i}.", w, a, rng, xp, dtype)
    p["fc.W"], p["fc.b"] = normal((w, w), he_std(w, a)), xp.zeros(w, dtype=dtype)
    p["out.W"], p["out.b"] = normal((w, 3 * J), 1.0 / math.sqrt(3 * J * w)), xp.zeros(3 * J, dtype=dtype)
    return p


class RepNetCache(NamedTuple):
    cfg: RepNetConfig
    x: object        # (B, 2J) the flattened input, the input of 'in' ((B, 3J) with the mask)
    m_in: object     # (B, w) slope mask after 'in'
    h0: object       # (B, w) the first block's input
    blocks: list     # ResidualBlockCache per block
    h3: object       # (B, w) the last block's output, the input of 'fc'
    m_fc: object     # (B, w) slope mask after 'fc'
    h4: object       # (B, w) the input of 'out'
    params: Mapping
    W_shape: tuple   # (B, J, 2)
    missing: object = None   # (B, J, 1) bool, the missing joints (missing_token), or None


def repnet_forward(params: Mapping, W, cfg: RepNetConfig, need_cache: bool = True):
    """W: (B, J, 2) normalised 2D poses -> (X (B, J, 3), cache or None)."""
    check_input(W, cfg)
    B, J = W.shape[0], cfg.n_joints
    alpha = float(cfg.alpha)
    x, missing = repnet_input(W, cfg)
    z = x @ params["in.W"]
    z += params["in.b"]
    h0, m_in = leaky_relu_forward(z, alpha, out=z)   # in place: z is a fresh GEMM output
    h, blocks = h0, []
    for i in range(cfg.n_blocks):
        h, c = residual_block_forward(h, params, f"blocks.{i}.", alpha)
        blocks.append(c)
    z = h @ params["fc.W"]
    z += params["fc.b"]
    h4, m_fc = leaky_relu_forward(z, alpha, out=z)
    out = h4 @ params["out.W"]
    out += params["out.b"]
    X = out.reshape(B, J, 3)
    if not need_cache:
        return X, None
    return X, RepNetCache(cfg, x, m_in, h0, blocks, h, m_fc, h4, params, tuple(W.shape), missing)


def repnet_input(W, cfg: RepNetConfig):
    """W (B, J, 2) -> (the input layer's rows (B, 2J), None); with ``missing_token``: ((B, 3J), the
    (B, J, 1) missing mask): the coordinates with zeros for missing joints, then the mask as 0/1."""
    B, J = W.shape[0], cfg.n_joints
    if not cfg.missing_token:
        return W.reshape(B, 2 * J), None
    xp = get_xp(W)
    missing = xp.isnan(W).any(axis=-1, keepdims=True)
    coords = xp.where(missing, 0.0, W).astype(W.dtype, copy=False).reshape(B, 2 * J)
    return xp.concatenate([coords, missing.reshape(B, J).astype(W.dtype)], axis=1), missing


def repnet_input_backward(dx, cache: "RepNetCache"):
    """The input layer's gradient (B, 2J or 3J) -> dW (B, J, 2): the mask takes none, and a missing
    joint's coordinates none."""
    B, J = cache.W_shape[:2]
    dW = dx[:, :2 * J].reshape(cache.W_shape)
    if cache.missing is None:
        return dW
    return get_xp(dW).where(cache.missing, 0.0, dW)


def repnet_backward(dX, cache: RepNetCache):
    """dX: (B, J, 3) -> (dW (B, J, 2), grads keyed exactly like the params)."""
    if cache is None:
        raise ValueError("repnet_backward needs the cache of repnet_forward(need_cache=True)")
    p = cache.params
    B = dX.shape[0]
    g = {}
    dout = dX.reshape(B, -1)
    # X = h4 W_out + b_out
    g["out.W"] = cache.h4.T @ dout
    g["out.b"] = dout.sum(axis=0)
    # h4 = LeakyReLU(h3 W_fc + b_fc)
    dz = leaky_relu_backward(dout @ p["out.W"].T, cache.m_fc)
    g["fc.W"] = cache.h3.T @ dz
    g["fc.b"] = dz.sum(axis=0)
    # the blocks and h0 = LeakyReLU(x W_in + b_in): the camera net's trunk
    dx = trunk_backward(dz @ p["fc.W"].T, cache.blocks, cache.m_in, cache.x, p, g)
    return repnet_input_backward(dx, cache), {k: g[k] for k in p}


def repnet_min_abs_preactivation(cache: RepNetCache) -> float:
    """Smallest |pre-activation| of any LeakyReLU in the forward (for gradient checks)."""
    pairs = [(cache.h0, cache.m_in)] + [pr for c in cache.blocks for pr in block_activation_pairs(c)]
    return min_abs_preactivation(pairs + [(cache.h4, cache.m_fc)])


def parameter_count(params: Mapping) -> int:
    return int(sum(v.size for v in params.values()))
