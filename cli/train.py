"""`gatepose train`: weakly supervised training (WGAN-GP with reprojection and camera losses)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import device_option, pick_device


@click.command()
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Dataset archive (gatepose data synth / import-*). Default: the built-in synthetic data.")
@click.option("--real-poses", type=click.Path(dir_okay=False), default=None,
              help="Archive whose 3D poses the critic sees as real. Default: the training subjects' own, shuffled independently.")
@click.option("--attention", type=click.Choice(["gated", "vanilla", "fixed", "scalar-gate"]), default="gated",
              show_default=True, help="Attention variant (the paper's Table 3).")
@click.option("--steps", type=int, default=None, help="Generator steps in total (default 2000). A resumed run continues up to this.")
@click.option("--epochs", type=float, default=None, help="Instead of --steps: passes over the 2D training set.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True, help="Adam learning rate (both models).")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
              help="cosine decays the rate to 0 at the last step (a resumed run with a new --steps re-plans it).")
@click.option("--n-critic", type=int, default=5, show_default=True, help="Critic steps per generator step.")
@click.option("--lam", type=float, default=10.0, show_default=True, help="Gradient-penalty weight lambda.")
@click.option("--w-adv", type=float, default=1.0, show_default=True, help="Weight of the adversarial loss.")
@click.option("--w-rep", type=float, default=1.0, show_default=True, help="Weight of the reprojection loss.")
@click.option("--w-cam", type=float, default=1.0, show_default=True, help="Weight of the camera loss.")
@click.option("--layers", "n_layers", type=int, default=4, show_default=True, help="Encoder layers L.")
@click.option("--d-model", type=int, default=256, show_default=True, help="Model width d.")
@click.option("--heads", "n_heads", type=int, default=8, show_default=True, help="Attention heads h.")
@click.option("--d-ff", type=int, default=512, show_default=True, help="Feed-forward width.")
@click.option("--gate-hidden", type=int, default=100, show_default=True, help="Hidden width of the gate paths.")
@click.option("--camera-width", type=int, default=1000, show_default=True, help="Camera net width.")
@click.option("--critic-pose-width", type=int, default=100, show_default=True, help="Critic pose-path width.")
@click.option("--critic-kcs-width", type=int, default=1000, show_default=True, help="Critic KCS-path width.")
@click.option("--synth-subjects", type=int, default=8, show_default=True,
              help="Subjects of the built-in synthetic data (used without --data; a quarter are held out).")
@click.option("--synth-seed", type=int, default=0, show_default=True, help="Seed of the synthetic data.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--log-every", type=int, default=10, show_default=True)
@click.option("--eval-every", type=int, default=100, show_default=True, help="Validation (and best.npz) every N steps.")
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--shards", type=int, default=None,
              help="Cut each batch into this many shards that run side by side on the CPU's cores "
                   "[default: 2 on the CPU, 1 on a GPU]. The numbers depend on it (sums in another "
                   "order), not on how many cores there are; a resumed run keeps its own.")
@device_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="New run folder.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this folder exactly where it stopped (other options come from its config, except --steps/--epochs).")
@click.option("--quiet", is_flag=True, help="No progress output.")
def train(data, real_poses, attention, steps, epochs, batch_size, lr, lr_schedule, n_critic, lam, w_adv, w_rep, w_cam,
          n_layers, d_model, n_heads, d_ff, gate_hidden, camera_width, critic_pose_width, critic_kcs_width,
          synth_subjects, synth_seed, seed, log_every, eval_every, checkpoint_every, shards, device, out,
          resume, quiet):
    """Train PoseGate-Former weakly supervised: 2D poses in, no 3D labels paired with them.

    Each iteration runs --n-critic critic steps (WGAN-GP on KCS features, real 3D poses unpaired
    with the 2D batch) and then one step of generator + camera net on the adversarial,
    reprojection and camera losses. The run folder gets config.json, metrics.jsonl (one line per
    logged step), checkpoint.npz (atomic; Ctrl-C saves one) and best.npz (lowest validation
    N-MPJPE on frames held out of the training subjects).

    \b
    Examples:
      gatepose train --steps 200 --out runs/first              # built-in synthetic data
      gatepose train --resume runs/first --steps 400           # continues from step 200
      gatepose train --data h36m.npz --epochs 5 --out runs/h36m --device gpu
      gatepose train --attention vanilla --steps 1000 --out runs/vanilla
    """
    from gatepose.train import TrainOptions, train as run_training

    if (out is None) == (resume is None):
        raise click.UsageError("give exactly one of --out RUN_DIR (a new run) or --resume RUN_DIR")
    if resume is not None:
        cfg_path = Path(resume) / "config.json"
        if not cfg_path.is_file():
            raise click.BadParameter(f"{resume}: not a run folder (no config.json)", param_hint="--resume")
        opts = TrainOptions.from_dict(json.loads(cfg_path.read_text())["options"])
        if steps is not None or epochs is not None:
            opts.steps, opts.epochs = steps, epochs
        run_dir = resume
    else:
        opts = TrainOptions(data=data, real_poses=real_poses, attention=attention, steps=steps, epochs=epochs,
                            batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, n_critic=n_critic, lam=lam, w_adv=w_adv, w_rep=w_rep,
                            w_cam=w_cam, n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                            gate_hidden=gate_hidden, camera_width=camera_width,
                            critic_pose_width=critic_pose_width, critic_kcs_width=critic_kcs_width,
                            synth_subjects=synth_subjects, synth_seed=synth_seed, seed=seed, log_every=log_every, eval_every=eval_every,
                            checkpoint_every=checkpoint_every, shards=shards)
        run_dir = out
    opts.validate()  # bad options fail here, before data or device work
    xp = pick_device(device)
    try:
        row = run_training(opts, run_dir, xp, resume=resume is not None, progress=not quiet)
    except KeyboardInterrupt:
        sys.exit(130)
    if row:
        keys = ("step", "loss_rep", "loss_cam", "wasserstein", "val_mpjpe", "val_n_mpjpe")
        click.echo("finished: " + "  ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                                            for k in keys if k in row))
        click.echo(f"run folder: {run_dir}  (evaluate with: gatepose eval --run {run_dir})")
