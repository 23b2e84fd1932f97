"""Pose files: the 2D poses a user lifts, read; the 3D poses, written (the files of ``gatepose predict``;
the lifting itself is ``runs.Run.predict_mm``).

Inputs (:func:`read_poses_2d`):

* a ``.npy`` of (N, J, 2): 2D poses in the run's skeleton layout, in pixels or any unit (the
  normalisation of SPEC section 7 makes them scale- and translation-free);
* COCO-17 detector keypoints: a COCO results ``.json``, or a ``.npy`` of (N, 17, 3) (x, y,
  confidence), converted to ``h36m17`` by :mod:`gatepose.data.coco` (only for h36m17 runs).

Missing joints (docs/detector-inputs.md): a joint of a ``.npy`` (N, J, 2) that is NaN in both
coordinates, and a COCO joint below the confidence threshold, is missing: NaN in the poses given to
``Run.predict_mm``, which infers it (the run's missing token, or the mean-pose fallback for a run
without one). A pose with fewer than half its skeleton's joints present is refused (one line
naming the file and the pose or detection); the JSON output lists each pose's inferred joints.

Output (:func:`write_poses_3d`, from ``Run.predict_mm``): (N, J, 3) float32 millimetres, root-relative (pelvis at the origin), in the
camera frame of the input: the normalised prediction times the run's mean 3D training scale
(SPEC section 8, the same mapping as Protocol-I evaluation).

Every problem with a file raises a one-line :class:`DataError` naming the file and what was expected.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.archive import MIN_SPREAD, NPY_MAGIC, read_magic
from .data.skeleton import get_skeleton
from .files import atomic_open
from .errors import DataError


@dataclass(frozen=True)
class Poses2D:
    """2D poses ready for lifting, with what is known about where they came from."""

    poses: np.ndarray                 # (N, J, 2) float32, in the run's skeleton layout
    source: str                       # 'poses' (run layout) or 'coco'
    image_ids: np.ndarray | None = None     # (N,) for COCO input
    confidence: np.ndarray | None = None    # (N, J) for COCO input
    note: str = ""                    # a line for the user (e.g. low-confidence joints), or ''
    threshold: float = 0.3            # confidence below which a COCO joint is missing

    @property
    def missing(self) -> np.ndarray:
        """(N, J) bool: the joints that are missing (NaN), which the lifter infers."""
        return np.isnan(self.poses).any(axis=-1)


def _one_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0] or type(exc).__name__


def _load_npy(path: Path) -> np.ndarray:
    """np.load without pickles; every failure becomes a one-line DataError."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; expected a .npy array of 2D poses")
    if not read_magic(path, str(path)).startswith(NPY_MAGIC):
        raise DataError(f"{path}: not a .npy file (no NumPy header); expected an array saved with numpy.save")
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(f"{path}: holds pickled Python objects, which gatepose never loads (they can run "
                            "code); expected a plain numeric .npy array") from None
        raise DataError(f"{path}: not a readable .npy array ({_one_line(exc)})") from None
    except Exception as exc:  # EOFError, OSError, UnpicklingError...: all mean "not a .npy"
        raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__}: {_one_line(exc)})") from None
    if not isinstance(a, np.ndarray):  # an .npz archive opened by np.load
        a.close()
        raise DataError(f"{path}: is an .npz archive; expected a single .npy array of 2D poses")
    return a


