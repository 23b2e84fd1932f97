"""Train a tiny PoseGate-Former on the built-in synthetic data and print its per-action errors.

The whole weakly supervised pipeline in a few lines: synthetic 2D/3D poses (generated from a seed,
nothing downloaded), WGAN-GP training (no 3D labels paired with the 2D inputs), then MPJPE,
N-MPJPE and P-MPJPE on the held-out test subjects beside two trivial baselines. The defaults are
tiny so it runs in seconds; the numbers only mean something with the real sizes and many more
steps (``gatepose train`` defaults: d_model 256, 8 heads, 4 layers, 2000 steps).

    python examples/train_and_evaluate.py                  # ~10 s on a CPU
    python examples/train_and_evaluate.py --steps 300 --d-model 64 --out runs/example
"""
import argparse
import tempfile

import numpy as np

from gatepose.evaluate import evaluate_run, test_frames
from gatepose.tables import render, table_by_action
from gatepose.runs import load_run
from gatepose.options import TrainOptions
from gatepose.training import train

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--steps", type=int, default=10)
p.add_argument("--d-model", type=int, default=32)
p.add_argument("--out", default=None, help="run folder (default: a temporary one)")
p.add_argument("--max-frames", type=int, default=2000, help="test frames to evaluate")
args = p.parse_args()

opts = TrainOptions(
    steps=args.steps, d_model=args.d_model, n_heads=2, n_layers=1, d_ff=2 * args.d_model,
    gate_hidden=16, camera_width=64, critic_pose_width=32, critic_kcs_width=64,   # tiny models
    batch_size=64, n_critic=2, synth_subjects=4,          # 3 training subjects, 1 test subject
    log_every=5, eval_every=5, checkpoint_every=args.steps, val_frames=256,
)
with tempfile.TemporaryDirectory() as tmp:
    run_dir = args.out or f"{tmp}/run"
    last = train(opts, run_dir, np, progress=False)       # NumPy; pass cupy to train on a GPU
    print(f"trained {last['step']} steps: reprojection loss {last['loss_rep']:.4f}, "
          f"validation N-MPJPE {last.get('val_n_mpjpe', float('nan')):.1f} mm")

    run = load_run(run_dir)                               # best.npz: lowest validation N-MPJPE
    ds, split, source = test_frames(run, None)            # the run's own data, test subjects
    results = evaluate_run(run, ds, max_frames=args.max_frames)
    print(render(table_by_action(results["model"], title=f"Model on {source} ({split})")))
    for name in ("mean pose", "zero depth"):              # trivial baselines on the same frames
        r = results[name]
        print(f"{name:>10}: MPJPE {r.avg['mpjpe']:.1f}  N-MPJPE {r.avg['n_mpjpe']:.1f}  "
              f"P-MPJPE {r.avg['p_mpjpe']:.1f} (Avg. over actions, mm)")
