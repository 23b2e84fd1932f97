"""Throughput, achieved FLOP/s and utilisation: `gatepose bench`.

Utilisation = (analytic FLOPs of the work / measured seconds) / (this machine's measured float32
matrix-multiply rate on the same backend). The FLOP count covers the matrix products only (the
elementwise work is O(size) and not counted), at 2 FLOPs per multiply-add, and counts every
product the code actually forms (tests/commands/test_bench.py checks each count against the products of a
real run, and the generator's against a hand count):

* a linear layer over R rows, d_in -> d_out: forward 2 R d_in d_out; its backward twice that
  (dW = x^T dy and dx = dy W^T);
* generator, per pose (J tokens, width d, h heads, L layers, feed-forward d_ff, gate hidden g):
  embedding 2 J 2 d; per layer QKV 2 J d 3d, scores Q K^T 2 J^2 d and A V 2 J^2 d (neither for
  'fixed', whose attention is a mean), output 2 J d^2, FFN 2 * 2 J d d_ff, gate ('gated' only)
  2 paths x (2 J d g + 2 g h); head 2 J d 3. Its backward is exactly twice the forward;
* RepNet's generator (``--generator repnet``), per pose, width w, n_blocks blocks:
  2 (2J w + 2 n_blocks w^2 + w^2 + 3J w); its backward twice that (the input layer's dx included);
* camera net: 2 (2J w + 2 n_blocks w^2 + 6 w), backward twice that;
* critic, per pose: its Linear layers 2 (3J p + 3 p^2 + F k + 2 k^2 + (p + k) p_h + p_h), with
  F = nb (nb + 1) / 2, plus the KCS features 2 (J nb 3 + nb^2 3); its input backward costs the same;
* one critic step (``fast.critic_step.stacked_critic_loss``, the trainer's), with the real, fake and interpolated batches stacked
  (3B rows): forward and input backward over 3B rows, the tangent push of the double backward over
  the B interpolated rows (every layer but the last, and the KCS forward-mode product
  2 (2 J nb 3 + nb^2 3)), then weight gradients u^T delta over 3B rows (the bias gradients are
  column sums over the 2B first-order rows: no product);
* one training iteration: n_critic x (generator forward + critic step), then generator forward and
  backward, camera forward and backward, critic forward and input backward, the projection
  (forward 2 J 3 2, backward twice that) and the camera loss (M M^T and its backward, 24 + 24).

The CPU inference path (fast/fused.py) forms the same products, except that the output projection
multiplies one extra row (its bias, [x, 1] [W_o; b_o]: 1/d more of that product's FLOPs, not
counted), so utilisation is never flattered by work the model does not need.
"""
from __future__ import annotations

import resource
import time

import numpy as np

from .backend import is_gpu, synchronize, to_device
from .nn.camera import CameraConfig
from .nn.critic import CriticConfig
from .nn.repnet import RepNetConfig


# -- analytic FLOP counts ---------------------------------------------------------------------
def generator_flops(cfg, batch: int) -> int:
    """Matrix-product FLOPs of one generator forward over ``batch`` poses (either kind)."""
    if isinstance(cfg, RepNetConfig):
        J, w = cfg.n_joints, cfg.width
        return batch * 2 * (2 * J * w + 2 * cfg.n_blocks * w * w + w * w + 3 * J * w)
    J, d, h, L, f, g = cfg.n_joints, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.gate_hidden
    per_layer = 2 * J * d * 3 * d + 2 * J * d * d + 2 * 2 * J * d * f
    if cfg.attention != "fixed":
        per_layer += 2 * J * J * d + 2 * J * J * d               # Q K^T and A V
    if cfg.attention == "gated":
        per_layer += 2 * (2 * J * d * g + 2 * g * h)             # gate and bias paths
    return batch * (2 * J * 2 * d + L * per_layer + 2 * J * d * 3)


