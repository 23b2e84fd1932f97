"""Mocap files (BVH, ASF/AMC) -> gatepose's archive (``h36m17``, camera mm and pixels).

The steps for each clip, in order:

1. **Find.** Paths are files or folders (searched recursively) of ``.bvh`` and ``.amc`` files; an
   AMC is paired with the ASF of its subject: ``--asf`` if given, else ``NN.asf`` beside
   ``NN_MM.amc``, else the only ASF in its folder.
2. **Read** with gatepose's own parsers (:mod:`.bvh`, :mod:`.asf`), keeping every
   ``round(source_fps / fps)``-th frame from the first; by default sources of 100 frames/s or more
   are brought to about 30 (every 4th frame at 120 frames/s) and slower ones keep every frame.
   AMC files state no rate: CMU's 120 frames/s is assumed.
3. **Map** the rig to h36m17 (:mod:`.rigs`; the joints it lacks are synthesised).
4. **Units** to mm: ASF states them; for BVH ``units`` (``mm``, ``cm``, ``m``, ``inch``, ``cmu``:
   CMU's ASF unit of 1/0.45 inch, kept by CMU's MotionBuilder-style BVH conversions) or
   ``auto``, which picks the unit that makes the body's height closest to 1.7 m. Either way a
   height (Ankle-Knee-Hip-Pelvis-Spine-Thorax-Neck-Head, the mean of both legs, median over the
   frames) outside 0.5-2.5 m is refused, naming the units that would fit.
5. **Up**: the world is turned to Y up when the body's median ankles-to-head direction lies
   within 45 degrees of another axis (Z-up exports; :func:`up_axis`), or as ``up`` says.
6. **Check** the kept frames: joints beyond 10 km (position channels or AMC translations: in
   every frame, kept or not), or more than 2 body heights from the frame's centre, refuse the
   file, saying how many frames are affected.
7. **Film** with fixed cameras (:mod:`.cameras`) and store each camera's 3D (mm) and 2D (px).

Inputs that are FIFOs or devices are refused at once (in folders too).

Labels: ``subject`` is ``NN`` for CMU-style names ``NN_MM``, else the ASF's name (AMC) or the
folder's name (BVH); ``action`` is the clip's text in an index (``clip id<TAB>text``, as
``cmu_index.tsv``) or the clip's name; ``clip`` the file's name without extension;
``source_frame`` the frame's index in the file; ``frame`` counts the kept frames from 0. Split:
clips of ``test_subjects``, or every ``test_every``-th clip in sorted order, are ``test``; of the
other clips, every ``test_seen_every``-th is ``test-seen``: whole held-out takes of the people (and
kinds of motion) that training sees, the test where labels help most.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gatepose.errors import DataError, GateposeError
from gatepose.files import check_regular_input, read_regular_bytes

from ..archive import Dataset
from ..skeleton import get_skeleton
from ..summary import natural_key
from . import MAX_COORD_MM, MAX_FPS, MIN_FPS, UNITS_MM
from . import cameras as camlib
from .asf import AMC_FPS, amc_tree, read_asf
from .bvh import bvh_tree, read_bvh
from .rigs import H36M_NAMES, match_rig, to_h36m17

UP_AXES = ("auto", "y", "z", "x", "-y", "-z", "-x")
HEIGHT_RANGE_M = (0.5, 2.5)
# Implausible frames: a coordinate beyond MAX_COORD_MM, or a joint more than 2 body heights from
# the median of the frame's joints (a real body's joints are within about 0.7 heights of it).
MAX_SPREAD = 2.0
# ... or a limb (thigh, shin, upper arm, forearm) shorter than MIN_LIMB of the body height: a body
# collapsed onto its joints (position channels of zero on a rig that reads them as offsets).
MIN_LIMB = 0.03
_LIMBS = ((1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16))
# the chain whose length is the "height" (h36m17 indices), legs averaged
_UP_CHAIN = ((0, 7), (7, 8), (8, 9), (9, 10))
_LEGS = (((3, 2), (2, 1), (1, 0)), ((6, 5), (5, 4), (4, 0)))


@dataclass
class Clip:
    """One imported clip: its world poses (mm, Y up) and what the summary reports."""

    path: Path
    kind: str                   # 'bvh' or 'amc'
    name: str                   # file stem
    subject: str
    action: str
    world: np.ndarray           # (T, 17, 3) mm
    source_frame: np.ndarray    # (T,)
    source_fps: float
    step: int
    units: str
    rig: dict = field(default_factory=dict)
    # (T,) degrees by which the frame's worst hinge moving a mapped joint (a knee or elbow) lies
    # past the file's own joint limit; None where the file states no limits (BVH)
    limit_excess: np.ndarray | None = None
    implausible: int = 0        # kept frames past LIMIT_TOLERANCE_DEG
    dropped: int = 0            # implausible frames dropped (--drop-implausible)
    worst_excess: float = 0.0   # the largest limit_excess, dropped frames included

    @property
    def height_mm(self) -> float:
        return body_height(self.world)


def body_height(X: np.ndarray) -> float:
    """Median over frames of the Ankle-...-Head chain length (legs averaged), X (T, 17, 3)."""
    seg = lambda a, b: np.linalg.norm(X[:, a] - X[:, b], axis=-1)  # noqa: E731
    legs = sum(seg(a, b) for leg in _LEGS for a, b in leg) / 2
    return float(np.median(legs + sum(seg(a, b) for a, b in _UP_CHAIN)))


def find_files(paths, asf: str | None = None) -> list[tuple[str, Path, Path | None]]:
    """[(kind, motion file, ASF or None)] in natural order; a DataError for a path with no mocap."""
    found = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DataError(f"{p}: no such file or folder")
        if p.is_dir():
            files = [f for f in p.rglob("*") if f.suffix.lower() in (".bvh", ".amc") and not f.is_dir()]
            for f in files:
                _regular(f)
            if not files:
                raise DataError(f"{p}: no .bvh or .amc file in this folder or below")
        elif p.suffix.lower() in (".bvh", ".amc"):
            files = [_regular(p)]
        else:
            raise DataError(f"{p}: not a mocap file: expected .bvh or .amc (with its .asf), or a folder")
        found += files
    found = sorted(dict.fromkeys(found), key=natural_key)
    out = []
    for f in found:
        if f.suffix.lower() == ".bvh":
            out.append(("bvh", f, None))
        else:
            out.append(("amc", f, _regular(Path(asf) if asf else _asf_for(f))))
    return out


def _regular(path: Path) -> Path:
    """``path``, refused at once when it is a FIFO, a device or a socket (reading one blocks or never ends)."""
    try:
        check_regular_input(path)
    except GateposeError as exc:
        raise DataError(str(exc)) from None
    return path


def _asf_for(amc: Path) -> Path:
    """The ASF of an AMC file: among the ASFs in its folder, the one whose name is the longest
    prefix of the AMC's name ending at a separator (``11.asf`` for ``11_01.amc``, ``HDM_bd.asf``
    for ``HDM_bd_squat1Reps_001_120.amc``); else the folder's only ASF."""
    asfs = sorted((f for f in amc.parent.iterdir() if f.suffix.lower() == ".asf"), key=natural_key)
    fits = [f for f in asfs if _is_name_prefix(f.stem, amc.stem)]
    if fits:
        return max(fits, key=lambda f: len(f.stem))
    if len(asfs) == 1:
        return asfs[0]
    subject = amc.stem.split("_")[0]
    raise DataError(f"{amc}: no ASF skeleton for this AMC file: expected one whose name begins the AMC's "
                    f"(such as {subject}.asf) beside it"
                    f"{f' (found {len(asfs)} others)' if asfs else ''}; name one with --asf")


