"""Figures (needs the optional ``viz`` extra, matplotlib): poses in 3D beside ground truth (the
paper's Fig. 3), per-head attention maps with their gate values (Fig. 4) and training curves.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global
backend switch) and written as PNG. Every function takes host NumPy arrays.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .data.skeleton import get_skeleton
from .errors import GateposeError

MISSING = "matplotlib is not installed: pip install 'gatepose[viz]'"
_COLORS = {"left": "#1f77b4", "right": "#d62728", "centre": "#555555"}


def require() -> None:
    """Raise the one-line GateposeError now if matplotlib is missing (before any slow work)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise GateposeError(MISSING) from None


def _figure(figsize, layout=None):
    """A matplotlib Figure on an Agg canvas; a one-line GateposeError when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise GateposeError(MISSING) from None
    fig = Figure(figsize=figsize, dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out) -> Path:
    out = Path(out)
    if not out.parent.is_dir():
        raise GateposeError(f"{out}: the folder {out.parent} does not exist")
    try:
        fig.savefig(out, format="png")
    except OSError as exc:
        raise GateposeError(f"{out}: cannot be written ({(str(exc).splitlines() or [''])[0]})") from None
    return out


def _side(name: str) -> str:
    return "left" if name.startswith("l_") else "right" if name.startswith("r_") else "centre"


def _display(X):
    """Camera coordinates (x right, y down, z forward) -> plot axes (x, depth, up)."""
    return np.stack([X[..., 0], X[..., 2], -X[..., 1]], axis=-1)


def _draw_skeleton_3d(ax, X, skeleton, title, half):
    sk = get_skeleton(skeleton)
    P = _display(np.asarray(X, dtype=np.float64))
    for c, p in sk.bones:
        side = _side(sk.joint_names[c])
        ax.plot(*P[[p, c]].T, color=_COLORS[side], lw=2.0)
    ax.scatter(*P.T, s=6, color="k", depthshade=False)
    ax.set_xlim(-half, half)
    ax.set_ylim(-half, half)
    ax.set_zlim(-half, half)
    ax.set_box_aspect((1, 1, 1))  # equal aspect: with equal limits, a metre is a metre on every axis
    ax.view_init(elev=15, azim=-70)
    ax.set_xlabel("x (mm)", fontsize=7)
    ax.set_ylabel("depth (mm)", fontsize=7)
    ax.set_zlabel("up (mm)", fontsize=7)
    step = 500.0 if half > 600 else 250.0 if half > 300 else 100.0  # round-number ticks in mm
    k = max(1, math.floor(half / step))
    ticks = [i * step for i in range(-k, k + 1)]
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_zticks(ticks)
    ax.tick_params(labelsize=6, pad=0)
    ax.xaxis.set_major_formatter("{x:.0f}")
    ax.yaxis.set_major_formatter("{x:.0f}")
    ax.zaxis.set_major_formatter("{x:.0f}")
    ax.set_title(title, fontsize=9)


def _draw_skeleton_2d(ax, W, skeleton, title):
    sk = get_skeleton(skeleton)
    W = np.asarray(W, dtype=np.float64)
    for c, p in sk.bones:
        ax.plot(*W[[p, c]].T, color=_COLORS[_side(sk.joint_names[c])], lw=2.0)
    ax.scatter(*W.T, s=6, color="k")
    ax.set_aspect("equal", adjustable="datalim")
    ax.invert_yaxis()  # image rows grow downwards
    ax.tick_params(labelsize=6)
    ax.set_title(title, fontsize=9)


def plot_poses(out, gt_mm, pred_mm, skeleton: str, inputs_2d=None, labels=None, errors=None,
               title: str = "") -> Path:
    """One row per frame: [2D input,] ground truth and prediction in 3D (the paper's Fig. 3).

    gt_mm, pred_mm: (n, J, 3) root-relative mm; inputs_2d: (n, J, 2) pixels or None; labels: n row
    labels (e.g. the action); errors: n MPJPE values shown over the predictions. Both 3D panels of a
    row share one cube, so sizes compare directly. Left limbs blue, right red.
    """
    gt = np.asarray(gt_mm, dtype=np.float64)
    pred = np.asarray(pred_mm, dtype=np.float64)
    n = len(gt)
    if n == 0 or gt.shape != pred.shape or gt.ndim != 3 or gt.shape[-1] != 3:
        raise GateposeError(f"plot_poses: expected ground truth and prediction of one shape (n, J, 3), n >= 1, "
                            f"got {gt.shape} and {pred.shape}")
    cols = 3 if inputs_2d is not None else 2
    fig = _figure((3.2 * cols, 3.0 * n + (0.4 if title else 0.0)))
    for i in range(n):
        both = np.concatenate([gt[i], pred[i]])
        half = 1.05 * max(float(np.abs(both - both.mean(axis=0)).max()), 1.0)
        centre_g, centre_p = gt[i].mean(axis=0), pred[i].mean(axis=0)
        label = f"{labels[i]}: " if labels is not None else ""
        k = i * cols + 1
        if inputs_2d is not None:
            _draw_skeleton_2d(fig.add_subplot(n, cols, k), inputs_2d[i], skeleton, f"{label}2D input")
            k += 1
        ax = fig.add_subplot(n, cols, k, projection="3d")
        _draw_skeleton_3d(ax, gt[i] - centre_g, skeleton, f"{label}ground truth" if inputs_2d is None
                          else "ground truth", half)
        ax = fig.add_subplot(n, cols, k + 1, projection="3d")
        err = f" (MPJPE {errors[i]:.0f} mm)" if errors is not None else ""
        _draw_skeleton_3d(ax, pred[i] - centre_p, skeleton, f"PoseGate-Former{err}", half)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def plot_attention(out, maps: dict, skeleton: str, layer: int = -1, which: str = "S", title: str = "") -> Path:
    """Per-head J x J attention of one pose and one layer (the paper's Fig. 4).

    maps: :func:`gatepose.nn.posegate.attention_maps` of a single pose, on the host ('S', 'A':
    (L, 1, h, J, J); 'G', 'Bb': (L, 1, h) for the gated variant; 'g': (L,) for scalar-gate).
    which: 'S' (softmax scores) or 'A' (attention as applied, after the gate). Rows are the
    queries (the output joint), columns the keys (the joint attended to); each head's title
    carries its gate G and bias Bb.
    """
    if which not in ("S", "A"):
        raise GateposeError(f"plot_attention: which must be 'S' or 'A', got {which!r}")
    M = np.asarray(maps[which], dtype=np.float64)
    L = M.shape[0]
    if not -L <= layer < L:
        raise GateposeError(f"--layer {layer}: the model has {L} layers (0 to {L - 1}, or -1 for the last)")
    layer = layer % L
    M = M[layer, 0]                                   # (h, J, J)
    h, J = M.shape[0], M.shape[-1]
    names = get_skeleton(skeleton).joint_names
    if len(names) != J:
        raise GateposeError(f"plot_attention: {J} joints in the maps, skeleton {skeleton} has {len(names)}")
    cols = min(h, 4)
    rows = math.ceil(h / cols)
    fig = _figure((3.4 * cols + 1.0, 3.5 * rows + 0.5), layout="constrained")
    G = np.asarray(maps["G"])[layer, 0] if "G" in maps else None
    Bb = np.asarray(maps["Bb"])[layer, 0] if "Bb" in maps else None
    g = float(np.asarray(maps["g"])[layer]) if "g" in maps else None
    vmin, vmax = float(M.min()), float(M.max())  # one colour scale for every head of the layer
    im = None
    for k in range(h):
        ax = fig.add_subplot(rows, cols, k + 1)
        im = ax.imshow(M[k], cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        head = f"Head {k + 1}"
        if G is not None:
            head += f"  G={G[k]:.3f}  B={Bb[k]:.3f}"
        elif g is not None:
            head += f"  g={g:.3f}"
        ax.set_title(head, fontsize=8)
        ax.set_xticks(range(J))
        ax.set_yticks(range(J))
        ax.set_xticklabels(names, rotation=90, fontsize=5)
        ax.set_yticklabels(names, fontsize=5)
        if k % cols == 0:
            ax.set_ylabel("query (output joint)", fontsize=7)
        if k >= h - cols:
            ax.set_xlabel("key (attended joint)", fontsize=7)
    fig.colorbar(im, ax=fig.axes, shrink=0.6)
    what = "softmax scores S" if which == "S" else "attention applied A"
    fig.suptitle(title or f"Layer {layer + 1} of {L}: {what}", fontsize=10)
    return _save(fig, out)


CURVE_KEYS = ("loss_rep", "loss_cam", "wasserstein", "penalty", "loss_d", "val_n_mpjpe")
_CURVE_LABELS = {"loss_rep": "reprojection loss", "loss_cam": "camera loss",
                 "wasserstein": "Wasserstein estimate", "penalty": "gradient penalty",
                 "loss_d": "critic loss L_D", "val_n_mpjpe": "validation N-MPJPE (mm)"}


def read_metrics(path) -> list[dict]:
    """The rows of a run's metrics.jsonl (a torn last line, from a crash mid-write, is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise GateposeError(f"{path}: no such file (a run folder has metrics.jsonl once a step is logged)")
    rows = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue
            raise GateposeError(f"{path}: line {i + 1}: not JSON; expected one JSON object per line") from None
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    if not rows:
        raise GateposeError(f"{path}: no logged steps yet")
    return rows


def plot_curves(out, rows: list[dict], keys=CURVE_KEYS, title: str = "") -> Path:
    """One panel per quantity against the step; log y where the values are positive and span decades.
    Where the rows carry ``minutes`` (wall-clock minutes of training), a last panel shows the
    validation N-MPJPE against them: time to accuracy."""
    keys = [k for k in keys if any(k in r for r in rows)]
    if not keys:
        raise GateposeError(f"plot_curves: none of {', '.join(CURVE_KEYS)} is in the metrics")
    panels = [("step", k) for k in keys]
    if any("minutes" in r and "val_n_mpjpe" in r for r in rows):
        panels.append(("minutes", "val_n_mpjpe"))
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig = _figure((4.2 * cols, 3.0 * nrows + 0.4))
    for i, (x, k) in enumerate(panels):
        pts = [(r[x], r[k]) for r in rows if k in r and x in r and r[k] is not None and math.isfinite(r[k])]
        ax = fig.add_subplot(nrows, cols, i + 1)
        if pts:
            s, v = np.array(pts, dtype=np.float64).T
            ax.plot(s, v, lw=1.2, marker="." if len(s) < 40 else None)
            # log only where the values span decades (a loss falling over training); the
            # Wasserstein estimate and L_D change sign and stay linear
            if (v > 0).all() and v.max() >= 20 * v.min():
                ax.set_yscale("log")
        ax.set_title(_CURVE_LABELS.get(k, k) + (" vs wall clock" if x == "minutes" else ""), fontsize=9)
        ax.set_xlabel("wall-clock minutes" if x == "minutes" else "step", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or "Training curves", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)
