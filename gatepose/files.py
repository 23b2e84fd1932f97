"""Atomic file writes: every file gatepose writes appears whole or not at all."""
from __future__ import annotations

import os
import stat
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
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:   # name the file the user asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
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


# A run folder's files (runs.py, training.py), named once here.
CONFIG, CHECKPOINT, BEST, METRICS = "config.json", "checkpoint.npz", "best.npz", "metrics.jsonl"
RUN_FILES = (CONFIG, CHECKPOINT, BEST, METRICS)


def _kind(mode: int) -> str:
    return ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def check_regular_input(path) -> None:
    """Refuse at once an input that exists but is neither a regular file nor a folder (a FIFO with
    no writer would block forever, a device never ends)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return                  # missing: the reader says so in its own words
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise GateposeError(f"{path}: is {_kind(mode)}; expected a regular file")


def read_regular_bytes(path) -> bytes:
    """The bytes of the regular file ``path``. Opened without blocking and checked on the open file
    itself, so a FIFO or device is refused at once (and a file swapped for one in between too)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise GateposeError(f"{path}: is {_kind(mode)}; expected a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def _same_file(a, b) -> bool:
    """True when ``a`` and ``b`` name one file: the same resolved path, or the same inode (hard
    links, links to folders above either)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError, RuntimeError):
        return False


def check_output_file(path, inputs=(), option: str = "--out", force: bool = True) -> Path:
    """Refuse, before any work, an output file that would overwrite one of ``inputs`` (by resolved
    path or as the same file through links), a run folder's own files, that exists already (unless
    ``force``), or that cannot be created: its folder must exist and take a new file. Returns the
    path."""
    path = Path(path)
    for src in inputs:
        if src is not None and _same_file(path, src):
            raise GateposeError(f"{option} {path}: is the input file {src}; gatepose never overwrites an input, "
                                "--force or not (choose another output name)")
    folder = path.parent if str(path.parent) else Path(".")
    if path.name in RUN_FILES and (folder / CONFIG).is_file():
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
    try:   # os.access says yes for root even where no file can be made (/proc, read-only mounts)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise GateposeError(f"{option} {path}: no file can be created in the folder {folder} "
                            f"({exc.strerror or exc})") from None
    return path