def _is_name_prefix(prefix: str, name: str) -> bool:
    """``prefix`` begins ``name`` (ignoring case) and ends there or before a non-alphanumeric."""
    p, n = prefix.lower(), name.lower()
    return bool(p) and n.startswith(p) and (len(n) == len(p) or not n[len(p)].isalnum())


def read_index(path) -> dict:
    """``clip id<TAB>text[<TAB>...]`` lines -> {clip id: text}."""
    path = Path(path)
    try:
        text = read_regular_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError, GateposeError) as exc:
        raise DataError(str(exc) if isinstance(exc, GateposeError) else f"{path}: cannot be read ({exc})") from None
    lines = (text[1:] if text.startswith("\ufeff") else text).splitlines()
    out = {}
    for i, ln in enumerate(lines):
        if not ln.strip() or ln.startswith("#"):
            continue
        parts = ln.split("\t")
        if len(parts) < 2 or not parts[1].strip():
            raise DataError(f"{path}: line {i + 1}: expected 'clip id<TAB>action text'")
        out[parts[0].strip()] = parts[1].strip()
    return out


def frame_step(source_fps: float, fps: float | None) -> int:
    """Keep every step-th frame: round(source/fps); default 4 at 120 fps (-> 30), 1 below 100 fps."""
    if fps is not None and not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise DataError(f"--fps {fps}: expected a rate from {MIN_FPS:.3g} to {MAX_FPS:g} frames/s")
    if fps is None:
        fps = 30.0 if source_fps >= 100 else source_fps
    return max(1, int(round(source_fps / fps)))


