"""BVH (Biovision Hierarchy) files: gatepose's own reader and writer (NumPy and SciPy only).

Reading follows the format as the common tools (Blender, MotionBuilder) read it:

- ``HIERARCHY``: ``ROOT``/``JOINT`` blocks with an ``OFFSET`` (the joint's position in its
  parent's frame) and a ``CHANNELS`` line per joint, read for every joint on its own: any number
  of position and rotation channels in any order; ``End Site`` blocks hold an ``OFFSET`` only.
- ``MOTION``: ``Frames:``, ``Frame Time:`` and one line per frame with every joint's channel
  values in hierarchy order.
- A joint's local transform: translation = its ``OFFSET``, with each position channel present
  replacing that axis (so a root with ``Xposition Yposition Zposition`` is placed at the channel
  values, as Blender does); rotation = the rotation channels in the order they are listed, as
  intrinsic rotations (``Zrotation Xrotation Yrotation`` is R = Rz Rx Ry), built by
  ``scipy.spatial.transform.Rotation.from_euler`` with upper-case (intrinsic) axes, degrees.
- World: ``p_child = p_joint + G_joint @ translation_child``, ``G_child = G_joint @ R_child``.

Every problem (missing section, unbalanced braces, unknown channel, a frame line with the wrong
number of values or a non-number, no frame lines, zero frames) is one
:class:`~gatepose.errors.DataError` naming the file and the line. A ``Frames:`` count that
disagrees with the number of (complete) frame lines is a :class:`DataWarning`, and the lines that
are there are read, as Blender does.

The writer (:func:`write_bvh`) takes a hierarchy with offsets and per-frame values and writes a
file that this reader, Blender and the bvhio library read back to the same joint positions.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gatepose.data.archive import DataWarning
from gatepose.errors import DataError
from gatepose.files import atomic_open

from .tree import MotionTree

_CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CHANNEL_KEY = {c.lower(): c for c in _CHANNELS}


@dataclass(frozen=True, eq=False)
class Bvh:
    """A parsed BVH file. Channels are listed per joint (End Sites have none)."""

    path: str
    names: tuple[str, ...]                 # (J,) joints in file order; End Sites '<parent>_End'
    parents: tuple[int, ...]               # (J,)
    end: tuple[bool, ...]                  # (J,)
    offsets: np.ndarray                    # (J, 3) float64
    channels: tuple[tuple[str, ...], ...]  # (J,) channel names, canonical spelling
    frame_time: float                      # seconds
    motion: np.ndarray                     # (F, C) float64, C = total channels

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])


def read_bvh(path) -> Bvh:
    """Parse the BVH file at ``path``; see the module docstring."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_bvh(text, str(path))


