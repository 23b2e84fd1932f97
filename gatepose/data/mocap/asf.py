"""Acclaim ASF (skeleton) and AMC (motion) files: gatepose's own reader (NumPy and SciPy only).

Read as the Acclaim definition (ASF v1.10, M. Schafer) and Vicon's notes on it state; every bit
is taken from the files, nothing from CMU's habits:

- Lexing: ``#`` starts a comment; commas and parentheses are white space (``limits (-10 20)``,
  one or several lines); keywords and tokens are case-insensitive; any line endings, tabs.
  ``:version``, ``:name``, ``:documentation`` (text up to the next ``:`` keyword) and unknown
  ``:`` sections are skipped.
- ``:units``: ``length L`` (one length unit = 1/L inch, so millimetres = value * 25.4 / L; 1.0
  when absent), ``angle deg|rad`` (the ASF's angles, and the AMC's unless its ``:DEGREES`` /
  ``:RADIANS`` says otherwise), ``mass`` (read, unused); other unit keys are ignored.
- ``:root``: ``order`` (the root's AMC values, any order and subset of TX TY TZ RX RY RZ; its
  rotation tokens are also the sequence in which the root's rotations are applied about the
  fixed world axes), ``axis`` (the rotation order of ``orientation`` only), ``position`` and
  ``orientation`` (offsets of the whole skeleton).
- ``:bonedata``: ``begin`` ... ``end`` blocks with ``name``, a ``direction`` (world frame, rest
  pose), a ``length``, ``axis ax ay az ORDER`` (the bone's local frame C: rotations by the X, Y
  and Z angles, applied in ORDER) and ``dof`` (any order and subset of rx ry rz tx ty tz l: the
  order of the bone's AMC values, and the sequence of its rotations); no ``dof`` = a fixed bone.
- ``:hierarchy``: ``parent child child ...`` lines (a parent may appear on several lines).

Composition (SciPy lower-case = extrinsic, fixed axes): a rotation sequence ``s`` (e.g. ``zyx``
from ``dof rz ry rx``) with angles ``a`` is ``Rotation.from_euler(s, a)``, i.e. the first token's
rotation is applied first. Root: ``G = M O`` with M from the AMC values in ``order``'s rotation
sequence and O the ``orientation`` in ``axis`` order; it starts at ``position`` + the AMC
translation. Bone: ``G = G_parent C M C^-1``, M from its rotation dofs in the dof line's order;
translation dofs move its start by ``G_parent C t`` (its own frame, before its rotation); the
``l`` dof adds to its length; it runs from the end of its parent to ``start + length * G @
direction``. For CMU's files (``dof rx ry rz`` or a subset in that order, ``axis ... XYZ``,
``order TX TY TZ RX RY RZ``) every choice above reduces to the usual ``Rz Ry Rx``.

AMC: ``:FULLY-SPECIFIED`` / ``:DEGREES`` / ``:RADIANS`` headers, then frames: a frame number line
and one line per bone (any order; bone names matched exactly, else ignoring case). A bone the
AMC never lists stays at rest (its values 0); so does one missing from some frames, unless the
file is ``:FULLY-SPECIFIED``; a last frame missing bones that the others list is a truncated file.
Every frame's values are checked (numbers, finite, translations within 10 km), kept or not. Both
files may start with a UTF-8 byte-order mark; a FIFO or device is refused without waiting on it.

In the :class:`~.tree.MotionTree` a joint is the *start* of each bone (named after the bone), as
in the CMU BVH conversions: joint ``lfemur`` is the hip, ``ltibia`` the knee, ``lfoot`` the
ankle, ``lhumerus`` the shoulder, ``lradius`` the elbow, ``lwrist`` the wrist, ``head`` the base
of the skull; a leaf bone's end is an End Site ``<bone>_End``.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gatepose.data.archive import DataWarning
from gatepose.errors import DataError, GateposeError
from gatepose.files import read_regular_bytes

from . import MAX_COORD_MM, is_number_text
from .tree import MotionTree

AMC_FPS = 120.0   # the CMU database's rate; AMC files do not state one
ANGLE_UNITS = {"deg": True, "degree": True, "degrees": True, "rad": False, "radian": False, "radians": False}
ROOT_CHANNELS = ("tx", "ty", "tz", "rx", "ry", "rz")
BONE_DOFS = ("rx", "ry", "rz", "tx", "ty", "tz", "l")
# ':units length' L (1 unit = 1/L inch): 1e-6 (25 km units) to 1e6 (25 nm). Beyond, the lengths
# underflow or overflow in the products of the kinematics before any plausibility check.
LENGTH_UNIT_RANGE = (1e-6, 1e6)


@dataclass(frozen=True, eq=False)
class Bone:
    name: str
    direction: np.ndarray       # (3,) unit, world rest frame (zero for a zero-length bone)
    length: float               # ASF length units
    axis_order: str             # e.g. 'XYZ': order of the axis line's rotations
    C: np.ndarray               # (3, 3) local axis frame
    dof: tuple[str, ...]        # AMC value order, e.g. ('rx', 'ry', 'rz'); () for a fixed bone
    limits: np.ndarray | None = None  # (n_dof, 2) low, high per dof (the ASF's angle unit); None if not stated

    @property
    def rot_seq(self) -> str:
        """The bone's rotation sequence from its dof line, e.g. 'xyz' ('' when it has none)."""
        return "".join(d[1] for d in self.dof if d[0] == "r")