def subject_of(kind: str, motion: Path, asf: Path | None) -> str:
    """``NN`` for CMU-style ``NN_MM`` names; else the ASF's name (AMC) or the folder's (BVH)."""
    m = re.match(r"^(\d+)_(\d+)$", motion.stem)
    if m:
        return m.group(1)
    if kind == "amc" and asf is not None:
        return asf.stem
    return motion.parent.name or motion.stem


def action_of(kind: str, motion: Path, asf: Path | None, index: dict) -> str:
    """The clip's text in ``index``; else, for an AMC named after its ASF, the class between the
    ASF's name and the trailing numbers (``HDM_bd_squat1Reps_001_120`` -> ``squat1Reps``); else
    the file's name."""
    if motion.stem in index:
        return index[motion.stem]
    if kind == "amc" and asf is not None and _is_name_prefix(asf.stem, motion.stem):
        words = re.split(r"[^0-9A-Za-z]+", motion.stem[len(asf.stem):])
        while words and (words[-1].isdigit() or not words[-1]):
            words.pop()
        words = [w for w in words if w]
        if words:
            return "_".join(words)
    return motion.stem


def up_axis(X: np.ndarray) -> str:
    """The world's up axis ('y', 'z', '-x', ...) of poses X (T, 17, 3), from the body's own up.

    The median over frames of the direction from the ankles' midpoint to the head; a clip is taken
    as Y up unless that direction lies within 45 degrees of another axis (a Z-up 3ds Max or
    Blender export) or of -Y, so that a Y-up clip of lying or crawling still counts as Y up.
    """
    v = X[:, 10] - 0.5 * (X[:, 3] + X[:, 6])
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    m = np.median(v, axis=0)
    a = int(np.argmax(np.abs(m)))
    if a == 1 and m[1] > 0 or abs(m[a]) < math.sqrt(0.5) * max(float(np.linalg.norm(m)), 1e-12):
        return "y"
    return ("-" if m[a] < 0 else "") + "xyz"[a]


def rest_pose(tree, rig) -> np.ndarray:
    """(1, 17, 3) h36m17 joints of ``tree``'s rest pose (every segment unturned)."""
    J = tree.n_joints
    rest = replace(tree, positions=tree.rest[None], rotations=np.broadcast_to(np.eye(3), (1, J, 3, 3)),
                   source_frame=tree.source_frame[:1])
    return to_h36m17(rest, rig)


def to_y_up(X: np.ndarray, up: str) -> np.ndarray:
    """X (..., 3) turned by a proper rotation that takes the ``up`` axis to +Y."""
    R = {"y": np.eye(3),
         "z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),     # (x, y, z) -> (x, z, -y)
         "x": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),     # (x, y, z) -> (-y, x, z)
         "-y": np.diag([1.0, -1, -1]),
         "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),    # (x, y, z) -> (x, -z, y)
         "-x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])}[up]  # (x, y, z) -> (y, -x, z)
    return X @ R.T


