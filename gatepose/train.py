"""The weakly supervised training loop (SPEC section 6, the paper's Fig. 2, RepNet's set-up).

Two models are trained alternately, Improved-WGAN style:

* the discriminator model: generator (frozen, forward only) + KCS critic, trained on
  ``L_D = mean D(X_fake) - mean D(X_real) + lambda * GP`` for ``n_critic`` steps;
* the adversarial model: generator + camera net (trained) + projection + critic (frozen),
  trained on ``L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam`` for one step.

Real 3D poses for the critic are never paired with the 2D batch: by default they are the training
subjects' 3D poses drawn by their own shuffled iterator, or any other archive (``real_poses``).

A run is a folder: ``config.json`` (every option, the model sizes, skeleton and normalisation
constants), ``metrics.jsonl`` (one line per logged step), ``checkpoint.npz`` (parameters, both
optimisers' states, the step and every RNG state; written atomically) and ``best.npz`` (the
generator and camera with the lowest validation N-MPJPE). Resuming restores all of it, so N steps
straight and N/2 + resume + N/2 give identical parameters.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import get_xp, is_gpu, to_device, to_host
from .checkpoint import (load_checkpoint, save_checkpoint, split_prefix, with_prefix,
                         write_json_atomic)
from .errors import GateposeError, TrainingDiverged
from .losses import (camera_loss, camera_loss_backward, critic_loss, reprojection_loss,
                     reprojection_loss_backward)
from .nn.camera import (CameraConfig, camera_backward, camera_forward, init_camera,
                        project_backward, project_forward)
from .nn.critic import CriticConfig, critic_forward, critic_input_backward, init_critic
from .nn.generator import GeneratorConfig, generator_backward, generator_forward, init_generator
from .optim import Adam
from .parallel import map_balanced, run_shards, shard_bounds

ATTENTION_VARIANTS = ("gated", "vanilla", "fixed", "scalar-gate")

# Named option sets. "paper" is SPEC section 1 and 6 as written; "small" is a model and schedule that
# trains in minutes on a laptop CPU (the demo's and the ablation's default), measured in the README.
PRESETS = {
    "paper": {},
    # n_critic 1 is RepNet's own schedule (SPEC section 6); with lr 5e-4 and the reprojection
    # weighted 10 it gets furthest in a few CPU minutes (README: how the preset was chosen).
    "small": dict(d_model=64, n_heads=4, n_layers=2, d_ff=128, batch_size=128, lr=5e-4, w_rep=10.0,
                  n_critic=1, lr_schedule="cosine", eval_every=100, checkpoint_every=100),
}


@dataclass
class TrainOptions:
    """Every option of a run; all of it lands in ``config.json``."""

    data: str | None = None          # archive path; None = the built-in synthetic dataset
    real_poses: str | None = None    # archive whose 3D poses feed the critic; None = training subjects'
    attention: str = "gated"
    steps: int | None = None         # generator steps in total (a resumed run continues to this)
    epochs: float | None = None      # alternative to steps: passes of the 2D training set
    batch_size: int = 256
    lr: float = 1e-4
    lr_schedule: str = "constant"    # or "cosine": lr * (1 + cos(pi * step / steps)) / 2
    betas: tuple = (0.5, 0.9)
    n_critic: int = 5
    lam: float = 10.0
    w_adv: float = 1.0
    w_rep: float = 1.0
    w_cam: float = 1.0
    seed: int = 0
    # model sizes (SPEC section 1 defaults)
    d_model: int = 256
    n_heads: int = 8
    n_layers: int = 4
    d_ff: int = 512
    gate_hidden: int = 100
    camera_width: int = 1000
    critic_pose_width: int = 100
    critic_kcs_width: int = 1000
    # synthetic data (used when data is None)
    synth_subjects: int = 8
    synth_seed: int = 0
    # bookkeeping
    log_every: int = 10
    eval_every: int = 100
    checkpoint_every: int = 100
    val_frames: int = 2048
    # data parallelism (gatepose.parallel): each batch is cut into this many shards that run side by
    # side on the CPU's cores; None = 2 on the CPU, 1 on a GPU. The numbers depend on this count (sums
    # are taken in another order), never on how many cores run the shards.
    shards: int | None = None

    def validate(self) -> None:
        """Raise a GateposeError naming the first bad option, before any work starts."""
        def bad(opt, msg):
            raise GateposeError(f"--{opt.replace('_', '-')}: {msg}")

        if self.attention not in ATTENTION_VARIANTS:
            bad("attention", f"expected one of {', '.join(ATTENTION_VARIANTS)}, got {self.attention!r}")
        if self.steps is not None and self.epochs is not None:
            bad("steps", "give --steps or --epochs, not both")
        if self.steps is not None and self.steps < 1:
            bad("steps", f"must be at least 1, got {self.steps}")
        if self.epochs is not None and not self.epochs > 0:
            bad("epochs", f"must be positive, got {self.epochs}")
        for name in ("batch_size", "n_critic", "d_model", "n_heads", "n_layers", "d_ff", "gate_hidden",
                     "camera_width", "critic_pose_width", "critic_kcs_width", "log_every",
                     "eval_every", "checkpoint_every", "synth_subjects"):
            if getattr(self, name) < 1:
                bad(name, f"must be at least 1, got {getattr(self, name)}")
        if self.shards is not None and self.shards < 1:
            bad("shards", f"must be at least 1, got {self.shards}")
        if self.d_model % self.n_heads:
            bad("d_model", f"{self.d_model} is not divisible by --n-heads {self.n_heads}")
        if self.lr_schedule not in ("constant", "cosine"):
            bad("lr_schedule", f"expected constant or cosine, got {self.lr_schedule!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", f"must be a positive number, got {self.lr}")
        if not all(0 <= b < 1 for b in self.betas):
            bad("betas", f"each must be in [0, 1), got {self.betas}")
        if self.lam < 0:
            bad("lam", f"must be non-negative, got {self.lam}")
        for name in ("data", "real_poses"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                bad(name, f"no such file: {path}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


# -- data -------------------------------------------------------------------------------------

@dataclass
class TrainData:
    """Host arrays for one run: normalised 2D inputs, real 3D poses, a validation set, constants."""

    skeleton: str
    W_train: np.ndarray        # (N, J, 2) normalised 2D inputs
    X_real: np.ndarray         # (M, J, 3) normalised real 3D poses, unpaired with W_train
    W_val: np.ndarray          # (V, J, 2)
    X_val_mm: np.ndarray       # (V, J, 3) root-relative ground truth in mm
    scale_3d: float            # mean Frobenius norm of the centred training 3D poses, mm
    source: str
    mean_pose: np.ndarray      # (J, 3) mean normalised real pose (the "mean pose" baseline)


def load_source(data: str | None, synth_subjects: int = 8, synth_seed: int = 0):
    """The run's dataset: an archive, or the built-in synthetic data regenerated from its seed.

    Returns ``(Dataset, description)``.
    """
    from .data.archive import load_archive

    if data is None:
        from .data.synthetic import generate

        return (generate(n_subjects=synth_subjects, seed=synth_seed),
                f"synthetic(subjects={synth_subjects}, seed={synth_seed})")
    return load_archive(data), str(data)


def prepare_data(opts: TrainOptions) -> TrainData:
    """Load (or generate) the archive, split it and normalise it (SPEC section 7).

    The validation set is ``val_frames`` frames of the *training* split, held out of both the 2D
    inputs and the critic's real poses: model selection never looks at the test subjects.
    """
    from .data.archive import load_archive
    from .data.normalize import normalize_2d, normalize_3d

    ds, source = load_source(opts.data, opts.synth_subjects, opts.synth_seed)
    if ds.poses_3d is None and opts.real_poses is None:
        raise GateposeError(f"{source}: has no 3D poses; pass --real-poses ARCHIVE for the critic")
    train = ds.subset(ds.split == "train") if ds.split is not None else ds
    if len(train) < opts.batch_size:
        raise GateposeError(f"{source}: {len(train)} training frames, fewer than --batch-size {opts.batch_size}")

    rng = np.random.default_rng(opts.seed + 7919)  # fixed per seed, independent of training draws
    n_val = min(opts.val_frames, len(train) // 10) if train.poses_3d is not None else 0
    perm = rng.permutation(len(train))
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    W_train, _ = normalize_2d(train.poses_2d[train_idx])
    W_val, _ = normalize_2d(train.poses_2d[val_idx])
    if train.poses_3d is not None:
        X_tr, scales = normalize_3d(train.poses_3d[train_idx])
        scale_3d = float(np.mean(scales))
        X_val_mm = train.poses_3d[val_idx] - train.poses_3d[val_idx][:, :1]
    else:
        X_tr, scale_3d, X_val_mm = None, float("nan"), np.zeros((0, W_train.shape[1], 3), np.float32)
    if opts.real_poses is not None:
        real = load_archive(opts.real_poses)
        if real.poses_3d is None:
            raise GateposeError(f"{opts.real_poses}: field 'poses_3d' is missing; --real-poses needs 3D poses")
        if real.skeleton != ds.skeleton:
            raise GateposeError(f"{opts.real_poses}: skeleton {real.skeleton!r} differs from the data's {ds.skeleton!r}")
        X_real, real_scales = normalize_3d(real.poses_3d)
        if not math.isfinite(scale_3d):
            scale_3d = float(np.mean(real_scales))
    else:
        X_real = X_tr
    return TrainData(ds.skeleton, W_train.astype(np.float32), X_real.astype(np.float32),
                     W_val.astype(np.float32), X_val_mm.astype(np.float32), scale_3d, source,
                     X_real.mean(axis=0).astype(np.float32))


class Sampler:
    """Shuffled batches from a device array, reshuffled each epoch by a host RNG.

    Indices are drawn on the host (a (B,) int array, the one explicit upload per batch); the gather
    runs on the device. The saved state is the RNG state *before* the current epoch's shuffle plus
    the position, so a resumed sampler redraws the same permutation and goes on identically.
    """

    def __init__(self, data, batch_size: int, seed: int):
        self.data, self.B = data, batch_size
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._reshuffle()

    def _reshuffle(self):
        self.rng_before = self.rng.bit_generator.state
        self.perm = self.rng.permutation(len(self.data))
        self.pos = 0

    def next(self):
        if self.pos + self.B > len(self.perm):
            self.epoch += 1
            self._reshuffle()
        idx = self.perm[self.pos:self.pos + self.B]
        self.pos += self.B
        return self.data[get_xp(self.data).asarray(idx)]

    def state(self) -> dict:
        return {"rng_before_shuffle": self.rng_before, "pos": self.pos, "epoch": self.epoch}

    def load_state(self, s: dict) -> None:
        self.rng.bit_generator.state = s["rng_before_shuffle"]
        self._reshuffle()
        self.pos, self.epoch = int(s["pos"]), int(s["epoch"])


# -- the model bundle ---------------------------------------------------------------------------

def model_configs(opts: TrainOptions, skeleton_name: str):
    from .data.skeleton import get_skeleton

    sk = get_skeleton(skeleton_name)
    gcfg = GeneratorConfig(n_joints=sk.n_joints, d_model=opts.d_model, n_heads=opts.n_heads,
                           n_layers=opts.n_layers, d_ff=opts.d_ff, gate_hidden=opts.gate_hidden,
                           attention=opts.attention)
    ccfg = CameraConfig(n_joints=sk.n_joints, width=opts.camera_width)
    dcfg = CriticConfig(n_joints=sk.n_joints, incidence=sk.incidence,
                        pose_width=opts.critic_pose_width, kcs_width=opts.critic_kcs_width)
    return gcfg, ccfg, dcfg


def _grad_norm(grads: dict):
    """sqrt(sum of squares) as a device scalar (no synchronisation until it is read)."""
    return sum((g * g).sum() for g in grads.values() if g is not None) ** 0.5


def _weighted_mean(results: list, weights: list):
    """sum_i weights[i] * results[i], through nested tuples and dicts of arrays (None stays None).
    A dict's arrays (gradients) are averaged side by side on the CPU's cores."""
    first = results[0]
    if first is None:
        return None
    if isinstance(first, tuple):
        return tuple(_weighted_mean(list(parts), weights) for parts in zip(*results))
    if isinstance(first, dict):
        out = {}

        def mean_of(k):
            out[k] = _weighted_mean([r[k] for r in results], weights)

        keys = list(first)
        map_balanced(mean_of, keys, [getattr(first[k], "size", 1) for k in keys], get_xp(*first.values()))
        return {k: out[k] for k in keys}
    if all(w == weights[0] for w in weights):      # equal shards: one sum, one scaling
        out = results[0] + results[1] if len(results) > 1 else results[0] * 1.0
        for r in results[2:]:
            out += r
        out *= weights[0]
        return out
    out = first * weights[0]
    for r, w in zip(results[1:], weights[1:]):
        out += r * w
    return out


class Trainer:
    """Holds the three models, two optimisers and the samplers; one :meth:`iteration` is one
    generator step preceded by ``n_critic`` critic steps."""

    def __init__(self, opts: TrainOptions, data: TrainData, xp, dtype=np.float32):
        self.opts, self.data, self.xp, self.dtype = opts, data, xp, dtype
        self.gcfg, self.ccfg, self.dcfg = model_configs(opts, data.skeleton)
        rng = np.random.default_rng(opts.seed)
        self.gen = init_generator(self.gcfg, rng, xp, dtype)
        self.cam = init_camera(self.ccfg, rng, xp, dtype)
        self.critic = init_critic(self.dcfg, rng, xp, dtype)
        # The adversarial model's optimiser sees generator and camera as one flat dict (same arrays).
        self.adv = {**with_prefix(self.gen, "gen/"), **with_prefix(self.cam, "cam/")}
        self.opt_g = Adam(self.adv, lr=opts.lr, betas=opts.betas)
        self.opt_d = Adam(self.critic, lr=opts.lr, betas=opts.betas)
        # Adam moved the parameters into one flat buffer per model: the models see its views.
        self.gen, self.cam = split_prefix(self.adv, "gen/"), split_prefix(self.adv, "cam/")
        W = to_device(xp, data.W_train, dtype)
        X = to_device(xp, data.X_real, dtype)
        self.s2d = Sampler(W, opts.batch_size, opts.seed + 1)
        self.s3d = Sampler(X, opts.batch_size, opts.seed + 2)
        self.rng_eps = np.random.default_rng(opts.seed + 3)
        self.step = 0
        self.last: dict = {}
        self.shards = opts.shards or (1 if is_gpu(xp) else 2)

    # one generator step preceded by n_critic critic steps --------------------------------------
    def iteration(self, want_stats: bool = False) -> dict:
        xp, opts, B = self.xp, self.opts, self.opts.batch_size
        # All interpolation weights of this iteration in one upload.
        eps_all = to_device(xp, self.rng_eps.random((opts.n_critic, B)), self.dtype)
        # The generator is frozen during the critic steps, so all their fakes come from one forward
        # pass (the inference path: its matrices folded once, its blocks side by side on the cores).
        W = xp.concatenate([self.s2d.next() for _ in range(opts.n_critic)])
        X_fakes, _ = generator_forward(self.gen, W, self.gcfg, need_cache=False)
        for k in range(opts.n_critic):
            X_real, X_fake = self.s3d.next(), X_fakes[k * B:(k + 1) * B]
            L_D, grads_d, info_d = self._sharded(self._critic_shard, X_real, X_fake, eps_all[k])
            self.opt_d.step(self.critic, grads_d)

        W = self.s2d.next()
        (L_adv, L_rep, L_cam), grads_gen, grads_cam = self._sharded(self._generator_shard, W)
        grads_g = {**with_prefix(grads_gen, "gen/"), **with_prefix(grads_cam, "cam/")}
        self.opt_g.step(self.adv, grads_g)
        self.step += 1

        losses = {"loss_d": L_D, "wasserstein": info_d["wasserstein"], "penalty": info_d["penalty"],
                  "critic_input_grad_norm": info_d["grad_norm"], "loss_adv": L_adv,
                  "loss_rep": L_rep, "loss_cam": L_cam}
        if want_stats:
            losses.update(grad_norm_critic=_grad_norm(grads_d), grad_norm_gen=_grad_norm(grads_gen),
                          grad_norm_cam=_grad_norm(grads_cam))
        self.last = losses
        return losses

    def _critic_shard(self, X_real, X_fake, eps):
        """One shard of a critic step: L_D and its gradients (the penalty's double backward
        included) as means over this shard."""
        return critic_loss(self.critic, X_real, X_fake, eps, self.dcfg, self.opts.lam)

    def _generator_shard(self, W):
        """One shard of the generator + camera step: (L_adv, L_rep, L_cam), generator and camera
        gradients of L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam, all means over this shard."""
        xp, opts, B = self.xp, self.opts, W.shape[0]
        X, gcache = generator_forward(self.gen, W, self.gcfg)
        M, ccache = camera_forward(self.cam, W, self.ccfg)
        Wp, pcache = project_forward(X, M)
        L_rep, rcache = reprojection_loss(W, Wp)
        L_cam, mcache = camera_loss(M)
        D, dcache = critic_forward(self.critic, X, self.dcfg)
        L_adv = -D.mean()
        # Backward through the frozen critic: its input gradient only, no weight gradients.
        dX_adv, _ = critic_input_backward(xp.full(D.shape, -opts.w_adv / B, dtype=self.dtype), dcache)
        dX_rep, dM_rep = project_backward(reprojection_loss_backward(opts.w_rep, rcache), pcache)
        dM = dM_rep + camera_loss_backward(opts.w_cam, mcache)
        _, grads_gen = generator_backward(dX_adv + dX_rep, gcache)
        _, grads_cam = camera_backward(dM, ccache)
        return (L_adv, L_rep, L_cam), grads_gen, grads_cam

    def _sharded(self, fn, *batches):
        """fn over the batch cut into ``self.shards`` shards (side by side on the CPU's cores), the
        results averaged with weights shard size / batch size: every loss and gradient is a mean
        over the batch, so this is the whole batch's value. One shard: fn(*batches) itself."""
        n = batches[0].shape[0]
        bounds = shard_bounds(n, self.shards)
        if len(bounds) == 1:
            return fn(*batches)
        results = run_shards(fn, [[x[a:b] for x in batches] for a, b in bounds], self.xp)
        return _weighted_mean(results, [(b - a) / n for a, b in bounds])

    def set_lr(self, lr: float) -> None:
        self.opt_g.lr = self.opt_d.lr = float(lr)

    # validation ---------------------------------------------------------------------------------
    def predict(self, W_host: np.ndarray, batch: int = 1024) -> np.ndarray:
        """Normalised 2D (N, J, 2) host -> normalised 3D (N, J, 3) host, in batches."""
        return predict_poses(self.gen, self.gcfg, W_host, self.xp, self.dtype, batch)

    def validate(self) -> dict:
        from .metrics import mpjpe, n_mpjpe

        if len(self.data.W_val) == 0:
            return {}
        pred = self.predict(self.data.W_val)
        pred = (pred - pred[:, :1]) * self.data.scale_3d
        gt = self.data.X_val_mm
        return {"val_mpjpe": float(np.mean(mpjpe(pred, gt))), "val_n_mpjpe": float(np.mean(n_mpjpe(pred, gt)))}

    # state --------------------------------------------------------------------------------------
    def state_arrays(self) -> dict:
        arrays = {**with_prefix(self.gen, "gen/"), **with_prefix(self.cam, "cam/"),
                  **with_prefix(self.critic, "critic/")}
        arrays.update(with_prefix(self.opt_g.state_arrays(), "opt_g/"))
        arrays.update(with_prefix(self.opt_d.state_arrays(), "opt_d/"))
        return arrays

    def state_meta(self) -> dict:
        return {"step": self.step, "opt_g_t": self.opt_g.t, "opt_d_t": self.opt_d.t,
                "sampler_2d": self.s2d.state(), "sampler_3d": self.s3d.state(),
                "rng_eps": self.rng_eps.bit_generator.state}

    def load_state(self, arrays: dict, meta: dict) -> None:
        xp = self.xp
        for prefix, params in (("gen/", self.gen), ("cam/", self.cam), ("critic/", self.critic)):
            saved = split_prefix(arrays, prefix)
            missing = sorted(set(params) - set(saved))
            if missing:
                raise GateposeError(f"checkpoint lacks parameters {missing[:3]} (a different model configuration?)")
            for k in params:
                if tuple(saved[k].shape) != tuple(params[k].shape):
                    raise GateposeError(f"checkpoint parameter {prefix}{k} has shape {saved[k].shape}, "
                                        f"the model expects {params[k].shape}")
                params[k][...] = xp.asarray(saved[k])
        self.opt_g.load_state_arrays({k: xp.asarray(v) for k, v in split_prefix(arrays, "opt_g/").items()},
                                     meta["opt_g_t"])
        self.opt_d.load_state_arrays({k: xp.asarray(v) for k, v in split_prefix(arrays, "opt_d/").items()},
                                     meta["opt_d_t"])
        self.s2d.load_state(meta["sampler_2d"])
        self.s3d.load_state(meta["sampler_3d"])
        self.rng_eps.bit_generator.state = meta["rng_eps"]
        self.step = int(meta["step"])

    def params_finite(self) -> bool:
        """One reduction per model over its flat buffer, one host read."""
        return bool(self.opt_g.all_finite() & self.opt_d.all_finite())


def predict_poses(gen: dict, gcfg, W_host: np.ndarray, xp, dtype=np.float32, batch: int = 1024) -> np.ndarray:
    """Run the generator (inference path, no cache) over host 2D poses in batches; host 3D out."""
    outs = []
    for i in range(0, len(W_host), batch):
        W = to_device(xp, W_host[i:i + batch], dtype)
        X, _ = generator_forward(gen, W, gcfg, need_cache=False)
        outs.append(to_host(X))
    J = gcfg.n_joints
    return np.concatenate(outs) if outs else np.zeros((0, J, 3), np.float32)


# -- the run folder ---------------------------------------------------------------------------

def run_config(opts: TrainOptions, trainer: Trainer) -> dict:
    d = trainer.data
    return {
        "format": "gatepose-run/1",
        "options": opts.to_dict(),
        "generator": trainer.gcfg.to_dict(),
        "camera": trainer.ccfg.to_dict(),
        "critic": trainer.dcfg.to_dict(),
        "skeleton": d.skeleton,
        "normalisation": {"scale_3d_mm": d.scale_3d, "root_joint": 0,
                          "mean_pose_3d": np.round(d.mean_pose.astype(np.float64), 6).tolist(),
                          "method": "root-relative, divided by the Frobenius norm of the centred pose"},
        "data_source": d.source,
        "n_train_2d": int(len(d.W_train)), "n_real_3d": int(len(d.X_real)), "n_val": int(len(d.W_val)),
    }


def total_steps(opts: TrainOptions, n_train: int) -> int:
    if opts.steps is not None:
        return opts.steps
    if opts.epochs is not None:
        return max(1, int(round(opts.epochs * n_train / opts.batch_size)))
    return 2000


def learning_rate(opts: TrainOptions, step: int, n_total: int) -> float:
    """The learning rate of step ``step`` (0-based) of ``n_total``: a function of the step alone,
    so a resumed run follows the same schedule."""
    if opts.lr_schedule == "cosine":
        return opts.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(n_total, 1)))
    return opts.lr


