"""Checkpoints: plain ``.npz`` arrays (never pickle) plus JSON metadata, written atomically.

A checkpoint is one file, so one ``os.replace`` makes it appear whole or not at all: an interrupted
write leaves the previous checkpoint untouched. The metadata (step, options, RNG states) travels
inside the same file as a unicode scalar array, which ``np.load(..., allow_pickle=False)`` reads.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .backend import to_host
from .errors import GateposeError
from .files import atomic_open

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
    meta = json.loads(str(arrays.pop(_META_KEY)))
    return arrays, meta


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
