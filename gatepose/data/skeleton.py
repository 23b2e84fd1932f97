"""Skeletons: joint names, parents, bones, left/right pairs and the KCS incidence matrix.

Three layouts (SPEC section 7); joint 0 is the pelvis (the root) in every one of them:

- ``h36m17`` (default): the 17 joints of the common Human3.6M preprocessing.
- ``h36m16``: the same without joint 9 (neck/nose); the head hangs from the thorax.
- ``humaneva15``: the 15 joints of the common HumanEva-I preprocessing.

Joint names are shared between layouts (``"l_knee"`` means the same point everywhere), so
:func:`joint_map` converts poses between layouts that hold the same joints.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gatepose.errors import GateposeError


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree. ``parents[j]`` is the parent of joint j (-1 for the root, joint 0)."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]

    def __post_init__(self):
        if len(self.joint_names) != len(self.parents):
            raise ValueError(f"skeleton {self.name}: {len(self.joint_names)} names, {len(self.parents)} parents")
        if self.parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(self.parents[1:], 1)):
            raise ValueError(f"skeleton {self.name}: the root must be joint 0 and parents must come first")

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    @property
    def root(self) -> int:
        return 0

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) for every non-root joint, in joint order; nb = J - 1 bones."""
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

    @property
    def n_bones(self) -> int:
        return self.n_joints - 1

    @property
    def bone_names(self) -> tuple[str, ...]:
        return tuple(f"{self.joint_names[p]}-{self.joint_names[c]}" for c, p in self.bones)

    @cached_property
    def incidence(self) -> np.ndarray:
        """C, (J, nb) float32: +1 at the child and -1 at the parent of each bone, so B = X^T C.

        For a batch of poses X (B, J, 3), the bone vectors are ``X.transpose(0, 2, 1) @ C``
        (B, 3, nb). Read-only: copy it before changing it.
        """
        C = np.zeros((self.n_joints, self.n_bones), dtype=np.float32)
        for k, (c, p) in enumerate(self.bones):
            C[c, k] = 1.0
            C[p, k] = -1.0
        C.flags.writeable = False
        return C

    @property
    def left(self) -> tuple[int, ...]:
        """Joints on the subject's left, in the same order as their partners in :attr:`right`."""
        return tuple(i for i, n in enumerate(self.joint_names) if n.startswith("l_"))

    @property
    def right(self) -> tuple[int, ...]:
        return tuple(self.joint_names.index("r_" + self.joint_names[i][2:]) for i in self.left)

    @property
    def left_right_pairs(self) -> tuple[tuple[int, int], ...]:
        return tuple(zip(self.left, self.right))

    @property
    def flip_permutation(self) -> tuple[int, ...]:
        """The joint permutation that swaps left and right (for mirroring a pose)."""
        perm = list(range(self.n_joints))
        for l, r in self.left_right_pairs:
            perm[l], perm[r] = r, l
        return tuple(perm)

    @property
    def symmetric_bones(self) -> tuple[tuple[int, int], ...]:
        """Pairs of bone indices (left, right) that should have equal length on one subject."""
        bone_of_child = {c: k for k, (c, _) in enumerate(self.bones)}
        return tuple((bone_of_child[l], bone_of_child[r]) for l, r in self.left_right_pairs)

    def index(self, joint_name: str) -> int:
        return self.joint_names.index(joint_name)


_H36M17_NAMES = ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
                 "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")
_HUMANEVA15_NAMES = ("pelvis", "thorax", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow",
                     "r_wrist", "l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle", "head")

SKELETONS: dict[str, Skeleton] = {
    "h36m17": Skeleton("h36m17", _H36M17_NAMES,
                       (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)),
    "h36m16": Skeleton("h36m16", _H36M17_NAMES[:9] + _H36M17_NAMES[10:],
                       (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14)),
    "humaneva15": Skeleton("humaneva15", _HUMANEVA15_NAMES,
                           (-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1)),
}
DEFAULT_SKELETON = "h36m17"


def get_skeleton(name: str) -> Skeleton:
    """The skeleton called ``name``; a :class:`GateposeError` lists the valid names otherwise."""
    try:
        return SKELETONS[name]
    except (KeyError, TypeError):
        raise GateposeError(f"unknown skeleton {name!r}: expected one of {', '.join(SKELETONS)}") from None


def joint_map(src: str, dst: str) -> np.ndarray:
    """Indices into ``src``'s joints that give ``dst``'s joints: ``poses_src[:, joint_map(src, dst)]``.

    Works where every joint of ``dst`` exists in ``src`` (h36m17 -> h36m16, h36m17 -> humaneva15).
    Note that humaneva15's thorax and head are not exactly Human3.6M's points; the names match
    and the mapping is the customary one.
    """
    s, d = get_skeleton(src), get_skeleton(dst)
    missing = [n for n in d.joint_names if n not in s.joint_names]
    if missing:
        raise GateposeError(f"cannot convert skeleton {src} to {dst}: {src} has no {', '.join(missing)}")
    return np.array([s.joint_names.index(n) for n in d.joint_names], dtype=np.int64)
