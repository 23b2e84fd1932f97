"""Import HumanEva-I from the files of the common preprocessing into gatepose's archive.

``data_3d_humaneva15.npz``: ``positions_3d``, a pickled dict subject -> action -> (N, 15, 3)
float32, world frame, metres, with subjects ``Train/S1..S3`` and ``Validate/S1..S3`` and actions
such as ``Walking 1 chunk0`` (corrupt motion capture is split into chunks).
``data_2d_humaneva15_gt.npz``: ``positions_2d``, the same keys -> a list of 3 arrays (N, 15, 2),
cameras C1, C2, C3, 640 x 480 pixels.

Import: X_cam = R(q)^T (X_world - t) in mm with ``cameras/humaneva_cameras.json``; subject
``Train/S1`` -> ``S1`` with split ``train``, ``Validate/S1`` -> ``S1`` with split ``test``;
action ``Walking 1 chunk0`` -> family ``Walk`` (``Jog``, ``Box``, ``Gestures``, ``ThrowCatch``
likewise). By default only Walk, Jog and Box are kept, as in the paper's Table 2.
"""
from __future__ import annotations

import re
from pathlib import Path

from gatepose.errors import DataError

from .archive import Dataset, concatenate
from .h36m import (_sequence, _subject_order, as_poses, camera_extrinsics, camera_views, load_cameras,
                   load_pickled_dict)

TABLE2_ACTIONS = ("Walk", "Jog", "Box")
_FAMILIES = {"walking": "Walk", "walk": "Walk", "jog": "Jog", "jogging": "Jog", "box": "Box",
             "boxing": "Box", "gestures": "Gestures", "throwcatch": "ThrowCatch"}


def action_family(name: str) -> str:
    """'Walking 1 chunk0' -> 'Walk'; unknown names keep their first word."""
    word = re.split(r"[\s_]+", str(name).strip())[0]
    return _FAMILIES.get(word.lower(), word)


def split_subject(name: str) -> tuple[str, str]:
    """'Train/S1' -> ('S1', 'train'), 'Validate/S1' -> ('S1', 'test')."""
    part, _, subject = str(name).rpartition("/")
    if part.lower() == "train":
        return subject, "train"
    if part.lower() in ("validate", "validation", "test"):
        return subject, "test"
    raise DataError(f"HumanEva-I subject {name!r}: expected Train/S<n> or Validate/S<n>")


def import_humaneva(path_3d, path_2d, trust_pickle: bool = False, actions=TABLE2_ACTIONS) -> Dataset:
    """HumanEva-I in the common preprocessing's files -> :class:`Dataset` (humaneva15, camera mm).

    actions: action families to keep (None keeps all). Length mismatches between the 3D and 2D
    files keep the common prefix, with a :class:`~gatepose.data.archive.DataWarning`.
    """
    p3, p2 = Path(path_3d), Path(path_2d)
    pos3 = load_pickled_dict(p3, "positions_3d", trust_pickle)
    pos2 = load_pickled_dict(p2, "positions_2d", trust_pickle)
    sizes = [(c["res_w"], c["res_h"]) for c in load_cameras("humaneva")["intrinsics"]]
    parts = []
    for key in sorted(pos3, key=lambda k: (split_subject(k)[1] == "test", _subject_order(split_subject(k)[0]))):
        subject, split = split_subject(key)
        if not isinstance(pos3[key], dict):
            raise DataError(f"{p3}: field positions_3d[{key!r}]: expected a dict action -> array")
        R, t = camera_extrinsics("humaneva", subject)
        for action in sorted(pos3[key]):
            family = action_family(action)
            if actions is not None and family not in actions:
                continue
            X = as_poses(pos3[key][action], p3, f"positions_3d[{key!r}][{action!r}]", 15, 3) * 1000.0
            views = pos2.get(key, {}).get(action) if isinstance(pos2.get(key), dict) else None
            for c, Xc, W in camera_views(p2, key, action, views, X, len(R), 15):
                parts.append(_sequence(p3, Xc, W, R[c], t[c], sizes[c], subject, family, c, split,
                                       skeleton="humaneva15"))
    if not parts:
        kept = ", ".join(actions) if actions is not None else "any action"
        raise DataError(f"{p3}: no sequence with both 3D and 2D poses of {kept} found")
    return concatenate(parts)
