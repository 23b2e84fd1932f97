"""Basic ops: gradient checks driven by hypothesis, properties, dtype, and broken backwards caught."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from gatepose import gradcheck
from gatepose.gradcheck import check_backward, run_check
from gatepose.ops import (gelu_forward, layer_norm_backward, layer_norm_forward, leaky_relu_forward,
                          linear_backward, linear_forward, sigmoid_forward, softmax_forward)
from helpers import assert_pass
from mutations import assert_caught

seeds = st.integers(0, 2**31 - 1)
small = st.integers(1, 6)


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17), d_in=small, d_out=small)
def test_linear_gradient(seed, B, J, d_in, d_out):
    assert_pass(run_check("linear", seed=seed, B=B, J=J, d_in=d_in, d_out=d_out))


# d >= 3: over two features LayerNorm outputs +-1 whatever the input, its input gradient is ~0 and a
# relative error of rounding noise means nothing.
@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17), d=st.integers(3, 16))
def test_layer_norm_gradient(seed, B, J, d):
    assert_pass(run_check("layer_norm", seed=seed, B=B, J=J, d=d))


@given(seed=seeds, B=st.integers(1, 4), h=st.integers(1, 4), J=st.integers(2, 17))
def test_softmax_gradient(seed, B, h, J):
    assert_pass(run_check("softmax", seed=seed, B=B, h=h, J=J))


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17), d=st.integers(1, 16))
def test_gelu_gradient(seed, B, J, d):
    assert_pass(run_check("gelu", seed=seed, B=B, J=J, d=d))


@given(seed=seeds, B=st.integers(1, 4), d=st.integers(1, 16))
def test_pointwise_gradients(seed, B, d):
    assert_pass(run_check("sigmoid", seed=seed, B=B, d=d))
    assert_pass(run_check("leaky_relu", seed=seed, B=B, d=d))


@given(seed=seeds, B=st.integers(1, 4), J=st.integers(2, 17))
def test_softmax_rows_sum_to_one(seed, B, J):
    x = np.random.default_rng(seed).standard_normal((B, 2, J, J)) * 10
    y, _ = softmax_forward(x)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-12)
    assert (y >= 0).all()


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 999.0]])
    y, _ = softmax_forward(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(), 1.0)
    y32, _ = sigmoid_forward(np.array([-1000.0, 1000.0], dtype=np.float32))
    assert np.isfinite(y32).all() and y32.dtype == np.float32


@given(seed=seeds, shift=st.floats(-100, 100), scale=st.floats(0.01, 100))
def test_layer_norm_invariant_to_shift_and_scale(seed, shift, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 5, 8))
    g, b = rng.standard_normal(8), rng.standard_normal(8)
    y0, _ = layer_norm_forward(x, g, b, eps=0.0)
    y1, _ = layer_norm_forward(x * scale + shift, g, b, eps=0.0)
    np.testing.assert_allclose(y0, y1, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("fn", [
    lambda x: linear_forward(x, np.ones((8, 3), np.float32), np.ones(3, np.float32))[0],
    lambda x: layer_norm_forward(x, np.ones(8, np.float32), np.zeros(8, np.float32))[0],
    lambda x: softmax_forward(x)[0],
    lambda x: gelu_forward(x)[0],
    lambda x: sigmoid_forward(x)[0],
    lambda x: leaky_relu_forward(x)[0],
])
def test_float32_stays_float32(fn):
    x = np.random.default_rng(0).standard_normal((2, 4, 8)).astype(np.float32)
    assert fn(x).dtype == np.float32


def test_noncontiguous_input_gives_same_gradients():
    rng = np.random.default_rng(1)
    xt = rng.standard_normal((7, 5)).T  # a transposed view: (5, 7), not C-contiguous
    W, dy = rng.standard_normal((7, 3)), rng.standard_normal((5, 3))
    y1, c1 = linear_forward(xt, W)
    y2, c2 = linear_forward(np.ascontiguousarray(xt), W)
    np.testing.assert_allclose(y1, y2)
    for a, b in zip(linear_backward(dy, c1)[::2], linear_backward(dy, c2)[::2]):
        np.testing.assert_allclose(a, b)
    g1 = layer_norm_backward(dy, layer_norm_forward(y1, np.ones(3), np.zeros(3))[1])[0]
    g2 = layer_norm_backward(dy, layer_norm_forward(np.ascontiguousarray(y1), np.ones(3), np.zeros(3))[1])[0]
    np.testing.assert_allclose(g1, g2)


# -- the checker must fail on a broken backward ---------------------------------------------------
def _broken_cases():
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    lin = lambda i: linear_forward(i["x"], i["W"], i["b"])  # noqa: E731

    def lin_transposed(d, c):  # dW from the wrong product order: a transposed matrix
        _, dW, db = linear_backward(d, c)
        return {"x": d @ c.W, "W": dW, "b": db}

    def lin_sign(d, c):
        dx, dW, db = linear_backward(d, c)
        return {"x": dx, "W": -dW, "b": db}

    g, beta = rng.standard_normal(5), rng.standard_normal(5)
    ln = lambda i: layer_norm_forward(i["x"], i["g"], i["b"])  # noqa: E731

    def ln_missing_term(d, c):  # forgets the xhat * mean(g * xhat) projection
        gg = d * c.gamma
        dx = c.inv * (gg - gg.mean(-1, keepdims=True))
        _, dg, db = layer_norm_backward(d, c)
        return {"x": dx, "g": dg, "b": db}

    sm = lambda i: softmax_forward(i["x"])  # noqa: E731

    def sm_missing_term(d, y):
        return {"x": y * d}

    return [
        ("linear transposed", lin, lin_transposed, {"x": x, "W": W, "b": b}),
        ("linear sign flip", lin, lin_sign, {"x": x, "W": W, "b": b}),
        ("layer_norm missing term", ln, ln_missing_term, {"x": x, "g": g, "b": beta}),
        ("softmax missing term", sm, sm_missing_term, {"x": x}),
    ]


@pytest.mark.parametrize("case", _broken_cases(), ids=lambda c: c[0])
def test_checker_catches_broken_backward(case):
    _, fwd, bwd, inputs = case
    assert_caught(check_backward(fwd, bwd, inputs))


def test_registry_lists_basic_ops():
    names = set(gradcheck.all_checks())
    assert {"linear", "layer_norm", "softmax", "gelu", "sigmoid", "leaky_relu"} <= names
