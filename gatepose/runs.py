"""A run folder's files, and a finished run loaded for use.

A run is a folder (its file names: ``files.py``): ``config.json`` (every option, the model sizes,
skeleton and normalisation constants), ``metrics.jsonl`` (one line per logged step),
``checkpoint.npz`` (parameters, both optimisers' states, the step and every RNG state) and
``best.npz`` (the generator and camera with the lowest validation N-MPJPE). Training writes them
(``training.py``, the folder's one writer); evaluate, predict, plot and the ablation read a finished
run through :func:`load_run`, whose :class:`Run` predicts.

Checkpoints: plain ``.npz`` arrays (never pickle) plus JSON metadata, written atomically.

A checkpoint is one file, so one ``os.replace`` makes it appear whole or not at all: an interrupted
write leaves the previous checkpoint untouched. The metadata (step, options, RNG states) travels
inside the same file as a unicode scalar array, which ``np.load(..., allow_pickle=False)`` reads.
"""
from __future__ import annotations

import json
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import to_device, to_host
from .data.normalize import normalize_2d, root_relative
from .errors import DataError, GateposeError
from .files import BEST, CHECKPOINT, CONFIG, atomic_open
from .nn import split_prefix
from .nn.generator import generator_config_from_dict, generator_kind, init_generator, takes_missing
from .speed import PlainPaths, speed_paths

_META_KEY = "__meta__"


def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (host or device; copied to host here, an I/O boundary) and ``meta`` to ``path``
    (its folder must exist: a run folder deleted while training is not made again)."""
    path = Path(path)
    host = {k: to_host(v) for k, v in arrays.items()}
    host[_META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_open(path, "wb") as f:
        np.savez(f, **host)


def load_checkpoint(path) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`. Returns ``(arrays on host, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise GateposeError(f"{path}: checkpoint not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise GateposeError(f"{path}: not a readable gatepose checkpoint ({type(exc).__name__}: {exc})") from None
    if _META_KEY not in arrays:
        raise GateposeError(f"{path}: not a gatepose checkpoint (no metadata)")
    meta = _parse_json(str(arrays.pop(_META_KEY)), f"{path}: metadata")
    if not isinstance(meta, dict):
        raise GateposeError(f"{path}: metadata: expected a JSON object, got {type(meta).__name__}")
    bad = [k for k, v in arrays.items() if v.dtype.kind not in "fiu" or not np.isfinite(v).all()]
    if bad:
        raise GateposeError(f"{path}: array '{bad[0]}' holds NaN, inf or non-numbers ({len(bad)} such array(s)); "
                            "the checkpoint is not usable")
    return arrays, meta


def _parse_json(text: str, where: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise GateposeError(f"{where}: not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None


def read_json(path) -> object:
    """A JSON file gatepose wrote (config.json), read back; any damage is one GateposeError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GateposeError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    return _parse_json(text, str(path))


def write_json_atomic(path, obj) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


# -- a run folder's config ------------------------------------------------------------------------
def read_config(run_dir) -> dict:
    """config.json, checked: a JSON object with options, generator, skeleton and normalisation of
    the right types. Any damage is one GateposeError naming the file and the field."""
    from .data.skeleton import SKELETONS
    from .options import TrainOptions

    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise GateposeError(f"{run_dir}: not a run folder (no config.json)")
    config = read_json(path)
    if not isinstance(config, dict):
        raise GateposeError(f"{path}: expected a JSON object, got {type(config).__name__}")
    for key, kind in (("options", dict), ("generator", dict), ("skeleton", str), ("normalisation", dict)):
        if not isinstance(config.get(key), kind):
            got = "nothing" if key not in config else type(config[key]).__name__
            raise GateposeError(f"{path}: field '{key}': expected a JSON {'object' if kind is dict else 'string'}, "
                                f"got {got}")
    if config["skeleton"] not in SKELETONS:
        raise GateposeError(f"{path}: field 'skeleton': expected one of {', '.join(SKELETONS)}, got {config['skeleton']!r}")
    scale = config["normalisation"].get("scale_3d_mm")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        raise GateposeError(f"{path}: field 'normalisation.scale_3d_mm': expected a positive number of mm, got {scale!r}")
    TrainOptions.from_dict(config["options"], f"{path}: field 'options'").check_values()
    gcfg = generator_config_from_dict(config["generator"], f"{path}: field 'generator'")
    if gcfg.n_joints != SKELETONS[config["skeleton"]].n_joints:
        raise GateposeError(f"{path}: the generator has {gcfg.n_joints} joints, the skeleton "
                            f"{config['skeleton']!r} {SKELETONS[config['skeleton']].n_joints}")
    return config


def read_options(run_dir) -> dict:
    """The options a run was started with (``config.json``'s "options", checked), for ``train --resume``."""
    return read_config(run_dir)["options"]


