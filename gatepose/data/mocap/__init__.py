"""Motion capture: BVH and ASF/AMC files to gatepose's archive, and lifted poses back to BVH.

Modules: ``tree`` (the in-memory clip both readers produce), ``bvh`` (reader and writer),
``asf`` (ASF/AMC reader), ``rigs`` (joint names to h36m17, synthesised joints), ``cameras``
(virtual and Human3.6M cameras), ``importer`` (files to :class:`~gatepose.data.archive.Dataset`),
``export`` (h36m17 poses to a BVH hierarchy with solved joint rotations).
"""
# Frame rates a mocap file or option may state (frames/s), declared in gatepose.names so that the
# CLI's option ranges read them without loading this package: one frame an hour (a time-lapse) to
# 100,000 (ten times the fastest optical systems). Outside them a Frame Time or --fps is a typo or
# garbage (1e-300 s would keep one frame of any clip; 1e-320 s overflows 1 / Frame Time).
from gatepose.names import MAX_FPS, MIN_FPS  # noqa: F401 (re-exported: the parsers read them here)

# A coordinate beyond 10 km is garbage: float32, the archive's type, is 1 mm apart there.
MAX_COORD_MM = 1e7

# Millimetres per length unit, for reading files (importer) and, inverted, for writing them
# (export). 'cmu': the unit of CMU's ASF skeletons (length 0.45: 1/0.45 inch), kept by the CMU
# BVH conversions of the MotionBuilder/3ds Max kind (a body about 30 units tall).
UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": 25.4, "cmu": 25.4 / 0.45}


def is_number_text(s: str) -> bool:
    """True when the token ``s`` reads as a float (both parsers' test for a number token)."""
    try:
        float(s)
        return True
    except ValueError:
        return False