@dataclass(frozen=True, eq=False)
class Asf:
    path: str
    length_unit: float          # ':units length' (1 unit = 1/length_unit inch)
    degrees: bool               # ':units angle'
    root_order: tuple[str, ...]  # AMC value order for the root, e.g. ('tx', ..., 'rz')
    root_axis: str              # rotation order of ':root orientation', e.g. 'XYZ'
    root_O: np.ndarray          # (3, 3) from ':root orientation'
    root_position: np.ndarray   # (3,) ':root position', length units
    bones: dict                 # name -> Bone
    parent: dict                # bone name -> parent name ('root' for the root's children)
    order: tuple[str, ...]      # bones parent-first

    @property
    def mm_per_unit(self) -> float:
        return 25.4 / self.length_unit

    @property
    def root_rot_seq(self) -> str:
        return "".join(c[1] for c in self.root_order if c[0] == "r")


def _lines(text: str):
    """[(line number, tokens)] with comments gone and commas/parentheses as white space."""
    out = []
    for i, ln in enumerate(text.splitlines()):
        t = re.sub(r"[,()]", " ", ln.split("#", 1)[0]).split()
        if t:
            out.append((i + 1, t))
    return out



def read_asf(path) -> Asf:
    """Parse an ASF skeleton file; see the module docstring."""
    path = Path(path)
    where = str(path)
    sections: dict = {}
    key = None
    for no, t in _lines(_read(path)):
        if t[0].startswith(":"):
            key = t[0][1:].lower()
            sections.setdefault(key, [])
            if t[1:]:                     # ':name VICON', ':version 1.10'
                sections[key].append((no, t[1:]))
        elif key is not None:
            sections[key].append((no, t))
    if "bonedata" not in sections:
        raise DataError(f"{where}: not an ASF skeleton: no ':bonedata' section with bones")
    if "hierarchy" not in sections:
        raise DataError(f"{where}: no ':hierarchy' section")
    # Without ':root' the AMC's root channels could only be read in an assumed order (and a lost
    # ':root' keyword would leave its lines in the section above): refused, never guessed.
    if "root" not in sections:
        raise DataError(f"{where}: no ':root' section (expected ':root' with its order, axis, position "
                        "and orientation)")
    length_unit, deg = 1.0, True
    for no, t in sections.get("units", []):
        k = t[0].lower()
        if k in ("length", "angle", "mass") and len(t) != 2:
            raise DataError(f"{where}: line {no}: ':units {k}' takes one value")
        if k == "length":
            length_unit = _float(t[1], f"{where}: line {no}: ':units length'")
            if not LENGTH_UNIT_RANGE[0] <= length_unit <= LENGTH_UNIT_RANGE[1]:
                raise DataError(f"{where}: line {no}: ':units length {t[1]}' must be positive, from "
                                f"{LENGTH_UNIT_RANGE[0]:g} to {LENGTH_UNIT_RANGE[1]:g} (1 unit = 1/length inch: "
                                "CMU's 0.45, 25.4 for mm)")
        elif k == "angle":
            if t[1].lower() not in ANGLE_UNITS:
                raise DataError(f"{where}: line {no}: ':units angle {t[1]}': expected deg or rad")
            deg = ANGLE_UNITS[t[1].lower()]
        elif k == "mass":
            _float(t[1], f"{where}: line {no}: ':units mass'")
    root = {}
    for no, t in sections.get("root", []):
        root[t[0].lower()] = (no, t[1:])
    r_order = tuple(v.lower() for v in root.get("order", (0, ["TX", "TY", "TZ", "RX", "RY", "RZ"]))[1])
    no = root.get("order", (0,))[0]
    bad = [c for c in r_order if c not in ROOT_CHANNELS]
    if bad or len(set(r_order)) != len(r_order):
        raise DataError(f"{where}: line {no}: ':root order {' '.join(r_order)}': expected distinct channels "
                        f"among {' '.join(c.upper() for c in ROOT_CHANNELS)}")
    r_axis = _order(root.get("axis", (0, ["XYZ"])), f"{where}: ':root axis'")
    orient = _vec3(root.get("orientation"), f"{where}: ':root orientation'")
    pos = _vec3(root.get("position"), f"{where}: ':root position'")
    root_O = _euler(r_axis, orient, deg)
    bones = {}
    blk = None
    for no, t in sections["bonedata"]:
        k = t[0].lower()
        if blk is not None and is_number_text(k) and "limits" in blk:
            blk["limits"][1].extend(t)   # 'limits' rows after the first, one per dof
            continue
        if k == "begin":
            if blk is not None:
                raise DataError(f"{where}: line {no}: 'begin' inside a bone (no 'end' before it)")
            blk = {"@": no}
        elif k == "end":
            if blk is None:
                raise DataError(f"{where}: line {no}: 'end' without 'begin'")
            b = _bone(blk, where, deg)
            if b.name in bones or b.name == "root":
                raise DataError(f"{where}: line {blk['@']}: bone {b.name!r} defined twice")
            bones[b.name] = b
            blk = None
        elif blk is None:
            raise DataError(f"{where}: line {no}: {t[0]!r} outside a bone's 'begin' ... 'end'")
        elif not is_number_text(k):
            blk[k] = (no, list(t[1:]))
    if blk is not None:
        raise DataError(f"{where}: line {blk['@']}: bone without 'end' (the file is truncated?)")
    if not bones:
        raise DataError(f"{where}: not an ASF skeleton: no ':bonedata' section with bones")
    parent = {}
    lower = {n.lower(): n for n in bones}
    for no, t in sections["hierarchy"]:
        if t[0].lower() in ("begin", "end"):
            continue
        p = t[0] if t[0] in bones or t[0].lower() == "root" else lower.get(t[0].lower(), t[0])
        p = "root" if p.lower() == "root" else p
        if p != "root" and p not in bones:
            raise DataError(f"{where}: line {no}: ':hierarchy' names bone {t[0]!r}, which ':bonedata' does not define")
        for c in t[1:]:
            c = c if c in bones else lower.get(c.lower(), c)
            if c not in bones:
                raise DataError(f"{where}: line {no}: ':hierarchy' names bone {c!r}, which ':bonedata' does not define")
            if c in parent and parent[c] != p:
                raise DataError(f"{where}: line {no}: bone {c!r} has two parents in ':hierarchy'")
            parent[c] = p
    orphans = [b for b in bones if b not in parent]
    if orphans:
        raise DataError(f"{where}: bone {orphans[0]!r} is not in ':hierarchy'")
    order = []
    frontier = ["root"]
    while frontier:
        p = frontier.pop(0)
        kids = [c for c in bones if parent[c] == p]
        order += kids
        frontier += kids
    if len(order) != len(bones):
        raise DataError(f"{where}: ':hierarchy' does not connect every bone to 'root'")
    return Asf(where, length_unit, deg, r_order, r_axis, root_O, pos, bones, parent, tuple(order))


