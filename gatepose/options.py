"""Every option of a training run, declared once: ``TrainOptions``' fields carry their default and
help text, ``gatepose train``'s click options are generated from them (cli/train.py), and the
whole dataclass lands in the run's ``config.json``. A new option is one line here (plus the code
that reads it)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GateposeError
from .jsontypes import fits, is_number
from .names import ATTENTION_VARIANTS, GENERATORS, LIFTS, PRESETS, SPEC_SIZES  # noqa: F401  (PRESETS re-exported)

# The options that shape PoseGate-Former alone: given explicitly with --generator repnet, an error.
ATTENTION_ONLY = ("attention", "d_model", "n_heads", "n_layers", "d_ff", "gate_hidden")


def option(default, help: str = "", flag: str | None = None, type=None, choices=None, path: bool = False,
           cli: bool = True):
    """A TrainOptions field: its default and help text stated once; ``gatepose train``'s click
    option is generated from it (``flag`` overrides the --name derived from the field's name)."""
    return field(default=default, metadata=dict(help=help, flag=flag, type=type, choices=choices,
                                                path=path, cli=cli))


@dataclass
class TrainOptions:
    """Every option of a run; all of it lands in ``config.json``. One line per option: the CLI's
    ``gatepose train`` options are generated from these fields (cli/train.py)."""

    data: str | None = option(None, "Dataset archive (gatepose data synth / import-*). Default: the built-in synthetic data.", path=True)
    real_poses: str | None = option(None, "Archive whose 3D poses the critic sees as real. Default: the training subjects' own, shuffled independently.", path=True)
    generator: str = option("posegate", "The 2D-to-3D generator: posegate (PoseGate-Former) or repnet (RepNet's residual MLP, the paper's Table 1 baseline, in the same weak structure; the attention options do not apply to it).", choices=GENERATORS)
    attention: str = option("gated", "Attention variant (the paper's Table 3).", choices=ATTENTION_VARIANTS)
    steps: int | None = option(None, "Generator steps in total (default 2000). A resumed run continues up to this.", type=int)
    epochs: float | None = option(None, "Instead of --steps: passes over the 2D training set.", type=float)
    batch_size: int = option(256, "Poses per batch (both models).")
    lr: float = option(1e-4, "Adam learning rate (both models, unless --lr-critic).")
    lr_critic: float | None = option(None, "The critic's own learning rate (two time-scale updates; a departure, SPEC section 6 has one rate: docs/departures.md); the schedule scales it like --lr. Default: --lr.", type=float)
    lr_schedule: str = option("constant", "cosine decays the rate to 0 at the last step (a resumed run with a new --steps re-plans it).", choices=("constant", "cosine"))
    betas: tuple = option((0.5, 0.9), "Adam's betas beta1 beta2 (both models); (0.5, 0.9) is the WGAN-GP's setting, (0.9, 0.999) Adam's own.")
    n_critic: int = option(5, "Critic steps per generator step.")
    lam: float = option(10.0, "Gradient-penalty weight lambda.")
    w_adv: float = option(1.0, "Weight of the adversarial loss.")
    w_rep: float = option(1.0, "Weight of the reprojection loss.")
    w_cam: float = option(1.0, "Weight of the camera loss.")
    seed: int = option(0, "Seed of the initial weights and of every draw of the training.")
    # model sizes (SPEC section 1 defaults)
    d_model: int = option(SPEC_SIZES["d_model"], "Model width d.")
    n_heads: int = option(SPEC_SIZES["n_heads"], "Attention heads h.", flag="--heads")
    n_layers: int = option(SPEC_SIZES["n_layers"], "Encoder layers L.", flag="--layers")
    d_ff: int = option(SPEC_SIZES["d_ff"], "Feed-forward width.")
    gate_hidden: int = option(SPEC_SIZES["gate_hidden"], "Hidden width of the gate paths.")
    repnet_width: int = option(SPEC_SIZES["repnet_width"], "Width of RepNet's generator (--generator repnet; SPEC section 1b).")
    camera_width: int = option(SPEC_SIZES["camera_width"], "Camera net width.")
    critic_pose_width: int = option(SPEC_SIZES["critic_pose_width"], "Critic pose-path width.")
    critic_kcs_width: int = option(SPEC_SIZES["critic_kcs_width"], "Critic KCS-path width.")
    # departures from the paper, each off in the "paper" and "small" presets (docs/departures.md)
    supervision: str = option("weak", "weak: the paper's set-up, no 3D label paired with a 2D input; full: the generator alone trained on the paired 3D poses (the supervised baseline: no camera net, no critic).", choices=("weak", "full"))
    sup_loss: str = option("distance", "The loss of --supervision full: distance, the mean per-joint Euclidean distance (MPJPE on the normalised scale); squared, its mean square (Martinez et al.'s L2).", choices=("distance", "squared"))
    lift: str = option("xyz", "What the generator predicts: xyz, the whole 3D pose (the paper's); depth, each joint's depth alone, its x and y taken from the 2D input (ElePose's set-up, a departure: the generator can no longer move a joint across the image); offset, the depth lift with a learnt offset added to the input's x and y (a departure: noise in the 2D need not pass one for one into the 3D pose).", choices=LIFTS)
    w_geo: float = option(0.0, "Weight of geometric self-consistency: lift, turn the pose about the vertical axis, project, lift again and match (0 = off, as in the paper).")
    w_bone: float = option(0.0, "Weight of a bone-length prior (ElePose's): each lifted bone's length over the pose's mean bone length, against the same ratios averaged over the critic's real poses (0 = off, as in the paper).")
    w_adv_2d: float = option(0.0, "Weight of the random-projection critic: the lifted pose turned about the vertical axis and projected, judged by a second WGAN-GP critic of 2D poses trained on the 2D inputs (Chen et al. 2019; ElePose's prior of random reprojections in adversarial form; 0 = off, as in the paper).")
    perspective: float = option(0.0, "Reproject with perspective: each joint's projection shrunk by its depth z behind the root as a pinhole camera would, by exp(-K z), K the poses' size over the camera's distance (the Frobenius norm of a root-relative 3D pose, about 2 m, over its root's depth: 0.4, small-weak's, for a person 5 m away; `gatepose data info` prints an archive's; docs/departures.md). 0 = the paper's scaled orthographic projection.")
    aug_real: bool = option(False, "Augment the critic's real poses: a random turn about the vertical axis and a left/right mirror.")
    aug_flip_2d: bool = option(False, "Mirror half of the 2D inputs left/right (with full supervision their 3D poses too).")
    aug_noise_2d: float = option(0.0, "Gaussian noise on every coordinate of the normalised 2D inputs (weak and full supervision), its standard deviation a fraction of the pose's scale (a normalised pose has Frobenius norm 1; in pixels: SIGMA times the pose's own scale, docs/detector-inputs.md); 0 = off.")
    aug_noise_spread: bool = option(False, "With --aug-noise-2d SIGMA, each pose draws its own noise level, uniform on [0, 2 SIGMA] (mean SIGMA): some poses nearly clean, some twice as noisy, as a detector's are (docs/detector-inputs.md). No effect without --aug-noise-2d.")
    aug_drop_joints: float = option(0.0, "Each joint of each 2D input missing with this probability (never fewer than 2 joints left in a pose); the generator then learns a missing-joint token (docs/detector-inputs.md); 0 = off.")
    reproject_clean: bool = option(False, "With --aug-noise-2d, the weak step's reprojection loss compares the reprojected pose with the 2D input before its noise, so that the lifter learns to undo the noise (it can with --lift offset or xyz; with --lift depth x and y are the input's). No effect without --aug-noise-2d or --aug-drop-joints (with dropout alone, the missing joints are reprojected against where they were), nor with full supervision.")
    ema: float = option(0.0, "Decay of an exponential moving average of the generator's weights that validation, best.npz and evaluation use (e.g. 0.99; 0 = off).")
    synth_subjects: int = option(8, "Subjects of the built-in synthetic data (used without --data; a quarter are held out).")
    synth_seed: int = option(0, "Seed of the synthetic data.")
    # bookkeeping
    log_every: int = option(10, "A metrics.jsonl line every N steps.")
    eval_every: int = option(100, "Validation (and best.npz) every N steps.")
    checkpoint_every: int = option(100, "checkpoint.npz every N steps.")
    val_frames: int = option(2048, "Frames held out of the training subjects for validation.", cli=False)
    val_split: str = option("frames", "How validation is held out of the training subjects: frames (random frames) or clips (whole takes, every camera of them, by the archive's 'clip' field: no validation frame is a neighbour of a training frame).", choices=("frames", "clips"))
    shards: int | None = option(None, "Cut each batch into this many shards that run side by side on the CPU's cores [default: 2 on the CPU, 1 on a GPU]. The numbers depend on it (sums in another order), not on how many cores there are; a resumed run keeps its own.", type=int)
    reference: bool = option(False, "Run the plain algorithm end to end: no shards, no fused inference, no stacked critic step (slower; the same numbers up to rounding).")

    def check(self) -> None:
        """Raise a GateposeError naming the first bad option, before any work starts."""
        self.check_values()
        for name in ("data", "real_poses"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise GateposeError(f"--{name.replace('_', '-')}: no such file: {path}")

    def check_values(self) -> None:
        """The checks of :meth:`check` that do not look at the disk (a stored run's options)."""
        def bad(opt, msg):
            raise GateposeError(f"--{opt.replace('_', '-')}: {msg}")

        if self.generator not in GENERATORS:
            bad("generator", f"expected one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if self.attention not in ATTENTION_VARIANTS:
            bad("attention", f"expected one of {', '.join(ATTENTION_VARIANTS)}, got {self.attention!r}")
        if self.steps is not None and self.epochs is not None:
            bad("steps", "give --steps or --epochs, not both")
        if self.steps is not None and self.steps < 1:
            bad("steps", f"must be at least 1, got {self.steps}")
        if self.epochs is not None and not (self.epochs > 0 and math.isfinite(self.epochs)):
            bad("epochs", f"must be a positive finite number, got {self.epochs}")
        for name in ("lam", "w_adv", "w_rep", "w_cam", "w_geo", "w_bone", "w_adv_2d", "perspective", "ema", "aug_noise_2d",
                     "aug_drop_joints"):
            if not math.isfinite(getattr(self, name)):
                bad(name, f"must be a finite number, got {getattr(self, name)}")
        for name in ("batch_size", "n_critic", "d_model", "n_heads", "n_layers", "d_ff", "gate_hidden",
                     "repnet_width", "camera_width", "critic_pose_width", "critic_kcs_width", "log_every",
                     "eval_every", "checkpoint_every", "synth_subjects"):
            if getattr(self, name) < 1:
                bad(name, f"must be at least 1, got {getattr(self, name)}")
        if self.shards is not None and not 1 <= self.shards <= self.batch_size:
            bad("shards", f"must be from 1 to --batch-size ({self.batch_size}), got {self.shards}")
        for name in ("seed", "synth_seed"):     # NumPy's generators take non-negative seeds only
            if getattr(self, name) < 0:
                bad(name, f"must be a non-negative integer, got {getattr(self, name)}")
        from .nn.posegate import heads_divide   # the rule, stated where the model is

        if not heads_divide(self.d_model, self.n_heads):
            bad("d_model", f"{self.d_model} is not divisible by --heads {self.n_heads}")
        if self.lr_schedule not in ("constant", "cosine"):
            bad("lr_schedule", f"expected constant or cosine, got {self.lr_schedule!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", f"must be a positive number, got {self.lr}")
        if self.lr_critic is not None and not (self.lr_critic > 0 and math.isfinite(self.lr_critic)):
            bad("lr_critic", f"must be a positive number, got {self.lr_critic}")
        if not all(0 <= b < 1 for b in self.betas):
            bad("betas", f"each must be in [0, 1), got {self.betas}")
        if self.lam < 0:
            bad("lam", f"must be non-negative, got {self.lam}")
        if self.lift not in LIFTS:
            bad("lift", f"expected one of {', '.join(LIFTS)}, got {self.lift!r}")
        if self.sup_loss not in ("distance", "squared"):
            bad("sup_loss", f"expected distance or squared, got {self.sup_loss!r}")
        if self.supervision not in ("weak", "full"):
            bad("supervision", f"expected weak or full, got {self.supervision!r}")
        for name in ("w_adv", "w_rep", "w_cam", "w_geo", "w_bone", "w_adv_2d", "perspective", "aug_noise_2d"):
            if getattr(self, name) < 0:
                bad(name, f"must be a non-negative number, got {getattr(self, name)}")
        if not 0 <= self.ema < 1:
            bad("ema", f"must be in [0, 1), got {self.ema}")
        if not 0 <= self.aug_drop_joints < 1:
            bad("aug_drop_joints", f"must be a probability in [0, 1), got {self.aug_drop_joints}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "options") -> "TrainOptions":
        """Options read back from a run's config.json, each checked against its field's type (a
        hand-edited or damaged config is one GateposeError naming the field, never a traceback).
        Unknown keys are ignored (a run written by a later version); missing ones take the default."""
        if not isinstance(d, dict):
            raise GateposeError(f"{where}: expected a JSON object of options, got {type(d).__name__}")
        out = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name == "betas":
                ok = isinstance(v, list) and len(v) == 2 and all(is_number(b) for b in v)
                v = tuple(float(b) for b in v) if ok else v
            else:
                ok = fits(v, f.default, f.metadata.get("type") or str)   # a None default without a type: a path
            if not ok:
                raise GateposeError(f"{where}: option '{f.name}': expected {_type_name(f)}, got {v!r}"[:300])
            out[f.name] = float(v) if isinstance(f.default, float) else v
        return cls(**out)


def _type_name(f) -> str:
    if f.name == "betas":
        return "a list of two numbers"
    kind = f.metadata.get("type") if f.default is None else type(f.default)
    name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(kind, "a string")
    return name + (" or null" if f.default is None else "")


# -- what the options decide: the models and the schedule ---------------------------------------
def model_configs(opts: TrainOptions, skeleton_name: str):
    """The three models' configurations for a run's options and skeleton (the generator's a
    PoseGateConfig or, with ``generator="repnet"``, a RepNetConfig)."""
    from .data.skeleton import get_skeleton
    from .nn.camera import CameraConfig
    from .nn.critic import CriticConfig
    from .nn.posegate import PoseGateConfig
    from .nn.repnet import RepNetConfig

    sk = get_skeleton(skeleton_name)
    token = opts.aug_drop_joints > 0     # a generator that sees missing joints learns how to take them
    if opts.generator == "repnet":
        gcfg = RepNetConfig(n_joints=sk.n_joints, width=opts.repnet_width, lift=opts.lift, missing_token=token)
    else:
        gcfg = PoseGateConfig(n_joints=sk.n_joints, d_model=opts.d_model, n_heads=opts.n_heads,
                               n_layers=opts.n_layers, d_ff=opts.d_ff, gate_hidden=opts.gate_hidden,
                               attention=opts.attention, lift=opts.lift, missing_token=token)
    ccfg = CameraConfig(n_joints=sk.n_joints, width=opts.camera_width)
    dcfg = CriticConfig(n_joints=sk.n_joints, incidence=sk.incidence,
                        pose_width=opts.critic_pose_width, kcs_width=opts.critic_kcs_width)
    return gcfg, ccfg, dcfg


def total_steps(opts: TrainOptions, n_train: int) -> int:
    if opts.steps is not None:
        return opts.steps
    if opts.epochs is not None:
        return max(1, int(round(opts.epochs * n_train / opts.batch_size)))
    return 2000


def learning_rate(opts: TrainOptions, step: int, n_total: int, base: float | None = None) -> float:
    """The learning rate of step ``step`` (0-based) of ``n_total`` for the base rate ``base``
    (default ``opts.lr``): a function of the step alone, so a resumed run follows the same schedule."""
    base = opts.lr if base is None else base
    if opts.lr_schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * step / max(n_total, 1)))
    return base
