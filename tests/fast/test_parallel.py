"""gatepose.fast.parallel: shard bounds, threaded shards (same numbers as a sequential loop), BLAS thread
control, the fallback where BLAS cannot be controlled, and the malloc settings."""
import threading
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatepose.fast import parallel
from gatepose.fast.parallel import (blas_controllable, blas_thread_counts, blas_threads, keep_freed_memory,
                                    run_shards, shard_bounds)


# -- shard_bounds --------------------------------------------------------------------------------
@given(n=st.integers(1, 5000), shards=st.integers(1, 64))
def test_shard_bounds_partition(n, shards):
    bounds = shard_bounds(n, shards)
    assert len(bounds) == min(shards, n)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (a, b), (c, _) in zip(bounds, bounds[1:]):
        assert b == c                                   # contiguous, in order
    sizes = [b - a for a, b in bounds]
    assert all(s >= 1 for s in sizes)                   # non-empty
    assert max(sizes) - min(sizes) <= 1                 # near-equal
    covered = [i for a, b in bounds for i in range(a, b)]
    assert covered == list(range(n))                    # exactly range(n), each index once


def test_shard_bounds_small_cases():
    assert shard_bounds(1, 8) == [(0, 1)]
    assert shard_bounds(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert shard_bounds(5, 1) == [(0, 5)]


# -- run_shards ----------------------------------------------------------------------------------
def _work(A, B, c):
    """Matmuls and elementwise work on float32 arrays; returns several arrays (a tuple)."""
    P = A @ B
    Q = np.tanh(P) * c + np.exp(-P * P)
    R = Q.T @ A
    return P, Q.sum(axis=0), R * np.float32(0.5) + np.float32(1.0)


def _args(n_shards, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((40 + 3 * i, 64)).astype(np.float32),
             rng.standard_normal((64, 48)).astype(np.float32),
             np.float32(0.25 * (i + 1))] for i in range(n_shards)]


def _assert_close(got, want):
    """Same structure, float32 kept, values equal up to float32 rounding.

    Not bitwise: a thread's arrays sit at other addresses than the calling thread's, and NumPy's
    and OpenBLAS's SIMD loops may order a sum differently for differently aligned data (seen on
    AVX-512 machines, with and without OPENBLAS_CORETYPE). Nothing in the code can promise more."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, tuple) and len(g) == len(w)
        for a, b in zip(g, w):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("n_shards", [1, 3, 5])
def test_run_shards_matches_sequential_bitwise(threads, n_shards):
    args = _args(n_shards)
    with blas_threads(1):
        want = [_work(*a) for a in args]
    got = run_shards(_work, args, np, threads=threads)
    _assert_close(got, want)


def test_run_shards_keeps_order_and_calls_each_once():
    seen = []
    lock = threading.Lock()

    def fn(i):
        with lock:
            seen.append(i)
        return np.full(3, i, np.float32) @ np.eye(3, dtype=np.float32)

    out = run_shards(fn, [[i] for i in range(9)], np, threads=4)
    assert [int(o[0]) for o in out] == list(range(9))
    assert sorted(seen) == list(range(9))


def test_nested_run_shards_completes_and_is_correct():
    outer_args = _args(3, seed=1)

    def outer(A, B, c):
        # split this shard's rows again and run the parts through run_shards (nested)
        parts = [[A[a:b], B, c] for a, b in shard_bounds(A.shape[0], 3)]
        inner = run_shards(_work, parts, np, threads=2)
        return np.concatenate([p[0] for p in inner]), inner

    result = {}

    def target():
        try:
            result["out"] = run_shards(outer, outer_args, np, threads=2)
        except BaseException as exc:  # reported below
            result["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "nested run_shards did not finish within 30 s (deadlock?)"
    assert "error" not in result, result.get("error")
    with blas_threads(1):
        for (A, B, c), (P, inner) in zip(outer_args, result["out"]):
            # Row blocks of a product equal the whole product only up to rounding: BLAS may pick
            # another kernel (another summation order) for another number of rows.
            np.testing.assert_allclose(P, A @ B, rtol=1e-5, atol=1e-5)
            want = [_work(A[a:b], B, c) for a, b in shard_bounds(A.shape[0], 3)]
            _assert_close(inner, want)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_exception_in_a_shard_propagates(threads):
    class Boom(RuntimeError):
        pass

    def fn(i):
        if i == 2:
            raise Boom(f"shard {i} failed")
        return np.ones((4, 4), np.float32) @ np.ones((4, 4), np.float32)

    with pytest.raises(Boom, match="shard 2 failed"):
        run_shards(fn, [[i] for i in range(4)], np, threads=threads)
    # the pool is still usable afterwards
    out = run_shards(lambda i: np.float32(i) * 2, [[i] for i in range(4)], np, threads=threads)
    assert [float(o) for o in out] == [0, 2, 4, 6]


# -- BLAS thread control ---------------------------------------------------------------------------
@pytest.mark.skipif(not blas_controllable(), reason="this NumPy's BLAS thread count cannot be set")
def test_blas_threads_restores_previous_count():
    def getter():
        counts = set(blas_thread_counts())   # NumPy's OpenBLAS and SciPy's: set together
        assert len(counts) == 1, counts
        return counts.pop()

    before = getter()
    with blas_threads(1):
        assert getter() == 1
    assert getter() == before
    # nested: the innermost setting holds inside, each level restored on the way out
    with blas_threads(1):
        with blas_threads(before):
            assert getter() == before
        assert getter() == 1
    assert getter() == before
    # restored on an exception too
    with pytest.raises(ValueError):
        with blas_threads(1):
            raise ValueError
    assert getter() == before
    # run_shards leaves it as it found it
    run_shards(_work, _args(3), np, threads=2)
    assert getter() == before


def test_uncontrollable_blas_runs_shards_sequentially(monkeypatch):
    args = _args(4, seed=2)
    with blas_threads(1):
        want = [_work(*a) for a in args]
    monkeypatch.setattr(parallel, "_blas", [])
    assert not blas_controllable()
    with blas_threads(1):   # a no-op context
        pass
    caller = threading.get_ident()
    idents = []

    def fn(*a):
        idents.append(threading.get_ident())
        return _work(*a)

    got = run_shards(fn, args, np, threads=4)
    assert idents == [caller] * len(args)    # in order, in the calling thread
    # the same numbers; a sequential loop may use multi-threaded BLAS here, so allow rounding
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# -- malloc settings ---------------------------------------------------------------------------------
def test_keep_freed_memory_is_a_bool_and_idempotent():
    first = keep_freed_memory()
    assert isinstance(first, bool)
    assert keep_freed_memory() is first
    assert keep_freed_memory() is first


def test_keep_freed_memory_is_idempotent_without_glibc(monkeypatch):
    def no_libc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(parallel, "_malloc_tuned", False)
    monkeypatch.setattr(parallel, "ctypes", types.SimpleNamespace(CDLL=no_libc))
    first = keep_freed_memory()
    assert first is False
    assert keep_freed_memory() is first
