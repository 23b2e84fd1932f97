"""Inference fast paths give the numbers of the plain paths: softmax without the row-max shift,
GELU in place, LayerNorm without a cache, cache-sized row blocks, and the blocked generator."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepose.ops.activations import CACHE_BLOCK_ELEMENTS, cache_blocks
from gatepose.fast import fused as fused_mod
from gatepose.fast.fused import NO_SHIFT_BOUND as _NO_SHIFT_BOUND
from gatepose.fast.fused import posegate_inference, gelu_inplace, normalise_into, softmax_unnormalised
from gatepose.nn.posegate import PoseGateConfig, posegate_forward, init_posegate
from gatepose.ops.activations import gelu_backward, gelu_forward
from gatepose.ops.attention import VARIANTS
from gatepose.ops.norm import layer_norm_forward
from gatepose.ops.softmax import softmax_forward


# -- softmax ---------------------------------------------------------------------------------------
def _softmax_ref(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# rtol for float32 inputs; the atol only forgives probabilities far below float32's resolution
# (a shifted row rounds x - max, which moves exp(x - max) by |x - max| * 2^-24 relative).
_TOL = {np.float32: dict(rtol=1e-6, atol=1e-10), np.float64: dict(rtol=1e-12, atol=1e-300)}


def _check_softmax(x):
    """The plain softmax (always shifted) and the fused inference's (FAST DOOR 1 and 4: shifted
    only where some |x| > 80) both give softmax(x)."""
    y, cache = softmax_forward(x.copy())
    assert cache is y
    e, s = softmax_unnormalised(x.copy(), inplace=True)
    for y in (y, e / s[..., None]):
        assert y.dtype == x.dtype and y.shape == x.shape
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, _softmax_ref(x), **_TOL[x.dtype.type])
        np.testing.assert_allclose(y.astype(np.float64).sum(axis=-1), 1.0,
                                   rtol=0, atol=1e-5 if x.dtype == np.float32 else 1e-12)


shapes = st.tuples(st.lists(st.integers(1, 4), min_size=0, max_size=3), st.integers(1, 20))
dtypes = st.sampled_from([np.float32, np.float64])


@given(shape=shapes, scale=st.floats(0.0, 80.0), seed=st.integers(0, 2**31 - 1), dtype=dtypes)
def test_softmax_no_shift_path(shape, scale, seed, dtype):
    lead, n = shape
    rng = np.random.default_rng(seed)
    x = np.clip(rng.standard_normal((*lead, n)) * scale, -80.0, 80.0).astype(dtype)
    assert max(float(x.max()), -float(x.min())) <= _NO_SHIFT_BOUND
    _check_softmax(x)


@given(shape=shapes, scale=st.floats(81.0, 5000.0), seed=st.integers(0, 2**31 - 1), dtype=dtypes)
def test_softmax_shifted_path(shape, scale, seed, dtype):
    lead, n = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, n)) * 3.0
    x.reshape(-1)[rng.integers(x.size)] = scale * rng.choice([-1.0, 1.0])  # at least one |x| > 80
    _check_softmax(x.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_extremes(dtype):
    rows = np.array([[500.0, 499.0, -500.0, 3.0],      # large values: the shifted path
                     [-500.0, -501.0, -499.5, -600.0],
                     [0.0, 0.0, 0.0, 0.0],
                     [1.0, 2.0, 3.0, 4.0]], dtype)
    _check_softmax(rows)
    _check_softmax(np.full((3, 17), 80.0, dtype))      # the bound itself: no shift, no overflow
    _check_softmax(np.full((3, 17), -80.0, dtype))     # ... and no underflow to 0/0
    _check_softmax(np.array([[80.0, -80.0, 0.5] * 6], dtype))
    _check_softmax(np.array([[7.0]], dtype))           # n = 1


# -- GELU in place -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 512), (5, 3), (7, 17, 64), (1, 1), (3, 70000)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gelu_inplace_matches_gelu_forward_bitwise(dtype, shape, with_bias):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    b = (rng.standard_normal(shape[-1]) * 0.5).astype(dtype) if with_bias else None
    want, _ = gelu_forward(x + b if with_bias else x.copy())
    target = x.copy()
    out = gelu_inplace(target, b)
    assert out is target                       # written into x itself
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, want)


def test_gelu_inplace_shape_spans_several_blocks():
    """(300, 512) is split into several cache blocks, the last one short."""
    blocks = cache_blocks(np, 300, 512)
    assert len(blocks) >= 3 and blocks[-1].stop - blocks[-1].start < blocks[0].stop - blocks[0].start


def test_gelu_inplace_non_contiguous_input():
    rng = np.random.default_rng(0)
    # (4, 5, 64) with its leading axes swapped: reshape(-1, 64) cannot be a view of it
    x = rng.standard_normal((5, 4, 64)).astype(np.float32).transpose(1, 0, 2)
    b = rng.standard_normal(64).astype(np.float32)
    want, _ = gelu_forward(x + b)
    out = gelu_inplace(x, b)
    np.testing.assert_array_equal(out, want)


# -- LayerNorm without a cache ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 17, 16), (300, 512), (1, 3)])
def test_layer_norm_without_cache_is_bitwise_the_same(dtype, shape):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    g = rng.standard_normal(shape[-1]).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    x_before = x.copy()
    y_cached, cache = layer_norm_forward(x, g, b, 1e-5, need_cache=True)
    y, none = layer_norm_forward(x, g, b, 1e-5, need_cache=False)
    assert none is None and cache is not None
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_array_equal(y, y_cached)
    np.testing.assert_array_equal(x, x_before)      # the input is never written


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalise_into_is_layer_norm_before_its_affine_step(dtype):
    """fast.fused.normalise_into writes LayerNorm's xhat into a buffer of the caller's: the same
    arithmetic as the plain layer_norm_forward with gamma 1, beta 0 (equal up to rounding)."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((300, 48)) * 2 + 1).astype(dtype)
    d = x.shape[-1]
    want, cache = layer_norm_forward(x, np.ones(d, dtype), np.zeros(d, dtype), 1e-5)
    out = np.empty_like(x)
    inv = normalise_into(x, out, 1e-5)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(out, cache.xhat, **tol)
    np.testing.assert_allclose(inv, cache.inv[:, 0], **tol)
    np.testing.assert_allclose(out, want, **tol)


