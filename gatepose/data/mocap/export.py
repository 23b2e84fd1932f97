"""h36m17 pose sequences -> a BVH file that Blender and other mocap tools import.

**Hierarchy** (Y up, the subject facing +z in the rest pose, a T-pose): ``Pelvis`` (root, 6
channels), ``Spine``, ``Thorax``, ``Neck``, ``Head``; the legs hang from ``RHipJoint``/``LHipJoint``
and the arms from ``RCollar``/``LCollar``, zero-length joints at the Pelvis and the Thorax (as
CMU's ``LHipJoint``), so that each bone has a joint of its own to turn it: then *every* bone points
exactly where the poses point, although a pelvis or thorax with three bones could not turn all
three with one rotation. Bone lengths are the sequence's median lengths; wrists, ankles and the
head end in an End Site a quarter of their bone long, continuing it. Every joint but the root has
``Zrotation Xrotation Yrotation`` channels (intrinsic Z, X, Y; degrees).

**Rotations.** Camera-frame poses (x right, y down, z forward) are first turned into the BVH's Y-up
world by a half turn about x: (x, -y, -z). A joint with one bone gets the *minimal* rotation (in
its parent's frame) that takes the bone's rest direction to its direction in the frame. The
Pelvis and the Thorax, whose turn also sets the legs' and arms' twist, align two directions
exactly in order: up the spine (Pelvis -> Spine, Thorax -> Neck) first, then the right-to-left line
(RHip -> LHip, RShoulder -> LShoulder) projected off the first. Euler angles come from
``scipy.spatial.transform.Rotation``. Positions read back differ from the input only by the change
of bone lengths to their medians.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from gatepose.errors import DataError

from ..archive import Dataset
from . import MAX_FPS, MIN_FPS, UNITS_MM
from .bvh import write_bvh
from .rigs import H36M_NAMES

UNIT_PER_MM = {u: 1 / UNITS_MM[u] for u in ("mm", "cm", "m", "inch")}   # the importer's, inverted
END_FRACTION = 0.25
_ROT = ("Zrotation", "Xrotation", "Yrotation")
_X, _Y = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])

# BVH joints: (name, parent name, h36m17 index at the joint or None, rest direction of the bone
# from the parent to this joint (None: zero length)).
_JOINTS = (
    ("Pelvis", None, 0, None),
    ("RHipJoint", "Pelvis", None, None),
    ("RHip", "RHipJoint", 1, -_X), ("RKnee", "RHip", 2, -_Y), ("RAnkle", "RKnee", 3, -_Y),
    ("LHipJoint", "Pelvis", None, None),
    ("LHip", "LHipJoint", 4, _X), ("LKnee", "LHip", 5, -_Y), ("LAnkle", "LKnee", 6, -_Y),
    ("Spine", "Pelvis", 7, _Y), ("Thorax", "Spine", 8, _Y), ("Neck", "Thorax", 9, _Y), ("Head", "Neck", 10, _Y),
    ("LCollar", "Thorax", None, None),
    ("LShoulder", "LCollar", 11, _X), ("LElbow", "LShoulder", 12, _X), ("LWrist", "LElbow", 13, _X),
    ("RCollar", "Thorax", None, None),
    ("RShoulder", "RCollar", 14, -_X), ("RElbow", "RShoulder", 15, -_X), ("RWrist", "RElbow", 16, -_X),
)
assert tuple(n for n, _, i, _ in _JOINTS if i is not None) == tuple(H36M_NAMES[i] for _, _, i, _ in _JOINTS
                                                                     if i is not None)
_TWO = {"Pelvis": (7, (1, 4)), "Thorax": (9, (14, 11))}   # primary child, (from, to) for the second axis


def camera_to_yup(X: np.ndarray) -> np.ndarray:
    """(..., 3) camera axes (x right, y down, z forward) -> Y-up (x, -y, -z)."""
    return X * np.array([1.0, -1.0, -1.0])


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frames with columns (a, b projected off a, a x b)."""
    e1 = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - np.sum(b * e1, -1, keepdims=True) * e1
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    if (nb < 1e-9).any():
        raise DataError("export: a pose has its spine parallel to its hip or shoulder line; cannot orient it")
    e2 = b / nb
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3): the smallest rotation taking unit vector a (3,) to each direction b (T, 3)."""
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = b @ a
    angle = np.arctan2(s, c)
    rotvec = np.zeros_like(b)
    ok = s > 1e-12
    rotvec[ok] = axis[ok] / s[ok, None] * angle[ok, None]
    flip = ~ok & (c < 0)
    if flip.any():   # opposite: half a turn about any axis perpendicular to a
        perp = np.cross(a, _X if abs(a[0]) < 0.9 else _Y)
        rotvec[flip] = np.pi * perp / np.linalg.norm(perp)
    return Rotation.from_rotvec(rotvec).as_matrix()


def solve(poses_yup: np.ndarray):
    """Hierarchy and motion for (T, 17, 3) Y-up poses (mm).

    Returns (names, parents, offsets (J, 3) mm, channels, motion (T, C) with positions in mm).
    """
    X = np.asarray(poses_yup, dtype=np.float64)
    if X.ndim != 3 or X.shape[1:] != (17, 3) or len(X) == 0:
        raise DataError(f"export: expected h36m17 poses of shape (T, 17, 3), got {X.shape}")
    if not np.isfinite(X).all():
        raise DataError("export: the poses hold NaN or inf")
    names = [j[0] for j in _JOINTS]
    parents = [-1 if p is None else names.index(p) for _, p, _, _ in _JOINTS]
    h36m_parent = {}
    for k, (_, p, i, _) in enumerate(_JOINTS):
        if i is not None and p is not None:
            q = parents[k]
            while _JOINTS[q][2] is None:
                q = parents[q]
            h36m_parent[k] = _JOINTS[q][2]
    tol = 1e-9 * max(float(np.abs(X).max()), 1.0)
    for k, i in h36m_parent.items():    # a bone of no length has no direction to solve for
        short = np.linalg.norm(X[:, _JOINTS[k][2]] - X[:, i], axis=-1) <= tol
        if short.any():
            f = int(np.flatnonzero(short)[0])
            raise DataError(f"export: frame {f}: the bone {H36M_NAMES[i]}-{H36M_NAMES[_JOINTS[k][2]]} has zero "
                            f"length (the two joints coincide); cannot orient it")
    offsets = []
    length = {}
    for k, (name, p, i, d) in enumerate(_JOINTS):
        if d is None:
            offsets.append(np.zeros(3))
            continue
        L = float(np.median(np.linalg.norm(X[:, i] - X[:, h36m_parent[k]], axis=-1)))
        length[k] = L
        offsets.append(d * L)
    # End Sites for the leaves, continuing their bone.
    leaves = [k for k in range(len(_JOINTS)) if k not in parents]
    for k in leaves:
        names.append(f"{names[k]}_End")
        parents.append(k)
        offsets.append(_JOINTS[k][3] * END_FRACTION * length[k])
    T = len(X)
    J = len(names)
    G = np.zeros((T, J, 3, 3))
    local = np.zeros((T, J, 3, 3))
    child_of = {k: [c for c in range(J) if parents[c] == k] for k in range(J)}
    for k in range(J):
        p = parents[k]
        Gp = G[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (T, 3, 3))
        name = names[k]
        moving = [c for c in child_of[k] if c < len(_JOINTS) and _JOINTS[c][3] is not None]
        if name in _TWO:
            prim, (a, b) = _TWO[name]
            i = _JOINTS[k][2]
            F_t = _frame(X[:, prim] - X[:, i], X[:, b] - X[:, a])
            F_r = _frame(_Y, _X)
            G[:, k] = F_t @ F_r.T
        elif len(moving) == 1:
            c = moving[0]
            target = X[:, _JOINTS[c][2]] - X[:, h36m_parent[c]]
            L = minimal_rotation(_JOINTS[c][3], np.einsum("tji,tj->ti", Gp, target))
            G[:, k] = Gp @ L
        else:
            G[:, k] = Gp
        local[:, k] = np.swapaxes(Gp, -1, -2) @ G[:, k]
    channels = [(("Xposition", "Yposition", "Zposition") + _ROT) if parents[k] < 0 else
                (_ROT if k < len(_JOINTS) else ()) for k in range(J)]
    cols = [X[:, 0]]
    for k in range(len(_JOINTS)):
        cols.append(Rotation.from_matrix(local[:, k]).as_euler("ZXY", degrees=True))
    return names, parents, np.array(offsets), channels, np.concatenate(cols, axis=1)


def check_bvh_skeleton(skeleton: str, what: str) -> None:
    """The rig written is Human3.6M's 17 joints: poses of another skeleton are refused."""
    if skeleton != "h36m17":
        raise DataError(f"{what}: BVH export needs the h36m17 skeleton, got {skeleton!r}")


