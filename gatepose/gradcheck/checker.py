"""Finite-difference gradient checking: the test every hand-written backward must pass.

The checked objective is ``L(inputs) = sum_k <r_k, out_k>`` with fixed random upstream gradients
``r_k`` (never all ones: a sign or transpose bug can hide behind a symmetric seed). For each input
the analytic gradient from the backward is compared with central differences in float64:

* small tensors (``size <= full_limit``): every element, ``(L(x + eps e_i) - L(x - eps e_i)) / 2eps``;
* large tensors: ``n_directions`` random unit directions v, comparing ``<grad, v>`` with
  ``(L(x + eps v) - L(x - eps v)) / 2eps`` (Chainer's and PyTorch's "fast mode").

Relative error is ``max|a - n| / max(max|a|, max|n|, tiny)``: normalised by the gradient's own
scale so a correct backward scores around 1e-7 to 1e-11 in float64, and a wrong one order 1.
eps = 1e-5: along a unit direction of a tensor with n elements the directional derivative is about
|grad| / sqrt(n), so a smaller step lets rounding noise (~1e-16 |L| / eps) reach the tolerance on
large tensors, while the truncation error (~eps^2) stays far below it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..backend import get_xp

DEFAULT_EPS = 1e-5
DEFAULT_RTOL = 1e-6
_TINY = 1e-12


@dataclass(frozen=True)
class CheckResult:
    """One input's verdict: which input, its shape, the worst relative error and the tolerance."""

    name: str
    shape: tuple
    max_rel_error: float
    mode: str  # "full" (every element) or "directions" (random projections)
    rtol: float

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_rel_error) and self.max_rel_error <= self.rtol)


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def rel_error(a, n) -> float:
    """max|a - n| / max(max|a|, max|n|, tiny) for two arrays (or scalars) of one shape."""
    xp = get_xp(a, n)
    a = xp.asarray(a, dtype=xp.float64)
    n = xp.asarray(n, dtype=xp.float64)
    scale = max(float(xp.abs(a).max()), float(xp.abs(n).max()), _TINY)
    return float(xp.abs(a - n).max()) / scale


def check_backward(
    forward: Callable,
    backward: Callable,
    inputs: Mapping[str, object],
    wrt=None,
    *,
    seed: int = 0,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    full_limit: int = 64,
    n_directions: int = 4,
) -> list[CheckResult]:
    """Check ``backward`` against central differences of ``forward``.

    forward(inputs: dict) -> (out, cache), ``out`` an array or a tuple of arrays.
    backward(dout, cache) -> dict of gradients keyed like ``inputs`` (``dout`` mirrors ``out``).
    wrt: the names to check (default: every input whose value is a floating array).
    Inputs should be float64; they are copied, never modified.
    """
    inputs = dict(inputs)
    names = list(wrt) if wrt is not None else [
        k for k, v in inputs.items() if hasattr(v, "dtype") and v.dtype.kind == "f"
    ]
    out, cache = forward(inputs)
    outs = _as_tuple(out)
    # The inputs decide the namespace: a scalar loss comes back as a Python float, whose namespace
    # would be NumPy's, and the directions below must live where the inputs do.
    xp = get_xp(*outs, *inputs.values())
    outs = tuple(xp.asarray(o) for o in outs)
    rng = np.random.default_rng(seed)
    seeds = tuple(xp.asarray(rng.standard_normal(o.shape)) for o in outs)
    dout = seeds if isinstance(out, (tuple, list)) else seeds[0]
    grads = backward(dout, cache)

    def objective(trial):
        o = _as_tuple(forward(trial)[0])
        return sum(float((xp.asarray(oi) * si).sum()) for oi, si in zip(o, seeds))

    results = []
    for name in names:
        x0 = inputs[name]
        if name not in grads or grads[name] is None:
            raise KeyError(f"backward returned no gradient for {name!r}")
        g = grads[name]
        if tuple(g.shape) != tuple(x0.shape):
            results.append(CheckResult(name, tuple(x0.shape), float("inf"), "shape", rtol))
            continue
        x = x0.copy()
        trial = dict(inputs)
        trial[name] = x
        flat = x.reshape(-1)
        if x.size <= full_limit:
            num = np.empty(x.size)
            for i in range(x.size):
                old = float(flat[i])
                flat[i] = old + eps
                lp = objective(trial)
                flat[i] = old - eps
                lm = objective(trial)
                flat[i] = old
                num[i] = (lp - lm) / (2 * eps)
            ana = np.asarray(g.get() if hasattr(g, "get") else g, dtype=np.float64).reshape(-1)
            err = rel_error(ana, num)
            results.append(CheckResult(name, tuple(x.shape), err, "full", rtol))
        else:
            ana_list, num_list = [], []
            for _ in range(n_directions):
                v = rng.standard_normal(x.shape)
                v = xp.asarray(v / np.linalg.norm(v))  # unit direction: the step is eps whatever the size
                trial[name] = x0 + eps * v
                lp = objective(trial)
                trial[name] = x0 - eps * v
                lm = objective(trial)
                num_list.append((lp - lm) / (2 * eps))
                ana_list.append(float((g * v).sum()))
            trial[name] = x0
            err = rel_error(np.array(ana_list), np.array(num_list))
            results.append(CheckResult(name, tuple(x.shape), err, "directions", rtol))
    return results


def check_scalar_gradient(
    loss: Callable,
    grads: Mapping[str, object],
    inputs: Mapping[str, object],
    wrt=None,
    **kwargs,
) -> list[CheckResult]:
    """Check ready-made gradients of a scalar ``loss(inputs) -> float`` (e.g. the gradient penalty).

    ``grads`` holds the analytic dL/d(input) keyed like ``inputs``.
    """
    return check_backward(
        lambda inp: (loss(inp), None),
        lambda dout, cache: {k: v * float(dout) for k, v in grads.items()},
        inputs,
        wrt=wrt,
        **kwargs,
    )


# -- the registry behind `gatepose gradcheck` ---------------------------------------------------
# Each op module registers a builder next to the op it checks:
#
#     @register_check("linear", B=3, J=5, d_in=7, d_out=4)
#     def _check_linear(xp, rng, B, J, d_in, d_out):
#         ...  # float64 inputs on xp
#         return forward, backward, inputs          # as check_backward takes them
#
# The keyword defaults are the sizes the CLI uses; tests call the builder with hypothesis sizes.
# A builder may instead return a list of CheckResult (for checks that are not forward/backward
# pairs, such as the gradient penalty's double backward).

@dataclass(frozen=True)
class GradCase:
    name: str
    build: Callable
    sizes: dict


CHECKS: dict[str, GradCase] = {}

# Modules whose import registers checks, in the order of the paper (the CLI prints in this order).
def register_check(name: str, **sizes):
    def deco(build):
        CHECKS[name] = GradCase(name, build, dict(sizes))
        return build

    return deco


def all_checks() -> dict[str, GradCase]:
    """Every registered case by name (the package imports all case modules, in reading order)."""
    return CHECKS


def run_check(name: str, xp=np, seed: int = 0, **sizes) -> list[CheckResult]:
    """Build case ``name`` on ``xp`` (float64) with the given sizes and check it."""
    case = all_checks()[name]
    rng = np.random.default_rng(seed)
    built = case.build(xp, rng, **{**case.sizes, **sizes})
    if isinstance(built, list):
        return built
    forward, backward, inputs = built[:3]
    wrt = built[3] if len(built) > 3 else None
    return check_backward(forward, backward, inputs, wrt=wrt, seed=seed)