def parse_bvh(text: str, where: str = "<bvh>") -> Bvh:
    """Parse BVH ``text``; ``where`` names the source in error messages."""
    lines = text.splitlines()
    i_motion = next((i for i, ln in enumerate(lines) if ln.strip().upper().startswith("MOTION")), None)
    if not lines or not lines[0].strip().upper().startswith("HIERARCHY"):
        raise DataError(f"{where}: not a BVH file: expected 'HIERARCHY' on the first line")
    if i_motion is None:
        raise DataError(f"{where}: no MOTION section (the file is truncated or not a BVH file)")

    names, parents, end, offsets, channels = [], [], [], [], []
    stack: list[int] = []
    pending = None        # joint declared, waiting for its '{'
    for ln_no in range(1, i_motion):
        toks = lines[ln_no].replace("{", " { ").replace("}", " } ").split()
        k = 0
        while k < len(toks):
            t, up = toks[k], toks[k].upper()
            at = f"{where}: line {ln_no + 1}"
            if up in ("ROOT", "JOINT"):
                if k + 1 >= len(toks):
                    raise DataError(f"{at}: {t} without a name")
                if (up == "ROOT") != (not stack):
                    raise DataError(f"{at}: {'ROOT inside a joint' if up == 'ROOT' else 'JOINT outside ROOT'}")
                pending = (" ".join(toks[k + 1:]).replace("{", "").strip(), False)
                k = len(toks) if "{" not in toks[k + 1:] else toks.index("{", k + 1)
                continue
            if up == "END":
                parent_name = names[stack[-1]] if stack else "?"
                pending = (f"{parent_name}_End", True)
                k += 2 if k + 1 < len(toks) and toks[k + 1].upper() == "SITE" else 1
                continue
            if t == "{":
                if pending is None:
                    raise DataError(f"{at}: '{{' without a ROOT, JOINT or End Site before it")
                if pending[1] and stack and end[stack[-1]]:
                    raise DataError(f"{at}: End Site inside an End Site")
                names.append(pending[0])
                parents.append(stack[-1] if stack else -1)
                end.append(pending[1])
                offsets.append(None)
                channels.append(())
                stack.append(len(names) - 1)
                pending = None
            elif t == "}":
                if not stack:
                    raise DataError(f"{at}: '}}' without a matching '{{'")
                j = stack.pop()
                if offsets[j] is None:
                    raise DataError(f"{at}: joint {names[j]!r} has no OFFSET")
            elif up == "OFFSET":
                vals = toks[k + 1:k + 4]
                offsets[stack[-1]] = _numbers(vals, 3, f"{at}: OFFSET of {names[stack[-1]]!r}")
                k += 4
                continue
            elif up == "CHANNELS":
                if not stack or end[stack[-1]]:
                    raise DataError(f"{at}: CHANNELS outside a joint")
                try:
                    n = int(toks[k + 1])
                except (IndexError, ValueError):
                    raise DataError(f"{at}: CHANNELS must be followed by a count") from None
                got = toks[k + 2:k + 2 + n]
                if len(got) != n or n > 6:
                    raise DataError(f"{at}: CHANNELS {n}: expected {n} channel names (at most 6), got {len(got)}")
                try:
                    channels[stack[-1]] = tuple(_CHANNEL_KEY[c.lower()] for c in got)
                except KeyError as exc:
                    raise DataError(f"{at}: unknown channel {exc.args[0]!r}; expected one of "
                                    f"{', '.join(_CHANNELS)}") from None
                k += 2 + n
                continue
            elif up == "HIERARCHY":
                pass
            else:
                raise DataError(f"{at}: unexpected {t!r} in the hierarchy")
            k += 1
    if stack or pending is not None:
        raise DataError(f"{where}: the hierarchy ends with unclosed braces (the file is truncated or malformed)")
    if not names:
        raise DataError(f"{where}: no ROOT joint in the hierarchy")

    n_frames = frame_time = None
    k = i_motion + 1
    for _ in range(2):
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k >= len(lines):
            break
        m = re.match(r"\s*(Frames|Frame\s+Time)\s*:\s*(\S+)\s*$", lines[k], re.I)
        if not m:
            break
        try:
            if m.group(1).lower() == "frames":
                n_frames = int(m.group(2))
            else:
                frame_time = float(m.group(2))
        except ValueError:
            raise DataError(f"{where}: line {k + 1}: {m.group(1)}: expected a number, got {m.group(2)!r}") from None
        k += 1
    if n_frames is None or frame_time is None:
        raise DataError(f"{where}: MOTION needs 'Frames:' and 'Frame Time:' lines")
    if n_frames <= 0:
        raise DataError(f"{where}: Frames: {n_frames}; expected at least one frame")
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise DataError(f"{where}: Frame Time: {frame_time}; expected a positive number of seconds")

    n_ch = sum(len(c) for c in channels)
    rows = [(i, ln) for i, ln in enumerate(lines[k:], k) if ln.strip()]
    if not rows:
        raise DataError(f"{where}: Frames: {n_frames} but no frame lines (the file is truncated)")
    if len(rows) != n_frames:
        # Hand-trimmed files often keep the old count; Blender and bvhio read the lines that are
        # there, and so does gatepose, saying so. A cut inside a line is still an error below.
        warnings.warn(f"{where}: Frames: {n_frames} but {len(rows)} frame lines; reading the {len(rows)}",
                      DataWarning, stacklevel=2)
        n_frames = len(rows)
    # One fast conversion; on failure, find the offending line for the message.
    try:
        motion = np.array(" ".join(ln for _, ln in rows).split(), dtype=np.float64)
    except ValueError:
        motion = None
    if motion is None or motion.size != n_frames * n_ch:
        for i, ln in rows:
            vals = ln.split()
            if len(vals) != n_ch:
                cut = " (the file is truncated)" if i == rows[-1][0] and len(vals) < n_ch else ""
                raise DataError(f"{where}: line {i + 1}: {len(vals)} values, but the hierarchy has {n_ch} "
                                f"channels{cut}")
            _numbers(vals, n_ch, f"{where}: line {i + 1}")
    motion = motion.reshape(n_frames, n_ch)
    if not np.isfinite(motion).all():
        f = int(np.argwhere(~np.isfinite(motion))[0][0])
        raise DataError(f"{where}: line {rows[f][0] + 1}: NaN or inf among the channel values")
    return Bvh(where, tuple(names), tuple(parents), tuple(end), np.array(offsets, dtype=np.float64),
               tuple(channels), frame_time, motion)