def write_poses_bvh(path, poses_cam_mm: np.ndarray, units: str = "mm", fps: float = 30.0) -> None:
    """Write camera-frame h36m17 poses (T, 17, 3) mm as a BVH file in ``units`` at ``fps``."""
    if units not in UNIT_PER_MM:
        raise DataError(f"unknown BVH units {units!r}: expected one of {', '.join(UNIT_PER_MM)}")
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise DataError(f"--fps {fps}: expected a rate from {MIN_FPS:.3g} to {MAX_FPS:g} frames/s "
                        "(what a BVH's Frame Time can state)")
    names, parents, offsets, channels, motion = solve(camera_to_yup(np.asarray(poses_cam_mm, np.float64)))
    k = UNIT_PER_MM[units]
    motion = motion.copy()
    motion[:, :3] *= k
    write_bvh(path, names, parents, offsets * k, channels, motion, 1.0 / fps)


def clip_sequence(ds: Dataset, source: str, clip: str | None = None, camera: int = 0):
    """The rows of ``ds`` (archive ``source``) that `gatepose export-bvh` writes: the first sequence
    of ``clip`` (its 'clip' name in mocap archives, else SUBJECT/ACTION; default: the first row's)
    seen by ``camera``, in frame order.

    Returns (rows (T,) int, the clip's name, how many sequences the clip holds for that camera).
    A DataError when ``ds`` has no 3D poses, is not h36m17, or has no such rows.
    """
    if ds.poses_3d is None:
        raise DataError(f"{source}: has no 3D poses (field 'poses_3d') to export")
    check_bvh_skeleton(ds.skeleton, f"{source}: the archive")
    keys = ds.clip if ds.clip is not None else np.char.add(np.char.add(ds.subject, "/"), ds.action)
    clip = str(keys[0]) if clip is None else clip
    sel = (keys == clip) & (ds.camera == camera)
    if not sel.any():
        names = list(dict.fromkeys(keys.tolist()))
        have = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
        raise DataError(f"{source}: no rows of clip {clip!r} with camera {camera} (clips: {have})")
    seq = ds.sequence_ids()[sel]
    rows = np.flatnonzero(sel)[seq == seq[0]]
    rows = rows[np.argsort(ds.frame[rows], kind="stable")]
    return rows, clip, len(np.unique(seq))