def read_clip(kind: str, path: Path, asf_path: Path | None, *, fps=None, units="auto", joint_map=None,
              index=None, asf_cache=None, up="auto", drop_implausible: bool = False) -> Clip:
    """Read, subsample, map and scale one clip (see the module docstring); with
    ``drop_implausible``, frames past a joint limit (:func:`hinge_excess`) are left out."""
    if kind == "bvh":
        bvh = read_bvh(path)
        step = frame_step(bvh.fps, fps)
        tree = bvh_tree(bvh, np.arange(0, bvh.n_frames, step))
        rig = match_rig(_finite_tree(tree, path), joint_map)
        X = _finite(to_h36m17(tree, rig), path, tree.source_frame)
        h = body_height(X)
        unit = _choose_units(h, units, path)
        X = X * UNITS_MM[unit]
        source_fps = bvh.fps
        pos_cols = np.array([c.endswith("position") for ch in bvh.channels for c in ch], dtype=bool)
        _check_far(np.abs(bvh.motion[:, pos_cols]).max(axis=1, initial=0.0) * UNITS_MM[unit], path,
                   "position channel values", np.arange(bvh.n_frames))
    else:
        cache = asf_cache if asf_cache is not None else {}
        if asf_path not in cache:
            cache[asf_path] = read_asf(asf_path)
        step = frame_step(AMC_FPS, fps)
        tree = amc_tree(cache[asf_path], path, step=step)
        rig = match_rig(_finite_tree(tree, path), joint_map)
        X = _finite(to_h36m17(tree, rig), path, tree.source_frame)
        unit = f"ASF length {cache[asf_path].length_unit:g}"
        source_fps = AMC_FPS
        _check_height(body_height(X), path, "the ASF's ':units length'")
    _check_plausible(X, path, tree.source_frame)
    if up not in UP_AXES:
        raise DataError(f"unknown --up {up!r}: expected one of {', '.join(UP_AXES)}")
    # An ASF's rest pose stands in the file's world, so it tells the up axis even of a clip spent
    # lying on the floor (HDM05's lieDownFloor), where the body's own median direction is level.
    axis = up if up != "auto" else up_axis(rest_pose(tree, rig) if kind == "amc" else X)
    if axis != "y":
        X = to_y_up(X, axis)
        unit += f", {axis.upper()} up"
    index = index or {}
    excess = hinge_excess(tree, rig)
    source_frame, dropped = tree.source_frame, 0
    worst = float(excess.max(initial=0.0)) if excess is not None else 0.0
    if drop_implausible and excess is not None:
        keep = excess <= LIMIT_TOLERANCE_DEG
        if not keep.any():
            raise DataError(f"{path}: every frame has a knee or elbow more than {LIMIT_TOLERANCE_DEG:g} degrees "
                            f"past its joint limit: nothing left with --drop-implausible")
        X, source_frame, excess, dropped = X[keep], source_frame[keep], excess[keep], int((~keep).sum())
    return Clip(path=path, kind=kind, name=path.stem, subject=subject_of(kind, path, asf_path),
                action=action_of(kind, path, asf_path, index), world=X, source_frame=source_frame,
                source_fps=source_fps, step=step, units=unit, rig=rig.described, limit_excess=excess,
                implausible=int((excess > LIMIT_TOLERANCE_DEG).sum()) if excess is not None else 0,
                dropped=dropped, worst_excess=worst)


# Degrees past a stated joint limit before a frame counts as implausible: mocap solvers overshoot
# hinge limits by a few degrees routinely; a knee folded well past its limit puts the shin behind
# the body (HDM05's deep squats), which no camera sees in a person.
LIMIT_TOLERANCE_DEG = 15.0


def hinge_excess(tree, rig) -> np.ndarray | None:
    """(T,) degrees by which each frame's worst hinge that moves a mapped h36m17 joint lies past its
    limit (from ``tree.limit_excess``); None when the file states no limits for such hinges.

    A hinge at joint j moves the joints below j, so a wrist twist or a toe, which move no mapped
    joint, is not counted, while a knee (it moves the ankle) or an elbow (the wrist) is.
    """
    mapped = set(rig.direct.values()) | ({rig.skull} if rig.skull is not None else set())
    index = {n: j for j, n in enumerate(tree.names)}
    rows = [e for name, e in tree.limit_excess.items()
            if any(tree.is_ancestor(index[name], m) for m in mapped)]
    return np.max(rows, axis=0) if rows else None


def _choose_units(height_file_units: float, units: str, path) -> str:
    if units == "auto":
        best = min(UNITS_MM, key=lambda u: abs(math.log(max(height_file_units * UNITS_MM[u], 1e-9) / 1700.0)))
        _check_height(height_file_units * UNITS_MM[best], path, "any of --units mm, cm, m, inch", height_file_units)
        return best
    if units not in UNITS_MM:
        raise DataError(f"unknown --units {units!r}: expected one of auto, {', '.join(UNITS_MM)}")
    _check_height(height_file_units * UNITS_MM[units], path, f"--units {units}", height_file_units)
    return units


