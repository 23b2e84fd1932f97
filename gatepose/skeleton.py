"""Alias of :mod:`gatepose.data.skeleton` (the name SPEC section 7 uses)."""
from .data.skeleton import SKELETONS, Skeleton, get_skeleton, joint_map  # noqa: F401