def _bone(f: dict, where: str, deg: bool) -> Bone:
    if not f.get("name", (0, []))[1]:
        raise DataError(f"{where}: line {f['@']}: a bone in ':bonedata' has no name")
    name = f["name"][1][0]
    at = f"{where}: bone {name!r}"
    for k in ("direction", "length"):
        if k not in f:
            raise DataError(f"{at}: no '{k}' line")
    length = _float((f["length"][1] or [None])[0], f"{at}: length")
    if length < 0:
        raise DataError(f"{at}: length {length:g}: expected a non-negative number (the direction gives the way)")
    d = _vec3(f["direction"], f"{at}: direction")
    d = d / max(float(np.abs(d).max()), 1e-300)   # scaled first: a norm of 1e308 components overflows
    n = float(np.linalg.norm(d))
    if n == 0 and length != 0:
        raise DataError(f"{at}: direction: expected 3 numbers, not all zero")
    no, ax = f.get("axis", (0, ["0", "0", "0", "XYZ"]))
    if len(ax) != 4:
        raise DataError(f"{at}: axis: expected three angles and an order such as XYZ")
    order = _order((no, ax[3:]), f"{at}: axis")
    C = _euler(order, np.array([_float(v, f"{at}: axis") for v in ax[:3]]), deg)
    dof = tuple(v.lower() for v in f.get("dof", (0, []))[1])
    if any(v not in BONE_DOFS for v in dof) or len(set(dof)) != len(dof):
        raise DataError(f"{at}: dof {' '.join(dof)}: expected distinct tokens among {' '.join(BONE_DOFS)}")
    return Bone(name, d / n if n else d, length, order, C, dof, _limits(f.get("limits"), len(dof)))