def _finite_tree(tree, path):
    """``tree``, or a DataError when its rest pose overflowed (offsets or lengths near 1e308), which
    would otherwise surface later as a misleading zero-length direction."""
    if not (np.isfinite(tree.rest).all() and np.isfinite(tree.positions).all()):
        raise DataError(f"{path}: the skeleton's rest pose or joint positions overflow: the file's offsets, "
                        "lengths or values are garbage")
    return tree


def _finite(X: np.ndarray, path, frames: np.ndarray) -> np.ndarray:
    """X, or a DataError when the kinematics overflowed (finite but enormous offsets or lengths)."""
    bad = ~np.isfinite(X).all(axis=(1, 2))
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: {int(bad.sum())} of {len(bad)} kept frames have joint positions that overflow "
                        f"(first: frame {int(frames[f])}): the file's offsets, lengths or values are garbage")
    return X


def _check_far(dist_mm: np.ndarray, path, what: str, frames: np.ndarray) -> None:
    """Refuse frames whose ``dist_mm`` (T,) exceeds MAX_COORD_MM (or is not finite), with a count."""
    bad = ~(dist_mm <= MAX_COORD_MM)
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: {int(bad.sum())} of {len(bad)} frames have {what} more than "
                        f"{MAX_COORD_MM / 1e6:g} km from the origin (first: frame {int(frames[f])}, "
                        f"{dist_mm[f] / 1e6:.3g} km); beyond that a float32 archive cannot hold the body "
                        "to a millimetre: the file's values are garbage")


def _check_plausible(X: np.ndarray, path, frames: np.ndarray) -> None:
    """Refuse physically absurd but finite kept frames (X (T, 17, 3) mm), saying how many: joints
    beyond MAX_COORD_MM from the origin, or more than MAX_SPREAD body heights from the frame's
    centre (a body torn apart by a stray root or position channel), or a limb shorter than MIN_LIMB
    body heights (a body collapsed onto its joints)."""
    _check_far(np.abs(X).max(axis=(1, 2)), path, "joints", frames)
    h = body_height(X)
    d = np.linalg.norm(X - np.median(X, axis=1, keepdims=True), axis=-1)     # (T, 17)
    bad = d.max(axis=1) > MAX_SPREAD * h
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        j = int(np.argmax(d[f]))
        raise DataError(f"{path}: {int(bad.sum())} of {len(bad)} kept frames have a joint more than {MAX_SPREAD:g} "
                        f"body heights ({MAX_SPREAD * h / 1000:.2g} m) from the body's centre (first: frame "
                        f"{int(frames[f])}, {H36M_NAMES[j]} {d[f, j] / 1000:.3g} m away): physically implausible")
    limbs = np.stack([np.linalg.norm(X[:, a] - X[:, b], axis=-1) for a, b in _LIMBS], axis=1)   # (T, 8)
    short = limbs.min(axis=1) < MIN_LIMB * h
    if short.any():
        f = int(np.flatnonzero(short)[0])
        a, b = _LIMBS[int(np.argmin(limbs[f]))]
        raise DataError(f"{path}: {int(short.sum())} of {len(short)} kept frames have a limb shorter than "
                        f"{MIN_LIMB * h:.0f} mm (first: frame {int(frames[f])}, {H36M_NAMES[a]}-{H36M_NAMES[b]} "
                        f"{limbs[f].min():.0f} mm): a body collapsed onto its joints (position channels read "
                        "as zero offsets?)")


def _check_height(h_mm: float, path, how: str, raw: float | None = None) -> None:
    lo, hi = HEIGHT_RANGE_M
    if not (lo * 1000 <= h_mm <= hi * 1000):
        hint = ""
        if raw is not None:
            fits = [u for u, k in UNITS_MM.items() if lo * 1000 <= raw * k <= hi * 1000]
            hint = f"; {' or '.join('--units ' + u for u in fits)} would fit" if fits else ""
        raise DataError(f"{path}: with {how} the body is {h_mm / 1000:.3g} m tall (ankle to head top), "
                        f"outside the plausible {lo}-{hi} m: wrong units{hint}")


