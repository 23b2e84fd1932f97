"""Rig joints to the Human3.6M 17-joint layout (``h36m17``), by name and by the hierarchy.

**Names.** Each joint name is normalised: the part after the last ``:`` or ``|`` (so
``mixamorig:LeftArm`` and Maya namespaces lose their prefix), split into words at separators,
case changes and digits (``LHipJoint`` -> L, Hip, Joint; ``UpperLeg_L`` -> Upper, Leg, L), any
leading words dropped (``Bip01 L Thigh``, ``Character1_LeftUpLeg``), a side read from a first or
last word ``l``/``left``/``r``/``right`` or an ``l``/``r`` prefix of the joined words (``lfemur``,
``rradius``, OptiTrack's ``LUArm``/``LFArm``), and the remaining words joined in lower case. That core is looked up in
:data:`SYNONYMS`: for instance a hip is ``upleg``, ``upperleg``, ``thigh``, ``femur`` or ``hip``;
a knee ``leg``, ``lowerleg``, ``calf``, ``shin``, ``tibia`` or ``knee``. This covers CMU's ASF
names, the MotionBuilder-style CMU BVH conversions (``Hips/LeftUpLeg/LeftLeg/LeftFoot``), the
DAZ/3ds Max-style ones (``lThigh/lShin/lFoot/lShldr/lForeArm/lHand``), Mixamo (``mixamorig:``),
3ds Max biped (``Bip01 L Calf``) and generic ``UpperLeg_L``/``LowerArm_R`` names.

**Hierarchy.** Several joints may match one role (``LeftShoulder`` and ``LeftArm`` both look like
a shoulder; ASF's ``lwrist`` and ``lhand`` both like a wrist). For each limb the chain
hip -> knee -> ankle (shoulder -> elbow -> wrist) is chosen among the candidates so that each is an
ancestor of the next, with the fewest joints between them: the clavicle (``LeftShoulder``) loses
to the upper arm (``LeftArm``) because the arm lies closer to the elbow.

Where a limb ends at its elbow or knee (no hand or foot joint), that joint's only End Site is
taken as the wrist or ankle.

**Synthesised joints** (most rigs lack them; the rule shifts the errors measured on them):

- Pelvis = midpoint of the two hips.
- Thorax = midpoint of the two shoulders.
- Spine = midpoint of Pelvis and Thorax.
- Neck/Nose = the rig's head joint (the base of the skull: ``head``, ``Head``).
- Head (top) = the head joint plus ``HEAD_FRACTION`` (0.19) times the rest-pose distance from
  Pelvis to the head joint, along the head segment's direction: the rest direction of the head's
  end (an End Site, ``HeadTop_End``, ASF's head bone) turned with the head's rotation, or, where
  the rig has no such end (DAZ: only eyes; Bandai-Namco: an End Site at the head joint itself,
  offset 0 0 0, which gives no direction), the rest-pose upward direction Pelvis -> head joint
  turned with the head's rotation. 0.19 is Human3.6M's Neck/Nose-Head bone over its
  Pelvis-Neck/Nose distance (about 115 / 600 mm).

A rig holding all 17 Human3.6M names (``Pelvis, RHip, ..., RWrist``, as written by gatepose's
BVH export) is mapped one to one, nothing synthesised. A user's ``--joint-map`` JSON maps any
Human3.6M joint (``"LKnee"`` or ``"l_knee"``) to a rig joint name; mapped joints are used as given
(also Pelvis, Spine, Thorax, Neck, Head), the others are found by name as above.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatepose.errors import DataError, GateposeError
from gatepose.files import read_regular_bytes

from ..skeleton import get_skeleton
from .tree import MotionTree

H36M_NAMES = ("Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax", "Neck",
              "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")
_GP_NAMES = get_skeleton("h36m17").joint_names   # pelvis, r_hip, ...
HEAD_FRACTION = 0.19

#: Normalised name cores per role (see the module docstring).
SYNONYMS = {
    "hip": ("upleg", "upperleg", "thigh", "femur", "hip", "legupper", "uleg", "thighbone"),
    "knee": ("leg", "lowerleg", "lowleg", "calf", "shin", "tibia", "knee", "leglower", "crus", "shank"),
    "ankle": ("ankle", "foot", "talus"),
    "shoulder": ("upperarm", "arm", "uparm", "humerus", "shldr", "shoulder", "armupper", "uarm"),
    "elbow": ("forearm", "lowerarm", "lowarm", "elbow", "radius", "ulna", "armlower", "farm"),
    "wrist": ("wrist", "hand"),
    "head": ("head", "skull"),
    "headtop": ("headtop", "headtopend", "headend", "headnub", "headtip", "headsite", "top", "topend",
                "end", "nub"),
}
_SIDES = {"l": "l", "left": "l", "r": "r", "right": "r"}
_LIMBS = (("leg", ("hip", "knee", "ankle")), ("arm", ("shoulder", "elbow", "wrist")))


def words(name: str) -> list[str]:
    """'mixamorig:LeftUpLeg' -> ['Left', 'Up', 'Leg']; 'UpperLeg_L' -> ['Upper', 'Leg', 'L']."""
    name = re.split(r"[:|]", name)[-1]
    return re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)


def interpretations(name: str, start: int = 0):
    """Yield (side, core) readings of a joint name after dropping its first ``start`` words."""
    rest = [t.lower() for t in words(name)[start:]]
    if not rest:
        return
    if rest[0] in _SIDES and len(rest) > 1:
        yield _SIDES[rest[0]], "".join(rest[1:])
    if rest[-1] in _SIDES and len(rest) > 1:
        yield _SIDES[rest[-1]], "".join(rest[:-1])
    joined = "".join(rest)
    if len(joined) > 2 and joined[0] in "lr":     # lfemur, OptiTrack's LUArm/LFArm (words LU, Arm)
        yield joined[0], joined[1:]
    yield None, "".join(rest)


def roles(name: str) -> list[tuple[str, str | None, int]]:
    """(role, side, priority) for every role the name can play (priority: index in SYNONYMS).

    Leading words are dropped one at a time (prefixes such as ``Bip01`` or ``Character1``) until
    some reading matches; the first that does is used, so ``UpperLeg_L`` is a hip and never,
    by dropping ``Upper``, a knee.
    """
    for start in range(len(words(name))):
        out = [(role, side, cores.index(core)) for side, core in interpretations(name, start)
               for role, cores in SYNONYMS.items() if core in cores]
        if out:
            return out
    return []


@dataclass(frozen=True)
class RigMap:
    """Where each h36m17 joint comes from in a :class:`MotionTree`."""

    direct: dict                 # h36m17 index -> tree joint index, for joints taken as they are
    skull: int | None            # the rig's head joint (Neck/Nose, and the base of the synthesised Head)
    head_end: int | None         # a tree joint giving the rest direction of the head segment
    described: dict              # H36M name -> 'rig joint' or 'synthesised: rule' (for the summary)


def load_joint_map(path) -> dict:
    """A user's JSON mapping {H36M joint: rig joint name} -> {h36m17 index: name}."""
    path = Path(path)
    try:
        raw = json.loads(read_regular_bytes(path).decode("utf-8-sig"))
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except GateposeError as exc:         # a FIFO or device
        raise DataError(str(exc)) from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise DataError(f'{path}: expected a JSON object {{"LKnee": "rig joint name", ...}}')
    out = {}
    keys = {n.lower(): i for i, n in enumerate(H36M_NAMES)} | {n: i for i, n in enumerate(_GP_NAMES)}
    keys |= {"neck/nose": 9, "nose": 9}
    for k, v in raw.items():
        i = keys.get(k.lower())
        if i is None:
            raise DataError(f"{path}: unknown Human3.6M joint {k!r}; expected one of {', '.join(H36M_NAMES)}")
        out[i] = v
    return out


