"""Pose errors (MPJPE, N-MPJPE, P-MPJPE) and their per-action aggregation (SPEC section 8).

Every error is per sample: the mean over joints of the Euclidean joint error, in millimetres.
The array functions take their namespace from their inputs (NumPy or CuPy), are vectorised over
samples and keep the input dtype (float32 in, float32 out). :func:`aggregate` is the I/O boundary:
it copies the per-sample errors to the host once and reduces them to per-cell means.

- MPJPE (Protocol-I): both poses root-relative; the prediction, which lives in the normalised
  scale of the real poses, is multiplied by the training set's mean 3D scale (never by anything
  measured on the test ground truth). See :func:`evaluate_predictions`.
- N-MPJPE: the prediction is first scaled by the least-squares optimal factor per sample.
- P-MPJPE (Protocol-II): per-sample similarity Procrustes (proper rotation, uniform scale,
  translation), then MPJPE. Reflections are never used (RepNet's own evaluation allowed them; the
  common Human3.6M protocol does not).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .backend import get_xp, to_host
from .data.normalize import root_relative
from .errors import GateposeError

METRICS = ("mpjpe", "n_mpjpe", "p_mpjpe")
METRIC_LABELS = {"mpjpe": "MPJPE", "n_mpjpe": "N-MPJPE", "p_mpjpe": "P-MPJPE"}


def _check_pair(pred, gt, what: str) -> None:
    if pred.ndim != 3 or pred.shape[-1] != 3 or pred.shape != gt.shape:
        raise GateposeError(
            f"{what}: expected prediction and ground truth of one shape (N, J, 3), "
            f"got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )


def mpjpe(pred, gt):
    """Mean per-joint position error. pred, gt: (N, J, 3) in one frame and unit. Returns (N,)."""
    xp = get_xp(pred, gt)
    _check_pair(pred, gt, "mpjpe")
    return xp.sqrt(((pred - gt) ** 2).sum(axis=-1)).mean(axis=-1)


def scale_align(pred, gt):
    """pred, gt: (N, J, 3). pred times the per-sample s minimising ||s * pred - gt||_F.

    s = <pred, gt> / <pred, pred>; an all-zero prediction keeps s = 0. Returns (N, J, 3).
    """
    xp = get_xp(pred, gt)
    _check_pair(pred, gt, "scale_align")
    num = (pred * gt).sum(axis=(1, 2))
    den = (pred * pred).sum(axis=(1, 2))
    ok = den > 0
    s = xp.where(ok, num / xp.where(ok, den, 1.0), 0.0)
    return s[:, None, None] * pred


def n_mpjpe(pred, gt):
    """MPJPE after the least-squares optimal per-sample scale of pred. (N, J, 3) -> (N,)."""
    return mpjpe(scale_align(pred, gt), gt)


def procrustes_align(pred, gt, allow_reflection: bool = False):
    """pred, gt: (N, J, 3). pred mapped by the per-sample similarity transform closest to gt.

    Minimises ||a * (pred - mu_pred) @ R + t - gt||_F over a >= 0, t and R with det(R) = +1 (the
    orthogonal Procrustes problem solved by one batched SVD of the (N, 3, 3) cross-covariance,
    Umeyama 1991). When the unconstrained optimum is a reflection (det < 0), the last singular
    vector and singular value change sign, which gives the best proper rotation instead.
    ``allow_reflection=True`` drops that step; it exists only to show what the fix changes.
    Returns the aligned prediction, (N, J, 3).
    """
    xp = get_xp(pred, gt)
    _check_pair(pred, gt, "procrustes_align")
    mu_x = gt.mean(axis=1, keepdims=True)  # (N, 1, 3)
    mu_y = pred.mean(axis=1, keepdims=True)
    X0 = gt - mu_x  # (N, J, 3)
    Y0 = pred - mu_y
    # Unit-norm inputs keep the SVD well conditioned whatever the units; the scale comes back in a.
    n_x = xp.sqrt((X0**2).sum(axis=(1, 2)))  # (N,)
    n_y = xp.sqrt((Y0**2).sum(axis=(1, 2)))
    n_x_safe = xp.where(n_x > 0, n_x, 1.0)
    n_y_safe = xp.where(n_y > 0, n_y, 1.0)
    Xn = X0 / n_x_safe[:, None, None]
    Yn = Y0 / n_y_safe[:, None, None]

    H = xp.swapaxes(Xn, 1, 2) @ Yn  # (N, 3, 3)
    U, s, Vt = xp.linalg.svd(H)  # U, Vt: (N, 3, 3); s: (N, 3), descending
    V = xp.swapaxes(Vt, 1, 2)
    if not allow_reflection:
        det = xp.linalg.det(V @ xp.swapaxes(U, 1, 2))  # (N,), +-1
        flip = xp.ones_like(s)
        flip[:, -1] = xp.where(det < 0, -1.0, 1.0)
        V = V * flip[:, None, :]  # negate the last singular vector where R would reflect
        s = s * flip
    R = V @ xp.swapaxes(U, 1, 2)  # (N, 3, 3), applied on the right: Y0 @ R ~ X0
    a = s.sum(axis=-1) * n_x / n_y_safe  # (N,); 0 when either pose is a single point
    return a[:, None, None] * (Y0 @ R) + mu_x


def p_mpjpe(pred, gt):
    """MPJPE after per-sample similarity Procrustes without reflection. (N, J, 3) -> (N,)."""
    return mpjpe(procrustes_align(pred, gt), gt)


def evaluate_predictions(pred_norm, gt_mm, scale_3d: float) -> dict:
    """Per-sample errors of normalised predictions against ground truth in millimetres.

    pred_norm: (N, J, 3), the generator's output in the normalised scale of the real 3D poses
    (root-relative, Frobenius norm about 1). gt_mm: (N, J, 3) in mm, any root position.
    scale_3d: the training set's mean 3D pose scale in mm (the mean Frobenius norm of the centred
    root-relative J x 3 poses, stored in the run's config); it maps predictions back to mm, so no
    test ground truth is used for scale under Protocol-I.
    Returns {'mpjpe', 'n_mpjpe', 'p_mpjpe'}: each (N,) on the inputs' device.
    """
    xp = get_xp(pred_norm, gt_mm)
    pred_norm = xp.asarray(pred_norm)
    gt_mm = xp.asarray(gt_mm)
    _check_pair(pred_norm, gt_mm, "evaluate_predictions")
    scale = float(scale_3d)
    if not np.isfinite(scale) or scale <= 0:
        raise GateposeError(f"evaluate_predictions: scale_3d must be a positive finite number of mm, got {scale_3d!r}")
    pred = root_relative(pred_norm) * scale  # Python float keeps float32 float32
    gt = root_relative(gt_mm)
    return {"mpjpe": mpjpe(pred, gt), "n_mpjpe": n_mpjpe(pred, gt), "p_mpjpe": p_mpjpe(pred, gt)}


# ---------------------------------------------------------------------------------------------
# Aggregation into cells (actions, or subject x action)

_FIELDS = ("subject", "action")


@dataclass(frozen=True, eq=False)
class Result:
    """Per-cell mean errors of one evaluation.

    by:        the grouping, ('action',) or ('subject', 'action').
    metrics:   metric names, in the order given (e.g. 'mpjpe', 'n_mpjpe', 'p_mpjpe').
    keys:      (C,) cell keys, each a tuple of labels in the order of ``by``; sorted.
    means:     metric -> (C,) float64 per-cell mean over that cell's frames, aligned with keys.
    counts:    (C,) int64 frames per cell.
    avg:       metric -> the unweighted mean over cells ('Avg.' of the paper's tables).
    all_frames: metric -> the mean over all frames (cells weighted by their frame counts).
    """

    by: tuple
    metrics: tuple
    keys: tuple
    means: Mapping[str, np.ndarray]
    counts: np.ndarray
    avg: Mapping[str, float] = field(default_factory=dict)
    all_frames: Mapping[str, float] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.counts.sum())

    def labels(self, field_name: str) -> list[str]:
        """The distinct labels of one grouping field ('action' or 'subject'), sorted."""
        i = self.by.index(field_name)
        return sorted({k[i] for k in self.keys})

    def cell(self, key) -> dict | None:
        """{'count': n, metric: mean, ...} of one cell (key: tuple, or a str for by=('action',))."""
        key = (key,) if isinstance(key, str) else tuple(key)
        try:
            c = self.keys.index(key)
        except ValueError:
            return None
        out = {"count": int(self.counts[c])}
        out.update({m: float(self.means[m][c]) for m in self.metrics})
        return out

    def regroup(self, by: Sequence[str] | None = None,
                action: Callable[[str], str] | None = None,
                subject: Callable[[str], str] | None = None) -> "Result":
        """Merge cells: keep only the fields in ``by`` and/or relabel actions or subjects.

        Merged cells are frame-weighted (their mean is the mean over all their frames), exactly as
        if the per-sample errors had been aggregated under the new labels; Avg. is recomputed over
        the new cells.
        """
        by = tuple(self.by if by is None else by)
        for f in by:
            if f not in self.by:
                raise GateposeError(f"Result.regroup: cannot group by {f!r}; this result has {self.by}")
        maps = {"action": action, "subject": subject}
        new_keys = []
        for k in self.keys:
            labels = dict(zip(self.by, k))
            new_keys.append(tuple(maps[f](labels[f]) if maps[f] else labels[f] for f in by))
        uniq = sorted(set(new_keys))
        index = {k: i for i, k in enumerate(uniq)}
        inv = np.array([index[k] for k in new_keys], dtype=np.int64)
        counts = np.bincount(inv, weights=self.counts, minlength=len(uniq))
        sums = {m: np.bincount(inv, weights=self.means[m] * self.counts, minlength=len(uniq))
                for m in self.metrics}
        return _build(by, self.metrics, tuple(uniq), sums, counts.astype(np.int64))

    def to_dict(self) -> dict:
        """A JSON-ready dict: one entry per cell plus 'Avg.' and 'All frames'."""
        cells = []
        for c, k in enumerate(self.keys):
            d = dict(zip(self.by, k))
            d["count"] = int(self.counts[c])
            d.update({m: _finite_or_none(self.means[m][c]) for m in self.metrics})
            cells.append(d)
        return {
            "by": list(self.by),
            "metrics": list(self.metrics),
            "cells": cells,
            "Avg.": {m: _finite_or_none(self.avg[m]) for m in self.metrics},
            "All frames": {m: _finite_or_none(self.all_frames[m]) for m in self.metrics},
            "n_frames": self.n_frames,
            "notes": {
                "Avg.": f"unweighted mean over the {len(self.keys)} cells (the paper's tables)",
                "All frames": f"mean over all {self.n_frames} frames",
            },
        }


def _finite_or_none(v):
    v = float(v)
    return v if np.isfinite(v) else None


def _build(by, metrics, keys, sums, counts) -> Result:
    means = {m: sums[m] / np.maximum(counts, 1) for m in metrics}
    total = max(int(counts.sum()), 1)
    avg = {m: float(means[m].mean()) if len(keys) else float("nan") for m in metrics}
    all_frames = {m: float(sums[m].sum() / total) if len(keys) else float("nan") for m in metrics}
    return Result(by=tuple(by), metrics=tuple(metrics), keys=tuple(keys), means=means,
                  counts=counts, avg=avg, all_frames=all_frames)


def aggregate(per_sample: Mapping[str, object], actions, subjects=None,
              by: Sequence[str] = ("action",)) -> Result:
    """Reduce per-sample errors to per-cell means.

    per_sample: metric -> (N,) errors (NumPy or CuPy; copied to the host once).
    actions: (N,) str labels; subjects: (N,) str labels or None (needed when grouping by subject).
    by: ('action',) or ('subject', 'action').
    """
    by = tuple(by)
    if not by or any(f not in _FIELDS for f in by) or len(set(by)) != len(by):
        raise GateposeError(f"aggregate: by must be ('action',) or ('subject', 'action'), got {by}")
    if not per_sample:
        raise GateposeError("aggregate: no metrics given")
    labels = {"action": actions, "subject": subjects}
    if "subject" in by and subjects is None:
        raise GateposeError("aggregate: grouping by subject needs the subjects array")
    host = {m: np.asarray(to_host(v), dtype=np.float64).reshape(-1) for m, v in per_sample.items()}
    n = len(next(iter(host.values())))
    cols = []
    for f in by:
        lab = np.asarray(to_host(labels[f])).astype(str).reshape(-1)
        if len(lab) != n:
            raise GateposeError(f"aggregate: {f} labels have length {len(lab)}, expected {n} (one per sample)")
        cols.append(lab)
    for m, v in host.items():
        if len(v) != n:
            raise GateposeError(f"aggregate: metric {m!r} has {len(v)} samples, expected {n}")
    if n == 0:
        return _build(by, tuple(host), (), {m: np.zeros(0) for m in host}, np.zeros(0, np.int64))
    # One cell id per sample: unique over the stacked label columns (sorted, vectorised).
    stacked = np.stack(cols, axis=1)  # (N, len(by))
    uniq, inv = np.unique(stacked, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    counts = np.bincount(inv, minlength=len(uniq)).astype(np.int64)
    sums = {m: np.bincount(inv, weights=v, minlength=len(uniq)) for m, v in host.items()}
    keys = tuple(tuple(str(x) for x in row) for row in uniq)
    return _build(by, tuple(host), keys, sums, counts)
