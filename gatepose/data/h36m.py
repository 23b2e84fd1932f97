"""Import Human3.6M from the files of the common preprocessing into gatepose's archive.

``data_3d_h36m.npz``: ``positions_3d``, a pickled dict subject -> action -> (N, 32, 3) float32,
world frame, metres. ``data_2d_h36m_gt.npz``: ``positions_2d``, subject -> action -> a list of 4
arrays (N, 17, 2) in pixels, one per camera in the order of ``cameras/h36m_cameras.json``
(54138969, 55011271, 58860488, 60457274), and ``metadata``.

The 3D poses go to each camera's frame with Human3.6M's published extrinsics (camera-to-world
quaternion w, x, y, z and camera centre t in mm): X_cam = R(q)^T (X_world - t), in mm. Of the 32
joints the 17 of ``h36m17`` are kept. Actions are stored by family (``Walking 1`` and
``Walking`` are both ``Walking``; S1's ``TakingPhoto`` and ``WalkingDog`` become ``Photo`` and
``WalkDog``), each recording a sequence of its own with frames numbered from 0.
Split: train S1, S5, S6, S7, S8; test S9, S11.

Both files hold pickled Python objects; see :func:`load_pickled_dict`.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gatepose.errors import DataError

from .archive import ZIP_MAGIC, Dataset, concatenate, make_dataset, read_magic, warn

H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
           "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether")
_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
_CAMERA_DIR = Path(__file__).resolve().parent / "cameras"


@lru_cache(maxsize=None)
def load_cameras(name: str) -> dict:
    """The camera file ``cameras/<name>_cameras.json`` shipped with gatepose."""
    with open(_CAMERA_DIR / f"{name}_cameras.json") as f:
        return json.load(f)


def camera_extrinsics(name: str, subject: str) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) for ``subject``'s cameras: R (C, 3, 3) camera-to-world, t (C, 3) camera centres in mm."""
    ext = load_cameras(name)["extrinsics"]
    have = [s for s, cams in ext.items() if all("orientation" in c for c in cams)]
    if subject not in have:
        raise DataError(f"no published {name} camera parameters for subject {subject!r} "
                        f"(have {', '.join(have)})")
    q = np.array([c["orientation"] for c in ext[subject]], dtype=np.float64)
    t = np.array([c["translation"] for c in ext[subject]], dtype=np.float64)
    return Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix(), t   # json is (w, x, y, z)