def match_rig(tree: MotionTree, joint_map: dict | None = None) -> RigMap:
    """Find every h36m17 joint in ``tree`` (see the module docstring); a DataError names what is missing."""
    names = tree.names
    lower = {n.lower(): j for j, n in enumerate(names)}
    direct, described = {}, {}
    for i, rig_name in (joint_map or {}).items():
        j = lower.get(rig_name.lower())
        if j is None:
            raise DataError(f"{tree.path}: --joint-map maps {H36M_NAMES[i]} to {rig_name!r}, which this rig "
                            f"does not have")
        direct[i] = j
    if not direct and all(n.lower() in lower for n in H36M_NAMES):   # gatepose's own export
        direct = {i: lower[n.lower()] for i, n in enumerate(H36M_NAMES)}
    cands: dict = {}
    for j, n in enumerate(names):
        for role, side, prio in roles(n):
            if tree.end[j] and role != "headtop":
                continue
            cands.setdefault((role, side), []).append((j, prio))
    # A rig whose limb ends at the elbow or knee (no hand or foot joint): that joint's only End
    # Site is the wrist or ankle.
    for (mid, last) in (("knee", "ankle"), ("elbow", "wrist")):
        for side in "rl":
            if not cands.get((last, side)):
                for j, _ in cands.get((mid, side), []):
                    ends = [c for c in tree.children(j) if tree.end[c]]
                    if len(ends) == 1 and not [c for c in tree.children(j) if not tree.end[c]]:
                        cands.setdefault((last, side), []).append((ends[0], 99))
    missing = []
    for limb, chain in _LIMBS:
        for side in "rl":
            idx = [_GP_NAMES.index(f"{side}_{k}") for k in ("hip", "knee", "ankle")] if limb == "leg" else \
                  [_GP_NAMES.index(f"{side}_{k}") for k in ("shoulder", "elbow", "wrist")]
            if all(i in direct for i in idx):
                continue
            found = _chain(tree, [cands.get((role, side), []) for role in chain],
                           [direct.get(i) for i in idx])
            if found is None:
                lacking = [H36M_NAMES[i] for i, role in zip(idx, chain)
                           if i not in direct and not cands.get((role, side))]
                missing += lacking or [H36M_NAMES[i] for i in idx if i not in direct]
                continue
            for i, j in zip(idx, found):
                direct.setdefault(i, j)
    heads = [j for j, _ in cands.get(("head", None), [])]
    skull = min(heads, key=lambda j: _depth(tree, j)) if heads else None
    if skull is None and 9 in direct:
        skull = direct[9]
    if skull is None and not (9 in direct and 10 in direct):
        missing += [n for i, n in ((9, "Neck"), (10, "Head")) if i not in direct]
    if missing:
        need = {"RHip": "Pelvis, Spine", "LHip": "Pelvis, Spine", "RShoulder": "Thorax, Spine",
                "LShoulder": "Thorax, Spine"}
        also = sorted({x for m in missing for x in need.get(m, "").split(", ") if x})
        text = ", ".join(dict.fromkeys(missing)) + (f" (and the synthesised {', '.join(also)})" if also else "")
        raise DataError(f"{tree.path}: cannot map this rig to Human3.6M's 17 joints: no match for {text}; "
                        f"its joints are {', '.join(n for n, e in zip(names, tree.end) if not e)[:400]}; "
                        "pass --joint-map MAP.json ({\"LKnee\": \"joint name\", ...})")
    head_end = None
    if skull is not None:
        # a child at the head joint's own place (Bandai-Namco's zero End Site) gives no direction
        kids = [c for c in range(len(names)) if tree.parents[c] == skull
                and np.linalg.norm(tree.rest[c] - tree.rest[skull]) > 1e-6 * _scale(tree)]
        tops = [c for c in kids if any(r == "headtop" for r, _, _ in roles(names[c]))]
        ends = [c for c in kids if tree.end[c]]
        head_end = tops[0] if tops else (ends[0] if len(ends) == 1 else None)
    rules = {0: "midpoint of the hips", 8: "midpoint of the shoulders", 7: "midpoint of Pelvis and Thorax",
             9: "the rig's head joint", 10: "head joint + 0.19 x trunk along the head"}
    for i, n in enumerate(H36M_NAMES):
        if i in direct:
            described[n] = names[direct[i]]
        elif i == 9:
            described[n] = names[skull]
        else:
            described[n] = "synthesised: " + rules[i]
    return RigMap(direct, skull, head_end, described)


