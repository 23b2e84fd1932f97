"""Acclaim ASF (skeleton) and AMC (motion) files: gatepose's own reader (NumPy and SciPy only).

The ASF states everything needed, and every bit is read from it:

- ``:units``: ``length L`` (one length unit = 1/L inch, so millimetres = value * 25.4 / L;
  1.0 when absent) and ``angle deg|rad``.
- ``:root``: ``order`` (the order of the root's values in each AMC line, e.g. ``TX TY TZ RX RY
  RZ``), ``axis`` (the order in which the root's rotations are composed), ``orientation``.
- ``:bonedata``: per bone a unit ``direction`` (world frame, rest pose), a ``length``, an ``axis
  a b c ORDER`` (the bone's local frame C as rotations about the axes of ORDER, angles in that
  order) and ``dof`` (the order of the bone's values in the AMC lines).
- ``:hierarchy``: ``parent child child ...`` lines.

Rotations are composed as the ASF/AMC convention has it: with ``axis ... XYZ``, a bone's motion
M = Rz Ry Rx of its AMC angles (``Rotation.from_euler('xyz', ...)``, lower case: extrinsic), its
axis C likewise; world rotation ``G = G_parent C M C^-1``; the bone runs from the end of its
parent to ``start + length * G @ direction``.

In the :class:`~.tree.MotionTree` a joint is the *start* of each bone (named after the bone), as
in the CMU BVH conversions: joint ``lfemur`` is the hip, ``ltibia`` the knee, ``lfoot`` the
ankle, ``lhumerus`` the shoulder, ``lradius`` the elbow, ``lwrist`` the wrist, ``head`` the base
of the skull; a leaf bone's end is an End Site ``<bone>_End``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gatepose.errors import DataError

from .tree import MotionTree

AMC_FPS = 120.0   # the CMU database's rate; AMC files do not state one


@dataclass(frozen=True, eq=False)
class Bone:
    name: str
    direction: np.ndarray       # (3,) unit, world rest frame
    length: float               # ASF length units
    axis_order: str             # e.g. 'XYZ'
    C: np.ndarray               # (3, 3) local axis frame
    dof: tuple[str, ...]        # e.g. ('rx', 'ry', 'rz')


@dataclass(frozen=True, eq=False)
class Asf:
    path: str
    length_unit: float          # ':units length' (1 unit = 1/length_unit inch)
    degrees: bool
    root_order: tuple[str, ...]  # AMC value order for the root, e.g. ('tx', ..., 'rz')
    root_axis: str              # rotation composition order of the root, e.g. 'XYZ'
    root_C: np.ndarray          # (3, 3) from ':root orientation'
    root_position: np.ndarray   # (3,)
    bones: dict                 # name -> Bone
    parent: dict                # bone name -> parent name ('root' for the root's children)
    order: tuple[str, ...]      # bones parent-first

    @property
    def mm_per_unit(self) -> float:
        return 25.4 / self.length_unit


def read_asf(path) -> Asf:
    """Parse an ASF skeleton file; see the module docstring."""
    path = Path(path)
    where = str(path)
    text = _read(path)
    sections = re.split(r"^\s*:", text, flags=re.M)
    units = {"length": 1.0, "angle": "deg"}
    root = {}
    bones = {}
    parent = {}
    seen_bonedata = seen_hier = False
    for sec in sections[1:]:
        head, _, body = sec.partition("\n")
        key = head.split()[0].lower() if head.split() else ""
        rest_of_head = head.split()[1:]
        if key == "units":
            for ln in body.splitlines():
                t = ln.split()
                if len(t) >= 2 and t[0].lower() == "length":
                    units["length"] = _float(t[1], f"{where}: :units length")
                elif len(t) >= 2 and t[0].lower() == "angle":
                    units["angle"] = t[1].lower()
        elif key == "root":
            for ln in body.splitlines():
                t = ln.split()
                if t:
                    root[t[0].lower()] = t[1:]
        elif key == "bonedata":
            seen_bonedata = True
            for blk in re.findall(r"\bbegin\b(.*?)\bend\b", body, flags=re.S):
                b = _bone(blk, where, units)
                bones[b.name] = b
        elif key == "hierarchy":
            seen_hier = True
            for ln in re.sub(r"\b(begin|end)\b", "", body).splitlines():
                t = ln.split()
                for child in t[1:]:
                    parent[child] = t[0]
        elif key in ("version", "name", "documentation", "") or rest_of_head is None:
            pass
    if not seen_bonedata or not bones:
        raise DataError(f"{where}: not an ASF skeleton: no ':bonedata' section with bones")
    if not seen_hier:
        raise DataError(f"{where}: no ':hierarchy' section")
    if units["length"] <= 0:
        raise DataError(f"{where}: ':units length' must be positive")
    if units["angle"] not in ("deg", "rad"):
        raise DataError(f"{where}: ':units angle {units['angle']}': expected deg or rad")
    missing = [c for c in parent if c not in bones]
    if missing:
        raise DataError(f"{where}: ':hierarchy' names bone {missing[0]!r}, which ':bonedata' does not define")
    orphans = [b for b in bones if b not in parent]
    if orphans:
        raise DataError(f"{where}: bone {orphans[0]!r} is not in ':hierarchy'")
    order = []
    frontier = ["root"]
    while frontier:
        p = frontier.pop(0)
        kids = [c for c in parent if parent[c] == p]
        order += kids
        frontier += kids
    if len(order) != len(bones):
        raise DataError(f"{where}: ':hierarchy' does not connect every bone to 'root'")
    deg = units["angle"] == "deg"
    r_order = tuple(v.lower() for v in root.get("order", ["TX", "TY", "TZ", "RX", "RY", "RZ"]))
    if set(r_order) - {"tx", "ty", "tz", "rx", "ry", "rz"}:
        raise DataError(f"{where}: ':root order': unknown channel in {' '.join(r_order)}")
    r_axis = (root.get("axis") or ["XYZ"])[0].upper()
    if sorted(r_axis) != ["X", "Y", "Z"]:
        raise DataError(f"{where}: ':root axis {r_axis}': expected an order of X, Y and Z")
    orient = np.array([_float(v, f"{where}: ':root orientation'") for v in (root.get("orientation") or [0, 0, 0])[:3]])
    pos = np.array([_float(v, f"{where}: ':root position'") for v in (root.get("position") or [0, 0, 0])[:3]])
    root_C = Rotation.from_euler(r_axis.lower(), orient[["XYZ".index(a) for a in r_axis]],
                                 degrees=deg).as_matrix()
    return Asf(where, units["length"], deg, r_order, r_axis, root_C, pos, bones, parent, tuple(order))


def _bone(blk: str, where: str, units: dict) -> Bone:
    f = {}
    for ln in blk.splitlines():
        t = ln.split()
        if t:
            f[t[0].lower()] = t[1:]
    name = (f.get("name") or [None])[0]
    if name is None:
        raise DataError(f"{where}: a bone in ':bonedata' has no name")
    at = f"{where}: bone {name!r}"
    for k in ("direction", "length", "axis"):
        if k not in f:
            raise DataError(f"{at}: no '{k}' line")
    d = np.array([_float(v, f"{at}: direction") for v in f["direction"][:3]])
    if d.shape != (3,) or np.linalg.norm(d) == 0:
        raise DataError(f"{at}: direction: expected 3 numbers, not all zero")
    length = _float(f["length"][0], f"{at}: length")
    ax = f["axis"]
    if len(ax) != 4 or sorted(ax[3].upper()) != ["X", "Y", "Z"]:
        raise DataError(f"{at}: axis: expected three angles and an order such as XYZ")
    order = ax[3].upper()
    angles = [_float(v, f"{at}: axis") for v in ax[:3]]
    C = Rotation.from_euler(order.lower(), angles, degrees=units["angle"] == "deg").as_matrix()
    dof = tuple(v.lower() for v in f.get("dof", []))
    if set(dof) - {"rx", "ry", "rz"}:
        raise DataError(f"{at}: dof {' '.join(dof)}: gatepose reads rotational dofs (rx, ry, rz) only")
    return Bone(name, d / np.linalg.norm(d), length, order, C, dof)


def read_amc(path, asf: Asf, frames_wanted=None, step: int = 1) -> tuple[dict, int]:
    """AMC values per bone: {bone: (T, n_dof) float64} for every ``step``-th frame, and the frame count.

    Every frame must list the root and every bone with dofs, with the right number of numbers.
    """
    path = Path(path)
    where = str(path)
    lines = _read(path).splitlines()
    frames: list[dict] = []
    cur = None
    cur_line = 0
    need = {b: len(asf.bones[b].dof) for b in asf.order if asf.bones[b].dof}
    need["root"] = len(asf.root_order)
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s or s[0] in "#:":
            continue
        t = s.split()
        if len(t) == 1 and t[0].isdigit():
            if cur is not None:
                _check_frame(cur, need, where, cur_line)
            cur = {}
            cur_line = i + 1
            frames.append(cur)
            continue
        if cur is None:
            raise DataError(f"{where}: line {i + 1}: values before the first frame number")
        name = t[0]
        if name not in need:
            raise DataError(f"{where}: line {i + 1}: bone {name!r} is not a moving bone of {asf.path}")
        if len(t) - 1 != need[name]:
            raise DataError(f"{where}: line {i + 1}: {name}: {len(t) - 1} values, but the skeleton gives it "
                            f"{need[name]} dofs")
        cur[name] = (i + 1, t[1:])
    if not frames:
        raise DataError(f"{where}: no frames (an AMC file lists a frame number and one line per bone)")
    _check_frame(frames[-1], need, where, cur_line, last=True)
    keep = frames[::step]
    out = {}
    for name, n in need.items():
        try:
            out[name] = np.array([[float(v) for v in fr[name][1]] for fr in keep], dtype=np.float64).reshape(len(keep), n)
        except ValueError:
            for fr in keep:
                for v in fr[name][1]:
                    try:
                        float(v)
                    except ValueError:
                        raise DataError(f"{where}: line {fr[name][0]}: expected a number, got {v!r}") from None
        if not np.isfinite(out[name]).all():
            raise DataError(f"{where}: bone {name}: NaN or inf among the values")
    return out, len(frames)


def _check_frame(fr: dict, need: dict, where: str, line: int, last: bool = False) -> None:
    missing = [b for b in need if b not in fr]
    if missing:
        extra = " (the file is truncated)" if last else ""
        raise DataError(f"{where}: frame at line {line}: no values for {', '.join(missing[:3])}"
                        f"{' ...' if len(missing) > 3 else ''}{extra}")


def amc_tree(asf: Asf, amc_path, step: int = 1, fps: float = AMC_FPS) -> MotionTree:
    """Forward kinematics of an AMC clip on its ASF skeleton: a :class:`MotionTree` in mm."""
    values, n_frames = read_amc(amc_path, asf, step=step)
    T = len(values["root"])
    deg = asf.degrees
    names, parents, end = ["root"], [-1], [False]
    index = {"root": 0}
    for b in asf.order:
        index[b] = len(names)
        names.append(b)
        parents.append(index[asf.parent[b]])
        end.append(False)
    # Root: translation and rotation from its AMC values in ':root order'.
    rv = values["root"]
    trans = np.zeros((T, 3))
    ang = np.zeros((T, 3))
    for c, ch in enumerate(asf.root_order):
        (trans if ch[0] == "t" else ang)[:, "xyz".index(ch[1])] = rv[:, c]
    ax = asf.root_axis
    M = Rotation.from_euler(ax.lower(), ang[:, ["XYZ".index(a) for a in ax]], degrees=deg).as_matrix()
    G = {"root": asf.root_C @ M @ asf.root_C.T}
    start = {"root": trans}
    pos = np.zeros((T, len(names) + 64, 3))
    rot = np.zeros((T, len(names) + 64, 3, 3))
    rest = np.zeros((len(names) + 64, 3))
    rest_start = {"root": np.zeros(3)}
    pos[:, 0], rot[:, 0] = trans, G["root"]
    leaf_ends = []
    for b in asf.order:
        bone = asf.bones[b]
        p = asf.parent[b]
        ang = np.zeros((T, 3))
        for c, ch in enumerate(bone.dof):
            ang[:, "xyz".index(ch[1])] = values[b][:, c]
        M = Rotation.from_euler(bone.axis_order.lower(), ang[:, ["XYZ".index(a) for a in bone.axis_order]],
                                degrees=deg).as_matrix()
        Gb = G[p] @ (bone.C @ M @ bone.C.T)
        s = start[p] if p == "root" else _end(start[p], G[p], asf.bones[p])
        rs = rest_start[p] if p == "root" else rest_start[p] + asf.bones[p].length * asf.bones[p].direction
        G[b], start[b], rest_start[b] = Gb, s, rs
        j = index[b]
        pos[:, j], rot[:, j], rest[j] = s, Gb, rs
        if not any(asf.parent[c] == b for c in asf.order):
            leaf_ends.append(b)
    for b in leaf_ends:
        j = len(names)
        names.append(f"{b}_End")
        parents.append(index[b])
        end.append(True)
        pos[:, j] = _end(start[b], G[b], asf.bones[b])
        rot[:, j] = G[b]
        rest[j] = rest_start[b] + asf.bones[b].length * asf.bones[b].direction
    J = len(names)
    k = asf.mm_per_unit
    return MotionTree(path=str(amc_path), names=tuple(names), parents=tuple(parents), end=tuple(end),
                      rest=rest[:J] * k, positions=pos[:, :J] * k, rotations=rot[:, :J], fps=fps,
                      source_frame=np.arange(0, n_frames, step, dtype=np.int64), n_source_frames=n_frames,
                      units="mm")


def _end(start, G, bone: Bone):
    return start + bone.length * np.einsum("tij,j->ti", G, bone.direction)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _float(v, at: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise DataError(f"{at}: expected a number, got {v!r}") from None
    if not np.isfinite(x):
        raise DataError(f"{at}: expected a finite number")
    return x
