"""The data of one training run (SPEC section 7): the archive (or the synthetic data) split into
the 2D inputs, the critic's real 3D poses (never paired with them) and a validation set held out of
the training subjects, all normalised."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gatepose.errors import GateposeError

from .archive import load_archive
from .normalize import normalize_2d, normalize_3d, root_relative


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
    X_train: np.ndarray | None = None  # (N, J, 3) normalised 3D poses paired with W_train (full supervision only)


def load_source(data: str | None, synth_subjects: int = 8, synth_seed: int = 0):
    """The run's dataset: an archive, or the built-in synthetic data regenerated from its seed.

    Returns ``(Dataset, description)``.
    """
    if data is None:
        from .synthetic import generate

        return (generate(n_subjects=synth_subjects, seed=synth_seed),
                f"synthetic(subjects={synth_subjects}, seed={synth_seed})")
    return load_archive(data), str(data)


def _held_out_clips(train, n_val: int, rng, source) -> np.ndarray:
    """(N,) bool: whole clips of ``train`` (all cameras of a take), drawn at random until they hold
    at least ``n_val`` frames (none when ``n_val`` is 0)."""
    if train.clip is None:
        raise GateposeError(f"{source}: has no 'clip' field; --val-split clips needs one "
                            "(archives of gatepose data import-mocap have it)")
    names, inverse, counts = np.unique(train.clip, return_inverse=True, return_counts=True)
    take = np.zeros(len(names), bool)
    total = 0
    for k in rng.permutation(len(names)):
        if total >= n_val:
            break
        take[k], total = True, total + counts[k]
    if take.all():
        raise GateposeError(f"{source}: one clip in the training split; --val-split clips needs several")
    return take[inverse]


def prepare_data(opts) -> TrainData:
    """Load (or generate) the archive, split it and normalise it (SPEC section 7). ``opts``: a
    ``TrainOptions`` (data, real_poses, synth_*, batch_size, seed, val_frames, val_split are read).

    The validation set is ``val_frames`` frames (or, with ``val_split="clips"``, whole clips) of
    the *training* split, held out of both the 2D
    inputs and the critic's real poses: model selection never looks at the test subjects.
    """
    ds, source = load_source(opts.data, opts.synth_subjects, opts.synth_seed)
    if getattr(opts, "supervision", "weak") == "full" and ds.poses_3d is None:
        raise GateposeError(f"{source}: has no 3D poses; --supervision full needs the paired 3D poses")
    if ds.poses_3d is None and opts.real_poses is None:
        raise GateposeError(f"{source}: has no 3D poses; pass --real-poses ARCHIVE for the critic")
    train = ds.subset(ds.split == "train") if ds.split is not None else ds
    if len(train) < opts.batch_size:
        raise GateposeError(f"{source}: {len(train)} training frames, fewer than --batch-size {opts.batch_size}")

    rng = np.random.default_rng(opts.seed + 7919)  # fixed per seed, independent of training draws
    n_val = min(opts.val_frames, len(train) // 10) if train.poses_3d is not None else 0
    if getattr(opts, "val_split", "frames") == "clips":
        val = _held_out_clips(train, n_val, rng, source)
        val_idx, train_idx = np.flatnonzero(val), np.flatnonzero(~val)
    else:
        perm = rng.permutation(len(train))
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    W_train, _ = normalize_2d(train.poses_2d[train_idx])
    W_val, _ = normalize_2d(train.poses_2d[val_idx])
    if train.poses_3d is not None:
        X_tr, scales = normalize_3d(train.poses_3d[train_idx])
        scale_3d = float(np.mean(scales))
        X_val_mm = root_relative(train.poses_3d[val_idx])
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
                     X_real.mean(axis=0).astype(np.float32),
                     None if X_tr is None else X_tr.astype(np.float32))
