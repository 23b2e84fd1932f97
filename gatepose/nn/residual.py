"""The residual block of RepNet's networks: one implementation, two users, the camera net
(``camera.py``) and RepNet's generator (``repnet.py``). On (B, w) rows, every LeakyReLU of slope
alpha (RepNet's 0.3):

    u -> LeakyReLU(u + Linear(w, w)(LeakyReLU(Linear(w, w)(u))))

Parameters live in the user's flat dict under a prefix (``blocks.i.``): ``fc1.W``, ``fc2.W`` (w, w)
and ``fc1.b``, ``fc2.b`` (w,). He-normal weights for a LeakyReLU of slope alpha, zero biases.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import get_xp
from ..ops.activations import leaky_relu_backward, leaky_relu_forward


def he_std(fan_in: int, alpha: float) -> float:
    """He et al.'s std for a layer feeding a LeakyReLU of slope alpha: keeps activations' scale."""
    return math.sqrt(2.0 / ((1.0 + alpha * alpha) * fan_in))


def init_residual_block(p: dict, pre: str, width: int, alpha: float, rng, xp, dtype) -> None:
    """Add one block's parameters to ``p`` under ``pre`` (draws fc1.W, then fc2.W, from ``rng``)."""
    for fc in ("fc1", "fc2"):
        p[pre + fc + ".W"] = xp.asarray(rng.standard_normal((width, width)) * he_std(width, alpha), dtype=dtype)
        p[pre + fc + ".b"] = xp.zeros(width, dtype=dtype)


class ResidualBlockCache(NamedTuple):
    u: object     # (B, w) the block's input: the input of fc1, and the residual
    a: object     # (B, w) LeakyReLU(fc1(u)), the input of fc2
    m1: object    # (B, w) slope mask after fc1
    m2: object    # (B, w) slope mask after the residual sum
    out: object   # (B, w) the block's output (for the pre-activation margin of gradient checks)


def residual_block_forward(u, p: dict, pre: str, alpha: float):
    """u: (B, w) -> (LeakyReLU(u + fc2(LeakyReLU(fc1(u)))) (B, w), cache); p[pre + 'fc1.W'] etc."""
    z = u @ p[pre + "fc1.W"]
    z += p[pre + "fc1.b"]
    # LeakyReLU in place (out=z): each z is a fresh GEMM output, read again only through the mask
    a, m1 = leaky_relu_forward(z, alpha, out=z)
    z = a @ p[pre + "fc2.W"]
    z += p[pre + "fc2.b"]
    z += u                                   # the residual sum, before the block's LeakyReLU
    out, m2 = leaky_relu_forward(z, alpha, out=z)
    return out, ResidualBlockCache(u, a, m1, m2, out)


def residual_block_backward(dout, cache: ResidualBlockCache, p: dict, pre: str, grads: dict):
    """dout: (B, w) -> du (B, w); the block's weight gradients are written into ``grads`` under ``pre``."""
    # out = LeakyReLU(u + fc2(a)): the delta at the sum goes to fc2 and, unchanged, to u
    dz = leaky_relu_backward(dout, cache.m2)
    grads[pre + "fc2.W"] = cache.a.T @ dz
    grads[pre + "fc2.b"] = dz.sum(axis=0)
    # a = LeakyReLU(fc1(u))
    dz1 = leaky_relu_backward(dz @ p[pre + "fc2.W"].T, cache.m1)
    grads[pre + "fc1.W"] = cache.u.T @ dz1
    grads[pre + "fc1.b"] = dz1.sum(axis=0)
    du = dz1 @ p[pre + "fc1.W"].T
    du += dz                                 # the residual path
    return du


def min_abs_preactivation(pairs) -> float:
    """Smallest |pre-activation| over (post-activation y, slope mask m) pairs of LeakyReLUs: the
    post-activation is z m, so |z| = |y| / m (gradient checks keep the kink at 0 farther away than
    the finite-difference step)."""
    pairs = list(pairs)
    xp = get_xp(pairs[0][0])
    return min(float(xp.abs(y / m).min()) for y, m in pairs)


def block_activation_pairs(cache: ResidualBlockCache) -> list:
    """The block's two LeakyReLUs as (post-activation, mask) pairs, for :func:`min_abs_preactivation`."""
    return [(cache.a, cache.m1), (cache.out, cache.m2)]


def trunk_backward(dh, blocks: list, m_in, x, p: dict, grads: dict):
    """The backward of both users' shared trunk, h0 = LeakyReLU(x W_in + b_in) then the residual
    blocks ``blocks.i.``: dh (B, w) into the last block's output -> dx (B, 2J); adds the blocks'
    and ``in.W``/``in.b`` gradients to ``grads``. ``m_in``: the slope mask after 'in'."""
    for i in reversed(range(len(blocks))):
        dh = residual_block_backward(dh, blocks[i], p, f"blocks.{i}.", grads)
    dz = leaky_relu_backward(dh, m_in)
    grads["in.W"] = x.T @ dz
    grads["in.b"] = dz.sum(axis=0)
    return dz @ p["in.W"].T
