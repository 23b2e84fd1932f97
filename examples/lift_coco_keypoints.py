"""Lift COCO-17 detector keypoints to 3D poses in millimetres.

Writes a small fake COCO results JSON (what a 2D detector such as Detectron2 or MMPose emits:
one entry per person with 17 x (x, y, score)), converts it to the h36m17 skeleton with
``gatepose.data.coco`` (pelvis = mid-hips, thorax = mid-shoulders, ...), reports low-confidence
joints, lifts the poses with a run and prints them. Without --run it first trains a tiny run
(seconds; its poses are rough, the point is the plumbing).

    python examples/lift_coco_keypoints.py
    python examples/lift_coco_keypoints.py --run runs/a --keypoints my_results.json
The command-line equivalent: gatepose predict --run runs/a --input my_results.json --out out.json
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from gatepose.data.coco import load_keypoints
from gatepose.data.skeleton import get_skeleton
from gatepose.options import TrainOptions
from gatepose.runs import load_run
from gatepose.training import train

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--run", default=None, help="run folder (default: train a tiny one)")
p.add_argument("--keypoints", default=None, help="COCO results JSON (default: a fake one)")
args = p.parse_args()
tmp = Path(tempfile.mkdtemp())

# A fake detection: a standing person, ~170 px tall, in COCO joint order (nose, eyes, ears,
# shoulders, elbows, wrists, hips, knees, ankles), then jittered copies with detector-like scores.
STAND = np.array([[320, 100], [326, 94], [314, 94], [334, 98], [306, 98], [345, 135], [295, 135],
                  [352, 175], [288, 175], [355, 212], [285, 212], [337, 215], [303, 215],
                  [338, 265], [302, 265], [339, 312], [301, 312]], dtype=float)
if args.keypoints is None:
    rng = np.random.default_rng(0)
    dets = []
    for i in range(3):
        xy = STAND + rng.normal(0, 3, STAND.shape)
        score = rng.uniform(0.6, 1.0, 17)
        if i == 2:
            score[[9, 10]] = 0.1            # both wrists barely visible in the last image
        kp = np.concatenate([xy, score[:, None]], axis=1).ravel()
        dets.append({"image_id": 100 + i, "category_id": 1, "keypoints": kp.round(2).tolist(), "score": 0.95})
    args.keypoints = tmp / "results.json"
    Path(args.keypoints).write_text(json.dumps(dets))

kp = load_keypoints(args.keypoints, threshold=0.3)    # -> h36m17, with per-joint confidence
print(f"{args.keypoints}: {kp.summary()}")

if args.run is None:
    args.run = tmp / "run"
    opts = TrainOptions(steps=4, d_model=32, n_heads=2, n_layers=1, d_ff=64, gate_hidden=16,
                        camera_width=64, critic_pose_width=32, critic_kcs_width=64, batch_size=64,
                        n_critic=2, synth_subjects=4, log_every=2, eval_every=2, checkpoint_every=4,
                        val_frames=256)
    train(opts, args.run, np, progress=False)
    print(f"trained a tiny run in {args.run}")

run = load_run(args.run)
poses = run.predict_mm(kp.poses_2d)                     # (N, 17, 3) mm, root-relative
names = get_skeleton(run.skeleton).joint_names
np.set_printoptions(precision=0, suppress=True)
for image_id, X in zip(kp.image_ids, poses):
    print(f"\nimage {image_id}: 3D pose in mm (x right, y down, z forward; pelvis at the origin)")
    for name, (x, y, z) in zip(names, X):
        print(f"  {name:<11} {x:8.0f} {y:8.0f} {z:8.0f}")
shutil.rmtree(tmp)  # the fake keypoints and the tiny run