def host_scalars(values: dict) -> dict:
    """{name: 0-d array or number} -> {name: float}, the device's values brought over in one copy
    (one host synchronisation on a GPU instead of one per value)."""
    arrays = {k: v for k, v in values.items() if hasattr(v, "shape")}
    out = {k: float(v) for k, v in values.items() if k not in arrays}
    if arrays:
        xp = get_xp(*arrays.values())
        stacked = to_host(xp.stack([xp.asarray(v).reshape(()) for v in arrays.values()]))
        out.update(zip(arrays, (float(v) for v in stacked)))
    return {k: out[k] for k in values}


def _finite_or_raise(values: dict, step: int, run_dir: Path):
    bad = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(f"step {step}: {names}; stopped, the last good checkpoint in {run_dir} is kept "
                               f"(try a lower --lr)")


class _Progress:
    """A one-line progress bar on a terminal; plain periodic lines otherwise."""

    def __init__(self, total: int, stream=None, every_s: float = 10.0):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s, self.last = every_s, -math.inf  # a log file gets a line every 10 s, not every step

    def update(self, step: int, row: dict):
        keys = ("loss_rep", "loss_cam", "wasserstein", "val_n_mpjpe", "poses_per_s")
        text = "  ".join(f"{k}={row[k]:.4g}" for k in keys if k in row)
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s and step != self.total:
            return
        self.last = now
        if self.tty:
            width = 24
            done = int(width * step / max(self.total, 1))
            self.stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{self.total}  {text}\033[K")
        else:
            self.stream.write(f"step {step}/{self.total}  {text}\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def train(opts: TrainOptions, run_dir, xp, resume: bool = False, progress: bool = True,
          log=None) -> dict:
    """Train into ``run_dir`` (a new or empty folder, or an existing run with ``resume``).

    Returns the last logged metrics. Ctrl-C saves a checkpoint and raises KeyboardInterrupt after
    it; a NaN or inf loss raises :class:`TrainingDiverged` and leaves the last good checkpoint.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.npz"
    if resume:
        if not (run_dir / "config.json").is_file() or not ckpt_path.is_file():
            raise GateposeError(f"{run_dir}: not a run folder to resume (config.json and checkpoint.npz expected)")
    elif ckpt_path.exists():
        raise GateposeError(f"{run_dir}: already holds a run; use --resume {run_dir} to continue it, "
                            f"or choose another --out")
    opts.validate()
    data = prepare_data(opts)
    trainer = Trainer(opts, data, xp)
    opts.shards = trainer.shards   # recorded, so that a resumed run cuts its batches the same way
    best = math.inf
    if resume:
        arrays, meta = load_checkpoint(ckpt_path)
        trainer.load_state(arrays, meta)
        best = meta.get("best_val_n_mpjpe")
        best = math.inf if best is None else float(best)
        _truncate_metrics(run_dir / "metrics.jsonl", trainer.step)
        log(f"resumed {run_dir} at step {trainer.step}")
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(opts, trainer)
    write_json_atomic(run_dir / "config.json", config)
    n_total = total_steps(opts, len(data.W_train))
    if trainer.step >= n_total:
        log(f"{run_dir}: already at step {trainer.step} >= {n_total}; nothing to do (raise --steps)")
        return {}

    def checkpoint():
        meta = trainer.state_meta()
        meta["best_val_n_mpjpe"] = best if math.isfinite(best) else None
        meta["options"] = opts.to_dict()
        save_checkpoint(ckpt_path, trainer.state_arrays(), meta)

    bar = _Progress(n_total) if progress else None
    metrics_f = open(run_dir / "metrics.jsonl", "a")
    row: dict = {}
    t_last, steps_since = time.perf_counter(), 0
    # Ctrl-C is turned into a flag so the step in flight finishes and the checkpoint is consistent.
    interrupted = {"flag": False}

    def on_sigint(signum, frame):
        if interrupted["flag"]:
            raise KeyboardInterrupt
        interrupted["flag"] = True

    old_handler = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        while trainer.step < n_total and not interrupted["flag"]:
            logging = (trainer.step + 1) % opts.log_every == 0 or trainer.step + 1 == n_total
            trainer.set_lr(learning_rate(opts, trainer.step, n_total))
            losses = trainer.iteration(want_stats=logging)
            steps_since += 1
            step = trainer.step
            if logging or step % opts.eval_every == 0 or step % opts.checkpoint_every == 0:
                values = host_scalars(losses)    # one copy, which waits for the queued work
                now = time.perf_counter()
                row = {"step": step, **values}
                row["poses_per_s"] = steps_since * opts.batch_size / max(now - t_last, 1e-9)
                t_last, steps_since = now, 0
                _finite_or_raise(row, step, run_dir)
                if step % opts.eval_every == 0 or step == n_total:
                    row.update(trainer.validate())
                    if row.get("val_n_mpjpe", math.inf) < best:
                        best = row["val_n_mpjpe"]
                        save_checkpoint(run_dir / "best.npz",
                                        {**with_prefix(trainer.gen, "gen/"), **with_prefix(trainer.cam, "cam/")},
                                        {"step": step, "val_n_mpjpe": best, "val_mpjpe": row.get("val_mpjpe")})
                metrics_f.write(json.dumps(row) + "\n")
                metrics_f.flush()
                if bar:
                    bar.update(step, row)
                if step % opts.checkpoint_every == 0 and trainer.params_finite():
                    checkpoint()
        if trainer.params_finite():
            checkpoint()
        else:
            raise TrainingDiverged(f"step {trainer.step}: parameters became NaN/inf; the last good "
                                   f"checkpoint in {run_dir} is kept (try a lower --lr)")
    finally:
        if bar:
            bar.close()
        metrics_f.close()
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    if interrupted["flag"]:
        log(f"interrupted at step {trainer.step}: checkpoint saved; continue with --resume {run_dir}")
        raise KeyboardInterrupt
    if not (run_dir / "best.npz").exists():
        save_checkpoint(run_dir / "best.npz",
                        {**with_prefix(trainer.gen, "gen/"), **with_prefix(trainer.cam, "cam/")},
                        {"step": trainer.step, "val_n_mpjpe": None})
    return row


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines a crashed run logged after its last checkpoint (they are logged again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a half-written last line
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    tmp.replace(path)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -- loading a finished run (eval, predict, plot) ----------------------------------------------

@dataclass
class Run:
    path: Path
    config: dict
    gcfg: GeneratorConfig
    gen: dict
    cam: dict = field(default_factory=dict)
    step: int = 0

    @property
    def skeleton(self) -> str:
        return self.config["skeleton"]

    @property
    def scale_3d(self) -> float:
        return float(self.config["normalisation"]["scale_3d_mm"])


def load_run(run_dir, xp=np, which: str = "best", dtype=np.float32) -> Run:
    """Load a run folder's generator (and camera). ``which``: 'best' (best.npz) or 'last' (checkpoint.npz)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise GateposeError(f"{run_dir}: not a run folder (no config.json)")
    try:
        config = json.loads(cfg_path.read_text())
        gcfg = GeneratorConfig.from_dict(config["generator"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise GateposeError(f"{cfg_path}: malformed run config ({type(exc).__name__}: {exc})") from None
    name = {"best": "best.npz", "last": "checkpoint.npz"}.get(which)
    if name is None:
        raise GateposeError(f"unknown checkpoint {which!r}: expected best or last")
    path = run_dir / name
    if which == "best" and not path.is_file():
        path = run_dir / "checkpoint.npz"
    arrays, meta = load_checkpoint(path)
    gen = {k: xp.asarray(v, dtype=dtype) for k, v in split_prefix(arrays, "gen/").items()}
    cam = {k: xp.asarray(v, dtype=dtype) for k, v in split_prefix(arrays, "cam/").items()}
    expected = init_generator(gcfg, np.random.default_rng(0), np, dtype)
    missing = sorted(set(expected) - set(gen))
    if missing:
        raise GateposeError(f"{path}: missing generator parameters {missing[:3]}")
    return Run(run_dir, config, gcfg, gen, cam, int(meta.get("step", 0)))
