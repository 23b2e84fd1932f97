"""Motion capture files for the tests: the shipped CMU excerpts, and BVH, ASF and AMC text written
from a description, in the layouts the formats allow (imported as ``from mocap_files import ...``).

Every builder returns the file's text; a test writes it where it wants (``Path.write_text``), after
any damage it means to do. The formats: BVH (a joint hierarchy, then ``MOTION``, ``Frames:``,
``Frame Time:`` and one line of channel values per frame); ASF (Acclaim skeleton: units, root,
bonedata, hierarchy) and AMC (Acclaim motion: a frame number, then one ``bone values`` line per bone).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The CMU excerpts shipped with the tests (02_01.bvh, 49.asf, 49_18.amc; their README gives CMU's terms).
MOCAP_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mocap"


# -- BVH ------------------------------------------------------------------------------------------------
@dataclass
class Joint:
    """One joint of a BVH hierarchy, its values as written: ``offset`` the OFFSET line's text, the
    channel names, and either children or (a leaf) the End Site's offset text ``end``."""
    name: str
    offset: str
    channels: tuple
    children: list = field(default_factory=list)
    end: str = "0 0 0"


def bvh_text(root: Joint, frames: list, *, frame_time: str, declared=None, indent: str = " ", sep: str = " ",
             newline: str = "\n") -> str:
    """A BVH file: the hierarchy under ``root`` (each level indented by ``indent``), then ``MOTION``,
    ``Frames:`` (``declared``, by default the number of ``frames``), ``Frame Time:`` (each label
    followed by ``sep``) and the frame lines as given; lines end with ``newline``."""
    out = ["HIERARCHY"]

    def emit(j: Joint, depth: int):
        ind = indent * depth
        out.append(f"{ind}{'ROOT' if depth == 0 else 'JOINT'} {j.name}")
        out.append(ind + "{")
        out.append(f"{ind}{indent}OFFSET {j.offset}")
        out.append(f"{ind}{indent}CHANNELS {len(j.channels)} {' '.join(j.channels)}")
        for child in j.children:
            emit(child, depth + 1)
        if not j.children:
            out.extend([f"{ind}{indent}End Site", f"{ind}{indent}{{", f"{ind}{indent * 2}OFFSET {j.end}",
                        f"{ind}{indent}}}"])
        out.append(ind + "}")

    emit(root, 0)
    out += ["MOTION", f"Frames:{sep}{len(frames) if declared is None else declared}", f"Frame Time:{sep}{frame_time}"]
    out += frames
    return newline.join(out) + newline


def split_motion(text: str):
    """A BVH text cut at its ``MOTION`` keyword: (the hierarchy before it, the lines after it: '',
    'Frames: n', 'Frame Time: t', then one line per frame). :func:`join_motion` puts them back."""
    head, motion = text.split("MOTION")
    return head, motion.splitlines()


def join_motion(head: str, lines: list) -> str:
    """The BVH text of a hierarchy and the lines after ``MOTION`` (:func:`split_motion`'s parts)."""
    return head + "MOTION" + "\n".join(lines) + "\n"


def bvh_excerpt(frames: int) -> str:
    """The CMU excerpt 02_01.bvh cut to its first ``frames`` frames (``Frames:`` set to match)."""
    head, motion = (MOCAP_FIXTURES / "02_01.bvh").read_text().split("MOTION")
    lines = motion.strip().splitlines()
    return (head + "MOTION\n" + f"Frames: {frames}\n" + lines[1] + "\n"
            + "\n".join(lines[2:2 + frames]) + "\n")


# -- ASF / AMC ----------------------------------------------------------------------------------------------
def asf_text(bones: list, hierarchy: list, *, length="1.0", angle="deg", root_order="TX TY TZ RX RY RZ",
             root_axis="XYZ", position="0 0 0", orientation="0 0 0", head=(), name=None, documentation=(),
             extra_bones: str = "") -> str:
    """An ASF skeleton in CMU's layout: ``head`` lines (comments), ``:version``, ``:name`` (when
    given), ``:units`` (mass 1.0, ``length``, ``angle``), ``:documentation`` (when given), ``:root``,
    ``:bonedata`` and ``:hierarchy`` (its lines, each ``parent child ...``). Each bone is a dict of
    its fields as written: name, direction, length, axis, and optionally dof and limits (a list of
    ``(lo hi)`` texts, one per dof); ids count from 1. ``extra_bones``: bonedata text put after the
    bones as is."""
    lines = [*head, ":version 1.10", *([f":name {name}"] if name is not None else []), ":units", "  mass 1.0",
             f"  length {length}", f"  angle {angle}"]
    if documentation:
        lines += [":documentation", *("   " + d for d in documentation)]
    lines += [":root", f"   order {root_order}", f"   axis {root_axis}", f"   position {position}",
              f"   orientation {orientation}", ":bonedata"]
    for i, b in enumerate(bones):
        lines += ["  begin", f"     id {i + 1}", f"     name {b['name']}", f"     direction {b['direction']}",
                  f"     length {b['length']}", f"     axis {b['axis']}"]
        if b.get("dof"):
            lines.append(f"    dof {b['dof']}")
            limits = b.get("limits") or []
            lines += [f"    limits {x}" if k == 0 else f"           {x}" for k, x in enumerate(limits)]
        lines.append("  end")
    lines += extra_bones.splitlines()
    lines += [":hierarchy", "  begin", *("    " + h for h in hierarchy), "  end"]
    return "\n".join(lines) + "\n"


def amc_text(frames: list, *, head=(":FULLY-SPECIFIED", ":DEGREES"), first_frame: int = 1) -> str:
    """An AMC motion: the ``head`` lines, then for each frame its number (from ``first_frame``) and
    its lines as given (``bone v1 v2 ...``)."""
    lines = list(head)
    for k, frame in enumerate(frames):
        lines.append(str(first_frame + k))
        lines += frame
    return "\n".join(lines) + "\n"


def amc_excerpt(frames: int, edit=None) -> str:
    """The CMU excerpt 49_18.amc cut to its first ``frames`` frames; ``edit(frame number, line)``
    may change the frames' lines (each with its newline)."""
    out, frame = [], 0
    for ln in (MOCAP_FIXTURES / "49_18.amc").read_text().splitlines(keepends=True):
        if ln.strip().isdigit():
            frame = int(ln)
            if frame > frames:
                break
        out.append(edit(frame, ln) if edit and frame else ln)
    return "".join(out)