def film_clip(clip: Clip, clip_no: int, n_cameras: int, rig: str, seed: int):
    """[(camera index, X camera mm (T, 17, 3), pixels (T, 17, 2), image size)] for one clip."""
    rng = np.random.default_rng([seed, clip_no])
    X = clip.world
    if rig == "h36m":
        cams, transform = camlib.h36m_cameras(X[:, 0], X[:, [3, 6]], rng)
        X = transform(X)
    elif rig == "virtual":
        cams = camlib.virtual_cameras(n_cameras, X[:, 0], rng)
    else:
        raise DataError(f"unknown camera rig {rig!r}: expected virtual or h36m")
    out = []
    for c, cam in enumerate(cams):
        Xc, uv = camlib.film(X, cam, str(clip.path))
        out.append((c, Xc, uv, cam.size))
    return out


def build_dataset(clips: list[Clip], n_cameras: int = 2, rig: str = "virtual", seed: int = 0,
                  test_subjects=None, test_every: int | None = None,
                  test_seen_every: int | None = None) -> Dataset:
    """Film every clip and stack the rows: clip, then camera, then frame."""
    test_subjects = {_subject_key(s) for s in (test_subjects or [])}
    parts, seen = [], 0
    for k, clip in enumerate(clips):
        is_test = (_subject_key(clip.subject) in test_subjects) or bool(test_every and k % test_every == test_every - 1)
        split = "test" if is_test else "train"
        if not is_test and test_seen_every:
            split = "test-seen" if seen % test_seen_every == test_seen_every - 1 else "train"
            seen += 1
        for c, Xc, uv, size in film_clip(clip, k, n_cameras, rig, seed):
            parts.append((clip, c, Xc, uv, size, split))
    names = clip_names(clips)
    n = sum(len(p[2]) for p in parts)
    J = get_skeleton("h36m17").n_joints
    rows = lambda v, dt: np.concatenate([np.full(len(p[2]), v(p), dtype=dt) for p in parts])  # noqa: E731
    text = lambda v: np.concatenate([np.full(len(p[2]), str(v(p))) for p in parts])  # noqa: E731
    return Dataset(
        poses_2d=np.concatenate([p[3] for p in parts]).astype(np.float32).reshape(n, J, 2),
        poses_3d=np.concatenate([p[2] for p in parts]).astype(np.float32).reshape(n, J, 3),
        image_size=np.concatenate([np.tile(np.asarray(p[4], np.int32), (len(p[2]), 1)) for p in parts]),
        subject=text(lambda p: p[0].subject),
        action=text(lambda p: p[0].action),
        camera=rows(lambda p: p[1], np.int32),
        frame=np.concatenate([np.arange(len(p[2]), dtype=np.int32) for p in parts]),
        skeleton="h36m17",
        split=text(lambda p: p[5]),
        clip=text(lambda p: names[id(p[0])]),
        source_frame=np.concatenate([p[0].source_frame.astype(np.int32) for p in parts]),
    )


def clip_names(clips: list[Clip]) -> dict:
    """{id(clip): its 'clip' label}: the file's stem, unless two clips share it (walk.bvh in two
    folders, 11_01.bvh beside 11_01.amc): then FOLDER/STEM, then FOLDER/STEM.EXT, so that every
    label names one clip (export-bvh --clip picks it)."""
    labels = {}
    for c in clips:
        folder = c.path.resolve().parent.name
        labels[id(c)] = (c.name, f"{folder}/{c.name}", f"{folder}/{c.path.name}")
    counts = [Counter(ls[level] for ls in labels.values()) for level in range(3)]
    out = {}
    for c in clips:
        ls = labels[id(c)]
        out[id(c)] = next((ls[k] for k in range(2) if counts[k][ls[k]] == 1), ls[2])
    taken = Counter()
    for c in clips:       # the same folder and file name twice (a file given twice): numbered
        taken[out[id(c)]] += 1
        if taken[out[id(c)]] > 1:
            out[id(c)] += f"#{taken[out[id(c)]]}"
    return out


def _subject_key(s: str) -> str:
    s = str(s).strip()
    return str(int(s)) if s.isdigit() else s.lower()