# -- cache blocks ----------------------------------------------------------------------------------
@given(n_rows=st.integers(0, 5000), row_len=st.integers(0, 3 * CACHE_BLOCK_ELEMENTS))
def test_cache_blocks_cover_rows_in_order(n_rows, row_len):
    blocks = cache_blocks(np, n_rows, row_len)
    rows = [i for s in blocks for i in range(n_rows)[s]]
    assert rows == list(range(n_rows))
    limit = max(row_len, CACHE_BLOCK_ELEMENTS)
    for s in blocks:
        assert s.step is None and s.stop > s.start      # non-empty, unit step
        assert (s.stop - s.start) * row_len <= limit


def test_cache_blocks_on_a_gpu_is_one_slice(monkeypatch):
    import gatepose.ops.activations as activations

    monkeypatch.setattr(activations, "is_gpu", lambda xp: True)
    assert cache_blocks(object(), 1000, 512) == [slice(None)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_blocks_change_no_bit(monkeypatch, dtype):
    """GELU's forward and backward by cache blocks (ops/activations.py says why they are in the op)
    equal the same passes over the whole array bit for bit: the blocks reorder passes, not arithmetic."""
    import gatepose.ops.activations as activations

    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3 * CACHE_BLOCK_ELEMENTS // 64 + 5, 64)) * 3).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    assert len(cache_blocks(np, *x.shape)) >= 4
    y, cache = activations.gelu_forward(x)
    dx = activations.gelu_backward(dy, cache)
    monkeypatch.setattr(activations, "CACHE_BLOCK_ELEMENTS", 10 * x.size)    # one block: whole-array passes
    assert len(cache_blocks(np, *x.shape)) == 1
    y1, cache1 = activations.gelu_forward(x)
    assert np.array_equal(y, y1) and np.array_equal(dx, activations.gelu_backward(dy, cache1))


# -- the blocked generator (inference) -----------------------------------------------------------------
@pytest.mark.parametrize("attention", VARIANTS)
def test_blocked_inference_matches_cached_forward(monkeypatch, attention):
    monkeypatch.setattr(fused_mod, "INFER_BLOCK_TOKENS", 64)
    calls = []
    real_run_shards = fused_mod.run_shards

    def spy(fn, args, *a, **kw):
        calls.append(len(args))
        return real_run_shards(fn, args, *a, **kw)

    monkeypatch.setattr(fused_mod, "run_shards", spy)
    cfg = PoseGateConfig(n_joints=17, d_model=16, n_heads=2, n_layers=2, d_ff=32, gate_hidden=8,
                          attention=attention)
    params = init_posegate(cfg, np.random.default_rng(0), np, np.float32)
    W = np.random.default_rng(1).standard_normal((23, 17, 2)).astype(np.float32)
    want, cache = posegate_forward(params, W, cfg, need_cache=True)
    assert cache is not None and not calls
    got = posegate_inference(params, W, cfg)
    assert calls and calls[-1] >= 2, "the batch was not split into blocks"
    assert got.dtype == np.float32 and got.shape == (23, 17, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # a batch below the block size takes the unblocked inference path: same numbers
    n_calls = len(calls)
    small = posegate_inference(params, W[:3], cfg)
    assert small.dtype == np.float32 and len(calls) == n_calls
    np.testing.assert_allclose(small, want[:3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lift", ["xyz", "depth"])
@pytest.mark.parametrize("generator", ["posegate", "repnet"])
def test_generator_inference_matches_the_plain_forward(monkeypatch, generator, lift):
    """FAST DOOR 4: what prediction, evaluation, validation and the trainer's fakes run
    (fast.fused.generator_inference) is the plain forward up to rounding (float64), for
    PoseGate-Former's blocked path and for RepNet's generator (which has no fast path), with either
    lift; predict_poses with and without it agree."""
    from gatepose.fast.fused import generator_inference
    from gatepose.nn.generator import init_generator, generator_forward
    from gatepose.nn.repnet import RepNetConfig
    from gatepose.runs import predict_poses
    from gatepose.speed import speed_paths

    monkeypatch.setattr(fused_mod, "INFER_BLOCK_TOKENS", 64)
    cfg = (PoseGateConfig(n_joints=17, d_model=16, n_heads=2, n_layers=2, d_ff=32, gate_hidden=8, lift=lift)
           if generator == "posegate" else RepNetConfig(n_joints=17, width=24, lift=lift))
    rng = np.random.default_rng(7)
    params = init_generator(cfg, rng, np, np.float64)
    W = rng.standard_normal((29, 17, 2))
    want = generator_forward(params, W, cfg, need_cache=False)[0]
    np.testing.assert_allclose(generator_inference(params, W, cfg), want, rtol=1e-10, atol=1e-12)
    got = predict_poses(params, cfg, W, np, np.float64, batch=13, speed=speed_paths())
    np.testing.assert_allclose(got, predict_poses(params, cfg, W, np, np.float64, batch=13), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_forward_and_backward_on_non_contiguous_arrays(dtype):
    # The blocked loops write through reshaped views: a transposed input must not defeat them.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 64)).astype(dtype)
    dy = rng.standard_normal((5, 4, 64)).astype(dtype)
    xt, dyt = x.transpose(1, 0, 2), dy.transpose(1, 0, 2)
    y, cache = gelu_forward(xt)
    y_ref, cache_ref = gelu_forward(np.ascontiguousarray(xt))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(gelu_backward(dyt, cache), gelu_backward(np.ascontiguousarray(dyt), cache_ref))


@pytest.mark.parametrize("attention", VARIANTS)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 9), J=st.integers(2, 17))
def test_fused_inference_is_the_same_function(attention, seed, B, J):
    """fast/fused.py folds LayerNorm's affine step, the biases and the gate's first layers into the
    products: exact algebra, so in float64 it must agree with the plain forward to rounding, for
    LayerNorm parameters and biases away from their initial values (ones and zeros)."""
    from gatepose.fast.fused import fold_generator, fused_forward

    rng = np.random.default_rng(seed)
    cfg = PoseGateConfig(n_joints=J, d_model=12, n_heads=3, n_layers=2, d_ff=20, gate_hidden=7,
                          attention=attention)
    params = init_posegate(cfg, rng, np, np.float64)
    for k in params:
        if ".b" in k or "beta" in k or "gamma" in k or k.endswith(("a1", "c1", "a2", "c2")):
            params[k] = params[k] + rng.normal(0, 0.5, params[k].shape)
    W = rng.standard_normal((B, J, 2))
    want, _ = posegate_forward(params, W, cfg)
    got = fused_forward(fold_generator(params, cfg), W, cfg)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_gelu_backward_with_rows_wider_than_a_cache_block():
    # A row longer than CACHE_BLOCK_ELEMENTS makes a block of one whole row: the scratch array
    # must fit it (it was once sized by the constant and failed to reshape).
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, CACHE_BLOCK_ELEMENTS + 7)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y, cache = gelu_forward(x)
    got = gelu_backward(dy, cache)
    ref = np.concatenate([gelu_backward(dy[i:i + 1], gelu_forward(x[i:i + 1])[1]) for i in range(3)])
    np.testing.assert_array_equal(got, ref)


# -- one pass for the fakes and the generator step (the trainer on a GPU) -----------------------------
@pytest.mark.parametrize("attention", VARIANTS)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_fake=st.integers(1, 12), B=st.integers(1, 6),
       lift=st.sampled_from(["xyz", "depth"]))
def test_one_pass_matches_two_passes(attention, seed, n_fake, B, lift):
    """fast/one_pass.py: one cached forward over the fakes' and the generator step's rows, the
    step's backward on its rows' cache, gives the two plain passes' fakes, output and gradients
    (with either lift: the depth lift's cache is cut by rows too)."""
    from gatepose.fast.one_pass import generator_forward_rows
    from gatepose.nn.generator import generator_backward, generator_forward

    rng = np.random.default_rng(seed)
    cfg = PoseGateConfig(n_joints=17, d_model=12, n_heads=3, n_layers=2, d_ff=20, gate_hidden=7,
                          attention=attention, lift=lift)
    params = init_posegate(cfg, rng, np, np.float64)
    W = rng.standard_normal((n_fake + B, 17, 2))
    dX = rng.standard_normal((B, 17, 3))
    X_all, cache = generator_forward_rows(params, W, cfg, slice(n_fake, None))
    fakes, _ = generator_forward(params, W[:n_fake], cfg, need_cache=False)
    X, plain_cache = generator_forward(params, W[n_fake:], cfg)
    np.testing.assert_allclose(X_all[:n_fake], fakes, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(X_all[n_fake:], X, rtol=1e-10, atol=1e-12)
    dW, grads = generator_backward(dX, cache)
    dW_plain, grads_plain = generator_backward(dX, plain_cache)
    np.testing.assert_allclose(dW, dW_plain, rtol=1e-9, atol=1e-11)
    assert grads.keys() == grads_plain.keys() == params.keys()
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_plain[k], rtol=1e-9, atol=1e-11, err_msg=k)


def test_cache_rows_refuses_an_array_without_the_batch_axis():
    from gatepose.fast.one_pass import cache_rows
    from gatepose.ops.linear import LinearCache

    x, W = np.zeros((5, 3)), np.zeros((3, 2))
    kept = cache_rows(LinearCache(x, W), slice(2, None), 5, {"W": W})
    assert kept.x.shape == (3, 3) and kept.W is W and np.shares_memory(kept.x, x)
    with pytest.raises(ValueError, match="no batch axis"):
        cache_rows(LinearCache(np.zeros((4, 3)), W), slice(2, None), 5, {"W": W})


def test_a_variant_without_a_fused_form_runs_the_plain_forward(monkeypatch):
    """A new attention variant needs the op and the model only: the fused inference falls back to
    the plain forward for any variant it has no fused form of."""
    monkeypatch.setattr(fused_mod, "INFER_BLOCK_TOKENS", 8)
    monkeypatch.setattr(fused_mod, "FUSED_ATTENTION", ("vanilla",))
    cfg = PoseGateConfig(n_joints=5, d_model=4, n_heads=2, n_layers=1, d_ff=8, gate_hidden=3, attention="gated")
    W = np.random.default_rng(0).standard_normal((6, 5, 2))
    assert not fused_mod.uses_fused(W, cfg)
    monkeypatch.setattr(fused_mod, "fused_forward", lambda *a: pytest.fail("the fused path was taken"))
    params = init_posegate(cfg, np.random.default_rng(1), np, np.float64)
    np.testing.assert_array_equal(fused_mod.posegate_inference(params, W, cfg),
                                  posegate_forward(params, W, cfg, need_cache=False)[0])