def _limits(entry, n_dof: int) -> np.ndarray | None:
    """A bone's ``limits`` as (n_dof, 2), or None when absent or not one (low high) pair per dof:
    limits only feed the report of implausible frames, so a malformed line does not refuse a file
    whose motion is readable."""
    if entry is None or not n_dof:
        return None
    try:
        v = np.array([float(x) for x in entry[1]], dtype=np.float64)
    except ValueError:
        return None
    if v.size != 2 * n_dof or np.isnan(v).any():
        return None
    return np.sort(v.reshape(n_dof, 2), axis=1)


def _order(entry, at: str) -> str:
    no, t = entry
    o = t[0].upper() if len(t) == 1 else ""
    if sorted(o) != ["X", "Y", "Z"]:
        raise DataError(f"{at} {' '.join(t)}: expected an order of X, Y and Z such as XYZ")
    return o


def _vec3(entry, at: str) -> np.ndarray:
    if entry is None:
        return np.zeros(3)
    if len(entry[1]) != 3:
        raise DataError(f"{at}: expected 3 numbers, got {len(entry[1])}")
    return np.array([_float(v, at) for v in entry[1]])


def _euler(order: str, xyz: np.ndarray, deg: bool) -> np.ndarray:
    """Rotations by the X, Y, Z angles ``xyz`` applied in ``order`` (e.g. 'ZYX'): (3, 3)."""
    return Rotation.from_euler(order.lower(), xyz[["XYZ".index(a) for a in order]], degrees=deg).as_matrix()


def _seq_rotation(seq: str, values: np.ndarray, deg: bool) -> np.ndarray:
    """(T, 3, 3) rotations about fixed axes in the sequence ``seq`` ('zx', ...) of the angles values (T, len)."""
    if not seq:
        return np.broadcast_to(np.eye(3), (len(values), 3, 3))
    return Rotation.from_euler(seq, values, degrees=deg).as_matrix().reshape(len(values), 3, 3)


