"""`gatepose bench`: the analytic FLOP counts against counted matrix products, float32 kept end to
end through a full training iteration, and a smoke run of the command."""
import json
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from gatepose.bench import (camera_flops, critic_flops, generator_flops, random_train_data,
                            training_iteration_flops)
from gatepose.nn.camera import CameraConfig, camera_forward, init_camera
from gatepose.nn.critic import CriticConfig, critic_forward, init_critic
from gatepose.nn.posegate import PoseGateConfig, posegate_forward, init_posegate
from gatepose.train import Trainer
from gatepose.options import TrainOptions
from helpers import assert_refused


class Counted(np.ndarray):
    """An ndarray that adds the FLOPs of every matrix product it takes part in to ``Counted.flops``
    (2 per multiply-add, batch axes broadcast) and fails on any float64 result when ``strict``."""

    flops = 0
    strict = False
    lock = threading.Lock()   # shards run in threads: "+=" on a shared counter could lose an update

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
        plain = [x.view(np.ndarray) if isinstance(x, Counted) else x for x in inputs]
        if out is not None:
            kw["out"] = tuple(o.view(np.ndarray) if isinstance(o, Counted) else o for o in out)
        if ufunc is np.matmul and method == "__call__":
            a, b = (np.asarray(x) for x in plain)
            a2 = a if a.ndim > 1 else a[None]
            b2 = b if b.ndim > 1 else b[:, None]
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
            with Counted.lock:
                Counted.flops += 2 * int(np.prod(batch)) * a2.shape[-2] * a2.shape[-1] * b2.shape[-1]
        result = getattr(ufunc, method)(*plain, **kw)
        if Counted.strict and getattr(result, "dtype", None) == np.float64:
            raise AssertionError(f"{ufunc.__name__} made a float64 result from "
                                 f"{[getattr(x, 'dtype', type(x).__name__) for x in inputs]}")
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(Counted) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        # np.where, np.concatenate, ...: keep the result Counted, so products downstream are seen
        result = super().__array_function__(func, tuple(t for t in types if t is not Counted) or
                                            (np.ndarray,), args, kwargs)
        if isinstance(result, np.ndarray) and not isinstance(result, Counted):
            return result.view(Counted)
        return result


def counted(arrays: dict) -> dict:
    return {k: v.view(Counted) for k, v in arrays.items()}


@pytest.fixture(autouse=True)
def _reset_counter():
    Counted.flops, Counted.strict = 0, False
    yield
    Counted.flops, Counted.strict = 0, False


TINY_G = dict(n_joints=3, d_model=4, n_heads=2, n_layers=1, d_ff=8, gate_hidden=5)


def test_generator_flops_by_hand():
    # J=3, d=4, h=2, L=1, d_ff=8, g=5, per pose: embedding 2*3*2*4 = 48; QKV 2*3*4*12 = 288;
    # Q K^T 2*3*3*4 = 72; A V 72; W_o 2*3*4*4 = 96; FFN 2 * 2*3*4*8 = 384;
    # gate 2 paths * (2*12*5 + 2*5*2) = 280; head 2*3*4*3 = 72.  Total 1312.
    cfg = PoseGateConfig(**TINY_G)
    assert generator_flops(cfg, 1) == 1312
    assert generator_flops(cfg, 7) == 7 * 1312
    assert generator_flops(PoseGateConfig(**TINY_G, attention="vanilla"), 1) == 1312 - 280
    assert generator_flops(PoseGateConfig(**TINY_G, attention="fixed"), 1) == 1312 - 280 - 2 * 72


@pytest.mark.parametrize("attention", ["gated", "vanilla", "fixed", "scalar-gate"])
def test_generator_flops_match_counted_products(attention):
    cfg = PoseGateConfig(n_joints=5, d_model=8, n_heads=2, n_layers=2, d_ff=12, gate_hidden=6,
                          attention=attention)
    params = counted(init_posegate(cfg, np.random.default_rng(0)))
    W = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32).view(Counted)
    posegate_forward(params, W, cfg, need_cache=False)
    # 'fixed' forms neither Q K^T nor A V: its attention is a mean over the values
    assert Counted.flops == generator_flops(cfg, 3)


