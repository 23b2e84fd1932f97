"""One generator pass per weak iteration on a GPU: the critic steps' fakes and the generator step's
forward, which the plain loop computes in two passes, come from one.

Why: at SPEC sizes a GPU is bound by kernel launches, not arithmetic, and a forward costs about 255
launches whatever its batch. The generator is frozen while the critic trains and is not changed
before its own step, so the ``n_critic * B`` fakes and the ``B`` rows of the generator step can be
lifted together, with the cache kept, and the generator step's backward run on the cache of its own
rows only (``cache_rows``: views, no copy). On the CPU the trainer does not take this path: there the
fakes take the fused, blocked inference (``fast.fused``), which is faster than a cached forward, and
the generator step runs in shards side by side.

Plain reference: ``generator_forward(need_cache=False)`` on the fakes' rows and
``generator_forward`` on the generator step's rows; ``tests/fast/test_fast_paths.py`` proves outputs and
the backward's gradients equal (float64, every attention variant).
"""
from __future__ import annotations

from typing import Mapping

from ..nn.generator import generator_forward
from ..ops.attention import GateCache


def generator_forward_rows(params: Mapping, W, cfg, keep: slice):
    """W: (N, J, 2) -> (X (N, J, 3), the cache of ``generator_forward`` (PoseGate-Former's forward, and
    with the depth or offset lift, that lift) for the rows ``keep`` only)."""
    X, cache = generator_forward(params, W, cfg)
    return X, cache_rows(cache, keep, W.shape[0], params)


def cache_rows(cache, rows: slice, n: int, params: Mapping):
    """The cache of a forward over n rows -> the cache of the rows ``rows`` (views of the arrays).

    Every array in a generator cache is either a parameter (kept whole) or has the batch as its
    first axis, except a GateCache's ``hidden`` and ``out`` (2, B, ...), whose batch axis is the
    second. Anything else raises, so that a cache field added later cannot be cut on the wrong axis.
    """
    param_ids = {id(v) for v in params.values()}

    def cut(x, axis=0):
        if x is None or isinstance(x, (str, int, float)) or id(x) in param_ids:
            return x
        if isinstance(x, tuple) and hasattr(x, "_fields"):          # a NamedTuple cache
            if isinstance(x, GateCache):
                return x._replace(U_flat=cut(x.U_flat), hidden=cut(x.hidden, 1), out=cut(x.out, 1))
            return type(x)(*(cut(v) for v in x))
        if isinstance(x, list):
            return [cut(v) for v in x]
        if isinstance(x, tuple):
            return tuple(cut(v) for v in x)
        shape = getattr(x, "shape", None)
        if shape is None:                                             # the config
            return x
        if len(shape) <= axis or shape[axis] != n:
            raise ValueError(f"cache_rows: an array of shape {shape} has no batch axis {axis} of {n} rows")
        return x[(slice(None),) * axis + (rows,)]

    return cut(cache)