def _scale(tree: MotionTree) -> float:
    """The rest pose's extent (file units), for tolerances."""
    return float(np.ptp(tree.rest, axis=0).max()) or 1.0


def _depth(tree: MotionTree, j: int) -> int:
    d = 0
    while tree.parents[j] >= 0:
        j = tree.parents[j]
        d += 1
    return d


def _chain(tree: MotionTree, cands, fixed):
    """The best (a, b, c) with a above b above c among the candidates (fixed entries kept)."""
    pools = [[(f, 0)] if f is not None else c for f, c in zip(fixed, cands)]
    if not all(pools):
        return None
    best = None
    for a, pa in pools[0]:
        for b, pb in pools[1]:
            if not tree.is_ancestor(a, b):
                continue
            for c, pc in pools[2]:
                if not tree.is_ancestor(b, c):
                    continue
                score = (tree.depth_between(a, b) + tree.depth_between(b, c), pa + pb + pc)
                if best is None or score < best[0]:
                    best = (score, (a, b, c))
    return None if best is None else best[1]


def to_h36m17(tree: MotionTree, rig: RigMap) -> np.ndarray:
    """(T, 17, 3) h36m17 positions (tree units, world frame) by the rules of the module docstring."""
    P = tree.positions
    T = P.shape[0]
    out = np.zeros((T, 17, 3))
    for i, j in rig.direct.items():
        out[:, i] = P[:, j]
    d = rig.direct
    if 0 not in d:
        out[:, 0] = 0.5 * (out[:, 1] + out[:, 4])
    if 8 not in d:
        out[:, 8] = 0.5 * (out[:, 11] + out[:, 14])
    if 7 not in d:
        out[:, 7] = 0.5 * (out[:, 0] + out[:, 8])
    if 9 not in d:
        out[:, 9] = P[:, rig.skull]
    if 10 not in d:
        s = rig.skull
        rest_pelvis = (0.5 * (tree.rest[d[1]] + tree.rest[d[4]]) if 0 not in d else tree.rest[d[0]])
        trunk = tree.rest[s] - rest_pelvis
        length = HEAD_FRACTION * float(np.linalg.norm(trunk))
        u = tree.rest[rig.head_end] - tree.rest[s] if rig.head_end is not None else trunk
        u = u / max(float(np.abs(u).max()), 1e-300)    # scaled first: tiny units must not underflow to 0
        n = np.linalg.norm(u)
        if not n > 1e-9:
            raise DataError(f"{tree.path}: the head's rest direction has zero length; map Head with --joint-map")
        out[:, 10] = P[:, s] + length * np.einsum("tij,j->ti", tree.rotations[:, s], u / n)
    return out
