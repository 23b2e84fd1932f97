"""Data: skeletons, the dataset archive, the synthetic motion dataset, importers, normalisation.

Modules: ``skeleton`` (h36m17, h36m16, humaneva15 and their KCS incidence matrices), ``archive``
(the safe .npz archive and :class:`Dataset`), ``synthetic`` (the built-in default dataset),
``h36m`` and ``humaneva`` (importers for the common preprocessing's files), ``coco`` (detector
keypoints to h36m17), ``normalize`` (SPEC section 7) and ``batches`` (device-side batches).
"""
from .archive import DataWarning, Dataset, load_archive, make_dataset, save_archive
from .skeleton import DEFAULT_SKELETON, SKELETONS, Skeleton, get_skeleton

__all__ = ["DataWarning", "Dataset", "load_archive", "make_dataset", "save_archive", "DEFAULT_SKELETON",
           "SKELETONS", "Skeleton", "get_skeleton"]
