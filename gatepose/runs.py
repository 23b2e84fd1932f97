"""Run folders, the one place that reads and writes them.

A run is a folder: ``config.json`` (every option, the model sizes, skeleton and normalisation
constants), ``metrics.jsonl`` (one line per logged step), ``checkpoint.npz`` (parameters, both
optimisers' states, the step and every RNG state) and ``best.npz`` (the generator and camera with
the lowest validation N-MPJPE). Training writes them (``train.train``); evaluate, predict, plot and
the ablation read a finished run through :func:`load_run` and :func:`predict_poses`.

Checkpoints: plain ``.npz`` arrays (never pickle) plus JSON metadata, written atomically.

A checkpoint is one file, so one ``os.replace`` makes it appear whole or not at all: an interrupted
write leaves the previous checkpoint untouched. The metadata (step, options, RNG states) travels
inside the same file as a unicode scalar array, which ``np.load(..., allow_pickle=False)`` reads.
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import to_device, to_host
from .errors import GateposeError, TrainingDiverged
from .files import atomic_open
from .nn.generator import init_generator, generator_config_from_dict, generator_forward

_META_KEY = "__meta__"


def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (host or device; copied to host here, an I/O boundary) and ``meta`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def split_prefix(arrays: dict, prefix: str) -> dict:
    """{'gen/a': x, 'cam/b': y} -> {'a': x} for prefix 'gen/'."""
    n = len(prefix)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix)}


def with_prefix(arrays: dict, prefix: str) -> dict:
    return {prefix + k: v for k, v in arrays.items()}


# -- writing a run (train) ----------------------------------------------------------------------
CONFIG, CHECKPOINT, BEST, METRICS = "config.json", "checkpoint.npz", "best.npz", "metrics.jsonl"


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """A new run needs a new or empty folder (nothing is ever overwritten); a resumed one needs
    config.json and checkpoint.npz. Checked before any data is loaded."""
    if resume:
        if not run_dir.is_dir():
            raise GateposeError(f"{run_dir}: no such run folder to resume")
        if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
            raise GateposeError(f"{run_dir}: not a run folder to resume (config.json and checkpoint.npz expected)")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise GateposeError(f"--out {run_dir}: exists and is not a folder")
    there = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    if there:
        hint = (f"; it holds a run: continue it with --resume {run_dir}" if CHECKPOINT in there
                else "; choose a new folder")
        raise GateposeError(f"--out {run_dir}: not empty ({', '.join(there[:5])}{', ...' if len(there) > 5 else ''})"
                            f"{hint}")


def make_run_dir(run_dir: Path) -> list:
    """Create a new run's folder (and missing parents) before the data is loaded, so that an
    unwritable --out fails first. Returns the folders created, for :func:`remove_created`."""
    created = []
    for p in reversed([run_dir, *run_dir.parents]):
        if not p.exists():
            created.append(p)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".gatepose-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        remove_created(created)
        raise GateposeError(f"--out {run_dir}: cannot be written ({exc.strerror or exc})") from None
    return created


def remove_created(created: list) -> None:
    """Remove the folders :func:`make_run_dir` created if they are still empty (a run that failed
    before writing anything leaves nothing behind)."""
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            return


def remove_stale_temporaries(run_dir: Path) -> list:
    """Delete the temporary files of atomic writes that a killed process left (``.NAME.*.tmp``,
    ``metrics.jsonl.tmp``): they are never complete files. Returns their names."""
    stale = [p for p in run_dir.glob(".*.tmp") if p.is_file()] + [p for p in run_dir.glob("*.jsonl.tmp")]
    for p in stale:
        p.unlink()
    return [p.name for p in stale]


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


def run_config(opts, d, configs) -> dict:
    """config.json's content: every option, the three models' configurations (gcfg, ccfg, dcfg),
    the normalisation of the run's data ``d`` (a TrainData)."""
    gcfg, ccfg, dcfg = configs
    return {
        "format": "gatepose-run/1",
        "options": opts.to_dict(),
        "generator": gcfg.to_dict(),
        "camera": ccfg.to_dict(),
        "critic": dcfg.to_dict(),
        "skeleton": d.skeleton,
        "normalisation": {"scale_3d_mm": d.scale_3d, "root_joint": 0,
                          "mean_pose_3d": np.round(d.mean_pose.astype(np.float64), 6).tolist(),
                          "method": "root-relative, divided by the Frobenius norm of the centred pose"},
        "data_source": d.source,
        "n_train_2d": int(len(d.W_train)), "n_real_3d": int(len(d.X_real)), "n_val": int(len(d.W_val)),
    }


def save_state(run_dir: Path, trainer, extra_meta: dict) -> None:
    """checkpoint.npz: the trainer's whole state (``Trainer.state_dict``: every parameter, both
    optimisers' moments, the step and every RNG state) and ``extra_meta``."""
    state = trainer.state_dict()
    save_checkpoint(run_dir / CHECKPOINT, state["arrays"], {**state["meta"], **extra_meta})


def resume(run_dir: Path, trainer) -> dict:
    """Restore ``trainer`` from run_dir's checkpoint.npz exactly (``Trainer.load_state_dict``, after
    :func:`check_state`) and drop the metrics lines logged after it. Returns the checkpoint's metadata."""
    arrays, meta = load_checkpoint(run_dir / CHECKPOINT)
    check_state(trainer.state_dict(), arrays, meta)
    trainer.load_state_dict({"arrays": arrays, "meta": meta})
    truncate_metrics(run_dir / METRICS, trainer.step)
    return meta