def read_poses_2d(path, skeleton: str, threshold: float = 0.3) -> Poses2D:
    """Read 2D poses for a run whose skeleton is ``skeleton``; see the module docstring."""
    path = Path(path)
    sk = get_skeleton(skeleton)
    J = sk.n_joints
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".json"):
        raise DataError(f"{path}: unknown input type {suffix or '(no suffix)'!r}; expected .npy (N, {J}, 2) "
                        "poses or COCO keypoints (.json results, or .npy (N, 17, 3))")
    if suffix == ".npy":
        a = _load_npy(path)
        if a.ndim == 3 and a.shape[1:] == (17, 3):
            return _coco(path, skeleton, threshold)
        expected = f"an array of shape (N, {J}, 2) in {skeleton} joint order"
        if skeleton == "h36m17":
            expected += " or COCO keypoints (N, 17, 3)"
        if a.dtype.kind not in "fiu":
            raise DataError(f"{path}: expected {expected} of numbers, got dtype {a.dtype}")
        if a.ndim != 3 or a.shape[1] != J or a.shape[2] != 2:
            raise DataError(f"{path}: expected {expected}, got shape {a.shape}")
        if len(a) == 0:
            raise DataError(f"{path}: expected at least one pose, got shape {a.shape}")
        a = a.astype(np.float64)
        missing = np.isnan(a).all(axis=-1)          # a missing joint: NaN in both coordinates
        bad = ~np.isfinite(a).all(axis=-1) & ~missing
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(f"{path}: expected finite coordinates (a missing joint is NaN in both), got NaN or "
                            f"inf at pose {i}, joint {sk.joint_names[j]} ({int(bad.sum())} such joint(s) in all)")
        _check_present(path, ~missing, "pose")
        _check_magnitude(path, a, sk.joint_names, "pose")
        _check_extent(path, a)
        note = f"{path}: {int(missing.sum())} missing (NaN) joint(s) in {int(missing.any(axis=1).sum())} of {len(a)} poses" if missing.any() else ""
        return Poses2D(a.astype(np.float32), "poses", note=note)
    return _coco(path, skeleton, threshold)


# Any unit is taken (each pose is normalised by its own scale), but no image is this many pixels
# wide: larger finite values are garbage, and would overflow float32 in the normalisation.
MAX_COORD = 1e8


def _check_magnitude(path: Path, poses: np.ndarray, joint_names, what: str) -> None:
    """Refuse coordinates beyond MAX_COORD (poses (N, J, 2) float64, NaN for missing joints)."""
    far = np.argwhere(np.abs(np.nan_to_num(poses)) > MAX_COORD)
    if far.size:
        i, j = int(far[0][0]), int(far[0][1])
        raise DataError(f"{path}: {what} {i}, joint {joint_names[j]}: a coordinate of "
                        f"{float(np.abs(poses[i, j]).max()):.3g}, beyond {MAX_COORD:g} ({len(np.unique(far[:, 0]))} "
                        f"such {what}(s)); expected image coordinates")


def _check_extent(path: Path, poses: np.ndarray) -> None:
    """Refuse poses whose joints all sit at one point (all zeros, say): they have no shape to lift,
    and would normalise to a pose of zeros that the model lifts to an arbitrary answer."""
    flat = ((np.nanmax(poses, axis=1) - np.nanmin(poses, axis=1)).max(axis=1) < MIN_SPREAD).nonzero()[0]
    if flat.size:
        raise DataError(f"{path}: pose {int(flat[0])} has all its joints at one point ({flat.size} such pose(s)); "
                        "remove poses without a detected person")


def _check_present(path: Path, present: np.ndarray, what: str) -> None:
    """Refuse a pose with fewer than half its joints present (present: (N, J) bool): too little of
    the body is seen to infer the rest."""
    J = present.shape[1]
    n = present.sum(axis=1)
    few = (2 * n < J).nonzero()[0]
    if few.size:
        i = int(few[0])
        raise DataError(f"{path}: {what} {i} has {int(n[i])} of {J} joints present, fewer than half "
                        f"({few.size} such {what}(s)); too little to infer the rest: remove them"
                        + (" or lower --confidence-threshold" if what == "detection" else ""))