def camera_flops(cfg: CameraConfig, batch: int) -> int:
    w = cfg.width
    return batch * 2 * (2 * cfg.n_joints * w + 2 * cfg.n_blocks * w * w + 6 * w)


def _critic_layer_shapes(cfg: CriticConfig) -> list[tuple[int, int]]:
    """(d_in, d_out) of the critic's Linear layers, in forward order (the last is head.out)."""
    J, p, k, ph = cfg.n_joints, cfg.pose_width, cfg.kcs_width, cfg.head_width
    F = cfg.n_features
    return [(3 * J, p), (p, p), (p, p), (p, p), (F, k), (k, k), (k, k), (p + k, ph), (ph, 1)]


def _critic_layers_flops(cfg: CriticConfig, batch: int) -> int:
    return batch * sum(2 * a * b for a, b in _critic_layer_shapes(cfg))


def _kcs_flops(cfg: CriticConfig, batch: int) -> int:
    """bones = C^T X and Psi = bones bones^T; the KCS backward costs the same."""
    J, nb = cfg.n_joints, cfg.n_bones
    return batch * 2 * (J * nb * 3 + nb * nb * 3)


def critic_flops(cfg: CriticConfig, batch: int) -> int:
    """Matrix-product FLOPs of one critic forward over ``batch`` poses (its input backward: the same)."""
    return _critic_layers_flops(cfg, batch) + _kcs_flops(cfg, batch)


def critic_step_flops(cfg: CriticConfig, batch: int) -> int:
    """One stacked critic step (``fast.critic_step``) on real, fake and interpolated batches of ``batch`` poses each."""
    J, nb = cfg.n_joints, cfg.n_bones
    shapes = _critic_layer_shapes(cfg)
    rows = 3 * batch
    forward_and_input_backward = 2 * critic_flops(cfg, rows)
    tangents = _critic_layers_flops(cfg, batch) - batch * 2 * shapes[-1][0] * shapes[-1][1]
    tangents += batch * 2 * (2 * J * nb * 3 + nb * nb * 3)        # kcs_jvp
    weight_grads = _critic_layers_flops(cfg, rows)
    return forward_and_input_backward + tangents + weight_grads


def training_iteration_flops(gcfg, ccfg, dcfg, batch: int, n_critic: int) -> int:
    G, C, D = generator_flops(gcfg, batch), camera_flops(ccfg, batch), critic_flops(dcfg, batch)
    J = gcfg.n_joints
    projection_and_camera_loss = batch * (3 * 2 * J * 3 * 2 + 48)
    return (n_critic * (G + critic_step_flops(dcfg, batch))
            + 3 * G + 3 * C + 2 * D + projection_and_camera_loss)


