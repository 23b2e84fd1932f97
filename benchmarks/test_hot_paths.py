"""Timings of the hot paths at the default configuration (SPEC section 1), float32, NumPy.

Not part of CI (setup.cfg's testpaths is tests/ only). Run with pytest-benchmark:

    pytest benchmarks                          # all, one table
    pytest benchmarks -k "op_"                 # the elementwise ops only
    pytest benchmarks --benchmark-json out.json

The machine may be shared: compare runs taken back to back, and read medians. For the
utilisation figures (FLOP/s against this machine's matmul rate) use `gatepose bench`; for where
the time goes, benchmarks/profile_iteration.py.
"""
import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from gatepose.bench import random_train_data  # noqa: E402
from gatepose.fast.critic_step import stacked_critic_loss  # noqa: E402
from gatepose.fast.fused import posegate_inference  # noqa: E402
from gatepose.nn.posegate import posegate_backward, posegate_forward  # noqa: E402
from gatepose.ops.activations import gelu_backward, gelu_forward  # noqa: E402
from gatepose.ops.norm import layer_norm_backward, layer_norm_forward  # noqa: E402
from gatepose.ops.softmax import softmax_backward, softmax_forward  # noqa: E402
from gatepose.fast.adam import FlatAdam as Adam  # noqa: E402  (the trainer's update)
from gatepose.train import Trainer
from gatepose.options import TrainOptions

B = 256


@pytest.fixture(scope="module")
def trainer():
    return Trainer(TrainOptions(batch_size=B, steps=1), random_train_data(17, 8192), np, np.float32)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def _run(benchmark, fn, rounds=5):
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


# -- whole model -------------------------------------------------------------------------------
def test_matmul_2048(benchmark, rng):
    a = rng.standard_normal((2048, 2048)).astype(np.float32)
    _run(benchmark, lambda: a @ a, rounds=10)


def test_training_iteration(benchmark, trainer):
    _run(benchmark, trainer.iteration, rounds=3)


def test_generator_forward_inference_1024(benchmark, trainer):
    W = trainer.data.W_train[:1024]
    _run(benchmark, lambda: posegate_inference(trainer.gen, W, trainer.gcfg))


def test_generator_forward_single_pose(benchmark, trainer):
    W = trainer.data.W_train[:1]
    _run(benchmark, lambda: posegate_inference(trainer.gen, W, trainer.gcfg), rounds=50)


def test_generator_forward_backward(benchmark, trainer):
    W = trainer.data.W_train[:B]

    def step():
        X, cache = posegate_forward(trainer.gen, W, trainer.gcfg)
        posegate_backward(X, cache)
    _run(benchmark, step)


def test_generator_inference_one_block_fused(benchmark, trainer):
    """One block of the CPU inference path (nn/fused.py), as each core runs it: single-threaded BLAS."""
    from gatepose.fast.fused import fold_generator, fused_forward
    from gatepose.fast.parallel import blas_threads

    W = trainer.data.W_train[:90]
    plan = fold_generator(trainer.gen, trainer.gcfg)
    with blas_threads(1):
        _run(benchmark, lambda: fused_forward(plan, W, trainer.gcfg), rounds=20)


def test_critic_step_sharded(benchmark, trainer):
    X_real, X_fake = trainer.data.X_real[:B], trainer.data.X_real[B:2 * B]
    eps = np.full(B, 0.5, np.float32)
    _run(benchmark, lambda: trainer.speed.batch_mean(trainer.critic_loss, X_real, X_fake, eps), rounds=10)


def test_generator_step_sharded(benchmark, trainer):
    W = trainer.data.W_train[:B]
    _run(benchmark, lambda: trainer.speed.batch_mean(trainer.generator_loss, W))


def test_critic_step(benchmark, trainer):
    X_real, X_fake = trainer.data.X_real[:B], trainer.data.X_real[B:2 * B]
    eps = np.full(B, 0.5, np.float32)
    _run(benchmark, lambda: stacked_critic_loss(trainer.critic, X_real, X_fake, eps, trainer.dcfg), rounds=10)


def test_adam_step_generator_and_camera(benchmark, trainer):
    params = {k: v.copy() for k, v in trainer.adv.items()}
    grads = {k: v * 1e-3 for k, v in params.items()}
    opt = Adam(params)
    _run(benchmark, lambda: opt.step(params, grads), rounds=10)


# -- the elementwise ops, at the shapes the generator meets at batch 256 -------------------------
@pytest.fixture(scope="module")
def acts(rng):
    return {"ffn": rng.standard_normal((B, 17, 512)).astype(np.float32),
            "model": rng.standard_normal((B, 17, 256)).astype(np.float32),
            "scores": rng.standard_normal((B, 8, 17, 17)).astype(np.float32)}


def test_op_gelu_forward(benchmark, acts):
    _run(benchmark, lambda: gelu_forward(acts["ffn"]), rounds=20)


def test_op_gelu_backward(benchmark, acts):
    _, cache = gelu_forward(acts["ffn"])
    _run(benchmark, lambda: gelu_backward(acts["ffn"], cache), rounds=20)


def test_op_layer_norm_forward(benchmark, acts):
    g, b = np.ones(256, np.float32), np.zeros(256, np.float32)
    _run(benchmark, lambda: layer_norm_forward(acts["model"], g, b), rounds=20)


def test_op_layer_norm_backward(benchmark, acts):
    _, cache = layer_norm_forward(acts["model"], np.ones(256, np.float32), np.zeros(256, np.float32))
    _run(benchmark, lambda: layer_norm_backward(acts["model"], cache), rounds=20)


def test_op_softmax_forward_backward(benchmark, acts):
    def both():
        y, c = softmax_forward(acts["scores"])
        softmax_backward(acts["scores"], c)
    _run(benchmark, both, rounds=20)
