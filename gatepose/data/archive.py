"""gatepose's dataset archive: one ``.npz`` that loads with ``allow_pickle=False`` (SPEC section 7).

Fields (N frames, J joints of the skeleton):

==============  ===========================  ==============================================
``poses_2d``    float32 (N, J, 2)            pixels, finite
``poses_3d``    float32 (N, J, 3), optional  camera coordinates, millimetres, finite
``image_size``  integer (N, 2)               width, height in pixels, positive
``subject``     unicode (N,)                 e.g. ``S1``
``action``      unicode (N,)                 action family, e.g. ``walk`` or ``Walking``
``camera``      integer (N,)                 camera index, >= 0
``frame``       integer (N,)                 frame index within its sequence, >= 0
``skeleton``    unicode scalar               a name from :data:`~gatepose.data.skeleton.SKELETONS`
==============  ===========================  ==============================================

Extensions to the SPEC's archive (all optional, all written by gatepose's own sources):

- ``split`` unicode (N,), each ``train``, ``test`` or ``test-seen``: the subject-wise split of the
  source (the synthetic generator's held-out subjects, Human3.6M's S9/S11, HumanEva-I's
  Validate/*); ``test-seen``: the mocap importer's held-out takes of training subjects
  (``--test-seen-every``).
- ``confidence`` float32 (N, J) in [0, 1]: per-joint 2D confidence, for detector keypoints.
- ``clip`` unicode (N,) and ``source_frame`` integer (N,) >= 0: the source file's name (without
  extension; FOLDER/NAME where two files share it) and the frame's index in that file, written by the mocap importer so that every row
  can be traced back (a change of ``clip`` also ends a sequence).

Rows of one sequence are stored contiguously with ``frame`` rising by one; a sequence ends where
subject, action or camera changes or the frame count breaks (:meth:`Dataset.sequence_ids`).

Every problem found by :func:`load_archive` is one :class:`~gatepose.errors.DataError` line that
names the file and the field and says what was expected.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from gatepose.errors import DataError
from gatepose.files import atomic_open

from .skeleton import SKELETONS, Skeleton, get_skeleton

REQUIRED = ("poses_2d", "image_size", "subject", "action", "camera", "frame", "skeleton")
OPTIONAL = ("poses_3d", "split", "confidence", "clip", "source_frame")
# "test-seen": whole held-out takes of the training subjects (import-mocap --test-seen-every)
SPLITS = ("train", "test", "test-seen")


class DataWarning(UserWarning):
    """Something in a source file was skipped or trimmed; the data that remains is valid."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated set of frames; arrays are host NumPy arrays (see the module docstring)."""

    poses_2d: np.ndarray          # (N, J, 2) float32, pixels
    poses_3d: np.ndarray | None   # (N, J, 3) float32, camera mm; None for 2D-only data
    image_size: np.ndarray        # (N, 2) int32, width, height
    subject: np.ndarray           # (N,) unicode
    action: np.ndarray            # (N,) unicode
    camera: np.ndarray            # (N,) int32
    frame: np.ndarray             # (N,) int32
    skeleton: str
    split: np.ndarray | None = None       # (N,) unicode, one of SPLITS
    confidence: np.ndarray | None = None  # (N, J) float32
    clip: np.ndarray | None = None        # (N,) unicode, source file name (mocap importer's clip_names)
    source_frame: np.ndarray | None = None  # (N,) int32, frame index in the source file

    def __len__(self) -> int:
        return int(self.poses_2d.shape[0])

    @property
    def skel(self) -> Skeleton:
        return get_skeleton(self.skeleton)

    def arrays(self) -> dict[str, np.ndarray]:
        """The archive's fields as arrays (absent optional fields left out)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "skeleton":
                out[f.name] = np.array(v, dtype=np.str_)
            elif v is not None:
                out[f.name] = v
        return out

    def subset(self, index) -> "Dataset":
        """The frames selected by a boolean mask (N,) or an integer index array."""
        index = np.asarray(index)
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)
                                if f.name != "skeleton" and getattr(self, f.name) is not None})

    def split_by_subjects(self, test_subjects) -> tuple["Dataset", "Dataset"]:
        """(train, test): frames of ``test_subjects`` go to test, all others to train."""
        is_test = np.isin(self.subject, np.asarray(list(test_subjects), dtype=np.str_))
        return self.subset(~is_test), self.subset(is_test)

    def train_test(self) -> tuple["Dataset", "Dataset"]:
        """(train, test) by the archive's ``split`` field ('test-seen' rows in neither)."""
        if self.split is None:
            raise DataError("dataset has no 'split' field: use split_by_subjects(test_subjects)")
        return self.subset(self.split == "train"), self.subset(self.split == "test")

    def sequence_ids(self) -> np.ndarray:
        """(N,) int64: 0, 1, ... numbering the contiguous sequences (see the module docstring)."""
        n = len(self)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        new = np.ones(n, dtype=bool)
        new[1:] = ((self.subject[1:] != self.subject[:-1]) | (self.action[1:] != self.action[:-1])
                   | (self.camera[1:] != self.camera[:-1])
                   | (self.frame[1:].astype(np.int64) != self.frame[:-1].astype(np.int64) + 1))
        if self.split is not None:
            new[1:] |= self.split[1:] != self.split[:-1]
        if self.clip is not None:
            new[1:] |= self.clip[1:] != self.clip[:-1]
        return np.cumsum(new) - 1


