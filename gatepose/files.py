"""Atomic file writes: every file gatepose writes appears whole or not at all."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import GateposeError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success fsync it and rename it onto ``path``.

    An exception (or Ctrl-C) inside the block removes the temporary file and leaves any previous
    ``path`` untouched: a checkpoint or archive is never half written.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


RUN_FILES = ("config.json", "checkpoint.npz", "best.npz", "metrics.jsonl")


def check_output_file(path, inputs=(), option: str = "--out", force: bool = True) -> Path:
    """Refuse, before any work, an output file that would overwrite one of ``inputs`` or a run
    folder's own files, that exists already (unless ``force``), or that cannot be created: its
    folder must exist and be writable. Returns the path."""
    path = Path(path)
    for src in inputs:
        if src is not None and path.exists() and Path(src).exists() and os.path.samefile(path, src):
            raise GateposeError(f"{option} {path}: is the input file {src}; gatepose never overwrites an input "
                                "(choose another output name)")
    folder = path.parent if str(path.parent) else Path(".")
    if path.name in RUN_FILES and (folder / "config.json").is_file():
        raise GateposeError(f"{option} {path}: is a file of the run in {folder}; gatepose never overwrites a "
                            "run's own files (choose another output name)")
    if path.is_dir():
        raise GateposeError(f"{option} {path}: is a folder; expected a file name")
    if path.exists() and not force:
        raise GateposeError(f"{option} {path}: exists; pass --force to replace it, or choose another name")
    if not folder.is_dir():
        raise GateposeError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GateposeError(f"{option} {path}: the folder {folder} is not writable")
    return path
