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
