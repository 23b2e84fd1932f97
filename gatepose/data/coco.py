"""COCO-17 keypoints from a 2D detector, mapped to ``h36m17`` for lifting.

Inputs: a COCO results JSON (a list of ``{"image_id", "category_id", "keypoints": [x, y, v] * 17,
"score"}``; only category 1, person) or a ``.npy`` of (N, 17, 2) or (N, 17, 3), the third channel
being the confidence (2 channels: confidence 1).

The mapping (the customary one, e.g. MotionBERT's): pelvis = mid-hips, thorax = mid-shoulders,
spine = midway pelvis-thorax, neck/nose = nose, head = mid-eyes; hips, knees, ankles, shoulders,
elbows and wrists map one to one. A derived joint's confidence is the least of its sources'.

Low-confidence and missing joints (confidence below ``threshold``; COCO ground truth writes
v = 0 with x = y = 0 for a missing point) are not altered here: their coordinates stay as the file
gives them and :attr:`Keypoints.low_confidence` lists every one. The caller decides what they
become (``posefiles`` marks them missing, NaN, for the lifter to infer).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatepose.errors import DataError

from .skeleton import get_skeleton

COCO_JOINTS = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
               "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
# h36m17 joint -> the COCO joints averaged to make it (spine: pelvis and thorax, i.e. all four).
COCO_TO_H36M17 = (
    (11, 12), (12,), (14,), (16,), (11,), (13,), (15,), (5, 6, 11, 12), (5, 6), (0,), (1, 2),
    (5,), (7,), (9,), (6,), (8,), (10,),
)
_MIX = np.zeros((17, 17), dtype=np.float64)   # (h36m, coco) averaging weights
for _j, _src in enumerate(COCO_TO_H36M17):
    _MIX[_j, list(_src)] = 1.0 / len(_src)


@dataclass(frozen=True)
class Keypoints:
    poses_2d: np.ndarray        # (N, 17, 2) float32, pixels, h36m17
    confidence: np.ndarray      # (N, 17) float32 in [0, 1] (detector scores are clipped)
    image_ids: np.ndarray       # (N,) the COCO image_id (int or str; an entry without one: its index
    #                             in the file), or 0..N-1 for .npy
    low_confidence: tuple       # ((pose index, joint name, confidence), ...)
    threshold: float

    def __len__(self) -> int:
        return len(self.poses_2d)

    def summary(self) -> str:
        """One line: how many joints in how many poses are below the threshold, and which."""
        if not self.low_confidence:
            return f"{len(self)} poses, every joint at confidence >= {self.threshold:g}"
        names = get_skeleton("h36m17").joint_names
        counts = {}
        for _, name, _ in self.low_confidence:
            counts[name] = counts.get(name, 0) + 1
        poses = len({i for i, _, _ in self.low_confidence})
        worst = ", ".join(f"{n} {counts[n]}" for n in names if n in counts)
        return (f"{len(self.low_confidence)} joints in {poses} of {len(self)} poses below confidence "
                f"{self.threshold:g} ({worst})")


def coco_to_h36m17(kp: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO (N, 17, 2) and confidences (N, 17) -> h36m17 (N, 17, 2) float32, (N, 17) float32."""
    poses = np.einsum("jc,ncd->njd", _MIX, kp.astype(np.float64))
    c = np.stack([conf[:, list(src)].min(axis=1) for src in COCO_TO_H36M17], axis=1)
    return poses.astype(np.float32), c.astype(np.float32)


def load_keypoints(path, threshold: float = 0.3) -> Keypoints:
    """Read detector keypoints (COCO results JSON or .npy) as h36m17; bad files raise DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        kp, conf, ids = _read_npy(path)
    else:
        kp, conf, ids = _read_json(path)
    missing = (conf <= 0) | ((kp == 0).all(-1))
    conf = np.where(missing, 0.0, np.clip(conf, 0.0, 1.0))
    poses, c = coco_to_h36m17(kp, conf)
    names = get_skeleton("h36m17").joint_names
    low = tuple((int(i), names[j], float(c[i, j])) for i, j in np.argwhere(c < threshold))
    return Keypoints(poses, c, ids, low, float(threshold))


def _read_npy(path: Path):
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__}: "
                        f"{(str(exc).splitlines() or [''])[0]})") from None
    if (not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu" or a.ndim != 3
            or a.shape[1:] not in ((17, 2), (17, 3))):
        got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise DataError(f"{path}: expected a numeric array of shape (N, 17, 2) or (N, 17, 3) in COCO joint order, "
                        f"got {got}")
    if len(a) == 0:
        raise DataError(f"{path}: expected at least one pose, got 0")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        i, j = np.argwhere(~np.isfinite(a).all(-1))[0]
        raise DataError(f"{path}: expected finite values, got NaN or inf at pose {i}, joint {COCO_JOINTS[j]} "
                        "(mark a missing joint with confidence 0 instead)")
    conf = a[..., 2] if a.shape[2] == 3 else np.ones(a.shape[:2])
    return a[..., :2], conf, np.arange(len(a))


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a COCO results JSON file ({type(exc).__name__}: "
                        f"{(str(exc).splitlines() or [''])[0]})") from None
    except RecursionError:  # the parser recurses once per nesting level
        raise DataError(f"{path}: not a COCO results JSON file (nested too deeply; expected a list of "
                        "{'image_id', 'keypoints', ...} objects)") from None
    if isinstance(data, dict) and "annotations" in data:   # a COCO ground-truth file also works
        data = data["annotations"]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of detections (COCO results format), got {type(data).__name__}")
    kps, ids, entries = [], [], []      # entries: each kept detection's index in the file
    for i, det in enumerate(data):
        if not isinstance(det, dict) or "keypoints" not in det:
            raise DataError(f"{path}: entry {i}: field 'keypoints': missing (expected a dict with keypoints, "
                            "and image_id and category_id where the file has them)")
        if det.get("category_id", 1) != 1:
            continue
        k = det["keypoints"]
        if (not isinstance(k, list) or len(k) != 51
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in k)):
            raise DataError(f"{path}: entry {i}: field 'keypoints': expected 51 numbers (x, y, v for 17 "
                            "COCO joints)")
        image_id = det.get("image_id", i)        # without one: the entry's index in the file
        if isinstance(image_id, float) and image_id.is_integer():    # 139.0, as some tools write it
            image_id = int(image_id)
        if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
            raise DataError(f"{path}: entry {i}: field 'image_id': expected an integer or a string, got "
                            f"{json.dumps(image_id)[:40]}")
        kps.append(k)
        ids.append(image_id)
        entries.append(i)
    if not kps:
        raise DataError(f"{path}: no person detections (category_id 1) found")
    a = np.asarray(kps, dtype=np.float64).reshape(-1, 17, 3)
    if not np.isfinite(a).all():
        i = entries[int(np.argwhere(~np.isfinite(a))[0][0])]
        raise DataError(f"{path}: entry {i}: field 'keypoints': expected finite numbers")
    ids = np.asarray(ids) if all(isinstance(x, int) for x in ids) else np.asarray([str(x) for x in ids])
    return a[..., :2], a[..., 2], ids