def _coco(path: Path, skeleton: str, threshold: float) -> Poses2D:
    from .data.coco import load_keypoints

    if skeleton != "h36m17":
        raise DataError(f"{path}: COCO keypoints map to the h36m17 skeleton, but the run was trained on "
                        f"{skeleton!r}; give (N, {get_skeleton(skeleton).n_joints}, 2) poses in its layout")
    kp = load_keypoints(path, threshold=threshold)
    missing = (kp.confidence <= 0).all(axis=1).nonzero()[0]
    if missing.size:
        raise DataError(f"{path}: detection {int(missing[0])} has no detected joint (every keypoint missing or "
                        f"of confidence 0; {missing.size} such detection(s)); remove them before lifting")
    present = kp.confidence >= kp.threshold
    _check_present(path, present, "detection")
    poses = np.where(present[..., None], kp.poses_2d, np.nan).astype(np.float32)
    _check_magnitude(path, poses, get_skeleton("h36m17").joint_names, "detection")
    _check_extent(path, poses)
    note = ""
    if kp.low_confidence:
        note = f"{path}: {kp.summary()}; marked missing, each inferred by the lifter"
    return Poses2D(poses, "coco", image_ids=kp.image_ids, confidence=kp.confidence, note=note,
                   threshold=kp.threshold)


def output_format(path, fmt: str = "auto") -> str:
    """'npy', 'json' or 'bvh' for an output path (``fmt`` 'auto': by suffix); checks the folder exists."""
    path = Path(path)
    if fmt == "auto":
        fmt = {".npy": "npy", ".json": "json", ".bvh": "bvh"}.get(path.suffix.lower())
        if fmt is None:
            raise DataError(f"{path}: cannot tell the output format from the suffix "
                            f"{path.suffix or '(none)'!r}; expected .npy, .json or .bvh, or pass --format")
    if fmt not in ("npy", "json", "bvh"):
        raise DataError(f"{path}: unknown output format {fmt!r}; expected npy, json or bvh")
    if not path.parent.is_dir():
        raise DataError(f"{path}: the folder {path.parent} does not exist")
    return fmt


def write_poses_3d(path, poses_mm: np.ndarray, skeleton: str, fmt: str = "auto",
                   inp: Poses2D | None = None, units: str = "mm", fps: float = 30.0) -> str:
    """Write (N, J, 3) mm poses as .npy, JSON or BVH (``fmt`` 'auto' picks by suffix). Returns the format.

    BVH (h36m17 only; the N poses as one sequence at ``fps``, lengths in ``units``): see
    :mod:`gatepose.data.mocap.export`.
    """
    path = Path(path)
    fmt = output_format(path, fmt)
    if fmt == "bvh":
        from .data.mocap.export import check_bvh_skeleton, write_poses_bvh

        check_bvh_skeleton(skeleton, str(path))
        write_poses_bvh(path, poses_mm, units=units, fps=fps)
        return fmt
    try:
        # Through a file object (np.save would append '.npy' to a path), written atomically.
        with atomic_open(path, "wb" if fmt == "npy" else "w") as f:
            if fmt == "npy":
                np.save(f, poses_mm.astype(np.float32), allow_pickle=False)
            else:
                json.dump(poses_json(poses_mm, skeleton, inp), f)
                f.write("\n")
    except OSError as exc:
        raise DataError(f"{path}: cannot be written ({_one_line(exc)})") from None
    return fmt


def poses_json(poses_mm: np.ndarray, skeleton: str, inp: Poses2D | None = None) -> dict:
    """The JSON form of (N, J, 3) mm poses, with joint names (and image ids for COCO input)."""
    names = list(get_skeleton(skeleton).joint_names)
    out = {
        "skeleton": skeleton,
        "joints": names,
        "units": "mm",
        "frame": "camera axes of the input (x right, y down, z forward), root-relative (pelvis at 0)",
        "poses": np.round(poses_mm.astype(np.float64), 2).tolist(),
    }
    if inp is not None and inp.image_ids is not None:
        out["image_ids"] = [x.item() if hasattr(x, "item") else x for x in inp.image_ids]
    if inp is not None and inp.confidence is not None:
        out["confidence"] = np.round(inp.confidence.astype(np.float64), 3).tolist()
        out["confidence_threshold"] = inp.threshold
        # [pose index, joint name] of every joint below the threshold: missing, inferred (below)
        out["low_confidence"] = [[int(i), names[j]] for i, j in np.argwhere(inp.confidence < inp.threshold)]
    if inp is not None:
        # per pose, the joints that were missing in the input and inferred by the lifter
        out["inferred"] = [[names[j] for j in np.flatnonzero(row)] for row in inp.missing]
    return out