def test_camera_and_critic_flops_match_counted_products():
    ccfg = CameraConfig(n_joints=17, width=10)
    W = np.random.default_rng(1).standard_normal((4, 17, 2)).astype(np.float32).view(Counted)
    camera_forward(counted(init_camera(ccfg, np.random.default_rng(0), np, np.float32)), W, ccfg)
    assert Counted.flops == camera_flops(ccfg, 4)
    Counted.flops = 0
    dcfg = CriticConfig(pose_width=6, kcs_width=9, head_width=5)
    X = np.random.default_rng(2).standard_normal((4, 17, 3)).astype(np.float32).view(Counted)
    critic_forward(counted(init_critic(dcfg, np.random.default_rng(0), np, np.float32)), X, dcfg)
    assert Counted.flops == critic_flops(dcfg, 4)


def _tiny_trainer(batch=8, n_critic=2):
    opts = TrainOptions(batch_size=batch, n_critic=n_critic, steps=1, n_layers=1, d_model=8, n_heads=2,
                        d_ff=16, gate_hidden=6, camera_width=12, critic_pose_width=6, critic_kcs_width=10)
    return Trainer(opts, random_train_data(17, 64), np, np.float32)


def _count_everything(tr):
    """Route every array the iteration touches through Counted (views: the optimisers' in-place
    updates still land in the same memory)."""
    for d in (tr.gen, tr.cam, tr.critic, tr.critic_3d, tr.critic_2d, tr.adv, tr.opt_g.m, tr.opt_g.v, tr.opt_d.m,
              tr.opt_d.v):
        for k in d:
            d[k] = d[k].view(Counted)
    tr.s2d.data = tr.s2d.data.view(Counted)
    tr.s3d.data = tr.s3d.data.view(Counted)


def test_training_iteration_flops_match_counted_products():
    tr = _tiny_trainer()
    _count_everything(tr)
    tr.iteration()
    assert Counted.flops == training_iteration_flops(tr.gcfg, tr.ccfg, tr.dcfg, 8, 2)


@pytest.mark.parametrize("batch", [8, 48])
def test_training_iteration_keeps_float32_everywhere(batch, monkeypatch):
    # batch 48: the critic steps' 96 fakes (1,632 tokens) take the fused CPU inference path in blocks
    import gatepose.fast.fused as fused

    fused_calls = []
    real = fused.fused_forward
    monkeypatch.setattr(fused, "fused_forward", lambda *a: fused_calls.append(1) or real(*a))
    tr = _tiny_trainer(batch=batch)
    _count_everything(tr)
    seen = {}
    for name, opt in (("g", tr.opt_g), ("d", tr.opt_d)):
        def step(params, grads, _orig=opt.step, _name=name):
            seen.update({f"{_name}/{k}": g.dtype for k, g in grads.items()})
            return _orig(params, grads)
        opt.step = step
    Counted.strict = True                       # any float64 intermediate fails the test
    losses = tr.iteration(want_stats=True)
    Counted.strict = False
    assert seen and all(dt == np.float32 for dt in seen.values()), seen
    assert {np.asarray(v).dtype for v in losses.values()} == {np.dtype(np.float32)}
    for d in (tr.gen, tr.cam, tr.critic, tr.opt_g.m, tr.opt_g.v, tr.opt_d.m, tr.opt_d.v):
        assert all(v.dtype == np.float32 for v in d.values())
    assert bool(fused_calls) == (batch == 48)


