"""Gradient-check cases for the basic ops (registered for `gatepose gradcheck` and the tests)."""
from __future__ import annotations

from ..ops.activations import (gelu_backward, gelu_forward, leaky_relu_backward, leaky_relu_forward,
                          sigmoid_backward, sigmoid_forward)
from ..ops.linear import linear_backward, linear_forward
from ..ops.norm import layer_norm_backward, layer_norm_forward
from ..ops.softmax import softmax_backward, softmax_forward
from .checker import register_check


def _randn(xp, rng, *shape, scale=1.0):
    return xp.asarray(rng.standard_normal(shape) * scale)


def away_from_zero(xp, rng, *shape, margin=0.05):
    """Values whose magnitude is at least ``margin``: keeps finite differences off a kink at 0."""
    x = rng.standard_normal(shape)
    x = x + margin * (2 * (x >= 0) - 1)
    return xp.asarray(x)


@register_check("linear", B=3, J=5, d_in=7, d_out=4)
def _linear(xp, rng, B, J, d_in, d_out):
    def fwd(i):
        return linear_forward(i["x"], i["W"], i["b"])

    def bwd(d, c):
        dx, dW, db = linear_backward(d, c)
        return {"x": dx, "W": dW, "b": db}

    return fwd, bwd, {"x": _randn(xp, rng, B, J, d_in), "W": _randn(xp, rng, d_in, d_out),
                      "b": _randn(xp, rng, d_out)}


@register_check("layer_norm", B=3, J=5, d=8)
def _layer_norm(xp, rng, B, J, d):
    def fwd(i):
        return layer_norm_forward(i["x"], i["gamma"], i["beta"])

    def bwd(dy, c):
        dx, dg, db = layer_norm_backward(dy, c)
        return {"x": dx, "gamma": dg, "beta": db}

    return fwd, bwd, {"x": _randn(xp, rng, B, J, d, scale=2.0), "gamma": _randn(xp, rng, d),
                      "beta": _randn(xp, rng, d)}


def _pointwise(forward, backward, x, **kw):
    return (lambda i: forward(i["x"], **kw)), (lambda d, c: {"x": backward(d, c)}), {"x": x}


@register_check("softmax", B=3, h=2, J=6)
def _softmax(xp, rng, B, h, J):
    return _pointwise(softmax_forward, softmax_backward, _randn(xp, rng, B, h, J, J, scale=3.0))


@register_check("gelu", B=3, J=5, d=8)
def _gelu(xp, rng, B, J, d):
    return _pointwise(gelu_forward, gelu_backward, _randn(xp, rng, B, J, d, scale=2.0))


@register_check("sigmoid", B=3, d=8)
def _sigmoid(xp, rng, B, d):
    return _pointwise(sigmoid_forward, sigmoid_backward, _randn(xp, rng, B, d, scale=3.0))


@register_check("leaky_relu", B=3, d=8)
def _leaky_relu(xp, rng, B, d):
    return _pointwise(leaky_relu_forward, leaky_relu_backward, away_from_zero(xp, rng, B, d), alpha=0.3)
