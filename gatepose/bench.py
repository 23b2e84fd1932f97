"""Throughput, achieved FLOP/s and utilisation: `gatepose bench`.

Utilisation = (analytic FLOPs of the work / measured seconds) / (this machine's measured float32
matrix-multiply rate on the same backend). The FLOP count covers the matrix products only (the
elementwise work is O(size) and not counted), at 2 FLOPs per multiply-add:

* a linear layer over R rows, d_in -> d_out: forward 2 R d_in d_out; its backward twice that
  (dW = x^T dy and dx = dy W^T), the same for every matrix product of the model;
* generator, per pose (J tokens, width d, h heads, L layers, feed-forward d_ff, gate hidden g):
  embedding 2 J 2 d; per layer QKV 2 J d 3d, scores Q K^T 2 J^2 d (not for 'fixed'), A V 2 J^2 d,
  output 2 J d^2, FFN 2 * 2 J d d_ff, gate ('gated' only) 2 paths x (2 J d g + 2 g h); head 2 J d 3;
* camera net: 2 (2J w + 2 n_blocks w^2 + 6 w); critic: pose path 2 (3J p + 3 p^2), KCS features
  2 (J nb 3 + nb^2 3), KCS path 2 (F k + 2 k^2) with F = nb (nb + 1) / 2, head 2 ((p + k) p_h + p_h);
* one critic step (``losses.critic_loss``): forward over the stacked real, fake and interpolated
  batches (3B rows), the input backward over 3B rows, the tangent push of the double backward over
  B rows and the weight gradients over 3B rows: 10 critic forwards at batch B;
* one training iteration: n_critic x (generator forward + critic step) + generator forward and
  backward (3x) + camera forward and backward (3x) + critic forward and input backward (2x).
"""
from __future__ import annotations

import dataclasses
import resource
import time

import numpy as np

from .backend import get_xp, is_gpu, synchronize, to_device
from .nn.camera import CameraConfig
from .nn.critic import CriticConfig
from .nn.generator import GeneratorConfig, generator_forward, init_generator


# -- analytic FLOP counts ---------------------------------------------------------------------
def generator_flops(cfg: GeneratorConfig, batch: int) -> int:
    """Matrix-product FLOPs of one generator forward over ``batch`` poses."""
    J, d, h, L, f, g = cfg.n_joints, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.gate_hidden
    per_layer = 2 * J * d * 3 * d + 2 * J * d * d + 2 * 2 * J * d * f
    per_layer += 2 * J * J * d                                   # A V
    if cfg.attention != "fixed":
        per_layer += 2 * J * J * d                               # Q K^T
    if cfg.attention == "gated":
        per_layer += 2 * (2 * J * d * g + 2 * g * h)             # gate and bias paths
    return batch * (2 * J * 2 * d + L * per_layer + 2 * J * d * 3)


def camera_flops(cfg: CameraConfig, batch: int) -> int:
    w = cfg.width
    return batch * 2 * (2 * cfg.n_joints * w + 2 * cfg.n_blocks * w * w + 6 * w)


def critic_flops(cfg: CriticConfig, batch: int) -> int:
    J, nb = cfg.n_joints, cfg.n_bones
    p, k, ph = cfg.pose_width, cfg.kcs_width, cfg.head_width
    F = nb * (nb + 1) // 2
    pose = 3 * J * p + 3 * p * p
    kcs = J * nb * 3 + nb * nb * 3 + F * k + 2 * k * k
    head = (p + k) * ph + ph
    return batch * 2 * (pose + kcs + head)


def training_iteration_flops(gcfg, ccfg, dcfg, batch: int, n_critic: int) -> int:
    G, C, D = generator_flops(gcfg, batch), camera_flops(ccfg, batch), critic_flops(dcfg, batch)
    return n_critic * (G + 10 * D) + 3 * G + 3 * C + 2 * D


