"""Evaluating a run on an archive's test frames, next to two trivial baselines (SPEC section 8).

The baselines put the numbers in context, computed on exactly the same frames:

* ``mean pose``: the mean normalised real pose of the training set, the same for every frame;
* ``zero depth``: the input 2D pose itself, normalised, lifted with z = 0.

Both are scaled to millimetres with the training set's mean 3D scale, like the model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.archive import Dataset
from .data.normalize import normalize_2d, root_relative
from .errors import GateposeError
from .metrics import aggregate, evaluate_predictions, mpjpe
from .data.prepare import load_source
from .runs import Run


def test_frames(run: Run, data: str | None, split: str = "test"):
    """The frames to evaluate: ``data``'s ``split`` ("test"; "test-seen": held-out takes of the
    training subjects; "train": the training split, validation takes included), or all of ``data`` if it has no test split;
    with no ``data``, the split of the run's own source (regenerated synthetic data included)."""
    if data is None:
        opts = run.config["options"]
        if opts.get("data") is not None and not Path(opts["data"]).is_file():
            raise GateposeError(f"{opts['data']}: the run's archive is not there (moved, or the run came from "
                                "another machine?); give it with --data")
        ds, source = load_source(opts.get("data"), opts.get("synth_subjects", 8), opts.get("synth_seed", 0))
    else:
        ds, source = load_source(data)
    if ds.skeleton != run.skeleton:
        raise GateposeError(f"{source}: skeleton {ds.skeleton!r}, but the run was trained on {run.skeleton!r}")
    if ds.poses_3d is None:
        raise GateposeError(f"{source}: field 'poses_3d' is missing; evaluation needs 3D ground truth")
    if split != "test" and (ds.split is None or not (ds.split == split).any()):
        how = ("gatepose data import-mocap --test-seen-every K holds out whole takes of the training "
               "subjects as one" if split == "test-seen" else "the archive does not say which frames are "
               "for training: import it with --test-subjects or --test-seen-every")
        raise GateposeError(f"{source}: has no {split!r} split ({how})")
    if ds.split is not None and (ds.split == split).any():
        return ds.subset(ds.split == split), split, source
    return ds, "all", source


def check_corruption(run: Run, noise_2d: float = 0.0, drop_joints: int = 0) -> None:
    """The corruption options of ``eval`` against the run: a GateposeError naming the bad one."""
    J = run.gcfg.n_joints
    if not (noise_2d >= 0 and np.isfinite(noise_2d)):
        raise GateposeError(f"--noise-2d: must be a non-negative number of pixels, got {noise_2d}")
    if not 0 <= drop_joints <= J - 2:
        raise GateposeError(f"--drop-joints: the run's skeleton {run.skeleton} has {J} joints; "
                            f"expected 0 to {J - 2} (a pose keeps at least 2), got {drop_joints}")


def evaluate_run(run: Run, ds: Dataset, by=("action",), batch: int = 1024,
                 max_frames: int | None = None, seed: int = 0, noise_2d: float = 0.0,
                 drop_joints: int = 0, detector_noise: bool = False, noise_seed: int = 0,
                 info: dict | None = None) -> dict:
    """Per-sample errors of the run and the baselines on ``ds``; returns name -> Result. ``info``,
    if given, gets 'refined_frames': how many poses the run lifted twice (``Run.refine_above``).

    ``noise_2d`` (pixels), ``drop_joints``, ``detector_noise``: the test inputs corrupted first
    (``data.corrupt.corrupt_poses``, drawn from ``noise_seed``), as a detector would give them;
    the ground truth is untouched. Missing joints are inferred by the run
    (``Run.normalise_inputs``); the zero-depth baseline lifts the inputs with missing joints filled
    by the fallback (``Run.fill_missing``)."""
    from .data.corrupt import corrupt_poses

    check_corruption(run, noise_2d, drop_joints)
    if max_frames is not None and len(ds) > max_frames:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_frames, replace=False))
        ds = ds.subset(idx)
    poses_2d = ds.poses_2d
    if noise_2d or drop_joints or detector_noise:
        poses_2d = corrupt_poses(poses_2d, ds.skeleton, np.random.default_rng(noise_seed), noise_2d,
                                 drop_joints, detector_noise)
        W_model = run.normalise_inputs(poses_2d)
        W, _ = normalize_2d(run.fill_missing(poses_2d))
    else:
        W, _ = normalize_2d(poses_2d)
        W_model = W
    pred, again = run.predict_refined(W_model, batch)
    if info is not None:
        info["refined_frames"] = int(again.sum())
    scale = run.scale_3d
    gt = ds.poses_3d.astype(np.float64)
    subjects = ds.subject if "subject" in by else None
    out = {}
    mean_pose = np.asarray(run.config["normalisation"]["mean_pose_3d"], dtype=np.float64)
    candidates = {
        "model": pred.astype(np.float64),
        "mean pose": np.broadcast_to(mean_pose, gt.shape),
        "zero depth": np.concatenate([W.astype(np.float64), np.zeros(W.shape[:-1] + (1,))], axis=-1),
    }
    for name, P in candidates.items():
        per = evaluate_predictions(np.ascontiguousarray(P), gt, scale)
        out[name] = aggregate(per, ds.action, subjects, by=by)
    return out


def example_frames(run: Run, ds: Dataset, n: int, seed: int = 0):
    """``n`` frames of ``ds`` to draw beside their ground truth (the paper's Fig. 3): actions spread
    over the sorted list (repeating when there are fewer than ``n``), one frame of each drawn by
    ``seed``.

    Returns (rows (n,), their actions, predictions (n, J, 3) mm root-relative, ground truth
    (n, J, 3) mm root-relative, MPJPE per frame (n,) mm).
    """
    rng = np.random.default_rng(seed)
    actions = sorted(set(ds.action.tolist()))
    chosen = [actions[i % len(actions)] for i in np.linspace(0, len(actions), n, endpoint=False).astype(int)]
    idx = np.array([rng.choice(np.flatnonzero(ds.action == a)) for a in chosen])
    pred = run.predict_mm(ds.poses_2d[idx])
    gt = root_relative(ds.poses_3d[idx])
    err = mpjpe(pred.astype(np.float64), gt.astype(np.float64))
    return idx, chosen, pred, gt, err
