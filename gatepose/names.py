"""The names and defaults that the package and the command line share, each stated once here.

No imports: the CLI builds its choices, defaults and help texts from this module without loading
NumPy or any model code, so ``gatepose --help`` stays fast.
"""

# The attention variants of the paper's Table 3 (ops/attention.py implements them).
ATTENTION_VARIANTS = ("gated", "vanilla", "fixed", "scalar-gate")
# The generators (nn/generator.py): PoseGate-Former and RepNet's residual MLP (SPEC section 1b).
GENERATORS = ("posegate", "repnet")
# What the generator's output is (nn/generator.py): xyz, the whole 3D pose (the paper's, RepNet's);
# depth, each joint's depth alone, beside the input's x and y (ElePose's; a departure); offset, the
# depth lift with a learnt offset added to x and y (a departure).
LIFTS = ("xyz", "depth", "offset")
# What `gatepose ablate` trains: every attention variant, and RepNet's generator in its place.
ABLATION_VARIANTS = (*ATTENTION_VARIANTS, "repnet")

# The frame rates a mocap file may state and --fps may ask for: one frame an hour to 100,000
# frames/s (why: data/mocap/__init__.py).
MIN_FPS = 1 / 3600
MAX_FPS = 100_000.0

# The model sizes of SPEC section 1 (section 1b for RepNet's width): the defaults of the config
# classes (nn/) and of the options (options.TrainOptions) alike.
SPEC_SIZES = dict(d_model=256, n_heads=8, n_layers=4, d_ff=512, gate_hidden=100, repnet_width=1000,
                  camera_width=1000, critic_pose_width=100, critic_kcs_width=1000)

# Named option sets, {option: value} over TrainOptions' defaults. "paper" is SPEC section 1 and 6 as
# written; "small" is a model and schedule that trains in minutes on a laptop CPU (the ablation's
# default; the demo's is small-weak). How each was chosen, and what it measures: docs/results.md and the pages it
# links (docs/synthetic.md, docs/benchmark-cmu.md, docs/benchmark-hdm05.md); no figure is kept here.
PRESETS = {
    "paper": {},
    # n_critic 1 is RepNet's own schedule (SPEC section 6)
    "small": dict(d_model=64, n_heads=4, n_layers=2, d_ff=128, batch_size=128, lr=5e-4, w_rep=10.0,
                  n_critic=1, lr_schedule="cosine", eval_every=100, checkpoint_every=100),
}
# "small-weak": the recommended weak recipe: the small generator, the camera net and the critic's KCS
# path narrowed to 256 (a cheaper step, so more steps in the same minutes), geometric
# self-consistency, lr 1e-3, n_critic 2, an EMA of the generator for evaluation, and the depth lift
# with an offset on x and y, trained on noisy 2D inputs against their clean reprojection (a
# detector's inputs), and the reprojection's perspective of a camera about 5 m from the person
# (K 0.4: the median of every archive gatepose makes, and of Human3.6M's cameras; departures, all:
# docs/departures.md). A constant rate, the SPEC's, in place of small's cosine: the moving average
# does what the decay did, and the weak model still learns in its last steps (docs/benchmark-gap.md).
PRESETS["small-weak"] = {**PRESETS["small"], "camera_width": 256, "critic_kcs_width": 256, "w_geo": 3.0,
                         "lr": 1e-3, "n_critic": 2, "ema": 0.99, "lift": "offset", "aug_noise_2d": 0.012,
                         "reproject_clean": True, "perspective": 0.4, "lr_schedule": "constant"}
# "small-full": the same generator and sizes trained with full supervision: the baseline, with the
# recipe a search on validation chose (a moving average of the weights and a constant rate, in place
# of the cosine's decay; docs/benchmark-gap.md).
PRESETS["small-full"] = {**PRESETS["small"], "supervision": "full", "ema": 0.99, "lr_schedule": "constant"}
# "small-full-detector": small-full trained for a 2D detector's keypoints: 2D noise of about 3 px and
# 5 % of the joints missing (the missing-joint token). Better with noisy or missing joints, no worse
# with exact 2D on new people, worse on new takes of people seen in training (docs/detector-inputs.md).
PRESETS["small-full-detector"] = {**PRESETS["small-full"], "aug_noise_2d": 0.008, "aug_drop_joints": 0.05}
PRESET_NAMES = tuple(PRESETS)
# What each preset is for, in a few words (the CLI's help adds its values from PRESETS).
PRESET_PURPOSE = {
    "paper": "SPEC section 1 and 6 as written",
    "small": "trains in minutes on a CPU, the paper's losses",
    "small-weak": "the recommended weak recipe (docs/results.md)",
    "small-full": "'small' with full supervision and a searched recipe, the supervised baseline",
    "small-full-detector": "small-full trained on noisy 2D with missing joints, for a detector's keypoints",
}


def describe_preset(name: str) -> str:
    """'name: purpose (option=value, ...)', for help texts."""
    values = ", ".join(f"{k}={v}" for k, v in PRESETS[name].items())
    return f"{name}: {PRESET_PURPOSE[name]}" + (f" ({values})" if values else "")
