"""The training iteration (SPEC section 6, the paper's Fig. 2, RepNet's set-up): the algorithm and
nothing else. A run's lifecycle around it (its folder, checkpoints, validation, signals) is
``training.py``'s.

Two models are trained alternately, Improved-WGAN style:

* the discriminator model: generator (frozen, forward only) + KCS critic, trained on
  ``L_D = mean D(X_fake) - mean D(X_real) + lambda * GP`` (``losses.critic_loss``) for ``n_critic`` steps;
* the adversarial model: generator + camera net (trained) + projection + critic (frozen),
  trained on ``L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam`` (``losses.generator_loss``) for one step.

Real 3D poses for the critic are never paired with the 2D batch: they are drawn by their own
sampler from the training subjects' 3D poses or another archive (``data/prepare.py``). With
``supervision="full"`` an iteration is one step of the generator alone on paired poses. With
``w_adv_2d`` (a departure, ``losses3d.projection_critic_term``) a critic of 2D poses trains beside
the KCS critic, on the 2D inputs against turned fakes, in its optimiser (as ``2d/...``).

Speed enters only through ``self.speed`` (``speed.py``) at the places marked ``# FAST DOOR n``; with
``--reference`` those are the plain paths.
"""
from __future__ import annotations

import numpy as np

from .backend import to_device
from .data.augment import augment_real_poses, camera_turns, corrupt_inputs, estimate_elevation, flip_half
from .data.batches import Sampler
from .data.prepare import TrainData
from .data.skeleton import get_skeleton
from .losses import generator_loss
from .losses3d import (bone_prior_term, bone_ratios, consistency_term, projection_critic_term, supervised_step,
                       turned_projection)
from .nn import split_prefix, with_prefix
from .nn.camera import init_camera
from .nn.critic import init_critic
from .nn.generator import init_generator
from .options import TrainOptions, model_configs
from .speed import PlainPaths, speed_paths


def _grad_norm(grads: dict):
    """sqrt(sum of squares) as a device scalar (no synchronisation until it is read)."""
    return sum((g * g).sum() for g in grads.values() if g is not None) ** 0.5


