"""The one in-memory form of a mocap clip, whatever file it came from: a joint tree in motion.

Both readers (:mod:`.bvh`, :mod:`.asf`) produce a :class:`MotionTree`: joints in parent-first
order, each with its world position and the world rotation of the rigid segment that starts at
it, for every kept frame. End Sites are joints too (``end=True``, no rotation of their own).
Rotations map rest-pose world vectors to the frame's world vectors, so ``rotations[t, j] @ v``
turns the rest direction ``v`` of a bone starting at joint j into its direction at frame t.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True, eq=False)
class MotionTree:
    """A clip's skeleton and motion, lengths in the file's units until :meth:`scaled`."""

    path: str                       # source file (for messages)
    names: tuple[str, ...]          # (J,) joint names; End Sites are '<parent>_End'
    parents: tuple[int, ...]        # (J,) parent index, -1 for the root
    end: tuple[bool, ...]           # (J,) True for End Sites
    rest: np.ndarray                # (J, 3) float64 world positions in the rest pose
    positions: np.ndarray           # (T, J, 3) float64 world positions of the kept frames
    rotations: np.ndarray           # (T, J, 3, 3) float64 world rotation of the segment at each joint
    fps: float                      # source frame rate
    source_frame: np.ndarray        # (T,) int64 index of each kept frame in the file
    n_source_frames: int            # frames in the file
    units: str = "file"             # 'mm' once scaled
    # {joint name: (T,) degrees by which the hinge starting at that joint lies past the limit the
    # file states for it (ASF 'limits'; 0 inside)}; empty where the format states none
    limit_excess: dict = field(default_factory=dict)

    @property
    def n_joints(self) -> int:
        return len(self.names)

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    def is_ancestor(self, a: int, j: int) -> bool:
        """True when joint ``a`` lies above joint ``j`` (strictly) in the tree."""
        j = self.parents[j]
        while j >= 0:
            if j == a:
                return True
            j = self.parents[j]
        return False

    def depth_between(self, a: int, j: int) -> int:
        """Number of steps from ``j`` up to its ancestor ``a``."""
        n = 0
        while j != a:
            j = self.parents[j]
            n += 1
        return n

    def scaled(self, factor: float) -> "MotionTree":
        """Lengths times ``factor`` (to millimetres)."""
        return replace(self, rest=self.rest * factor, positions=self.positions * factor, units="mm")