def world_to_camera(X_world_mm: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """X_cam = R^T (X - t) for poses (N, J, 3) and one camera (R (3, 3) camera-to-world, t (3,))."""
    return (X_world_mm - t) @ R  # row vectors: (R^T v)^T = v^T R


PICKLE_WARNING = ("holds pickled Python objects (the common preprocessing's format), and loading a pickle "
                  "can run arbitrary code; pass --trust-pickle (trust_pickle=True) only for a file from "
                  "a source you trust")


def load_pickled_dict(path, key: str, trust_pickle: bool) -> dict:
    """``np.load(path, allow_pickle=trust_pickle)[key]`` as a dict. Without ``trust_pickle`` nothing
    is unpickled: the file's fields are still named if ``key`` is not among them, and only a field
    that really holds pickled objects is refused as one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if not read_magic(path, str(path)).startswith(ZIP_MAGIC):
        raise DataError(f"{path}: cannot be read as an .npz file (not a zip archive; expected the common "
                        "preprocessing's .npz)")
    try:
        with np.load(path, allow_pickle=trust_pickle) as npz:
            if key not in npz.files:
                raise DataError(f"{path}: field '{key}': missing (found {', '.join(npz.files) or 'nothing'}; "
                                "expected the common preprocessing's .npz)")
            obj = npz[key]
            obj = obj.item() if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == () else obj
    except DataError:
        raise
    except ValueError as exc:
        if not trust_pickle and "allow_pickle" in str(exc):
            raise DataError(f"{path}: refusing to load: this file {PICKLE_WARNING}") from None
        raise DataError(f"{path}: cannot be read as an .npz file: {str(exc).splitlines()[0]}") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as an .npz file: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: field '{key}': expected a pickled dict subject -> action -> arrays, "
                        f"got {'a plain array' if isinstance(obj, np.ndarray) else type(obj).__name__}")
    return obj


def as_poses(a, path, field: str, n_joints: int, dims: int) -> np.ndarray:
    """A finite-or-not float array (N, n_joints, dims), else a DataError naming the field."""
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: field {field}: expected a numeric array (N, {n_joints}, {dims})") from None
    if a.ndim != 3 or a.shape[1:] != (n_joints, dims):
        raise DataError(f"{path}: field {field}: expected an array of shape (N, {n_joints}, {dims}), "
                        f"got {a.shape}")
    return a


def action_family(name: str) -> str:
    """'Walking 1' -> 'Walking', 'TakingPhoto' -> 'Photo'."""
    base = re.sub(r"[\s_-]*\d+$", "", str(name)).strip()
    return _ALIASES.get(base, base)


def import_h36m(path_3d, path_2d, trust_pickle: bool = False, subjects=None) -> Dataset:
    """Human3.6M in the common preprocessing's files -> :class:`Dataset` (h36m17, camera mm, pixels).

    Where the 2D file holds fewer or more frames than the 3D file for a sequence, the common prefix
    is kept with a :class:`~gatepose.data.archive.DataWarning`; sequences missing from one file
    are skipped with a warning.
    """
    p3, p2 = Path(path_3d), Path(path_2d)
    pos3 = load_pickled_dict(p3, "positions_3d", trust_pickle)
    pos2 = load_pickled_dict(p2, "positions_2d", trust_pickle)
    cams = load_cameras("h36m")
    sizes = [(c["res_w"], c["res_h"]) for c in cams["intrinsics"]]
    wanted = list(pos3) if subjects is None else list(subjects)
    parts = []
    for subject in sorted(wanted, key=_subject_order):
        if subject not in pos3:
            raise DataError(f"{p3}: field 'positions_3d': no subject {subject!r} (have {', '.join(map(str, pos3))})")
        if not isinstance(pos3[subject], dict):
            raise DataError(f"{p3}: field positions_3d[{subject!r}]: expected a dict action -> array")
        if subject not in pos2:
            warn(f"{p2}: no 2D poses for subject {subject}; skipped")
            continue
        R, t = camera_extrinsics("h36m", subject)
        split = "test" if subject in TEST_SUBJECTS else "train"
        for action in sorted(pos3[subject]):
            X = as_poses(pos3[subject][action], p3, f"positions_3d[{subject!r}][{action!r}]", 32, 3)
            views = pos2[subject].get(action) if isinstance(pos2[subject], dict) else None
            X = X[:, H36M_32_TO_17] * 1000.0
            for c, Xc, W in camera_views(p2, subject, action, views, X, len(R), 17):
                parts.append(_sequence(p3, Xc, W, R[c], t[c], sizes[c], subject,
                                       action_family(action), c, split))
    if not parts:
        raise DataError(f"{p3}: no sequence with both 3D and 2D poses found")
    return concatenate(parts)


def camera_views(p2, key, action, views, X, n_cameras: int, n_joints: int):
    """Yield (camera, X, W) for each camera's 2D view of one recording: ``views`` is the 2D file's
    list of (N, J, 2) arrays (or None: warned and skipped); 3D and 2D are trimmed to a common length."""
    if views is None:
        warn(f"{p2}: no 2D poses for {key} {action}; skipped")
        return
    if not isinstance(views, (list, tuple)) or len(views) != n_cameras:
        raise DataError(f"{p2}: field positions_2d[{key!r}][{action!r}]: expected a list of "
                        f"{n_cameras} arrays (one per camera)")
    for c, W in enumerate(views):
        W = as_poses(W, p2, f"positions_2d[{key!r}][{action!r}][{c}]", n_joints, 2)
        n = min(len(X), len(W))
        if len(X) != len(W):
            warn(f"{key} {action} camera {c}: {len(X)} 3D frames but {len(W)} 2D frames; kept the first {n}")
        yield c, X[:n], W[:n]


def _sequence(path, X_world, W, R, t, size, subject, action, camera, split, skeleton="h36m17") -> Dataset:
    """One camera's view of one recording, non-finite frames dropped (frame numbers keep the gaps)."""
    X = world_to_camera(X_world, R, t)
    ok = np.isfinite(X).all(axis=(1, 2)) & np.isfinite(W).all(axis=(1, 2))
    if not ok.all():
        warn(f"{subject} {action} camera {camera}: dropped {int((~ok).sum())} frames with NaN or inf")
    frame = np.flatnonzero(ok)
    if len(frame) == 0:
        raise DataError(f"{path}: {subject} {action} camera {camera}: no finite frame")
    n = len(frame)
    return make_dataset(poses_2d=W[ok], poses_3d=X[ok], image_size=size, subject=[subject] * n,
                        action=[action] * n, camera=np.full(n, camera), frame=frame, skeleton=skeleton,
                        split=[split] * n, where=str(path))


def _subject_order(s) -> tuple:
    m = re.search(r"(\d+)$", str(s))
    return (str(s)[: m.start()] if m else str(s), int(m.group(1)) if m else 0)