# -- a finished run (eval, predict, plot) ---------------------------------------------------------
def predict_poses(gen: dict, gcfg, W_host: np.ndarray, xp, dtype=np.float32, batch: int = 1024,
                  speed: PlainPaths | None = None) -> np.ndarray:
    """Run the generator over host 2D poses (N, J, 2) in batches; host 3D (N, J, 3) out. Each device
    batch goes through ``speed.infer`` (FAST DOOR 4; None: the plain forward)."""
    # FAST DOOR 4: inference; plain reference: generator_forward(need_cache=False); proved equal by
    # tests/fast/test_doors.py::test_fused_inference_equals_plain_forward
    infer = (speed or PlainPaths()).infer
    outs = [to_host(infer(gen, to_device(xp, W_host[i:i + batch], dtype), gcfg)) for i in range(0, len(W_host), batch)]
    return np.concatenate(outs) if outs else np.zeros((0, gcfg.n_joints, 3), np.float32)


# -- lifting again where the 2D input looks noisy (a departure: docs/detector-inputs.md) ----------
# A pose is lifted a second time when the offset lift moved its joints further than it moves those of
# 99 % of the clean validation poses: then its 2D is noisier than the lifter expects, and lifting
# its own corrected x and y undoes more of the noise. A clean pose (99 % of them) is lifted once.
REFINE_PERCENTILE = 99.0


def _own_2d(X: np.ndarray) -> np.ndarray:
    """X (N, J, 3) lifted poses -> their own x and y, normalised like an input (N, J, 2)."""
    return normalize_2d(np.asarray(X, np.float64)[..., :2])[0]


def _moved(W: np.ndarray, Wx: np.ndarray) -> np.ndarray:
    """(N,): the mean distance over the present (not NaN) joints of W between W and Wx."""
    return np.nanmean(np.sqrt(((Wx - W) ** 2).sum(axis=-1)), axis=-1)


