"""NumPy or CuPy: the one place that decides.

Library code never imports CuPy itself; it asks :func:`get_xp` for the namespace of the arrays it
was handed, so one body serves both backends. Host copies happen only at I/O boundaries
(:func:`to_host`, :func:`to_device`). Training runs in float32, gradient checks in float64.
"""
from __future__ import annotations

import numpy as np

from .errors import DeviceError

_cupy = None
_cupy_error: str | None = None


def _load_cupy():
    """Import CuPy once and confirm a GPU is usable; remember why not otherwise."""
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy
    try:
        import cupy  # noqa: F401

        n = cupy.cuda.runtime.getDeviceCount()
        if n < 1:
            raise RuntimeError("CUDA reports no GPU")
        cupy.zeros(1).sum().item()  # touch the device: fails early on a broken driver
        _cupy = cupy
    except ImportError:
        _cupy_error = "CuPy is not installed (pip install 'gatepose[gpu]')"
    except Exception as exc:  # driver/runtime problems surface as many exception types
        _cupy_error = f"CuPy is installed but no GPU is usable ({type(exc).__name__}: {exc})".splitlines()[0]
    return _cupy


def gpu_available() -> bool:
    return _load_cupy() is not None


def resolve_device(name: str = "auto"):
    """Map ``auto|cpu|gpu`` to an array module. Returns ``(xp, description)``.

    ``auto`` picks CuPy only when it imports and a GPU is usable; ``gpu`` without one raises a
    :class:`DeviceError` that says why.
    """
    name = (name or "auto").lower()
    if name == "cpu":
        return np, "cpu (NumPy)"
    if name not in ("auto", "gpu"):
        raise DeviceError(f"unknown device {name!r}: expected auto, cpu or gpu")
    cp = _load_cupy()
    if cp is not None:
        dev = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(dev.id)
        gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return cp, f"gpu {dev.id} ({gpu_name}, CuPy {cp.__version__})"
    if name == "gpu":
        raise DeviceError(f"--device gpu: {_cupy_error}")
    return np, f"cpu (NumPy; no GPU: {_cupy_error})"


def get_xp(*arrays):
    """The array module (numpy or cupy) of the given arrays; numpy for host arrays and scalars.

    An array type may name its own namespace in ``__gatepose_xp__``: the tests' strict stand-in
    for CuPy (tests/strict_xp.py) does, and is then treated as a GPU namespace everywhere."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    for a in arrays:
        t = type(a)
        if t.__module__.startswith("cupy"):
            import cupy

            return cupy
        ns = getattr(t, "__gatepose_xp__", None)
        if ns is not None:
            return ns
    return np


def is_gpu(xp) -> bool:
    return xp is not np


def special(xp):
    """``scipy.special`` for xp's arrays: SciPy's on NumPy, ``cupyx.scipy.special`` on CuPy (a
    stand-in namespace brings its own as ``__gatepose_special__``)."""
    if not is_gpu(xp):
        import scipy.special

        return scipy.special
    own = getattr(xp, "__gatepose_special__", None)
    if own is not None:
        return own
    import cupyx.scipy.special

    return cupyx.scipy.special


def to_host(a):
    """A NumPy copy of an array from either backend (an I/O boundary: it may synchronise)."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get"):
        return a.get()
    return np.asarray(a)


def to_device(xp, a, dtype=None):
    """Move a host array onto ``xp``'s device (no copy on NumPy when dtype already matches)."""
    if dtype is not None:
        return xp.asarray(a, dtype=dtype)
    return xp.asarray(a)


def synchronize(xp) -> None:
    """Wait for queued GPU work (for timing); a no-op on NumPy."""
    if is_gpu(xp):
        xp.cuda.get_current_stream().synchronize()


def python_scalar(x):
    """A host scalar as a Python float (never a NumPy float64, which would upcast float32 arithmetic);
    a device 0-d array stays on the device (reading it would synchronise)."""
    return float(x) if get_xp(x) is np else x


def host_scalars(values: dict) -> dict:
    """{name: 0-d array or number} -> {name: float}, the device's values brought over in one copy
    (one host synchronisation on a GPU instead of one per value)."""
    arrays = {k: v for k, v in values.items() if hasattr(v, "shape")}
    out = {k: float(v) for k, v in values.items() if k not in arrays}
    if arrays:
        xp = get_xp(*arrays.values())
        stacked = to_host(xp.stack([xp.asarray(v).reshape(()) for v in arrays.values()]))
        out.update(zip(arrays, (float(v) for v in stacked)))
    return {k: out[k] for k in values}