def read_amc(path, asf: Asf, step: int = 1) -> tuple[dict, int, bool | None]:
    """AMC values per bone for every ``step``-th frame: ({bone: (T, n_dof) float64}, frame count, degrees).

    ``degrees`` is what the AMC's ``:DEGREES``/``:RADIANS`` header says, None when it has none.
    """
    path = Path(path)
    where = str(path)
    frames: list[dict] = []
    starts: list[int] = []
    numbers: list[int] = []     # the file's own frame numbers
    need = {b: len(asf.bones[b].dof) for b in asf.order}
    need["root"] = len(asf.root_order)
    lower = {b.lower(): b for b in need}
    degrees = None
    full = False
    for no, t in _amc_lines(_read(path)):
        if t[0].startswith(":"):
            k = t[0][1:].upper()
            if k in ("DEGREES", "DEGREE"):
                degrees = True
            elif k in ("RADIANS", "RADIAN"):
                degrees = False
            elif k == "FULLY-SPECIFIED":
                full = True
            continue
        if len(t) == 1 and t[0].isdigit():
            frames.append({})
            starts.append(no)
            numbers.append(int(t[0]))
            continue
        if not frames:
            raise DataError(f"{where}: line {no}: values before the first frame number")
        name = t[0] if t[0] in need else lower.get(t[0].lower())
        if name is None:
            raise DataError(f"{where}: line {no}: bone {t[0]!r} is not in the skeleton {asf.path}")
        if len(t) - 1 != need[name]:
            what = " ".join(asf.root_order if name == "root" else asf.bones[name].dof) or "none"
            raise DataError(f"{where}: line {no}: {name}: {len(t) - 1} values, but the skeleton gives it "
                            f"{need[name]} dofs ({what})")
        if name in frames[-1]:
            raise DataError(f"{where}: line {no}: {name} twice in the frame of line {starts[-1]}")
        frames[-1][name] = (no, t[1:])
    if not frames:
        raise DataError(f"{where}: no frames (an AMC file lists a frame number and one line per bone)")
    jumps = np.flatnonzero(np.diff(numbers) != 1)
    if jumps.size:        # the frames are read in file order; a repeated or skipped number is said
        i = int(jumps[0])
        warnings.warn(f"{where}: line {starts[i + 1]}: frame number {numbers[i + 1]} after {numbers[i]} "
                      f"({jumps.size} such place(s)); the frames are read in file order", DataWarning, stacklevel=2)
    listed = {b for fr in frames for b in fr if need[b]}
    if len(frames) > 1:
        cut = [b for b in listed if b not in frames[-1] and all(b in fr for fr in frames[:-1])]
        if cut:
            raise DataError(f"{where}: frame at line {starts[-1]}: no values for {', '.join(cut[:3])}"
                            f"{' ...' if len(cut) > 3 else ''} (the file is truncated)")
    if full:
        for fr, no in zip(frames, starts):
            missing = [b for b in listed if b not in fr]
            if missing:
                raise DataError(f"{where}: frame at line {no}: no values for {', '.join(missing[:3])}"
                                f"{' ...' if len(missing) > 3 else ''}, but the file is :FULLY-SPECIFIED")
    # Every frame is checked, kept or not: a file with garbage in a dropped frame is still garbage.
    out = {}
    for name, n in need.items():
        have = [i for i, fr in enumerate(frames) if name in fr]
        a = np.zeros((len(frames), n))
        if have and n:
            try:
                a[have] = np.array([frames[i][name][1] for i in have], dtype=np.float64)
            except ValueError:
                for i in have:
                    [_float(v, f"{where}: line {frames[i][name][0]}: {name}") for v in frames[i][name][1]]
            bad = ~np.isfinite(a)
            if bad.any():
                i, c = (int(v) for v in np.argwhere(bad)[0])
                dofs = asf.root_order if name == "root" else asf.bones[name].dof
                raise DataError(f"{where}: line {frames[i][name][0]}: {name} {dofs[c]} is "
                                f"{frames[i][name][1][c]!r}; expected a finite number")
        t = [c for c, d in enumerate(asf.root_order if name == "root" else asf.bones[name].dof) if d[0] == "t"]
        far = np.abs(a[:, t]).max(axis=1, initial=0.0) * asf.mm_per_unit > MAX_COORD_MM
        if far.any():
            i = int(np.flatnonzero(far)[0])
            raise DataError(f"{where}: {int(far.sum())} of {len(frames)} frames translate {name} more than "
                            f"{MAX_COORD_MM / 1e6:g} km (first: line {frames[i][name][0]}): the values are garbage")
        out[name] = a[::step]
    return out, len(frames), degrees


def _amc_lines(text: str):
    out = []
    for i, ln in enumerate(text.splitlines()):
        t = ln.split("#", 1)[0].split()
        if t:
            out.append((i + 1, t))
    return out