# -- timing -----------------------------------------------------------------------------------
def _time(fn, xp, repeat: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``repeat`` calls after ``warmup`` untimed ones (GPU: synchronised per call)."""
    for _ in range(warmup):
        fn()
    synchronize(xp)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        synchronize(xp)
        times.append(time.perf_counter() - t)
        _sample_pool(xp)
    return times


# The ceiling: float32 square products at these sizes. 2048 is large enough for BLAS/cuBLAS to
# reach its peak (on the 2-core CPU 4096 gives the same rate, eight times slower to measure) and
# close to the shapes of the model's big GEMMs ((B*J) x 256 x 768 at batch 256); 1024 shows when a
# smaller product runs faster on a given machine. The rate used is the larger of the medians, so
# utilisation is measured against the best this machine showed, not against a slow size.
MATMUL_SIZES = (1024, 2048)
# The two rounds of the matmul rate (before and after the model timings) may differ by this
# fraction before a run is called noisy (the machine's load changed while it ran).
NOISE_TOLERANCE = 0.10
# A GPU reaches its rate only on a product large enough to fill every SM for a while: 4096 and 8192
# (0.1 and 1.1 TFLOP per product; a fraction of a second on a data-centre GPU).
GPU_MATMUL_SIZES = (4096, 8192)


def tf32_enabled(xp) -> bool | None:
    """Whether CuPy may run float32 products on TF32 tensor cores (CuPy does when CUPY_TF32=1 is set
    before it is imported); None on the CPU. TF32 keeps a 10-bit mantissa: a faster but coarser
    matmul rate to measure utilisation against."""
    if not is_gpu(xp):
        return None
    import os

    # CuPy's own test (cupy/_core/_routines_linalg.pyx, get_compute_type): int(CUPY_TF32) > 0, so
    # "2" enables TF32 as "1" does; a value that is not an integer makes CuPy raise at its first
    # float32 product, and is reported here as off.
    try:
        return int(os.environ.get("CUPY_TF32", "0")) > 0
    except ValueError:
        return False


def matmul_samples(xp, sizes=MATMUL_SIZES, repeat: int = 7) -> dict:
    """{n: [FLOP/s of each timed (n, n) @ (n, n) float32 product]} on ``xp``."""
    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        a = to_device(xp, rng.standard_normal((n, n)), np.float32)
        b = to_device(xp, rng.standard_normal((n, n)), np.float32)
        out[n] = [2.0 * n ** 3 / t for t in _time(lambda: a @ b, xp, repeat, warmup=2)]
    return out


_pool_high_water = 0


def _sample_pool(xp) -> None:
    """Remember the most CuPy's pool has held (called after every timed call)."""
    global _pool_high_water
    if is_gpu(xp):
        _pool_high_water = max(_pool_high_water, int(xp.get_default_memory_pool().total_bytes()))


def reset_peak_memory(xp) -> None:
    """GPU: hand the pool's cached blocks back and restart its high-water mark; CPU: nothing (RSS
    peaks cannot be reset)."""
    global _pool_high_water
    if is_gpu(xp):
        xp.get_default_memory_pool().free_all_blocks()
        _pool_high_water = 0


def peak_memory_bytes(xp) -> int:
    """Host: the process's peak RSS; GPU: the high-water mark of the bytes CuPy's memory pool held
    since :func:`reset_peak_memory`, sampled after every timed call (the pool keeps freed blocks
    for reuse, so between samples what it holds only grows), not what it holds at the end."""
    if is_gpu(xp):
        _sample_pool(xp)
        return _pool_high_water
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def random_train_data(n_joints: int, n: int, seed: int = 0):
    """A TrainData of ``n`` random normalised poses of ``n_joints`` joints (2D and unpaired 3D):
    throughput does not depend on what the poses look like."""
    from .data.normalize import normalize
    from .data.prepare import TrainData

    rng = np.random.default_rng(seed)

    def unit(x):
        return normalize(x)[0].astype(np.float32)

    W = unit(rng.standard_normal((n, n_joints, 2)))
    X = unit(rng.standard_normal((n, n_joints, 3)))
    return TrainData("h36m17", W, X, W[:0], X[:0] * 0, 1000.0, "random", X.mean(0))


# Model sizes for a smoke run (tests): every code path of the real bench in well under a second.
TINY_SIZES = dict(d_model=16, n_heads=2, d_ff=32, gate_hidden=8, camera_width=16, critic_pose_width=8,
                  critic_kcs_width=16)


def run_bench(xp, batch: int = 256, infer_batch: int = 1024, n_layers: int = 4, attention: str = "gated",
              iterations: int = 3, n_critic: int = 5, seed: int = 0, sizes: dict | None = None,
              matmul_sizes=None, latency_repeat: int = 50, generator: str = "posegate") -> dict:
    """Measure everything `gatepose bench` reports; returns a JSON-able dict.

    ``sizes`` overrides TrainOptions' model sizes (d_model, d_ff, camera_width, ...; default: SPEC
    section 1). Order: the matmul rate, then training (so the reported training peak memory is
    training's own), then inference, then the matmul rate again. The machine may be shared, so the
    rate used is the higher of the two rounds (each round: the best per-size median, see
    MATMUL_SIZES), and the run is flagged ``noisy`` when the rounds differ by more than
    NOISE_TOLERANCE or when a model timing beat the measured rate; a utilisation is never reported
    above 1. Times are medians of repeated runs. ``generator="repnet"``: RepNet's generator in
    PoseGate-Former's place (its inference is its plain forward: it has no fast path).
    """
    from .options import TrainOptions
    from .train import Trainer

    dtype = np.float32
    if matmul_sizes is None:
        matmul_sizes = GPU_MATMUL_SIZES if is_gpu(xp) else MATMUL_SIZES
    samples = matmul_samples(xp, matmul_sizes)
    reset_peak_memory(xp)          # the matmul operands out: training's peak is training's own
    opts = TrainOptions(batch_size=batch, n_layers=n_layers, attention=attention, n_critic=n_critic,
                        seed=seed, steps=1, generator=generator, **(sizes or {}))
    data = random_train_data(17, max(4 * batch * (n_critic + 1), infer_batch), seed)
    trainer = Trainer(opts, data, xp, dtype)
    gcfg = trainer.gcfg

    # training: full iterations (n_critic critic steps with fresh fakes and the penalty, then G + camera)
    t_train = float(np.median(_time(trainer.iteration, xp, iterations, warmup=1)))
    mem_train = peak_memory_bytes(xp)

    # inference: batch poses/s, and single-pose latency
    def infer(W):   # what prediction runs (FAST DOOR 4: the run's speed paths, as Run.predict)
        return trainer.speed.infer(trainer.gen, W, gcfg)

    W = to_device(xp, data.W_train[:infer_batch], dtype)
    t_inf = float(np.median(_time(lambda: infer(W), xp, 5)))
    W1 = to_device(xp, data.W_train[:1], dtype)
    t_one = float(np.median(_time(lambda: infer(W1), xp, latency_repeat, 5)))

    after = matmul_samples(xp, matmul_sizes)
    rates = {n: max(float(np.median(samples[n])), float(np.median(after[n]))) for n in samples}
    before_rate = max(float(np.median(v)) for v in samples.values())
    after_rate = max(float(np.median(v)) for v in after.values())
    rate = max(before_rate, after_rate)
    f_inf = generator_flops(gcfg, infer_batch)
    f_train = training_iteration_flops(gcfg, trainer.ccfg, trainer.dcfg, batch, n_critic)
    u_inf, u_train = f_inf / t_inf / rate, f_train / t_train / rate
    noisy = abs(before_rate - after_rate) > NOISE_TOLERANCE * rate or max(u_inf, u_train) > 1.0
    return {
        "noisy": bool(noisy),
        "matmul_flops_per_s_before_after": [before_rate, after_rate],
        "device": "gpu" if is_gpu(xp) else "cpu",
        "config": {"generator": gcfg.to_dict(), "camera": trainer.ccfg.to_dict(),
                   "critic": {k: v for k, v in trainer.dcfg.to_dict().items() if k != "incidence"},
                   "batch": batch, "infer_batch": infer_batch, "n_critic": n_critic, "dtype": "float32",
                   "generator_parameters": int(sum(v.size for v in trainer.gen.values()))},
        "matmul_flops_per_s": rate,
        "matmul_sizes": list(matmul_sizes),
        "tf32": tf32_enabled(xp),
        "matmul_flops_per_s_by_size": {str(n): r for n, r in rates.items()},
        "inference": {"poses_per_s": infer_batch / t_inf, "seconds_per_batch": t_inf,
                      "flops": f_inf, "flops_per_s": f_inf / t_inf, "utilisation": min(u_inf, 1.0)},
        "latency_single_pose_ms": 1e3 * t_one,
        "training": {"poses_per_s": batch / t_train, "seconds_per_iteration": t_train,
                     "flops": f_train, "flops_per_s": f_train / t_train, "utilisation": min(u_train, 1.0),
                     "peak_memory_bytes": mem_train},
        "peak_memory_bytes": peak_memory_bytes(xp),
    }


# -- one preset's real training step, by phase ------------------------------------------------------
class _PhaseClock:
    """Wall seconds per phase, from wrappers put on one Trainer's own attributes (its code unchanged).
    Phases never nest: each wrapped call is timed whole, synchronised on a GPU."""

    def __init__(self, xp):
        self.xp, self.seconds = xp, {}

    def wrap(self, name, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            out = fn(*a, **k)
            synchronize(self.xp)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
            return out
        return timed


# What each phase of a training step is, in the order a step runs them.
PHASES = {
    "inputs": "2D batches: sampler, --aug-flip-2d",
    "fakes": "the critic steps' fakes: one generator forward",
    "real": "real 3D poses: sampler, --aug-real",
    "critic": "critic steps: L_D and the penalty's double backward (stacked, sharded)",
    "critic_adam": "Adam on the critic",
    "generator": "generator step: L_G (generator, camera, critic input backward, self-consistency, bone prior)",
    "supervised": "supervised step: L_sup, forward and backward",
    "generator_adam": "Adam on generator and camera",
    "ema": "EMA of the generator",
    "rest": "everything else (the iteration's own bookkeeping)",
}


def _instrument(trainer, clock: _PhaseClock) -> None:
    tr = trainer
    tr._inputs = clock.wrap("inputs", tr._inputs)
    tr._real_poses = clock.wrap("real", tr._real_poses)
    tr._update_ema = clock.wrap("ema", tr._update_ema)
    tr.generator_gradients = clock.wrap("generator", tr.generator_gradients)
    tr.opt_d.step = clock.wrap("critic_adam", tr.opt_d.step)
    tr.opt_g.step = clock.wrap("generator_adam", tr.opt_g.step)
    speed = tr.speed
    fakes, batch_mean = speed.fakes, speed.batch_mean
    speed.fakes = clock.wrap("fakes", fakes)
    timed = {"critic_loss": clock.wrap("critic", batch_mean), "critic_loss_2d": clock.wrap("critic", batch_mean),
             "supervised_loss": clock.wrap("supervised", batch_mean)}
    # the generator step's own batch mean is inside generator_gradients, timed there
    speed.batch_mean = lambda loss, *b: timed.get(getattr(loss, "__name__", ""), batch_mean)(loss, *b)


def phase_flops(tr) -> dict:
    """Matrix-product FLOPs of each phase of one iteration of the Trainer ``tr`` (elementwise work,
    Adam, the EMA and the sampler count 0)."""
    o, B = tr.opts, tr.opts.batch_size
    G = generator_flops(tr.gcfg, B)
    if tr.full:
        return {"supervised": 3 * G}
    C, D = camera_flops(tr.ccfg, B), critic_flops(tr.dcfg, B)
    J = tr.gcfg.n_joints
    gen_step = 3 * G + 3 * C + 2 * D + B * (3 * 2 * J * 3 * 2 + 48)
    turn = 2 * B * J * 3 * 3           # X R^T over a batch
    if o.w_geo:
        gen_step += 3 * G + 2 * turn   # self-consistency: the second lift forward and backward, the turn and its backward
    out = {"fakes": o.n_critic * G, "critic": o.n_critic * critic_step_flops(tr.dcfg, B), "generator": gen_step}
    if o.aug_real:
        out["real"] = o.n_critic * turn
    return out


def run_preset_bench(xp, preset: str, iterations: int = 30, seed: int = 0, sizes: dict | None = None,
                     matmul_sizes=None, n_data: int = 20000) -> dict:
    """One real training step of ``preset`` (every option of it: batch, n_critic, widths,
    self-consistency, EMA, lift, augmentations, shards), on ``n_data`` random normalised poses:
    its median time over ``iterations`` (after a warm-up), broken into :data:`PHASES`, each with its
    FLOP count and utilisation; and what self-consistency and the camera net cost inside the
    generator step, timed apart. JSON-able."""
    import dataclasses

    from .names import PRESETS
    from .nn.camera import camera_backward, camera_forward
    from .options import TrainOptions
    from .train import Trainer

    if matmul_sizes is None:
        matmul_sizes = GPU_MATMUL_SIZES if is_gpu(xp) else MATMUL_SIZES
    samples = matmul_samples(xp, matmul_sizes)
    reset_peak_memory(xp)
    opts = TrainOptions(**{**PRESETS[preset], **(sizes or {}), "seed": seed, "steps": 1})
    opts.check()
    data = random_train_data(17, n_data, seed)
    data = dataclasses.replace(data, X_train=data.X_real[:len(data.W_train)])
    tr = Trainer(opts, data, xp, np.float32)
    clock = _PhaseClock(xp)
    _instrument(tr, clock)
    for _ in range(3):                      # warm-up: buffers, thread pools, BLAS
        tr.iteration()
    synchronize(xp)
    clock.seconds.clear()
    step_times = _time(tr.iteration, xp, iterations, warmup=0)
    t_step = float(np.median(step_times))
    per_step = {k: v / iterations for k, v in clock.seconds.items()}
    # "rest": the mean step less what the phases' wrappers saw in the same steps
    step_phases = dict(per_step, rest=max(float(np.mean(step_times)) - sum(per_step.values()), 0.0))

    extra = {}
    if not tr.full:   # inside the generator step, timed apart on one batch: self-consistency, camera
        W = tr.s2d.next()
        from .data.augment import camera_turns

        def gen_step(R):
            return lambda: tr.generator_gradients(W, R)
        if opts.w_geo:
            R = camera_turns(np.random.default_rng(seed), opts.batch_size, xp, np.float32, *tr.elevation)
            with_geo = float(np.median(_time(gen_step(R), xp, iterations, warmup=2)))
            tr.opts = dataclasses.replace(opts, w_geo=0.0)
            without = float(np.median(_time(gen_step(None), xp, iterations, warmup=2)))
            tr.opts = opts
            extra["self_consistency_s"] = max(with_geo - without, 0.0)
        M_cache = camera_forward(tr.cam, W, tr.ccfg)
        extra["camera_net_s"] = float(np.median(_time(
            lambda: camera_backward(xp.ones_like(M_cache[0]), camera_forward(tr.cam, W, tr.ccfg)[1]),
            xp, iterations, warmup=2)))
    mem = peak_memory_bytes(xp)
    after = matmul_samples(xp, matmul_sizes)
    before_rate = max(float(np.median(v)) for v in samples.values())
    after_rate = max(float(np.median(v)) for v in after.values())
    rate = max(before_rate, after_rate)
    flops = phase_flops(tr)
    phases = {}
    for name in PHASES:
        if name not in step_phases:
            continue
        s, f = step_phases[name], flops.get(name, 0)
        phases[name] = {"ms": 1e3 * s, "share": s / max(sum(step_phases.values()), 1e-12), "flops": f,
                        "utilisation": (min(f / s / rate, 1.0) if f and s > 0 else None)}
    f_step = sum(flops.values())
    u_step = f_step / t_step / rate
    return {
        "preset": preset, "device": "gpu" if is_gpu(xp) else "cpu", "options": opts.to_dict(),
        "noisy": bool(abs(before_rate - after_rate) > NOISE_TOLERANCE * rate or u_step > 1.0),
        "matmul_flops_per_s": rate, "matmul_flops_per_s_before_after": [before_rate, after_rate],
        "step_ms": 1e3 * t_step, "step_ms_p10_p90": [1e3 * float(np.percentile(step_times, q)) for q in (10, 90)],
        "iterations": iterations, "step_flops": f_step, "step_utilisation": min(u_step, 1.0),
        "phases": phases, "inside_generator_step_ms": {k[:-2]: 1e3 * v for k, v in extra.items()},
        "shards": tr.shards, "peak_memory_bytes": mem,
    }


def format_preset_bench(r: dict) -> str:
    lines = [f"gatepose bench --preset {r['preset']} on {r['device']}: one training step "
             f"{r['step_ms']:.1f} ms (median of {r['iterations']}; p10 / p90 "
             f"{r['step_ms_p10_p90'][0]:.1f} / {r['step_ms_p10_p90'][1]:.1f}), {r['step_flops'] / 1e9:.2f} GFLOP of "
             f"matrix products, utilisation {r['step_utilisation']:.2f} of {r['matmul_flops_per_s'] / 1e9:.0f} "
             f"GFLOP/s; {r['shards']} shard(s); peak memory {r['peak_memory_bytes'] / 2**20:.0f} MiB", "",
             f"{'phase':<16}{'ms':>8}{'share':>8}{'GFLOP':>8}{'util':>7}  what"]
    for name, p in sorted(r["phases"].items(), key=lambda kv: -kv[1]["ms"]):
        util = f"{p['utilisation']:.2f}" if p["utilisation"] is not None else "-"
        lines.append(f"{name:<16}{p['ms']:>8.2f}{p['share']:>8.0%}{p['flops'] / 1e9:>8.2f}{util:>7}  {PHASES[name]}")
    for k, v in r["inside_generator_step_ms"].items():
        lines.append(f"  of the generator step, {k.replace('_', ' ')} timed apart: {v:.2f} ms")
    if r["noisy"]:
        lines.append(f"noisy: the matmul rate changed by more than {NOISE_TOLERANCE:.0%} during the run; run it "
                     "again on an idle machine before comparing figures")
    return "\n".join(lines)


def format_bench(r: dict) -> str:
    g = r["config"]["generator"]
    rows = [
        (f"matmul (float32, n={max(r.get('matmul_sizes', [0]))})", "",
         f"{r['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s", "1.00"),
        (f"inference, batch {r['config']['infer_batch']}", f"{r['inference']['poses_per_s']:.0f} poses/s",
         f"{r['inference']['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{r['inference']['utilisation']:.2f}"),
        ("inference, one pose", f"{r['latency_single_pose_ms']:.2f} ms", "", ""),
        (f"training iteration, batch {r['config']['batch']}", f"{r['training']['poses_per_s']:.0f} poses/s",
         f"{r['training']['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{r['training']['utilisation']:.2f}"),
        ("peak memory, training", f"{r['training']['peak_memory_bytes'] / 2**20:.0f} MiB", "", ""),
        ("peak memory, all", f"{r['peak_memory_bytes'] / 2**20:.0f} MiB", "", ""),
    ]
    if g.get("kind") == "repnet":
        model = f"RepNet's generator w={g['width']} blocks={g['n_blocks']}"
    else:
        model = f"d={g['d_model']} h={g['n_heads']} L={g['n_layers']} d_ff={g['d_ff']} attention={g['attention']}"
    n_par = r["config"].get("generator_parameters")
    head = (f"gatepose bench on {r['device']}: {model}"
            + (f" ({n_par:,} parameters)" if n_par else "") + f" n_critic={r['config']['n_critic']} float32")
    if r.get("tf32") is not None:
        head += f", TF32 {'on' if r['tf32'] else 'off'} (CUPY_TF32)"
    w = [max(len(x[i]) for x in rows + [("what", "throughput", "achieved", "utilisation")]) for i in range(4)]
    lines = [head, "", "  ".join(h.ljust(w[i]) for i, h in enumerate(("what", "throughput", "achieved", "utilisation")))]
    lines.append("  ".join("-" * x for x in w))
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    before, after = r["matmul_flops_per_s_before_after"]
    lines.append(f"\nmatmul rate before / after the model timings: {before / 1e9:.1f} / {after / 1e9:.1f} GFLOP/s")
    if r["noisy"]:
        lines.append(f"noisy: the machine's load changed during the run (the two rates differ by more than "
                     f"{NOISE_TOLERANCE:.0%}, or a model timing beat the measured rate); run it again on an "
                     "idle machine before comparing figures")
    return "\n".join(lines)