class Trainer:
    """Holds the three models, two optimisers and the samplers; one :meth:`iteration` is one
    generator step preceded by ``n_critic`` critic steps. With ``supervision="full"`` it holds the
    generator alone, and an iteration is one step on the paired 3D poses (``losses3d``).
    ``speed``: the run's speed paths (``speed.speed_paths``); by default built from ``opts``."""

    def __init__(self, opts: TrainOptions, data: TrainData, xp, dtype=np.float32, speed: PlainPaths | None = None):
        self.opts, self.data, self.xp, self.dtype = opts, data, xp, dtype
        self.speed = speed or speed_paths(opts.reference, opts.shards, xp)
        self.gcfg, self.ccfg, self.dcfg = model_configs(opts, data.skeleton)
        rng = np.random.default_rng(opts.seed)
        self.gen = init_generator(self.gcfg, rng, xp, dtype)   # PoseGate-Former, or RepNet's (--generator)
        self.full = opts.supervision == "full"
        # full supervision: no camera net and no critic (empty parameter sets)
        self.cam = {} if self.full else init_camera(self.ccfg, rng, xp, dtype)
        self.critic = {} if self.full else init_critic(self.dcfg, rng, xp, dtype)
        self.dcfg_2d = self.dcfg.in_2d() if opts.w_adv_2d and not self.full else None   # --w-adv-2d: as '2d/...'
        self.critic.update(with_prefix(init_critic(self.dcfg_2d, rng, xp, dtype), "2d/") if self.dcfg_2d else {})
        # The adversarial model's optimiser sees generator and camera as one flat dict (same arrays).
        self.adv = {**with_prefix(self.gen, "gen/"), **with_prefix(self.cam, "cam/")}
        # FAST DOOR 3: the optimiser; plain reference: optim.Adam; proved equal by
        # tests/fast/test_doors.py::test_flat_adam_equals_plain_adam
        self.opt_g = self.speed.optimiser(self.adv, lr=opts.lr, betas=opts.betas)
        self.opt_d = self.speed.optimiser(self.critic, lr=opts.lr_critic or opts.lr, betas=opts.betas)
        # A flat-buffer optimiser moves the parameters into its buffer: the models see its views.
        self.gen, self.cam = split_prefix(self.adv, "gen/"), split_prefix(self.adv, "cam/")
        self.critic_3d = {k: v for k, v in self.critic.items() if not k.startswith("2d/")}   # KCS critic
        self.critic_2d = split_prefix(self.critic, "2d/")                                    # {} if none
        W, X = to_device(xp, data.W_train, dtype), to_device(xp, data.X_real, dtype)
        if self.full:  # pairs: one sampler over (N, J, 2 + 3) rows, so a 2D pose keeps its 3D pose
            W = xp.concatenate([W, to_device(xp, data.X_train, dtype)], axis=2)
        self.s2d = Sampler(W, opts.batch_size, opts.seed + 1)
        self.s3d = Sampler(X, opts.batch_size, opts.seed + 2)
        self.rng_eps = np.random.default_rng(opts.seed + 3)
        self.rng_aug = np.random.default_rng(opts.seed + 4)   # augmentations, self-consistency rotations
        sk = get_skeleton(data.skeleton)
        self.flip = sk.flip_permutation
        self.corrupts = bool(opts.aug_noise_2d or opts.aug_drop_joints)   # the detector augmentations
        self.turns = bool(opts.w_geo or self.dcfg_2d)   # turned cameras, at the data's elevation (from the real poses)
        self.elevation = estimate_elevation(data.X_real, sk) if (self.turns or opts.aug_real) else (0.0, 0.0)
        # the bone-length prior's target, from the unpaired real poses too: their mean bone ratios
        # (on the host in float64, then on the device once, with the incidence matrix)
        self.incidence = to_device(xp, sk.incidence, dtype)
        self.bone_target = to_device(xp, bone_ratios(np.asarray(data.X_real, np.float64), sk.incidence).mean(axis=0),
                                     dtype) if opts.w_bone else None
        self.ema = {k: v.copy() for k, v in self.gen.items()} if opts.ema else None
        self.step = 0

    @property
    def shards(self) -> int:
        """How many shards a batch is cut into (recorded in the run: its numbers depend on it)."""
        return self.speed.shards

    # one generator step preceded by n_critic critic steps --------------------------------------
    def iteration(self, want_stats: bool = False) -> dict:
        losses = self._full_iteration(want_stats) if self.full else self._weak_iteration(want_stats)
        if self.ema is not None:
            self._update_ema()
        return losses

    def _update_ema(self) -> None:
        """ema <- d ema + (1 - d) gen, tensor by tensor in place."""
        d = self.opts.ema
        for k, p in self.gen.items():
            self.ema[k] *= d
            self.ema[k] += (1.0 - d) * p

    def _full_iteration(self, want_stats: bool) -> dict:
        """One step of the generator alone on a batch of paired (2D, 3D) poses."""
        xp = self.xp
        WX = self.s2d.next()
        W, X = WX[..., :2], WX[..., 2:]
        if self.opts.aug_flip_2d:
            W, X = flip_half(self.rng_aug, self.flip, W, X)
        W = self._corrupt(W)
        # FAST DOOR 2: the loss as a mean over the batch; plain reference: the loss itself; proved equal by
        # tests/fast/test_sharded_training.py::test_sharded_gradients_equal_unsharded
        L_sup, grads = self.speed.batch_mean(self.supervised_loss, xp.ascontiguousarray(W), xp.ascontiguousarray(X))
        self.opt_g.step(self.adv, with_prefix(grads, "gen/"))
        self.step += 1
        losses = {"loss_sup": L_sup}
        if want_stats:
            losses["grad_norm_gen"] = _grad_norm(grads)
        return losses

    def _weak_iteration(self, want_stats: bool) -> dict:
        xp, opts, B = self.xp, self.opts, self.opts.batch_size
        # All interpolation weights of this iteration in one upload (the 2D critic's: rows n_critic + k).
        eps_all = to_device(xp, self.rng_eps.random((opts.n_critic * (1 + bool(self.dcfg_2d)), B)), self.dtype)
        # The generator is frozen during the critic steps and unchanged until its own step, so the
        # iteration's 2D inputs are drawn first (n_critic batches for the fakes, then the generator
        # step's) and all the critic steps' fakes come from one pass.
        inputs = [self._inputs() for _ in range(opts.n_critic + 1)]    # (W, W before its noise)
        W_all = xp.concatenate([W for W, _ in inputs])
        n_fake = opts.n_critic * B
        W_gen = W_all[n_fake:]                  # the generator step's batch (B, J, 2)
        # --reproject-clean: L_rep against the batch before its corruption (none without one)
        W_target = inputs[-1][1] if opts.reproject_clean and self.corrupts else None
        # FAST DOOR 1: the fakes; plain reference: generator_forward(need_cache=False); proved equal by
        # tests/fast/test_doors.py::test_fused_inference_equals_plain_forward and ::test_one_pass_equals_two_plain_passes
        X_fakes, forward = self.speed.fakes(self.gen, self.gcfg, W_all, n_fake)
        # n_critic critic steps: L_D on real poses, this step's fakes and eps
        for k in range(opts.n_critic):
            X_real, X_fake = self._real_poses(), X_fakes[k * B:(k + 1) * B]
            # FAST DOOR 2: L_D as a mean over the batch; plain reference: losses.critic_loss; proved equal by
            # tests/fast/test_doors.py::test_stacked_critic_loss_equals_plain_critic_loss and ::test_sharded_critic_loss_equals_whole_batch
            L_D, grads_d, info_d = self.speed.batch_mean(self.critic_loss, X_real, X_fake, eps_all[k])
            if self.dcfg_2d is not None:     # the 2D critic: this batch before corruption, its fakes turned
                W_fake = turned_projection(X_fake, camera_turns(self.rng_aug, B, xp, self.dtype, *self.elevation), opts.perspective)[0]
                L_D2, grads_2d, info_2d = self.speed.batch_mean(self.critic_loss_2d, inputs[k][1], W_fake, eps_all[opts.n_critic + k])
                grads_d = {**grads_d, **with_prefix(grads_2d, "2d/")}
            self.opt_d.step(self.critic, grads_d)
        # one step of generator + camera on L_G
        R = camera_turns(self.rng_aug, B, xp, self.dtype, *self.elevation) if self.turns else None
        losses, grads_gen, grads_cam = self.generator_gradients(W_gen, R, forward, W_target)
        self.opt_g.step(self.adv, {**with_prefix(grads_gen, "gen/"), **with_prefix(grads_cam, "cam/")})
        self.step += 1

        losses = {"loss_d": L_D, "wasserstein": info_d["wasserstein"], "penalty": info_d["penalty"],
                  "critic_input_grad_norm": info_d["grad_norm"], **losses}
        if self.dcfg_2d is not None:
            losses.update(loss_d_2d=L_D2, wasserstein_2d=info_2d["wasserstein"])
        if want_stats:
            losses.update(grad_norm_critic=_grad_norm(grads_d), grad_norm_gen=_grad_norm(grads_gen),
                          grad_norm_cam=_grad_norm(grads_cam))
        return losses

    def generator_gradients(self, W_gen, R=None, forward=None, W_target=None):
        """The adversarial model's step on W_gen (B, J, 2) -> (losses, generator grads, camera grads)
        of L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam, plus w_geo L_geo and w_adv_2d L_adv2d with
        the turns R (B, 3, 3) and w_bone L_bone (departures, losses3d): their gradients join the
        generator's at its output. ``forward``: the generator's forward on W_gen already done (door
        1 on a GPU), so only its backward runs here. ``W_target``: L_rep's target if not W_gen."""
        given = [b is not None for b in (R, W_target)]
        batches = (W_gen, *(b for b in (R, W_target) if b is not None))

        def loss(W, *rest, **kw):      # the batches given, back in generator_loss's places
            rest = iter(rest)
            return self.generator_loss(W, *(next(rest) if g else None for g in given), **kw)

        if forward is not None:
            values, grads_gen, grads_cam = loss(*batches, forward=forward)
        else:
            # FAST DOOR 2: L_G as a mean over the batch; plain reference: losses.generator_loss; proved equal by
            # tests/fast/test_doors.py::test_sharded_generator_loss_equals_whole_batch
            values, grads_gen, grads_cam = self.speed.batch_mean(loss, *batches)
        on = (True, True, True, R is not None and self.opts.w_geo, self.opts.w_bone, R is not None and self.dcfg_2d)
        names = [n for n, o in zip(("loss_adv", "loss_rep", "loss_cam", "loss_geo", "loss_bone", "loss_adv_2d"), on) if o]
        return dict(zip(names, values)), grads_gen, grads_cam

    # the losses on this trainer's models, means over the batch given ---------------------------
    def critic_loss(self, X_real, X_fake, eps):
        """L_D (SPEC section 5) by the speed paths' critic step (plain: ``losses.critic_loss``)."""
        return self.speed.critic_loss(self.critic_3d, X_real, X_fake, eps, self.dcfg, self.opts.lam)

    def critic_loss_2d(self, W_real, W_fake, eps):
        """The random-projection critic's L_D on 2D poses (B, J, 2), the same loss and penalty."""
        return self.speed.critic_loss(self.critic_2d, W_real, W_fake, eps, self.dcfg_2d, self.opts.lam)

    def generator_loss(self, W, R=None, W_target=None, forward=None):
        """L_G on W (B, J, 2), plus w_geo L_geo with the turns R (B, 3, 3) when given, plus
        w_bone L_bone, plus w_adv_2d L_adv2d with the same turns (the departures of losses3d: terms
        that share the step's lift); L_rep against W_target when given (--reproject-clean)."""
        o = self.opts
        terms = (consistency_term(self.gen, self.gcfg, R, o.w_geo, perspective=o.perspective),) if R is not None and o.w_geo else ()
        if o.w_bone:
            terms += (bone_prior_term(self.incidence, self.bone_target, o.w_bone),)
        if R is not None and self.dcfg_2d is not None:
            terms += (projection_critic_term(self.critic_2d, self.dcfg_2d, R, o.w_adv_2d, perspective=o.perspective),)
        return generator_loss(self.gen, self.cam, self.critic_3d, W, self.gcfg, self.ccfg, self.dcfg, o.w_adv, o.w_rep,
                              o.w_cam, forward=forward, terms=terms, W_target=W_target, perspective=o.perspective)

    def supervised_loss(self, W, X):
        return supervised_step(self.gen, self.gcfg, W, X, self.opts.sup_loss)

    # the batches ---------------------------------------------------------------------------------
    def _inputs(self):
        """The next batch of 2D inputs, half of them mirrored with --aug-flip-2d: (W with the
        detector augmentations, W before them)."""
        W = self.s2d.next()
        W = flip_half(self.rng_aug, self.flip, W) if self.opts.aug_flip_2d else W
        return self._corrupt(W), W

    def _corrupt(self, W):
        """With --aug-noise-2d / --aug-drop-joints: noise, missing (NaN) joints (augment.corrupt_inputs);
        without either, W itself and no draw."""
        o = self.opts
        if not self.corrupts:
            return W
        return corrupt_inputs(W, self.rng_aug, o.aug_noise_2d, o.aug_drop_joints, o.aug_noise_spread)

    def _real_poses(self):
        """The next batch of real 3D poses, augmented with --aug-real."""
        X = self.s3d.next()
        return augment_real_poses(X, self.rng_aug, self.flip, self.elevation[0]) if self.opts.aug_real else X

    @property
    def eval_gen(self) -> dict:
        """The generator that validation, best.npz and evaluation use: the moving average with --ema."""
        return self.ema if self.ema is not None else self.gen

    def set_lr(self, lr: float, lr_critic: float | None = None) -> None:
        """The rates of this step: the generator's and camera's, and the critic's (default the same)."""
        self.opt_g.lr = float(lr)
        self.opt_d.lr = float(lr if lr_critic is None else lr_critic)
