"""Data parallelism on the CPU: a batch split into shards, one shard per core.

Why: BLAS runs matrix products on every core, but NumPy's elementwise loops (LayerNorm, GELU,
softmax, bias adds, masks) run on one, and on a 2-core machine they are half of a training
iteration. Poses are independent, so a batch cut into shards can run whole forward and backward
passes side by side in threads: NumPy releases the GIL inside its loops and its BLAS calls. Each
shard's BLAS must then run single-threaded, otherwise the shards' products and OpenBLAS's own
worker threads (which spin after every product) fight over the same cores; :func:`blas_threads`
sets that through OpenBLAS's own ``set_num_threads``, found in the process's loaded libraries.

Results depend on how a batch is cut (sums are taken in another order), never on how many threads
run the shards: ``run_shards`` gives the same numbers on one core as on eight. Where OpenBLAS's
thread control cannot be found (NumPy built on another BLAS), the shards run one after another in
the calling thread: no oversubscription, and the same numbers up to that BLAS's own threading. On CuPy the shards run in order on the one
GPU stream; the trainer uses a single shard there (large kernels are what a GPU wants).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..backend import get_xp

# OpenBLAS exports its thread control under the build's symbol prefix/suffix: NumPy's and SciPy's
# wheels use scipy_openblas (64-bit ints: suffix 64_), a system OpenBLAS the plain name.
_SET_NAMES = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
              "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET_NAMES = tuple(n.replace("set_", "get_") for n in _SET_NAMES)

_blas = None          # [(set, get) ctypes functions] of every OpenBLAS in the process; [] if none
_blas_lock = threading.Lock()


def _loaded_libraries() -> list[str]:
    """Paths of the BLAS libraries mapped into this process (Linux), else NumPy's bundled ones."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if p.startswith("/") and ".so" in p and p not in paths:
                    paths.append(p)
    except OSError:
        libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        if os.path.isdir(libs):
            paths = [os.path.join(libs, n) for n in sorted(os.listdir(libs))]
    return [p for p in paths if "blas" in os.path.basename(p).lower()]


def _find_blas() -> list:
    """Every OpenBLAS loaded now: NumPy's, and SciPy's own copy once scipy.linalg or scipy.special
    is imported. All of them are set together, so it does not matter which one a product uses."""
    global _blas
    if _blas is None:
        import scipy.special  # noqa: F401  (loads SciPy's BLAS now, so the list below is complete)

        found = []
        for path in _loaded_libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for set_name, get_name in zip(_SET_NAMES, _GET_NAMES):
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    found.append((setter, getter))
                    break
        _blas = found
    return _blas


def blas_controllable() -> bool:
    """True when this process's BLAS thread count can be set (NumPy on OpenBLAS)."""
    return bool(_find_blas())


def blas_thread_counts() -> list[int]:
    """The thread count each loaded BLAS uses now (empty where none can be controlled)."""
    return [getter() for _, getter in _find_blas()]


@contextlib.contextmanager
def blas_threads(n: int):
    """Run the block with BLAS limited to ``n`` threads (process-wide; restored afterwards).

    A no-op where the BLAS cannot be controlled. Nested uses keep the innermost setting.
    """
    libs = _find_blas()
    with _blas_lock:
        old = [getter() for _, getter in libs]
        for setter, _ in libs:
            setter(n)
    try:
        yield
    finally:
        with _blas_lock:
            for (setter, _), k in zip(libs, old):
                setter(k)


def cpu_threads() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# glibc's malloc hands every block above 128 KiB back to the OS when it is freed (munmap, or a trim
# of the heap top), so the next step's arrays of the same size fault in every page afresh: measured
# at a quarter of an encoder layer's time on the 2-core CPU. These settings keep freed memory for
# reuse instead: blocks up to 32 MiB (glibc's largest allowed threshold) come from the heap, and the
# heap is trimmed only when 256 MiB lie free at its top. Peak memory is unchanged; memory is held
# until the process ends rather than returned between steps.
# When: never at import. They are applied the first time shards run side by side (run_shards, that
# is once a fast path has been entered); mallopt has no narrower scope than the process, so from
# then on the whole process keeps its freed memory. The plain path (--reference) never gets here.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_malloc_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the malloc settings above once per process; True where they took (glibc), else False."""
    global _malloc_tuned
    if _malloc_tuned is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            _malloc_tuned = all(libc.mallopt(opt, value) == 1 for opt, value in (
                (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 256 << 20), (_M_TOP_PAD, 16 << 20)))
        except (OSError, AttributeError):
            _malloc_tuned = False
    return _malloc_tuned