def _numbers(vals, n: int, at: str) -> np.ndarray:
    if len(vals) != n:
        raise DataError(f"{at}: expected {n} numbers, got {len(vals)}")
    try:
        out = np.array([float(v) for v in vals], dtype=np.float64)
    except ValueError:
        bad = next(v for v in vals if not _is_float(v))
        raise DataError(f"{at}: expected a number, got {bad!r}") from None
    if not np.isfinite(out).all():
        raise DataError(f"{at}: NaN or inf among the values")
    return out


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def forward_kinematics(bvh: Bvh, frames=None) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, J, 3) and segment rotations (T, J, 3, 3) for the selected frames.

    ``frames``: indices into the file's frames (all when None). End Sites get their parent's
    rotation.
    """
    motion = bvh.motion if frames is None else bvh.motion[np.asarray(frames)]
    T, J = motion.shape[0], len(bvh.names)
    pos = np.zeros((T, J, 3))
    rot = np.zeros((T, J, 3, 3))
    col = 0
    for j in range(J):
        chans = bvh.channels[j]
        values = motion[:, col:col + len(chans)]
        col += len(chans)
        trans = np.broadcast_to(bvh.offsets[j], (T, 3)).copy()
        order, angles = "", []
        for c, name in enumerate(chans):
            axis = "XYZ".index(name[0])
            if name.endswith("position"):
                trans[:, axis] = values[:, c]
            else:
                order += name[0]
                angles.append(values[:, c])
        local = (Rotation.from_euler(order, np.stack(angles, 1), degrees=True).as_matrix() if order
                 else np.broadcast_to(np.eye(3), (T, 3, 3)))
        p = bvh.parents[j]
        if p < 0:
            pos[:, j] = trans
            rot[:, j] = local
        else:
            pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], trans)
            rot[:, j] = rot[:, p] @ local
    return pos, rot


def rest_positions(bvh: Bvh) -> np.ndarray:
    """(J, 3) world positions with every channel at zero rotation and the root at its OFFSET."""
    pos = np.zeros((len(bvh.names), 3))
    for j, p in enumerate(bvh.parents):
        pos[j] = bvh.offsets[j] + (pos[p] if p >= 0 else 0.0)
    return pos


def bvh_tree(bvh: Bvh, frames=None) -> MotionTree:
    """The :class:`MotionTree` of the selected frames of ``bvh`` (file units)."""
    frames = np.arange(bvh.n_frames) if frames is None else np.asarray(frames, dtype=np.int64)
    pos, rot = forward_kinematics(bvh, frames)
    return MotionTree(path=bvh.path, names=bvh.names, parents=bvh.parents, end=bvh.end,
                      rest=rest_positions(bvh), positions=pos, rotations=rot, fps=bvh.fps,
                      source_frame=frames, n_source_frames=bvh.n_frames)


def write_bvh(path, names, parents, offsets, channels, motion, frame_time: float, decimals: int = 6) -> None:
    """Write a BVH file atomically.

    names (J,), parents (J,) parent-first with -1 for the root, offsets (J, 3), channels (J,) tuples
    of channel names (an empty tuple for a leaf makes it an ``End Site``), motion (F, C) values in
    joint then channel order, frame_time in seconds.
    """
    J = len(names)
    kids = [[c for c in range(J) if parents[c] == j] for j in range(J)]
    out = ["HIERARCHY"]

    def emit(j, depth):
        ind = "  " * depth
        if parents[j] >= 0 and not channels[j] and not kids[j]:
            out.append(f"{ind}End Site")
        else:
            out.append(f"{ind}{'ROOT' if parents[j] < 0 else 'JOINT'} {names[j]}")
        out.append(f"{ind}{{")
        out.append(f"{ind}  OFFSET " + " ".join(_fmt(v, decimals) for v in offsets[j]))
        if channels[j]:
            out.append(f"{ind}  CHANNELS {len(channels[j])} {' '.join(channels[j])}")
        for c in kids[j]:
            emit(c, depth + 1)
        out.append(f"{ind}}}")

    emit(0, 0)
    motion = np.asarray(motion, dtype=np.float64)
    out += ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {frame_time:.8f}"]
    out += [" ".join(_fmt(v, decimals) for v in row) for row in motion]
    try:
        with atomic_open(Path(path), "w") as f:
            f.write("\n".join(out) + "\n")
    except OSError as exc:
        raise DataError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def _fmt(v: float, decimals: int) -> str:
    s = f"{v:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s