def save_archive(path, ds: Dataset, compress: bool = False) -> Path:
    """Validate ``ds`` and write it to ``path`` atomically (a temporary file, then a rename).

    A crash midway leaves either the old file or none, never half an archive.
    """
    path = Path(path)
    arrays = ds.arrays()
    check_arrays(arrays, f"{path} (being written)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"{path}: folder {folder} does not exist")
    with atomic_open(path, "wb") as f:
        (np.savez_compressed if compress else np.savez)(f, **arrays)
    return path


NPY_MAGIC = b"\x93NUMPY"    # the first bytes of every .npy file (numpy.lib.format)
ZIP_MAGIC = b"PK"           # an .npz is a zip of .npy files


def read_magic(path: Path, where: str) -> bytes:
    """The first six bytes of ``path`` (fewer for a shorter file), to tell a .npy, an .npz and
    anything else apart before np.load sees it; a file that cannot be read is a one-line DataError."""
    try:
        with open(path, "rb") as f:
            return f.read(6)
    except OSError as exc:
        raise DataError(f"{where}: cannot be read: {_reason(exc)}") from None


def load_archive(path) -> Dataset:
    """Read and check an archive. Any problem raises a one-line :class:`DataError`."""
    path = Path(path)
    where = _one_line(str(path))
    if not path.exists():
        raise DataError(f"{where}: no such file")
    if not path.is_file():
        raise DataError(f"{where}: not a file")
    magic = read_magic(path, where)
    if magic.startswith(NPY_MAGIC):
        raise DataError(f"{where}: not a gatepose dataset archive: holds a single .npy array, expected a "
                        f".npz with fields {', '.join(REQUIRED)}")
    if not magic.startswith(ZIP_MAGIC):
        raise DataError(f"{where}: not a gatepose dataset archive: expected an .npz file (a zip of .npy "
                        "arrays), e.g. one written by 'gatepose data synth'")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile, OSError, ValueError, EOFError...: all mean "not readable"
        raise DataError(f"{where}: not a gatepose dataset archive (.npz): {_reason(exc)}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{where}: not a gatepose dataset archive: holds a single array, expected a .npz "
                        f"with fields {', '.join(REQUIRED)}")
    arrays = {}
    with npz:
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise DataError(f"{where}: field '{key}': holds pickled Python objects, which gatepose "
                                    "never loads (they can run code); expected plain arrays") from None
                raise DataError(f"{where}: field '{key}': cannot be read: {_reason(exc)}") from None
            except Exception as exc:  # truncated or corrupt member: zipfile/zlib/EOF/OSError
                raise DataError(f"{where}: field '{key}': cannot be read: {_reason(exc)}") from None
    return check_arrays(arrays, where)


def check_arrays(arrays: dict, where: str) -> Dataset:
    """Check names, dtypes, shapes, values and skeleton; return the :class:`Dataset`."""
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise DataError(f"{where}: unexpected field {unknown[0]!r}: expected only "
                        f"{', '.join(REQUIRED + OPTIONAL)}")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DataError(f"{where}: field '{missing[0]}': missing (a dataset archive needs "
                        f"{', '.join(REQUIRED)})")

    def bad(key, expected, a):
        got = f"{_kind(a)} {tuple(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
        raise DataError(f"{where}: field '{key}': expected {expected}, got {got}")

    a = arrays["skeleton"]
    if not isinstance(a, np.ndarray) or a.dtype.kind != "U" or a.shape != ():
        bad("skeleton", "a unicode scalar", a)
    skeleton = str(a)
    if skeleton not in SKELETONS:
        raise DataError(f"{where}: field 'skeleton': expected one of {', '.join(SKELETONS)}, got {skeleton!r}")
    J = SKELETONS[skeleton].n_joints

    W = arrays["poses_2d"]
    if not isinstance(W, np.ndarray) or W.dtype != np.float32 or W.ndim != 3 or W.shape[1:] != (J, 2):
        bad("poses_2d", f"float32 array of shape (N, {J}, 2)", W)
    N = W.shape[0]
    if N == 0:
        raise DataError(f"{where}: field 'poses_2d': expected at least one frame, got 0")

    def check(key, kinds, shape, kind_name):
        a = arrays[key]
        if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds or a.shape != shape:
            bad(key, f"{kind_name} array of shape {shape}", a)
        return a

    X = None
    if "poses_3d" in arrays:
        X = arrays["poses_3d"]
        if not isinstance(X, np.ndarray) or X.dtype != np.float32 or X.shape != (N, J, 3):
            bad("poses_3d", f"float32 array of shape ({N}, {J}, 3)", X)
    image_size = check("image_size", "iu", (N, 2), "integer")
    subject = check("subject", "U", (N,), "unicode")
    action = check("action", "U", (N,), "unicode")
    camera = check("camera", "iu", (N,), "integer")
    frame = check("frame", "iu", (N,), "integer")
    split = check("split", "U", (N,), "unicode") if "split" in arrays else None
    clip = check("clip", "U", (N,), "unicode") if "clip" in arrays else None
    source_frame = check("source_frame", "iu", (N,), "integer") if "source_frame" in arrays else None
    conf = None
    if "confidence" in arrays:
        conf = arrays["confidence"]
        if not isinstance(conf, np.ndarray) or conf.dtype != np.float32 or conf.shape != (N, J):
            bad("confidence", f"float32 array of shape ({N}, {J})", conf)

    for key, a in (("poses_2d", W), ("poses_3d", X), ("confidence", conf)):
        if a is not None and not np.isfinite(a).all():
            i = int(np.argwhere(~np.isfinite(a))[0][0])
            raise DataError(f"{where}: field '{key}': expected finite values, got NaN or inf at frame {i}")
    _check_plausible(W, X, image_size, where)
    if conf is not None and ((conf < 0) | (conf > 1)).any():
        raise DataError(f"{where}: field 'confidence': expected values in [0, 1]")
    if (image_size <= 0).any():
        raise DataError(f"{where}: field 'image_size': expected positive width and height")
    for key, a in (("camera", camera), ("frame", frame), ("source_frame", source_frame)):
        if a is None:
            continue
        if (a < 0).any():
            raise DataError(f"{where}: field '{key}': expected values >= 0")
        if a.size and a.max() > np.iinfo(np.int32).max:
            raise DataError(f"{where}: field '{key}': expected values below 2**31")
    if split is not None and not np.isin(split, SPLITS).all():
        raise DataError(f"{where}: field 'split': expected each value to be one of {', '.join(SPLITS)}")

    return Dataset(poses_2d=W, poses_3d=X, image_size=image_size.astype(np.int32), subject=subject,
                   action=action, camera=camera.astype(np.int32), frame=frame.astype(np.int32),
                   skeleton=skeleton, split=split, confidence=conf, clip=clip,
                   source_frame=None if source_frame is None else source_frame.astype(np.int32))


# A 2D joint may lie outside its image (a person partly out of frame), but not this many image
# sizes away: such values are wrong units or garbage, and would normalise to a flat line.
MAX_2D_IMAGE_SIZES = 10.0
MAX_3D_MM = 1e6          # 1 km from the camera: no motion capture volume is that large
MIN_SPREAD = 1e-3        # a pose whose joints all lie within this (pixels / mm) has no shape to lift
# A person spans about 1,000-2,000 mm standing and rarely under 500 (an infant, a body curled up):
# an archive whose median frame spans less than 0.3 m (centimetres: 170) or more than 10 m is in
# other units than mm.
PERSON_EXTENT_MM = (300.0, 10_000.0)


def _check_plausible(W, X, image_size, where: str) -> None:
    """2D poses within reach of their image, 3D poses within 1 km, no pose collapsed to a point, and
    3D poses of a person's size in mm."""
    limit = MAX_2D_IMAGE_SIZES * image_size.max(axis=1).astype(np.float64)          # (N,)
    far = (np.abs(W.astype(np.float64)).max(axis=(1, 2)) > limit).nonzero()[0]
    if far.size:
        i = int(far[0])
        raise DataError(f"{where}: field 'poses_2d': frame {i} has a coordinate of "
                        f"{float(np.abs(W[i]).max()):.3g} px, more than {MAX_2D_IMAGE_SIZES:g} times its image size "
                        f"{tuple(int(v) for v in image_size[i])} ({far.size} such frame(s)); wrong units?")
    if X is not None:
        far = (np.abs(X).max(axis=(1, 2)) > MAX_3D_MM).nonzero()[0]
        if far.size:
            raise DataError(f"{where}: field 'poses_3d': frame {int(far[0])} has a coordinate beyond "
                            f"{MAX_3D_MM:g} mm ({far.size} such frame(s)); expected millimetres")
    for key, P in (("poses_2d", W), ("poses_3d", X)):
        if P is None:
            continue
        flat = (np.ptp(P, axis=1).max(axis=1) < MIN_SPREAD).nonzero()[0]
        if flat.size:
            raise DataError(f"{where}: field '{key}': frame {int(flat[0])} has all its joints at one point "
                            f"({flat.size} such frame(s)); a pose without extent cannot be normalised")
    if X is not None and len(X):     # after the collapsed poses, which have their own message
        extent = float(np.median(np.ptp(X.astype(np.float64), axis=1).max(axis=1)))
        lo, hi = PERSON_EXTENT_MM
        if not lo <= extent <= hi:
            raise DataError(f"{where}: field 'poses_3d': a pose spans {extent:.3g} (the median frame's largest "
                            f"extent), where a person spans about 1,000-2,000 mm: expected millimetres "
                            f"({'metres, decimetres or centimetres?' if extent < lo else 'smaller units than mm?'})")


def make_dataset(poses_2d, image_size, subject, action, camera, frame, skeleton="h36m17",
                 poses_3d=None, split=None, confidence=None, where="<dataset>", clip=None,
                 source_frame=None) -> Dataset:
    """Build and check a :class:`Dataset` from array-likes, casting to the archive's dtypes.

    ``image_size`` may be one (width, height) for all frames.
    """
    W = np.asarray(poses_2d, dtype=np.float32)
    N = W.shape[0] if W.ndim else 0
    size = np.asarray(image_size, dtype=np.int32)
    if size.shape == (2,):
        size = np.broadcast_to(size, (N, 2)).copy()
    arrays = dict(poses_2d=W, image_size=size, subject=np.asarray(subject, dtype=np.str_),
                  action=np.asarray(action, dtype=np.str_), camera=np.asarray(camera, dtype=np.int32),
                  frame=np.asarray(frame, dtype=np.int32), skeleton=np.array(skeleton, dtype=np.str_))
    if poses_3d is not None:
        arrays["poses_3d"] = np.asarray(poses_3d, dtype=np.float32)
    if split is not None:
        arrays["split"] = np.asarray(split, dtype=np.str_)
    if confidence is not None:
        arrays["confidence"] = np.asarray(confidence, dtype=np.float32)
    if clip is not None:
        arrays["clip"] = np.asarray(clip, dtype=np.str_)
    if source_frame is not None:
        arrays["source_frame"] = np.asarray(source_frame, dtype=np.int32)
    return check_arrays(arrays, where)


def concatenate(datasets: list[Dataset]) -> Dataset:
    """Join datasets of one skeleton, frame rows in order."""
    if not datasets:
        raise DataError("nothing to concatenate: no datasets")
    skel = {d.skeleton for d in datasets}
    if len(skel) != 1:
        raise DataError(f"cannot concatenate datasets of different skeletons: {', '.join(sorted(skel))}")
    out = {}
    for f in fields(Dataset):
        if f.name == "skeleton":
            continue
        vals = [getattr(d, f.name) for d in datasets]
        if all(v is None for v in vals):
            out[f.name] = None
        elif any(v is None for v in vals):
            raise DataError(f"cannot concatenate: field '{f.name}' is present in some datasets only")
        else:
            out[f.name] = np.concatenate(vals)
    return Dataset(skeleton=datasets[0].skeleton, **out)


def warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=3)



def _kind(a: np.ndarray) -> str:
    if a.dtype.kind == "U":
        return "unicode"
    if a.dtype.kind == "S":
        return "bytes"
    return str(a.dtype)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return _one_line(f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