def check_state(current: dict, arrays: dict, meta: dict) -> None:
    """A checkpoint's arrays and metadata can replace the training state ``current`` (a
    ``Trainer.state_dict()``): the metadata's counters are there, and every parameter is there with
    its shape; otherwise a GateposeError that says what is wrong."""
    missing = [k for k in ("step", "opt_g_t", "opt_d_t", "sampler_2d", "sampler_3d", "rng_eps") if k not in meta]
    if missing:
        raise GateposeError(f"checkpoint metadata lacks {', '.join(missing)}; it cannot be resumed")
    if not all(isinstance(meta[k], int) and not isinstance(meta[k], bool) and meta[k] >= 0
               for k in ("step", "opt_g_t", "opt_d_t")):
        raise GateposeError("checkpoint metadata: step, opt_g_t and opt_d_t must be non-negative integers")
    for prefix in ("gen/", "cam/", "critic/"):
        params, saved = split_prefix(current["arrays"], prefix), split_prefix(arrays, prefix)
        missing = sorted(set(params) - set(saved))
        if missing:
            raise GateposeError(f"checkpoint lacks parameters {missing[:3]} (a different model configuration?)")
        for k in params:
            if tuple(saved[k].shape) != tuple(params[k].shape):
                raise GateposeError(f"checkpoint parameter {prefix}{k} has shape {saved[k].shape}, "
                                    f"the model expects {params[k].shape}")


def save_best(run_dir: Path, gen: dict, cam: dict, meta: dict) -> None:
    """best.npz: the generator (the trainer's eval_gen: its moving average with --ema) and camera
    only (what evaluation and prediction need)."""
    save_checkpoint(run_dir / BEST, {**with_prefix(gen, "gen/"), **with_prefix(cam, "cam/")}, meta)


def logged_minutes(run_dir) -> float:
    """The wall-clock minutes of the last metrics.jsonl row that has them (0 if none)."""
    path = Path(run_dir) / METRICS
    minutes = 0.0
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                minutes = float(json.loads(line).get("minutes", minutes))
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
    return minutes


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines a crashed run logged after its last checkpoint (they are logged again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a half-written last line
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    tmp.replace(path)



# -- reading a finished run (eval, predict, plot) ------------------------------------------------
def predict_poses(gen: dict, gcfg, W_host: np.ndarray, xp, dtype=np.float32, batch: int = 1024,
                  infer=None) -> np.ndarray:
    """Run the generator over host 2D poses (N, J, 2) in batches; host 3D (N, J, 3) out.

    ``infer(gen, W, gcfg) -> X``: the forward to run on each device batch W (b, J, 2); None, the
    plain one, ``generator_forward(need_cache=False)``. The commands and the trainer's validation hand
    in the fast one at FAST DOOR 4 (``fast.fused.generator_inference``)."""
    infer = infer or (lambda g, W, cfg: generator_forward(g, W, cfg, need_cache=False)[0])
    outs = []
    for i in range(0, len(W_host), batch):
        outs.append(to_host(infer(gen, to_device(xp, W_host[i:i + batch], dtype), gcfg)))
    J = gcfg.n_joints
    return np.concatenate(outs) if outs else np.zeros((0, J, 3), np.float32)



@dataclass
class Run:
    path: Path
    config: dict
    gcfg: object     # PoseGateConfig, or RepNetConfig for a --generator repnet run
    gen: dict
    cam: dict = field(default_factory=dict)
    step: int = 0

    @property
    def skeleton(self) -> str:
        return self.config["skeleton"]

    @property
    def scale_3d(self) -> float:
        return float(self.config["normalisation"]["scale_3d_mm"])


def load_run(run_dir, xp=np, which: str = "best", dtype=np.float32) -> Run:
    """Load a run folder's generator (and camera). ``which``: 'best' (best.npz) or 'last' (checkpoint.npz)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    gcfg = generator_config_from_dict(config["generator"])
    name = {"best": "best.npz", "last": "checkpoint.npz"}.get(which)
    if name is None:
        raise GateposeError(f"unknown checkpoint {which!r}: expected best or last")
    path = run_dir / name
    if which == "best" and not path.is_file():
        path = run_dir / "checkpoint.npz"
    arrays, meta = load_checkpoint(path)
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
    return Run(run_dir, config, gcfg, gen, cam, int(meta.get("step", 0)))


# -- a run that stops ---------------------------------------------------------------------------
def stopped_message(run_dir: Path) -> str:
    """What a stopped run leaves: the last good checkpoint, or (before the first) none."""
    if (run_dir / CHECKPOINT).is_file():
        return f"the last good checkpoint in {run_dir} is kept"
    return f"no checkpoint had been written yet ({run_dir} keeps config.json and metrics.jsonl)"


def finite_or_raise(values: dict, step: int, run_dir: Path):
    """A logged row with a NaN or inf stops the run with TrainingDiverged (saying what is kept)."""
    bad = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(f"step {step}: {names}; stopped, {stopped_message(run_dir)} (try a lower --lr)")
