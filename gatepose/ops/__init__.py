"""Hand-written forward/backward pairs, in the order the generator meets them.

Each op is two plain functions, ``x_forward(...) -> (out, cache)`` and ``x_backward(dout, cache)``;
the cache is the contract between the two halves and shows what the backward keeps in memory.
"""
from .linear import linear_forward, linear_backward
from .activations import (
    sigmoid_forward, sigmoid_backward,
    leaky_relu_forward, leaky_relu_backward,
    gelu_forward, gelu_backward,
)
from .norm import layer_norm_forward, layer_norm_backward
from .softmax import softmax_forward, softmax_backward
