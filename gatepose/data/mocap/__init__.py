"""Motion capture: BVH and ASF/AMC files to gatepose's archive, and lifted poses back to BVH.

Modules: ``tree`` (the in-memory clip both readers produce), ``bvh`` (reader and writer),
``asf`` (ASF/AMC reader), ``rigs`` (joint names to h36m17, synthesised joints), ``cameras``
(virtual and Human3.6M cameras), ``importer`` (files to :class:`~gatepose.data.archive.Dataset`),
``export`` (h36m17 poses to a BVH hierarchy with solved joint rotations).
"""
