"""Evaluating a run on an archive's test frames, next to two trivial baselines (SPEC section 8).

The baselines put the numbers in context, computed on exactly the same frames:

* ``mean pose``: the mean normalised real pose of the training set, the same for every frame;
* ``zero depth``: the input 2D pose itself, normalised, lifted with z = 0.

Both are scaled to millimetres with the training set's mean 3D scale, like the model.
"""
from __future__ import annotations

import numpy as np

from .data.archive import Dataset
from .data.normalize import normalize_2d, root_relative
from .errors import GateposeError
from .metrics import aggregate, evaluate_predictions, mpjpe
from .data.prepare import load_source
from .runs import Run


def test_frames(run: Run, data: str | None):
    """The frames to evaluate: ``data``'s test split (all of it if it has no split), or, with no
    ``data``, the test split of the run's own source (regenerated synthetic data included)."""
    if data is None:
        opts = run.config["options"]
        ds, source = load_source(opts.get("data"), opts.get("synth_subjects", 8), opts.get("synth_seed", 0))
    else:
        ds, source = load_source(data)
    if ds.skeleton != run.skeleton:
        raise GateposeError(f"{source}: skeleton {ds.skeleton!r}, but the run was trained on {run.skeleton!r}")
    if ds.poses_3d is None:
        raise GateposeError(f"{source}: field 'poses_3d' is missing; evaluation needs 3D ground truth")
    if ds.split is not None and (ds.split == "test").any():
        return ds.subset(ds.split == "test"), "test", source
    return ds, "all", source


def evaluate_run(run: Run, ds: Dataset, by=("action",), batch: int = 1024,
                 max_frames: int | None = None, seed: int = 0) -> dict:
    """Per-sample errors of the run and the baselines on ``ds``; returns name -> Result."""
    if max_frames is not None and len(ds) > max_frames:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_frames, replace=False))
        ds = ds.subset(idx)
    W, _ = normalize_2d(ds.poses_2d)
    pred = run.predict(W, batch)
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