def test_bench_json_smoke():
    args = ["bench", "--device", "cpu", "--tiny", "--batch", "8", "--infer-batch", "16", "--layers", "1",
            "--iterations", "1", "--json"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    for part in ("inference", "training"):
        assert out[part]["flops_per_s"] > 0 and 0 < out[part]["utilisation"]
    assert out["matmul_flops_per_s"] > 0 and out["latency_single_pose_ms"] > 0
    assert out["training"]["peak_memory_bytes"] > 0
    r = CliRunner().invoke(cli, ["bench", "--device", "cpu", "--batch", "0"])
    assert_refused(r, "--batch")


def test_repnet_flops_match_counted_products_forward_and_training_iteration():
    from gatepose.nn.repnet import RepNetConfig, init_repnet, repnet_forward

    cfg = RepNetConfig(n_joints=5, width=7, n_blocks=3)
    W = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32).view(Counted)
    repnet_forward(counted(init_repnet(cfg, np.random.default_rng(0), np, np.float32)), W, cfg)
    assert Counted.flops == generator_flops(cfg, 3) == 3 * 2 * (2 * 5 * 7 + 6 * 49 + 49 + 15 * 7)
    Counted.flops = 0
    opts = TrainOptions(batch_size=8, n_critic=2, steps=1, generator="repnet", repnet_width=12, camera_width=12,
                        critic_pose_width=6, critic_kcs_width=10)
    tr = Trainer(opts, random_train_data(17, 64), np, np.float32)
    _count_everything(tr)
    tr.iteration()
    assert Counted.flops == training_iteration_flops(tr.gcfg, tr.ccfg, tr.dcfg, 8, 2)


def test_bench_repnet_smoke():
    r = CliRunner().invoke(cli, ["bench", "--device", "cpu", "--tiny", "--generator", "repnet", "--batch", "8",
                                 "--infer-batch", "16", "--iterations", "1"])
    assert r.exit_code == 0, r.output
    assert "RepNet's generator w=16" in r.output and "parameters" in r.output
    r = CliRunner().invoke(cli, ["bench", "--generator", "repnet", "--layers", "2"])
    assert_refused(r, "error: --layers")


@pytest.mark.parametrize("extra", [dict(), dict(w_geo=1.5, lift="depth", ema=0.9, aug_real=True, aug_flip_2d=True),
                                   dict(supervision="full")])
def test_phase_flops_match_counted_products(extra):
    """bench --preset's FLOPs per phase add up to the products one real iteration of those options
    forms (self-consistency's second lift, the depth lift, full supervision included)."""
    import dataclasses

    from gatepose.bench import phase_flops

    opts = TrainOptions(batch_size=8, n_critic=2, steps=1, n_layers=1, d_model=8, n_heads=2, d_ff=16, gate_hidden=6,
                        camera_width=12, critic_pose_width=6, critic_kcs_width=10, **extra)
    data = random_train_data(17, 64)
    tr = Trainer(opts, dataclasses.replace(data, X_train=data.X_real), np, np.float32)
    _count_everything(tr)
    tr.iteration()
    assert Counted.flops == sum(phase_flops(tr).values()) > 0


@pytest.mark.parametrize("preset", ["small-weak", "small-full", "paper"])
def test_bench_preset_smoke(preset):
    """--preset: one real step of the preset, its phases (shares adding up to 1, FLOPs to the step's)."""
    r = CliRunner().invoke(cli, ["bench", "--device", "cpu", "--tiny", "--preset", preset, "--iterations", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["preset"] == preset and out["step_ms"] > 0 and out["options"]["supervision"] in ("weak", "full")
    phases = out["phases"]
    assert ("supervised" in phases) == (preset == "small-full") and "rest" in phases
    assert sum(p["share"] for p in phases.values()) == pytest.approx(1.0)
    assert sum(p["flops"] for p in phases.values()) == out["step_flops"] > 0
    text = CliRunner().invoke(cli, ["bench", "--device", "cpu", "--tiny", "--preset", preset, "--iterations", "1"])
    assert text.exit_code == 0 and "phase" in text.output and f"--preset {preset}" in text.output


def test_bench_preset_refuses_model_options():
    r = CliRunner().invoke(cli, ["bench", "--device", "cpu", "--preset", "small-weak", "--batch", "64"])
    assert_refused(r, "--batch", "--preset", progress=True)
    r = CliRunner().invoke(cli, ["bench", "--device", "cpu", "--preset", "nope"])
    assert_refused(r, "--preset")