def amc_tree(asf: Asf, amc_path, step: int = 1, fps: float = AMC_FPS) -> MotionTree:
    """Forward kinematics of an AMC clip on its ASF skeleton: a :class:`MotionTree` in mm."""
    values, n_frames, amc_deg = read_amc(amc_path, asf, step=step)
    deg = asf.degrees if amc_deg is None else amc_deg
    T = len(values["root"])
    names, parents, end = ["root"], [-1], [False]
    index = {"root": 0}
    for b in asf.order:
        index[b] = len(names)
        names.append(b)
        parents.append(index[asf.parent[b]])
        end.append(False)
    rv = values["root"]
    trans = np.zeros((T, 3))
    ang = {}
    for c, ch in enumerate(asf.root_order):
        if ch[0] == "t":
            trans[:, "xyz".index(ch[1])] = rv[:, c]
        else:
            ang[ch[1]] = rv[:, c]
    seq = asf.root_rot_seq
    M = _seq_rotation(seq, np.stack([ang[a] for a in seq], axis=1) if seq else np.zeros((T, 0)), deg)
    G = {"root": M @ asf.root_O}
    start = {"root": asf.root_position + trans}
    tip = {"root": start["root"]}            # where the root's children start
    rest_tip = {"root": np.zeros(3)}
    J = len(names) + sum(1 for b in asf.order if not any(asf.parent[c] == b for c in asf.order))
    pos = np.zeros((T, J, 3))
    rot = np.zeros((T, J, 3, 3))
    rest = np.zeros((J, 3))
    pos[:, 0], rot[:, 0] = start["root"], G["root"]
    leaf_ends = []
    for b in asf.order:
        bone = asf.bones[b]
        p = asf.parent[b]
        v = values[b]
        col = {d: v[:, i] for i, d in enumerate(bone.dof)}
        seq = bone.rot_seq
        M = _seq_rotation(seq, np.stack([col["r" + a] for a in seq], axis=1) if seq else np.zeros((T, 0)), deg)
        PC = G[p] @ bone.C
        Gb = PC @ M @ bone.C.T
        s = tip[p]
        if any(d[0] == "t" for d in bone.dof):
            t = np.stack([col.get("t" + a, np.zeros(T)) for a in "xyz"], axis=1)
            s = s + np.einsum("tij,tj->ti", PC, t)
        length = bone.length + col.get("l", 0.0)
        G[b], start[b] = Gb, s
        tip[b] = s + np.asarray(length)[..., None] * np.einsum("tij,j->ti", Gb, bone.direction)
        rest_tip[b] = rest_tip[p] + bone.length * bone.direction
        j = index[b]
        pos[:, j], rot[:, j], rest[j] = s, Gb, rest_tip[p]
        if not any(asf.parent[c] == b for c in asf.order):
            leaf_ends.append(b)
    for b in leaf_ends:
        j = len(names)
        names.append(f"{b}_End")
        parents.append(index[b])
        end.append(True)
        pos[:, j], rot[:, j], rest[j] = tip[b], G[b], rest_tip[b]
    k = asf.mm_per_unit
    return MotionTree(path=str(amc_path), names=tuple(names), parents=tuple(parents), end=tuple(end),
                      rest=rest * k, positions=pos * k, rotations=rot, fps=fps,
                      source_frame=np.arange(0, n_frames, step, dtype=np.int64), n_source_frames=n_frames,
                      units="mm", limit_excess=limit_excess(asf, values, deg))


def limit_excess(asf: Asf, values: dict, deg: bool) -> dict:
    """{bone: (T,) degrees by which the hinge's angle lies past its ASF limit (0 inside)}; ``values``
    in degrees if ``deg`` (the AMC's unit), the limits in the ASF's own ``:units angle``.

    Only bones with a single rotation dof (hinges: CMU's and HDM05's knees ``tibia``, elbows
    ``radius``, wrists, toes) are listed, their angle wrapped to [-180, 180): for two or three
    dofs the Euler angles of one rotation are not unique, so a raw comparison with the limits means
    nothing. Bones without limits are left out.
    """
    out = {}
    for b in asf.order:
        bone = asf.bones[b]
        rot = [i for i, d in enumerate(bone.dof) if d[0] == "r"]
        if bone.limits is None or len(rot) != 1:
            continue
        i = rot[0]
        a = values[b][:, i] if deg else np.degrees(values[b][:, i])        # the AMC's unit
        lo, hi = bone.limits[i] if asf.degrees else np.degrees(bone.limits[i])   # the ASF's unit
        a = (a + 180.0) % 360.0 - 180.0
        out[b] = np.maximum(0.0, np.maximum(lo - a, a - hi))
    return out


def _read(path: Path) -> str:
    try:
        text = read_regular_bytes(path).decode("utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except GateposeError as exc:        # a FIFO or device: refused at once, never waited on
        raise DataError(str(exc)) from None
    return text[1:] if text.startswith("\ufeff") else text   # a UTF-8 byte-order mark


def _float(v, at: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise DataError(f"{at}: expected a number, got {v!r}") from None
    if not np.isfinite(x):
        raise DataError(f"{at}: expected a finite number, got {v!r}")
    return x