def correction(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """W (N, J, 2) normalised 2D inputs (NaN: missing), X (N, J, 3) their lifts -> (N,): the mean
    distance over the present joints between W and X's own x and y, normalised like an input
    (``normalize_2d``): how far the lift moved the joints across the image."""
    return _moved(W, _own_2d(X))


def refine_threshold(W_val: np.ndarray, X_val: np.ndarray) -> float:
    """The correction that REFINE_PERCENTILE % of the clean validation poses W_val (N, J, 2) stay
    under, given their lifts X_val (N, J, 3)."""
    return float(np.percentile(correction(W_val, X_val), REFINE_PERCENTILE))


def refine_lifts(predict, W: np.ndarray, X: np.ndarray, threshold: float):
    """Lift again the poses of W (N, J, 2) whose lifts X (N, J, 3) moved them more than
    ``threshold``, from their own corrected x and y -> (X with those poses replaced, mask (N,) of
    them). ``predict``: normalised 2D (n, J, 2) -> normalised 3D (n, J, 3)."""
    Wx = _own_2d(X)
    again = _moved(W, Wx) > threshold
    if again.any():
        X = np.array(X, copy=True)
        X[again] = predict(Wx[again])
    return X, again


@dataclass
class Run:
    """A run's generator (and camera) loaded for use: :meth:`predict` lifts normalised poses,
    :meth:`predict_mm` 2D poses in any unit to millimetres. ``refine_above``: lift a pose again
    where the first lift moved it more than this (:func:`refine_lifts`; best.npz of an offset-lift
    run holds its own, from its validation poses); None: lift once."""
    path: Path
    config: dict
    gcfg: object     # PoseGateConfig, or RepNetConfig for a --generator repnet run
    gen: dict
    cam: dict = field(default_factory=dict)
    step: int = 0
    xp: object = np
    speed: PlainPaths = field(default_factory=PlainPaths)
    refine_above: float | None = None

    @property
    def skeleton(self) -> str:
        return self.config["skeleton"]

    @property
    def scale_3d(self) -> float:
        return float(self.config["normalisation"]["scale_3d_mm"])

    def predict(self, W: np.ndarray, batch: int = 1024) -> np.ndarray:
        """Normalised 2D poses (N, J, 2), host -> the generator's normalised 3D poses (N, J, 3), host."""
        return self.predict_refined(W, batch)[0]

    def predict_refined(self, W: np.ndarray, batch: int = 1024):
        """:meth:`predict`, and the mask (N,) of the poses lifted a second time (``refine_above``)."""
        def lift(V):
            return predict_poses(self.gen, self.gcfg, np.asarray(V, np.float32), self.xp, batch=batch, speed=self.speed)

        X = lift(W)
        if self.refine_above is None:
            return X, np.zeros(len(X), bool)
        return refine_lifts(lift, np.asarray(W, np.float64), X, self.refine_above)

    @property
    def takes_missing(self) -> bool:
        """Whether the generator was trained with the missing-joint token (``--aug-drop-joints``)."""
        return takes_missing(self.gcfg)

    def fill_missing(self, poses_2d: np.ndarray) -> np.ndarray:
        """Missing (NaN) joints of 2D poses (N, J, 2), any unit, filled by the fallback for runs
        without the missing token: the run's mean training pose fitted onto the present joints
        by a 2D similarity (``data.corrupt.fill_missing``)."""
        from .data.corrupt import fill_missing

        template = np.asarray(self.config["normalisation"]["mean_pose_3d"], dtype=np.float64)[:, :2]
        return fill_missing(poses_2d, template)

    def normalise_inputs(self, poses_2d: np.ndarray) -> np.ndarray:
        """2D poses (N, J, 2), any unit, missing joints NaN -> the generator's normalised inputs
        (float64): missing joints stay NaN for a run with the missing token, and are filled
        (:meth:`fill_missing`) for one without it. Poses without NaN: ``normalize_2d`` as always."""
        P = np.asarray(poses_2d, dtype=np.float64)
        if np.isnan(P).any() and not self.takes_missing:
            P = self.fill_missing(P)
        return normalize_2d(P)[0]

    def predict_mm(self, poses_2d: np.ndarray, batch: int = 1024, info: dict | None = None) -> np.ndarray:
        """2D poses (N, J, 2) in any unit -> 3D poses (N, J, 3) float32 in mm, root-relative.
        Missing (NaN) joints are inferred (:meth:`normalise_inputs`). ``info``, if given, gets
        'refined': how many poses were lifted twice (``refine_above``)."""
        if poses_2d.ndim != 3 or poses_2d.shape[1:] != (self.gcfg.n_joints, 2):
            raise DataError(f"expected 2D poses of shape (N, {self.gcfg.n_joints}, 2), got {poses_2d.shape}")
        W = self.normalise_inputs(poses_2d)
        pred, again = self.predict_refined(W, batch)
        if info is not None:
            info["refined"] = int(again.sum())
        out = (root_relative(pred) * self.scale_3d).astype(np.float32)
        if not np.isfinite(out).all():  # never write NaN poses with a success code
            raise DataError(f"{self.path}: the run's generator gave NaN or inf poses; its weights or "
                            "normalisation constants are not usable")
        return out

    def attention_maps(self, pose_2d: np.ndarray) -> dict:
        """The attention maps of every layer for one 2D pose (J, 2), any unit, on the host:
        ``nn.posegate.attention_maps`` for a batch of one ('S', 'A': (L, 1, h, J, J), ...).
        A RepNet run (``--generator repnet``) has no attention: a GateposeError."""
        from .nn.posegate import attention_maps

        if generator_kind(self.gcfg) != "posegate":
            raise GateposeError(f"{self.path}: a --generator {generator_kind(self.gcfg)} run has no attention maps")
        W, _ = normalize_2d(np.asarray(pose_2d, dtype=np.float64)[None])
        maps = attention_maps(self.gen, to_device(self.xp, W, np.float32), self.gcfg)
        return {k: to_host(v) for k, v in maps.items()}


def load_run(run_dir, xp=np, which: str = "best", dtype=np.float32, reference: bool = False) -> Run:
    """Load a run folder's generator (and camera). ``which``: 'best' (best.npz) or 'last'
    (checkpoint.npz). Its predictions take the fast inference, or with ``reference`` the plain one."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    gcfg = generator_config_from_dict(config["generator"])
    name = {"best": BEST, "last": CHECKPOINT}.get(which)
    if name is None:
        raise GateposeError(f"unknown checkpoint {which!r}: expected best or last")
    path = run_dir / name
    if which == "best" and not path.is_file():
        path = run_dir / CHECKPOINT
        warnings.warn(f"{run_dir}: no best.npz (the run stopped before it was written); using checkpoint.npz, "
                      "its last step", UserWarning, stacklevel=2)
    arrays, meta = load_checkpoint(path)
    refine = meta.get("refine_above")
    if refine is not None and not (isinstance(refine, (int, float)) and not isinstance(refine, bool)
                                   and math.isfinite(refine) and refine >= 0):
        raise GateposeError(f"{path}: metadata refine_above must be a non-negative number or null, got {refine!r}"[:300])
    gen = {k: xp.asarray(v, dtype=dtype) for k, v in split_prefix(arrays, "gen/").items()}
    cam = {k: xp.asarray(v, dtype=dtype) for k, v in split_prefix(arrays, "cam/").items()}
    expected = init_generator(gcfg, np.random.default_rng(0), np, dtype)
    missing = sorted(set(expected) - set(gen))
    if missing:
        raise GateposeError(f"{path}: missing generator parameters {missing[:3]}")
    for k, v in expected.items():   # config.json and the weights must describe the same model
        if tuple(gen[k].shape) != v.shape:
            raise GateposeError(f"{path}: parameter gen/{k} has shape {tuple(gen[k].shape)}, but config.json's "
                                f"generator {gcfg.to_dict()} needs {v.shape}")
    return Run(run_dir, config, gcfg, gen, cam, int(meta.get("step", 0)), xp, speed_paths(reference, xp=xp),
               None if refine is None else float(refine))
