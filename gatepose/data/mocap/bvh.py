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

The hierarchy and the MOTION header are white-space separated tokens, as the format is (a joint's
``{`` and ``OFFSET`` on its own line, or a whole hierarchy on one line, read alike; a joint's name
is the rest of its keyword's line up to ``{``); frame lines are one per line. A UTF-8 byte-order
mark and any line endings (CR-only included) are read.

Every problem (missing section, unbalanced braces, unknown or repeated channel, more than three
rotation channels or one axis twice in a row (``Zrotation Zrotation Xrotation``; a proper Euler
order such as ZXZ is read), a frame line with the wrong number of values, a non-number, NaN or
inf, no frame lines, zero frames, a Frame Time outside 1/100000-3600 s) is one
:class:`~gatepose.errors.DataError` naming the file and the line. A FIFO or device is refused
without waiting on it. A ``Frames:`` count that disagrees with the number of (complete) frame
lines is a :class:`DataWarning`, and the lines that are there are read, as Blender does.

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
from gatepose.errors import DataError, GateposeError
from gatepose.files import atomic_open, read_regular_bytes

from . import MAX_FPS, MIN_FPS, is_number_text
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
        data = read_regular_bytes(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except GateposeError as exc:
        raise DataError(str(exc)) from None
    return parse_bvh(data.decode("utf-8", errors="replace"), str(path))


def _tokens(lines, first: int = 0, first_col: int = 0):
    """(token, line index) for every white-space separated token from ``lines[first]`` (from
    column ``first_col``) on; braces are tokens of their own even when written against a word."""
    for i in range(first, len(lines)):
        ln = lines[i][first_col:] if i == first else lines[i]
        for t in ln.replace("{", " { ").replace("}", " } ").split():
            yield t, i


def parse_bvh(text: str, where: str = "<bvh>") -> Bvh:
    """Parse BVH ``text``; ``where`` names the source in error messages.

    The hierarchy and the MOTION header are read as white-space separated tokens (so a joint's
    ``{`` and OFFSET may share its line, or the whole hierarchy one line); frames are one per line.
    """
    if text.startswith("\ufeff"):         # a UTF-8 byte-order mark, as Windows editors write it
        text = text[1:]
    lines = text.splitlines()
    toks = list(_hierarchy_tokens(lines))
    if not toks or toks[0][0].upper() != "HIERARCHY":
        raise DataError(f"{where}: not a BVH file: expected 'HIERARCHY' first")
    if toks[-1][0].upper() != "MOTION":
        raise DataError(f"{where}: no MOTION section (the file is truncated or not a BVH file)")
    i_motion = toks[-1][1]
    names, parents, end, offsets, channels = _hierarchy(toks[1:-1], where)

    n_frames, frame_time, k, col = _motion_header(lines, i_motion, where)
    n_ch = sum(len(c) for c in channels)
    rows = [(i, ln) for i, ln in enumerate([lines[k][col:]] + lines[k + 1:], k) if ln.strip()]
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
        f, c = (int(v) for v in np.argwhere(~np.isfinite(motion))[0])
        j = next(j for j in range(len(channels)) if sum(len(x) for x in channels[:j + 1]) > c)
        raise DataError(f"{where}: line {rows[f][0] + 1}: frame {f}: {names[j]} "
                        f"{channels[j][c - sum(len(x) for x in channels[:j])]} is "
                        f"{motion[f, c]}; expected a finite number")
    return Bvh(where, tuple(names), tuple(parents), tuple(end), np.array(offsets, dtype=np.float64),
               tuple(channels), frame_time, motion)


def _hierarchy_tokens(lines):
    """The tokens from the start up to and including the first MOTION token."""
    for t, i in _tokens(lines):
        yield t, i
        if t.upper() == "MOTION":
            return


def _hierarchy(toks, where: str):
    """Joints from the tokens between HIERARCHY and MOTION: (names, parents, end, offsets, channels)."""
    names, parents, end, offsets, channels = [], [], [], [], []
    stack: list[int] = []
    n = len(toks)
    k = 0

    def at(i):
        return f"{where}: line {toks[min(i, n - 1)][1] + 1}" if n else where

    def open_joint(k, name, is_end):
        if k >= n or toks[k][0] != "{":
            got = f"{toks[k][0]!r}" if k < n else "the end of the hierarchy"
            raise DataError(f"{at(k)}: expected '{{' after {'End Site' if is_end else repr(name)}, got {got}")
        if is_end and stack and end[stack[-1]]:
            raise DataError(f"{at(k)}: End Site inside an End Site")
        if not is_end and name in (names[j] for j in range(len(names)) if not end[j]):
            raise DataError(f"{at(k)}: joint {name!r} defined twice")
        names.append(name)
        parents.append(stack[-1] if stack else -1)
        end.append(is_end)
        offsets.append(None)
        channels.append(None)
        stack.append(len(names) - 1)
        return k + 1

    while k < n:
        t, line = toks[k]
        up = t.upper()
        if up in ("ROOT", "JOINT"):
            if (up == "ROOT") != (not stack):
                raise DataError(f"{at(k)}: {'ROOT inside a joint' if up == 'ROOT' else 'JOINT outside ROOT'}")
            if stack and end[stack[-1]]:
                raise DataError(f"{at(k)}: JOINT inside an End Site")
            # the name: the rest of the keyword's line up to '{' (names with spaces exist)
            m = k + 1
            while m < n and toks[m][1] == line and toks[m][0] not in "{}":
                m += 1
            if m == k + 1:
                raise DataError(f"{at(k)}: {t} without a name (expected the name on the {t}'s line)")
            k = open_joint(m, " ".join(x for x, _ in toks[k + 1:m]), False)
        elif up == "END":
            if not stack:
                raise DataError(f"{at(k)}: End Site outside ROOT")
            k += 2 if k + 1 < n and toks[k + 1][0].upper() == "SITE" else 1
            k = open_joint(k, f"{names[stack[-1]]}_End", True)
        elif t == "{":
            raise DataError(f"{at(k)}: '{{' without a ROOT, JOINT or End Site before it")
        elif t == "}":
            if not stack:
                raise DataError(f"{at(k)}: '}}' without a matching '{{'")
            j = stack.pop()
            if offsets[j] is None:
                raise DataError(f"{at(k)}: joint {names[j]!r} has no OFFSET")
            if channels[j] is None:
                channels[j] = ()
            k += 1
        elif up == "OFFSET":
            if not stack:
                raise DataError(f"{at(k)}: OFFSET outside a joint")
            j = stack[-1]
            if offsets[j] is not None:
                raise DataError(f"{at(k)}: a second OFFSET for {names[j]!r}")
            offsets[j] = _numbers([x for x, _ in toks[k + 1:k + 4]], 3, f"{at(k)}: OFFSET of {names[j]!r}")
            k += 4
        elif up == "CHANNELS":
            if not stack or end[stack[-1]]:
                raise DataError(f"{at(k)}: CHANNELS outside a joint (End Sites have none)")
            j = stack[-1]
            if channels[j] is not None:
                raise DataError(f"{at(k)}: a second CHANNELS line for {names[j]!r}")
            channels[j] = _channels(toks, k, at(k), names[j])
            k += 2 + len(channels[j])
        else:
            raise DataError(f"{at(k)}: unexpected {t!r} in the hierarchy")
    if stack:
        raise DataError(f"{where}: the hierarchy ends with unclosed braces (the file is truncated or malformed)")
    if not names:
        raise DataError(f"{where}: no ROOT joint in the hierarchy")
    return names, parents, end, offsets, channels


def _channels(toks, k: int, at: str, joint: str) -> tuple[str, ...]:
    """The channel names after ``CHANNELS n`` at token k, checked: known, no channel twice, at
    most three rotations and no axis twice in a row (a proper Euler order such as ZXZ is fine)."""
    try:
        n = int(toks[k + 1][0])
    except (IndexError, ValueError):
        raise DataError(f"{at}: CHANNELS must be followed by a count") from None
    if not 0 <= n <= 6:
        raise DataError(f"{at}: CHANNELS {n}: expected a count from 0 to 6")
    got = [x for x, _ in toks[k + 2:k + 2 + n]]
    if len(got) != n:
        raise DataError(f"{at}: CHANNELS {n}: expected {n} channel names, got {len(got)}")
    unknown = [c for c in got if c.lower() not in _CHANNEL_KEY]
    if unknown:
        raise DataError(f"{at}: unknown channel {unknown[0]!r} (or CHANNELS {n} is not the number of channel "
                        f"names); expected one of {', '.join(_CHANNELS)}")
    chans = tuple(_CHANNEL_KEY[c.lower()] for c in got)
    pos = [c for c in chans if c.endswith("position")]
    rot = "".join(c[0] for c in chans if c.endswith("rotation"))
    what = f"{at}: CHANNELS of {joint!r} ({' '.join(chans)})"
    if len(set(pos)) != len(pos):
        raise DataError(f"{what}: a position channel twice")
    if len(rot) > 3:
        raise DataError(f"{what}: {len(rot)} rotation channels; expected at most 3")
    if any(a == b for a, b in zip(rot, rot[1:])):
        raise DataError(f"{what}: the rotation order {rot} turns about one axis twice in a row; expected an "
                        "Euler order such as ZXY (or a proper one such as ZXZ)")
    return chans


def _motion_header(lines, i_motion: int, where: str):
    """(Frames, Frame Time, line index, column) from the tokens after MOTION; the frames start at
    that column of that line (just after the last header value).

    ``Frames:`` and ``Frame Time:`` in either order, the colon against the word or apart, on any
    lines."""
    def pieces():
        col = lines[i_motion].upper().index("MOTION") + len("MOTION")
        for i in range(i_motion, len(lines)):
            for m in re.finditer(r"[^\s:]+|:", lines[i][col if i == i_motion else 0:]):
                yield m.group(), i, m.end() + (col if i == i_motion else 0)

    it = pieces()
    n_frames = frame_time = None
    last, end_col = i_motion, len(lines[i_motion])
    while n_frames is None or frame_time is None:
        w = next(it, None)
        if w is None:
            break
        word = w[0].lower()
        if word == "frames" and n_frames is None:
            key = "Frames"
        elif word == "frame" and frame_time is None and (next(it, ("",))[0].lower() == "time"):
            key = "Frame Time"
        else:
            break
        colon, v = next(it, None), next(it, None)
        if colon is None or colon[0] != ":" or v is None:
            raise DataError(f"{where}: line {w[1] + 1}: expected '{key}: value'")
        value, last, end_col = v
        try:
            if key == "Frames":
                n_frames = int(value)
            else:
                frame_time = float(value)
        except ValueError:
            what = "a whole number" if key == "Frames" else "a number"
            raise DataError(f"{where}: line {last + 1}: {key}: expected {what}, got {value!r}") from None
    if n_frames is None or frame_time is None:
        raise DataError(f"{where}: MOTION needs 'Frames:' and 'Frame Time:' lines")
    if n_frames <= 0:
        raise DataError(f"{where}: line {last + 1}: Frames: {n_frames}; expected at least one frame")
    if not (math.isfinite(frame_time) and 1 / MAX_FPS <= frame_time <= 1 / MIN_FPS):
        raise DataError(f"{where}: line {last + 1}: Frame Time: {frame_time:g}; expected a time between "
                        f"{1 / MAX_FPS:g} and {1 / MIN_FPS:g} seconds ({MIN_FPS:.3g} to {MAX_FPS:g} frames/s)")
    return n_frames, frame_time, last, end_col


def _numbers(vals, n: int, at: str) -> np.ndarray:
    if len(vals) != n:
        raise DataError(f"{at}: expected {n} numbers, got {len(vals)}")
    try:
        out = np.array([float(v) for v in vals], dtype=np.float64)
    except ValueError:
        bad = next(v for v in vals if not is_number_text(v))
        raise DataError(f"{at}: expected a number, got {bad!r}") from None
    if not np.isfinite(out).all():
        raise DataError(f"{at}: NaN or inf among the values")
    return out



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
    out += ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {frame_time:.8f}" if frame_time >= 1e-3
            else f"Frame Time: {frame_time:.8g}"]   # fixed point keeps too few digits for fast rates
    out += [" ".join(_fmt(v, decimals) for v in row) for row in motion]
    try:
        with atomic_open(Path(path), "w") as f:
            f.write("\n".join(out) + "\n")
    except OSError as exc:
        raise DataError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def _fmt(v: float, decimals: int) -> str:
    s = f"{v:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s