# -- timing -----------------------------------------------------------------------------------
def _time(fn, xp, repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    synchronize(xp)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        synchronize(xp)
        times.append(time.perf_counter() - t)
    return times


def matmul_rate(xp, n: int = 2048, repeat: int = 10) -> float:
    """FLOP/s of an (n, n) @ (n, n) float32 product on ``xp``: the machine's ceiling for this work."""
    rng = np.random.default_rng(0)
    a = to_device(xp, rng.standard_normal((n, n)), np.float32)
    b = to_device(xp, rng.standard_normal((n, n)), np.float32)
    times = _time(lambda: a @ b, xp, repeat, warmup=2)
    return 2.0 * n ** 3 / float(np.median(times))


def peak_memory_bytes(xp) -> int:
    """Host: the process's peak RSS; GPU: the bytes CuPy's memory pool holds (its high-water mark)."""
    if is_gpu(xp):
        return int(xp.get_default_memory_pool().total_bytes())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _random_train_data(n_joints: int, n: int, seed: int = 0):
    """Random normalised poses: throughput does not depend on what the poses look like."""
    from .train import TrainData

    rng = np.random.default_rng(seed)

    def unit(x):
        x = x - x[:, :1]
        return (x / np.linalg.norm(x.reshape(len(x), -1), axis=1)[:, None, None]).astype(np.float32)

    W = unit(rng.standard_normal((n, n_joints, 2)))
    X = unit(rng.standard_normal((n, n_joints, 3)))
    return TrainData("h36m17", W, X, W[:0], X[:0] * 0, 1000.0, "random", X.mean(0))


def run_bench(xp, batch: int = 256, infer_batch: int = 1024, n_layers: int = 4, attention: str = "gated",
              iterations: int = 3, n_critic: int = 5, seed: int = 0) -> dict:
    """Measure everything `gatepose bench` reports; returns a JSON-able dict."""
    from .train import Trainer, TrainOptions

    dtype = np.float32
    rate = matmul_rate(xp)
    opts = TrainOptions(batch_size=batch, n_layers=n_layers, attention=attention, n_critic=n_critic,
                        seed=seed, steps=1)
    data = _random_train_data(17, max(4 * batch * (n_critic + 1), infer_batch), seed)
    trainer = Trainer(opts, data, xp, dtype)
    gcfg = trainer.gcfg
    rng = np.random.default_rng(seed)

    # inference: batch poses/s, and single-pose latency
    W = to_device(xp, data.W_train[:infer_batch], dtype)
    t_inf = float(np.median(_time(lambda: generator_forward(trainer.gen, W, gcfg, need_cache=False), xp, 5)))
    W1 = to_device(xp, data.W_train[:1], dtype)
    t_one = float(np.median(_time(lambda: generator_forward(trainer.gen, W1, gcfg, need_cache=False), xp, 50, 5)))

    # training: full iterations (n_critic critic steps with fresh fakes and the penalty, then G + camera)
    t_train = float(np.median(_time(trainer.iteration, xp, iterations, warmup=1)))
    f_inf = generator_flops(gcfg, infer_batch)
    f_train = training_iteration_flops(gcfg, trainer.ccfg, trainer.dcfg, batch, n_critic)
    return {
        "device": "gpu" if is_gpu(xp) else "cpu",
        "config": {"generator": gcfg.to_dict(), "batch": batch, "infer_batch": infer_batch,
                   "n_critic": n_critic, "dtype": "float32"},
        "matmul_flops_per_s": rate,
        "inference": {"poses_per_s": infer_batch / t_inf, "seconds_per_batch": t_inf,
                      "flops": f_inf, "flops_per_s": f_inf / t_inf, "utilisation": f_inf / t_inf / rate},
        "latency_single_pose_ms": 1e3 * t_one,
        "training": {"poses_per_s": batch / t_train, "seconds_per_iteration": t_train,
                     "flops": f_train, "flops_per_s": f_train / t_train, "utilisation": f_train / t_train / rate},
        "peak_memory_bytes": peak_memory_bytes(xp),
    }


def format_bench(r: dict) -> str:
    g = r["config"]["generator"]
    rows = [
        ("matmul (float32)", "", f"{r['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s", "1.00"),
        (f"inference, batch {r['config']['infer_batch']}", f"{r['inference']['poses_per_s']:.0f} poses/s",
         f"{r['inference']['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{r['inference']['utilisation']:.2f}"),
        ("inference, one pose", f"{r['latency_single_pose_ms']:.2f} ms", "", ""),
        (f"training iteration, batch {r['config']['batch']}", f"{r['training']['poses_per_s']:.0f} poses/s",
         f"{r['training']['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{r['training']['utilisation']:.2f}"),
        ("peak memory", f"{r['peak_memory_bytes'] / 2**20:.0f} MiB", "", ""),
    ]
    head = (f"gatepose bench on {r['device']}: d={g['d_model']} h={g['n_heads']} L={g['n_layers']} "
            f"d_ff={g['d_ff']} attention={g['attention']} n_critic={r['config']['n_critic']} float32")
    w = [max(len(x[i]) for x in rows + [("what", "throughput", "achieved", "utilisation")]) for i in range(4)]
    lines = [head, "", "  ".join(h.ljust(w[i]) for i, h in enumerate(("what", "throughput", "achieved", "utilisation")))]
    lines.append("  ".join("-" * x for x in w))
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    return "\n".join(lines)
