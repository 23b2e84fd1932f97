"""The weakly supervised training loop (SPEC section 6, the paper's Fig. 2, RepNet's set-up).

Two models are trained alternately, Improved-WGAN style:

* the discriminator model: generator (frozen, forward only) + KCS critic, trained on
  ``L_D = mean D(X_fake) - mean D(X_real) + lambda * GP`` (``losses.critic_loss``) for ``n_critic`` steps;
* the adversarial model: generator + camera net (trained) + projection + critic (frozen),
  trained on ``L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam`` (``losses.generator_loss``) for one step.

Real 3D poses for the critic are never paired with the 2D batch: by default they are the training
subjects' 3D poses drawn by their own shuffled iterator, or any other archive (``real_poses``).

The options (one declaration, from which the CLI is generated) are in ``options.py``.
Speed enters at exactly four marked doors (``# FAST DOOR n``): ``Trainer.fakes``,
``Trainer.batch_mean``, the choice of Adam in ``Trainer.__init__`` and the inference of
``Trainer.predict``; with ``reference=True`` (``train --reference``) all run the plain code and this
file is the algorithm and nothing else. The run folder (config, checkpoints, resume, metrics) is ``runs.py``'s; the data
preparation and the sampler are ``data/prepare.py`` and ``data/batches.py``.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from . import runs
from .backend import host_scalars, is_gpu, to_device
from .data.batches import Sampler
from .data.prepare import TrainData, prepare_data
from .errors import GateposeError, TrainingDiverged
from .fast.adam import FlatAdam
from .fast.critic_step import stacked_critic_loss
from .fast.fused import generator_inference, uses_fused
from .fast.one_pass import generator_forward_rows
from .fast.parallel import sharded
from .data.augment import estimate_elevation, mirror
from .data.skeleton import get_skeleton
from .losses import critic_loss, generator_loss
from .losses3d import bone_prior_term, bone_ratios, consistency_rotations, consistency_term, supervised_step
from .nn.camera import init_camera
from .nn.critic import init_critic
from .nn.generator import has_fast_path, init_generator, generator_forward
from .optim import Adam
from .options import (ATTENTION_VARIANTS, PRESETS, TrainOptions, learning_rate,  # noqa: F401  (re-exported)
                      model_configs, total_steps)
from .progress import Progress
from .runs import finite_or_raise, predict_poses, stopped_message, with_prefix

def _grad_norm(grads: dict):
    """sqrt(sum of squares) as a device scalar (no synchronisation until it is read)."""
    return sum((g * g).sum() for g in grads.values() if g is not None) ** 0.5


class Trainer:
    """Holds the three models, two optimisers and the samplers; one :meth:`iteration` is one
    generator step preceded by ``n_critic`` critic steps. With ``supervision="full"`` it holds the
    generator alone, and an iteration is one step on the paired 3D poses (``losses3d``)."""

    def __init__(self, opts: TrainOptions, data: TrainData, xp, dtype=np.float32):
        self.opts, self.data, self.xp, self.dtype = opts, data, xp, dtype
        self.gcfg, self.ccfg, self.dcfg = model_configs(opts, data.skeleton)
        rng = np.random.default_rng(opts.seed)
        self.gen = init_generator(self.gcfg, rng, xp, dtype)   # PoseGate-Former, or RepNet's (--generator)
        self.full = opts.supervision == "full"
        # full supervision: no camera net and no critic (empty parameter sets)
        self.cam = {} if self.full else init_camera(self.ccfg, rng, xp, dtype)
        self.critic = {} if self.full else init_critic(self.dcfg, rng, xp, dtype)
        # The adversarial model's optimiser sees generator and camera as one flat dict (same arrays).
        self.adv = {**with_prefix(self.gen, "gen/"), **with_prefix(self.cam, "cam/")}
        # FAST DOOR 3: Adam's update over flat buffers (a dozen kernels per step on a GPU, blocks on
        # the CPU's cores); plain reference: optim.Adam; proved equal by
        # tests/training/test_optim.py::test_flat_adam_matches_plain_adam
        optimiser = Adam if opts.reference else FlatAdam
        self.opt_g = optimiser(self.adv, lr=opts.lr, betas=opts.betas)
        self.opt_d = optimiser(self.critic, lr=opts.lr_critic or opts.lr, betas=opts.betas)
        # FlatAdam moves the parameters into one flat buffer per model: the models see its views.
        self.gen, self.cam = runs.split_prefix(self.adv, "gen/"), runs.split_prefix(self.adv, "cam/")
        W = to_device(xp, data.W_train, dtype)
        X = to_device(xp, data.X_real, dtype)
        if self.full:  # pairs: one sampler over (N, J, 2 + 3) rows, so a 2D pose keeps its 3D pose
            W = xp.concatenate([W, to_device(xp, data.X_train, dtype)], axis=2)
        self.s2d = Sampler(W, opts.batch_size, opts.seed + 1)
        self.s3d = Sampler(X, opts.batch_size, opts.seed + 2)
        self.rng_eps = np.random.default_rng(opts.seed + 3)
        self.rng_aug = np.random.default_rng(opts.seed + 4)   # augmentations, self-consistency rotations
        sk = get_skeleton(data.skeleton)
        self.flip = sk.flip_permutation
        # the data's camera elevation, from the unpaired real poses (augment.estimate_elevation)
        self.elevation = estimate_elevation(data.X_real, sk) if (opts.w_geo or opts.aug_real) else (0.0, 0.0)
        # the bone-length prior's target, from the unpaired real poses too: their mean bone ratios
        # (on the host in float64, then on the device once, with the incidence matrix)
        self.incidence = to_device(xp, sk.incidence, dtype)
        self.bone_target = to_device(xp, bone_ratios(np.asarray(data.X_real, np.float64), sk.incidence).mean(axis=0),
                                     dtype) if opts.w_bone else None
        self.ema = {k: v.copy() for k, v in self.gen.items()} if opts.ema else None
        self.step = 0
        self.shards = 1 if opts.reference else opts.shards or (1 if is_gpu(xp) else 2)

    # one generator step preceded by n_critic critic steps --------------------------------------
    def iteration(self, want_stats: bool = False) -> dict:
        losses = self._full_iteration(want_stats) if self.full else self._weak_iteration(want_stats)
        if self.ema is not None:   # ema <- d ema + (1 - d) gen
            d = self.opts.ema
            for k, p in self.gen.items():
                self.ema[k] *= d
                self.ema[k] += (1.0 - d) * p
        return losses

    def _full_iteration(self, want_stats: bool) -> dict:
        """One step of the generator alone on a batch of paired (2D, 3D) poses."""
        xp = self.xp
        WX = self.s2d.next()
        W, X = WX[..., :2], WX[..., 2:]
        if self.opts.aug_flip_2d:
            mask = self.rng_aug.random(W.shape[0]) < 0.5
            W, X = mirror(W, self.flip, mask), mirror(X, self.flip, mask)
        L_sup, grads = self.batch_mean(self.plain_supervised_loss, xp.ascontiguousarray(W), xp.ascontiguousarray(X))
        self.opt_g.step(self.adv, with_prefix(grads, "gen/"))
        self.step += 1
        losses = {"loss_sup": L_sup}
        if want_stats:
            losses["grad_norm_gen"] = _grad_norm(grads)
        return losses

    def _real_poses(self):
        X = self.s3d.next()
        if self.opts.aug_real:
            B = X.shape[0]
            X = mirror(X, self.flip, self.rng_aug.random(B) < 0.5)
            # a turn about the body's vertical axis as the data's cameras see it (elevation undone, redone)
            R = consistency_rotations(self.rng_aug, B, self.xp, self.dtype, self.elevation[0], 0.0)
            X = X @ R.transpose(0, 2, 1)
        return X

    def _weak_iteration(self, want_stats: bool) -> dict:
        xp, opts, B = self.xp, self.opts, self.opts.batch_size
        # All interpolation weights of this iteration in one upload.
        eps_all = to_device(xp, self.rng_eps.random((opts.n_critic, B)), self.dtype)
        # The generator is frozen during the critic steps and unchanged until its own step, so the
        # iteration's 2D inputs are drawn first (n_critic batches for the fakes, then the generator
        # step's) and all the critic steps' fakes come from one pass.
        W_all = xp.concatenate([self._inputs() for _ in range(opts.n_critic + 1)])
        n_fake = opts.n_critic * B
        W_gen = W_all[n_fake:]                  # the generator step's batch (B, J, 2)
        X_fakes, forward = self.fakes(W_all, n_fake)
        # n_critic critic steps: L_D on real poses, this step's fakes and eps
        for k in range(opts.n_critic):
            X_real, X_fake = self._real_poses(), X_fakes[k * B:(k + 1) * B]
            L_D, grads_d, info_d = self.batch_mean(self.plain_critic_loss, X_real, X_fake, eps_all[k],
                                                   fast=self.fast_critic_loss)
            self.opt_d.step(self.critic, grads_d)

        # one step of generator + camera on L_G
        R = consistency_rotations(self.rng_aug, B, xp, self.dtype, *self.elevation) if opts.w_geo else None
        losses, grads_gen, grads_cam = self.generator_gradients(W_gen, R, forward)
        grads_g = {**with_prefix(grads_gen, "gen/"), **with_prefix(grads_cam, "cam/")}
        self.opt_g.step(self.adv, grads_g)
        self.step += 1

        losses = {"loss_d": L_D, "wasserstein": info_d["wasserstein"], "penalty": info_d["penalty"],
                  "critic_input_grad_norm": info_d["grad_norm"], **losses}
        if want_stats:
            losses.update(grad_norm_critic=_grad_norm(grads_d), grad_norm_gen=_grad_norm(grads_gen),
                          grad_norm_cam=_grad_norm(grads_cam))
        return losses

    def generator_gradients(self, W_gen, R=None, forward=None):
        """The adversarial model's step on W_gen (B, J, 2) -> (losses, generator grads, camera grads)
        of L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam, plus w_geo L_geo with the self-consistency
        turns R (B, 3, 3) and w_bone L_bone (departures, losses3d): their gradients join the
        generator's at its output.
        ``forward``: the generator's forward on W_gen already done (FAST DOOR 1's, on a GPU with one
        shard), so only its backward runs here."""
        batches = (W_gen,) if R is None else (W_gen, R)
        if forward is not None:
            values, grads_gen, grads_cam = self.plain_generator_loss(*batches, forward=forward)
        else:
            values, grads_gen, grads_cam = self.batch_mean(self.plain_generator_loss, *batches)
        names = ("loss_adv", "loss_rep", "loss_cam") + ("loss_geo",) * (R is not None) + ("loss_bone",) * bool(self.opts.w_bone)
        losses = dict(zip(names, values))
        return losses, grads_gen, grads_cam

    # the losses on this trainer's models, means over the batch given: plain (the functions of
    # losses.py and losses3d.py) and, for the critic, the fast stacked step (fast/critic_step.py)
    def plain_critic_loss(self, X_real, X_fake, eps):
        return critic_loss(self.critic, X_real, X_fake, eps, self.dcfg, self.opts.lam)

    def fast_critic_loss(self, X_real, X_fake, eps):
        return stacked_critic_loss(self.critic, X_real, X_fake, eps, self.dcfg, self.opts.lam)

    def plain_generator_loss(self, W, R=None, forward=None):
        """L_G on W (B, J, 2), plus w_geo L_geo with the turns R (B, 3, 3) when given, plus
        w_bone L_bone (the departures of losses3d: terms that share the step's lift)."""
        o = self.opts
        terms = () if R is None else (consistency_term(self.gen, self.gcfg, R, o.w_geo),)
        if o.w_bone:
            terms += (bone_prior_term(self.incidence, self.bone_target, o.w_bone),)
        return generator_loss(self.gen, self.cam, self.critic, W, self.gcfg, self.ccfg, self.dcfg,
                              o.w_adv, o.w_rep, o.w_cam, forward=forward, terms=terms)

    def plain_supervised_loss(self, W, X):
        return supervised_step(self.gen, self.gcfg, W, X)

    def _inputs(self):
        """The next batch of 2D inputs, half of them mirrored with --aug-flip-2d."""
        W = self.s2d.next()
        if self.opts.aug_flip_2d:
            W = mirror(W, self.flip, self.rng_aug.random(W.shape[0]) < 0.5)
        return W

    @property
    def eval_gen(self) -> dict:
        """The generator that validation, best.npz and evaluation use: the moving average with --ema."""
        return self.ema if self.ema is not None else self.gen

    # the two doors to the speed machinery (gatepose/fast/) ---------------------------------------
    def fakes(self, W_all, n_fake: int):
        """FAST DOOR 1. W_all: (n_fake + B, J, 2), the iteration's 2D inputs -> (the generator's output
        for the first n_fake rows (n_fake, J, 3), ``forward``). ``forward`` is None, or the generator
        step's forward already done: (X (B, J, 3), its cache) for the last B rows.
        Plain: ``generator_forward(need_cache=False)`` on the first n_fake rows, forward None.
        Fast, CPU: ``fast.fused.generator_inference`` (folded matrices, blocks side by side on the
        cores) where ``fast.fused.uses_fused`` (above INFER_BLOCK_TOKENS tokens; smaller batches run
        the plain forward), forward None. Fast, a GPU with one shard: ``fast.one_pass``, one cached forward over all
        the rows, since a GPU is bound by the forward's launches, not its rows. Equal up to rounding:
        tests/fast/test_fast_paths.py::test_blocked_inference_matches_cached_forward and
        ::test_one_pass_matches_two_passes.
        RepNet's generator (--generator repnet) has no fast path here: both are the transformer's,
        so it always takes the plain one (its one forward; the doors stay shut for it)."""
        W = W_all[:n_fake]
        # FAST DOOR 1: the fakes (and on a GPU the generator step's forward) in one fast pass;
        # plain reference: generator_forward(need_cache=False); proved equal by
        # tests/fast/test_fast_paths.py::test_blocked_inference_matches_cached_forward and ::test_one_pass_matches_two_passes
        if not self.opts.reference and has_fast_path(self.gcfg):
            if self.shards == 1 and is_gpu(self.xp):
                X_all, cache = generator_forward_rows(self.gen, W_all, self.gcfg, slice(n_fake, None))
                return X_all[:n_fake], (X_all[n_fake:], cache)
            if uses_fused(W, self.gcfg):   # the CPU, above INFER_BLOCK_TOKENS tokens
                return generator_inference(self.gen, W, self.gcfg), None
        # the plain forward: --reference, RepNet's generator, and batches too small for the fused blocks
        return generator_forward(self.gen, W, self.gcfg, need_cache=False)[0], None

    def batch_mean(self, plain, *batches, fast=None):
        """FAST DOOR 2. A loss and its gradients as means over the batch: ``plain(*batches)``
        (``losses.critic_loss`` or ``losses.generator_loss`` on this trainer's models).
        Fast: ``fast`` (the critic's stacked step, ``fast.critic_step``; by default ``plain``) over
        the batch cut into shards side by side on the cores (``fast.parallel.sharded``), the shards'
        means weighted by their sizes. Equal up to rounding: tests/losses/test_penalty.py::test_stacked_critic_loss_equals_the_plain_sum,
        tests/fast/test_sharded_training.py::test_sharded_gradients_equal_unsharded and
        tests/training/test_train.py::test_reference_path_matches_the_fast_path. The shards and the stacked
        critic step know nothing of the generator's kind: RepNet's takes this door too."""
        # FAST DOOR 2: a loss and its gradients in shards side by side (the critic's stacked); plain
        # reference: the loss itself (losses.critic_loss, losses.generator_loss); proved equal by
        # tests/losses/test_penalty.py::test_stacked_critic_loss_equals_the_plain_sum and
        # tests/fast/test_sharded_training.py::test_sharded_gradients_equal_unsharded
        if self.opts.reference:
            return plain(*batches)
        return sharded(fast or plain, list(batches), self.shards, self.xp)

    # the training state, for the run folder's checkpoint (runs.save_state, runs.resume) ----------
    def state_dict(self) -> dict:
        """The whole training state: 'arrays' (name -> array, the live ones: gen/, cam/, critic/ the
        parameters, opt_g/, opt_d/ the optimisers' moments, ema/ the moving average) and 'meta'
        (JSON values: the step, the optimisers' step counts, the samplers' and RNGs' states)."""
        arrays = {**with_prefix(self.gen, "gen/"), **with_prefix(self.cam, "cam/"),
                  **with_prefix(self.critic, "critic/"),
                  **with_prefix(self.opt_g.state_arrays(), "opt_g/"),
                  **with_prefix(self.opt_d.state_arrays(), "opt_d/")}
        if self.ema is not None:
            arrays.update(with_prefix(self.ema, "ema/"))
        meta = {"step": self.step, "opt_g_t": self.opt_g.t, "opt_d_t": self.opt_d.t,
                "sampler_2d": self.s2d.state(), "sampler_3d": self.s3d.state(),
                "rng_eps": self.rng_eps.bit_generator.state, "rng_aug": self.rng_aug.bit_generator.state}
        return {"arrays": arrays, "meta": meta}

    def load_state_dict(self, state: dict) -> None:
        """Restore exactly what :meth:`state_dict` gave (host or device arrays; ``runs.check_state``
        has checked names and shapes). A checkpoint without 'rng_aug' (older runs) keeps the seeded
        one; one without ema/ arrays starts the average from the generator."""
        xp, arrays, meta = self.xp, state["arrays"], state["meta"]
        for prefix, params in (("gen/", self.gen), ("cam/", self.cam), ("critic/", self.critic)):
            saved = runs.split_prefix(arrays, prefix)
            for k in params:
                params[k][...] = xp.asarray(saved[k])
        for prefix, opt, t in (("opt_g/", self.opt_g, "opt_g_t"), ("opt_d/", self.opt_d, "opt_d_t")):
            opt.load_state_arrays({k: xp.asarray(v) for k, v in runs.split_prefix(arrays, prefix).items()}, meta[t])
        try:
            self.s2d.load_state(meta["sampler_2d"])
            self.s3d.load_state(meta["sampler_3d"])
            self.rng_eps.bit_generator.state = meta["rng_eps"]
            if "rng_aug" in meta:
                self.rng_aug.bit_generator.state = meta["rng_aug"]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise GateposeError(f"checkpoint metadata: a sampler or RNG state is damaged ({type(exc).__name__}: "
                                f"{str(exc)[:120]}); it cannot be resumed") from None
        if self.ema is not None:
            saved = runs.split_prefix(arrays, "ema/")
            for k in self.ema:
                self.ema[k][...] = xp.asarray(saved[k]) if k in saved else self.gen[k]
        self.step = int(meta["step"])

    def set_lr(self, lr: float, lr_critic: float | None = None) -> None:
        """The rates of this step: the generator's and camera's, and the critic's (default the same)."""
        self.opt_g.lr = float(lr)
        self.opt_d.lr = float(lr if lr_critic is None else lr_critic)

    # validation ---------------------------------------------------------------------------------
    def predict(self, W_host: np.ndarray, batch: int = 1024) -> np.ndarray:
        """Normalised 2D (N, J, 2) host -> normalised 3D (N, J, 3) host, in batches."""
        # FAST DOOR 4: inference by the fused path; plain reference: generator_forward(need_cache=False);
        # proved equal by tests/fast/test_fast_paths.py::test_generator_inference_matches_the_plain_forward
        infer = None if self.opts.reference else generator_inference
        return predict_poses(self.eval_gen, self.gcfg, W_host, self.xp, self.dtype, batch, infer=infer)

    def validation_errors(self) -> dict:
        from .metrics import mpjpe, n_mpjpe

        if len(self.data.W_val) == 0:
            return {}
        pred = self.predict(self.data.W_val)
        pred = (pred - pred[:, :1]) * self.data.scale_3d
        gt = self.data.X_val_mm
        return {"val_mpjpe": float(np.mean(mpjpe(pred, gt))), "val_n_mpjpe": float(np.mean(n_mpjpe(pred, gt)))}

    def params_finite(self) -> bool:
        """One reduction per model over its flat buffer, one host read."""
        return bool(self.opt_g.all_finite() & self.opt_d.all_finite())


def train(opts: TrainOptions, run_dir, xp, resume: bool = False, progress: bool = True,
          log=None, ready=None, dtype=np.float32) -> dict:
    """Train into ``run_dir`` (a new or empty folder, or an existing run with ``resume``).

    ``dtype``: float32 for training; the tests run float64 where they compare two runs.
    ``ready()``, if given, is called once the data and (with ``resume``) the checkpoint have been
    loaded and checked, before anything is written. Returns the last logged metrics. Ctrl-C saves a checkpoint and raises KeyboardInterrupt after
    it; a NaN or inf loss raises :class:`TrainingDiverged` and leaves the last good checkpoint.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    run_dir = Path(run_dir)
    runs.check_run_dir(run_dir, resume)
    opts.check()
    # A new run's folder is made first, so that an unwritable --out fails before the data is
    # loaded; if anything fails before config.json is written, the folders made here go again.
    created = [] if resume else runs.make_run_dir(run_dir)
    try:
        data = prepare_data(opts)
        trainer = Trainer(opts, data, xp, dtype)
        opts.shards = trainer.shards   # recorded, so that a resumed run cuts its batches the same way
        best = math.inf
        if resume:   # everything is loaded and checked before the first byte is written
            meta = runs.resume(run_dir, trainer)
            best = meta.get("best_val_n_mpjpe")
            best = math.inf if not isinstance(best, (int, float)) else float(best)
    except BaseException:
        runs.remove_created(created)
        raise
    if ready is not None:
        ready()
    if resume:
        stale = runs.remove_stale_temporaries(run_dir)
        log(f"resumed {run_dir} at step {trainer.step}"
            + (f" (removed {len(stale)} unfinished temporary file(s) of a killed run)" if stale else ""))
    configs = (trainer.gcfg, trainer.ccfg, trainer.dcfg)
    runs.write_json_atomic(run_dir / runs.CONFIG, runs.run_config(opts, data, configs))
    n_total = total_steps(opts, len(data.W_train))
    if trainer.step >= n_total:
        log(f"{run_dir}: already at step {trainer.step} >= {n_total}; nothing to do (raise --steps)")
        return {}

    def checkpoint():
        runs.save_state(run_dir, trainer, {"best_val_n_mpjpe": best if math.isfinite(best) else None,
                                           "options": opts.to_dict()})

    bar = Progress(n_total) if progress else None
    metrics_f = open(run_dir / runs.METRICS, "a")
    row: dict = {}
    t_last, steps_since = time.perf_counter(), 0
    # wall-clock minutes of training so far (a resumed run goes on from its last logged row)
    t_start, minutes_before = t_last, (runs.logged_minutes(run_dir) if resume else 0.0)
    # Ctrl-C is turned into a flag so the step in flight finishes and the checkpoint is consistent.
    interrupted = {"flag": False}

    def on_sigint(signum, frame):
        if interrupted["flag"]:     # a second Ctrl-C: stop at once, the last checkpoint (atomic) kept
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # a third must not cut the stopping short
            resume = f"; continue with --resume {run_dir}" if (run_dir / runs.CHECKPOINT).is_file() else ""
            raise KeyboardInterrupt(f"interrupted again at step {trainer.step}: stopped at once; "
                                    f"{runs.stopped_message(run_dir)}{resume}")
        interrupted["flag"] = True

    old_handler = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        while trainer.step < n_total and not interrupted["flag"]:
            logging = (trainer.step + 1) % opts.log_every == 0 or trainer.step + 1 == n_total
            trainer.set_lr(learning_rate(opts, trainer.step, n_total),
                           learning_rate(opts, trainer.step, n_total, opts.lr_critic or opts.lr))
            losses = trainer.iteration(want_stats=logging)
            steps_since += 1
            step = trainer.step
            if logging or step % opts.eval_every == 0 or step % opts.checkpoint_every == 0:
                values = host_scalars(losses)    # one copy, which waits for the queued work
                now = time.perf_counter()
                row = {"step": step, **values}
                row["poses_per_s"] = steps_since * opts.batch_size / max(now - t_last, 1e-9)
                row["minutes"] = minutes_before + (now - t_start) / 60.0
                t_last, steps_since = now, 0
                finite_or_raise(row, step, run_dir)
                if step % opts.eval_every == 0 or step == n_total:
                    row.update(trainer.validation_errors())
                    if row.get("val_n_mpjpe", math.inf) < best:
                        best = row["val_n_mpjpe"]
                        runs.save_best(run_dir, trainer.eval_gen, trainer.cam,
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
            raise TrainingDiverged(f"step {trainer.step}: parameters became NaN/inf; {stopped_message(run_dir)} "
                                   "(try a lower --lr)")
    finally:
        if bar:
            bar.close()
        metrics_f.close()
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    if interrupted["flag"]:
        raise KeyboardInterrupt(f"interrupted at step {trainer.step}: checkpoint saved; continue with "
                                f"--resume {run_dir}")
    if not (run_dir / runs.BEST).exists():
        runs.save_best(run_dir, trainer.eval_gen, trainer.cam, {"step": trainer.step, "val_n_mpjpe": None})
    return row


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