_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < n:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool, _pool_size = ThreadPoolExecutor(max_workers=n, thread_name_prefix="gatepose-shard"), n
    return _pool


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """[start, stop) of ``shards`` contiguous, near-equal, non-empty slices of range(n)."""
    shards = max(1, min(shards, n))
    edges = [n * i // shards for i in range(shards + 1)]
    return list(zip(edges[:-1], edges[1:]))


def run_shards(fn, args: list, xp=np, threads: int | None = None) -> list:
    """[fn(*a) for a in args], the calls side by side on up to ``threads`` CPU threads.

    Each call must touch only its own arrays (shards share read-only parameters, nothing else).
    ``threads`` defaults to the cores available; GPU arrays (``xp`` CuPy), a single shard, one
    core, or a BLAS whose threads cannot be controlled run the calls in order in this thread.
    """
    threads = min(len(args), threads or cpu_threads())
    # A shard that itself calls run_shards runs its parts in order: waiting on the pool from
    # inside the pool could leave every worker waiting on work that none is free to run.
    if xp is not np or threads <= 1 or getattr(_local, "in_shard", False) or not blas_controllable():
        return [fn(*a) for a in args]
    keep_freed_memory()
    with blas_threads(1):
        futures = [_get_pool(threads).submit(_in_shard, fn, a) for a in args]
        return [f.result() for f in futures]


_local = threading.local()


def _in_shard(fn, a):
    _local.in_shard = True
    try:
        return fn(*a)
    finally:
        _local.in_shard = False


# Below this many elements in all, elementwise work is not worth a thread hand-off (tens of us).
MIN_PARALLEL_ELEMENTS = 1 << 16


def map_balanced(fn, items: list, sizes: list, xp=np) -> None:
    """fn(item) for every item, for side effects (in-place updates), the items dealt into one group
    per core so that the groups' total sizes are near equal (largest first, each to the lightest
    group), the groups side by side. For elementwise work over many arrays (optimiser steps,
    averaging gradients): each array is handled whole by one thread, so results do not depend on
    the grouping."""
    k = min(len(items), cpu_threads())
    if k <= 1 or xp is not np or sum(sizes) < MIN_PARALLEL_ELEMENTS:
        for item in items:
            fn(item)
        return
    groups, load = [[] for _ in range(k)], [0] * k
    for i in sorted(range(len(items)), key=lambda i: -sizes[i]):
        j = load.index(min(load))
        groups[j].append(items[i])
        load[j] += sizes[i]
    run_shards(lambda group: [fn(item) for item in group], [[g] for g in groups], xp)


def weighted_mean(results: list, weights: list):
    """sum_i weights[i] * results[i], through nested tuples and dicts of arrays (None stays None).
    A dict's arrays (gradients) are averaged side by side on the CPU's cores."""
    first = results[0]
    if first is None:
        return None
    if isinstance(first, tuple):
        return tuple(weighted_mean(list(parts), weights) for parts in zip(*results))
    if isinstance(first, dict):
        out = {}

        def mean_of(k):
            out[k] = weighted_mean([r[k] for r in results], weights)

        keys = list(first)
        map_balanced(mean_of, keys, [getattr(first[k], "size", 1) for k in keys], get_xp(*first.values()))
        return {k: out[k] for k in keys}
    if all(w == weights[0] for w in weights):      # equal shards: one sum, one scaling
        out = results[0] + results[1] if len(results) > 1 else results[0] * 1.0
        for r in results[2:]:
            out += r
        out *= weights[0]
        return out
    out = first * weights[0]
    for r, w in zip(results[1:], weights[1:]):
        out += r * w
    return out


def sharded(fn, batches: list, shards: int, xp=np):
    """fn over the batches cut into ``shards`` shards (side by side on the CPU's cores), the results
    averaged with weights shard size / batch size: when fn returns means over its batch (losses and
    their gradients), this is the whole batch's value up to the order of the sums. One shard:
    fn(*batches) itself."""
    n = batches[0].shape[0]
    bounds = shard_bounds(n, shards)
    if len(bounds) == 1:
        return fn(*batches)
    results = run_shards(fn, [[x[a:b] for x in batches] for a, b in bounds], xp)
    return weighted_mean(results, [(b - a) / n for a, b in bounds])
