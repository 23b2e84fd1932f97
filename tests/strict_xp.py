"""A strict stand-in for CuPy, built on NumPy: the GPU code path, run and counted without a GPU.

``xp = strict_xp.xp`` is an array namespace whose arrays (:class:`StrictArray`) wrap NumPy arrays
and behave, where this project's code could go wrong, like CuPy's device arrays:

* implicit conversion to NumPy is refused: ``np.asarray(a)``, ``np.*`` functions and ufuncs on them,
  and mixing them with a ``numpy.ndarray`` (arithmetic, ``xp.*`` arguments, indices, assigned
  values) raise ``TypeError`` (stricter than CuPy, which dispatches ``np.*`` through
  ``__array_function__``: library code must spell ``xp.*``). ``xp.asarray(host_array)`` is the upload;
  ``a.get()`` (or backend.to_host) the download;
* reductions over a whole array return 0-d arrays, never host scalars;
* ``float(a)``, ``int(a)``, ``bool(a)``, ``a.item()``, ``a.tolist()``, ``a.get()`` and
  ``xp.cuda.get_current_stream().synchronize()`` are host synchronisations on a GPU: allowed, and
  counted in ``counts['sync']``;
* argument forms CuPy rejects (though NumPy takes them) raise ``TypeError`` / ``ValueError`` as CuPy
  does: a list or tuple as an operand of a ufunc or operator ("Unsupported type <class 'list'>";
  ``xp.asarray`` it first), ufunc keywords other than ``out``, ``dtype``, ``casting`` (CuPy's
  ``ufunc.__call__``), reduction keywords ``where`` / ``initial``, ``einsum``'s ``out``, ``order``,
  ``casting`` ("not supported", cupy.einsum's docs), ``take`` into an ``out`` of another dtype or shape
  and ``take(mode=...)``, an array as ``repeat``'s count. ``einsum``'s results are not C-contiguous
  (cupy.einsum: "memory contiguity of the returned array is not always compatible with that of
  numpy.einsum"), so code that assumed they were would fail here too;
* the CuPy-only spellings the code uses exist: ``a.get()``, ``xp.cuda``, ``xp.get_default_memory_pool``,
  and ``cupyx.scipy.special`` as ``xp.__gatepose_special__`` (backend.special finds it).

Every call that would start device work is counted in ``counts`` by kind, one per call, which is
what CuPy launches for it: ``elementwise`` (ufuncs, operators, ``where``, ``astype``, ``clip``),
``reduction`` (``sum``, ``mean``, ``max``, ``einsum`` to fewer axes, ...), ``matmul`` (``@``,
``matmul``, ``einsum`` with two operands), ``copy`` (``concatenate``, ``stack``, ``take``, fancy
indexing, assignment into a slice, a reshape that cannot be a view, ...), ``fill`` (``zeros``,
``full``, ...), ``upload`` (``asarray`` of host data). Views (basic slicing, transposes, reshapes
of contiguous arrays) and ``empty`` are free. ``launches()`` is the total of the device kinds.
Some CuPy functions launch more than one kernel (``mean`` is a sum and a division, ``concatenate``
of many arrays may copy them one by one): the count is a lower bound of CuPy's, per call.

What it can prove: that the GPU code path (``is_gpu(xp)`` true, the CPU's threads and fused
paths off) runs, never meets a host array in the hot path, how many calls and host
synchronisations it makes. What it cannot prove: CuPy's numerics (cuBLAS, TF32, its own
reductions' order), CuPy's speed, its memory use, or that CuPy accepts every argument form used
here; only a machine with a GPU (scripts/gpu-check.sh) can.
"""
from __future__ import annotations

import collections
import contextlib
import operator
import sys
import types

import numpy as np
import scipy.special

DEVICE_KINDS = ("elementwise", "reduction", "matmul", "copy", "fill", "upload")
counts: collections.Counter = collections.Counter()
_sites: collections.Counter | None = None     # where calls come from, when asked (profiling)


def _count(kind: str, n: int = 1) -> None:
    counts[kind] += n
    if _sites is not None and kind in DEVICE_KINDS:
        f = sys._getframe(2)
        while f is not None and f.f_code.co_filename == __file__:
            f = f.f_back
        if f is not None:
            _sites[(kind, f"{f.f_code.co_filename.rsplit('/gatepose/', 1)[-1]}:{f.f_lineno}")] += n


def launches() -> int:
    return sum(counts[k] for k in DEVICE_KINDS)


@contextlib.contextmanager
def counting(sites: bool = False):
    """Reset the counters; with ``sites``, yield a Counter of (kind, file:line) as well."""
    global _sites
    counts.clear()
    _sites = collections.Counter() if sites else None
    try:
        yield _sites
    finally:
        _sites = None


def _refuse(what) -> TypeError:
    return TypeError(f"strict xp: {what} (a device array cannot meet a host array; use xp.asarray "
                     f"to upload, .get() to download)")


def _unwrap(x):
    """StrictArray -> its NumPy array; host arrays are refused; containers unwrapped recursively."""
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise _refuse(f"numpy.ndarray of shape {x.shape} passed where a device array is expected")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _refuse_sequences(args, what) -> None:
    """CuPy's ufuncs and operators take device arrays and scalars only: a list or tuple operand is a
    TypeError there ("Unsupported type <class 'list'>"), while NumPy converts it."""
    for a in args:
        if isinstance(a, (list, tuple)):
            raise TypeError(f"strict xp: a {type(a).__name__} as an operand of {what} (CuPy's ufuncs and "
                            f"operators take device arrays and scalars only; xp.asarray it first)")


def _refuse_kwargs(kwargs, allowed, what) -> None:
    bad = sorted(set(kwargs) - set(allowed))
    if bad:
        raise TypeError(f"strict xp: {what} does not take {', '.join(bad)} on CuPy "
                        f"(it takes {', '.join(sorted(allowed)) or 'no keywords'})")


_UFUNC_KWARGS = ("out", "dtype", "casting")           # cupy ufunc.__call__ (plus the private _where)
_REDUCTION_KWARGS = ("axis", "dtype", "out", "keepdims", "ddof")   # no where=, initial= on CuPy


def _wrap(r):
    if isinstance(r, (np.ndarray, np.generic)):
        return StrictArray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


def _call(kind, fn, args, kwargs):
    out = kwargs.get("out")
    res = fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
    if kind:
        _count(kind)
    if isinstance(out, StrictArray) and res is out._a:
        return out
    return _wrap(res)


def _is_basic_index(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice, np.integer)) for k in keys)


def _binop(name, kind="elementwise"):
    op = getattr(operator, name)

    def f(self, other):
        _refuse_sequences((other,), f"operator {name}")
        return _call(kind, op, (self, other), {})

    def r(self, other):
        _refuse_sequences((other,), f"operator {name}")
        return _call(kind, op, (other, self), {})

    def i(self, other):
        _refuse_sequences((other,), f"operator {name}")
        iop = getattr(operator, "i" + name.strip("_"))
        _count(kind)
        iop(self._a, _unwrap(other))
        return self

    return f, r, i


class StrictArray:
    """A device-array stand-in: a NumPy array that refuses to be one (see the module docstring)."""

    __slots__ = ("_a",)
    __array_ufunc__ = None          # numpy ufuncs and ndarray operators refuse us (TypeError)
    __hash__ = None

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, *args, **kwargs):
        raise _refuse("implicit conversion to a NumPy array (np.asarray / np.array)")

    def __array_function__(self, func, types, args, kwargs):
        raise _refuse(f"numpy function np.{func.__name__} called on a device array (spell it xp.*)")

    # -- host synchronisations -----------------------------------------------------------------
    def get(self, stream=None, out=None):
        _count("sync")
        return self._a.copy()

    def item(self):
        _count("sync")
        return self._a.item()

    def tolist(self):
        _count("sync")
        return self._a.tolist()

    def __float__(self):
        _count("sync")
        return float(self._a)

    def __int__(self):
        _count("sync")
        return int(self._a)

    def __bool__(self):
        _count("sync")
        return bool(self._a)

    def __index__(self):
        raise _refuse("a device array used as a Python index")

    def __repr__(self):
        return f"strict_array({self._a!r})"

    # -- attributes ------------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (StrictArray(self._a[i]) for i in range(len(self._a)))

    # -- indexing --------------------------------------------------------------------------------
    def __getitem__(self, key):
        k = _unwrap(key)
        if not _is_basic_index(k):
            _count("copy")                  # a gather
        return _wrap(self._a[k])

    def __setitem__(self, key, value):
        _count("copy")
        self._a[_unwrap(key)] = _unwrap(value)

    # -- shape -----------------------------------------------------------------------------------
    def _view_or_copy(self, r):
        if not np.may_share_memory(r, self._a):
            _count("copy")
        return StrictArray(r)

    def reshape(self, *shape, order="C"):
        return self._view_or_copy(self._a.reshape(*shape, order=order))

    def ravel(self):
        return self._view_or_copy(self._a.ravel())

    def transpose(self, *axes):
        return StrictArray(self._a.transpose(*axes))

    def swapaxes(self, a, b):
        return StrictArray(self._a.swapaxes(a, b))

    def squeeze(self, axis=None):
        return StrictArray(self._a.squeeze(axis))

    def view(self, *args):
        return StrictArray(self._a.view(*args))

    def copy(self, order="C"):
        _count("copy")
        return StrictArray(self._a.copy(order))

    def astype(self, dtype, copy=True):
        if not copy and np.dtype(dtype) == self._a.dtype:
            return self
        _count("elementwise")
        return StrictArray(self._a.astype(dtype))

    def fill(self, value):
        _count("fill")
        self._a.fill(_unwrap(value))

    def repeat(self, n, axis=None):
        if isinstance(n, (StrictArray, np.ndarray)):
            raise ValueError("strict xp: an array as repeat's count (CuPy: 'cupy.ndaray cannot be "
                             "specified as `repeats` argument')")
        _count("copy")
        return StrictArray(self._a.repeat(n, axis))

    def dot(self, other):
        return _call("matmul", np.dot, (self, other), {})


for _name in ("sum", "mean", "max", "min", "prod", "any", "all", "argmax", "argmin", "std", "var", "cumsum"):
    def _red(self, *args, _n=_name, **kwargs):
        _refuse_kwargs(kwargs, _REDUCTION_KWARGS, f"ndarray.{_n}")
        return _call("reduction", getattr(np, _n), (self,) + args, kwargs)
    setattr(StrictArray, _name, _red)

for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor",
              "lshift", "rshift"):
    _f, _r, _i = _binop(_name)
    _dn = _name.strip("_")
    setattr(StrictArray, f"__{_dn}__", _f)
    setattr(StrictArray, f"__r{_dn}__", _r)
    setattr(StrictArray, f"__i{_dn}__", _i)
_f, _r, _i = _binop("matmul", "matmul")
StrictArray.__matmul__, StrictArray.__rmatmul__, StrictArray.__imatmul__ = _f, _r, _i


def _compare(op):
    def f(self, other):
        _refuse_sequences((other,), f"operator {op.__name__}")
        return _call("elementwise", op, (self, other), {})
    return f


for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(StrictArray, f"__{_name}__", _compare(getattr(operator, _name)))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_name}__",
            (lambda op: lambda self: _call("elementwise", op, (self,), {}))(getattr(operator, _name)))


# -- the namespace --------------------------------------------------------------------------------
_REDUCTIONS = {"sum", "mean", "max", "min", "prod", "any", "all", "argmax", "argmin", "std", "var",
               "cumsum", "count_nonzero", "amax", "amin", "nansum", "linalg"}
_COPIES = {"concatenate", "stack", "hstack", "vstack", "take", "tile", "repeat", "copy", "flip",
           "roll", "pad", "sort", "argsort", "diag", "triu", "tril", "broadcast_to_copy"}
_FILLS = {"zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "eye", "identity",
          "arange", "linspace"}
_FREE = {"empty", "empty_like", "reshape", "transpose", "swapaxes", "expand_dims", "squeeze",
         "moveaxis", "broadcast_to", "split", "array_split", "atleast_1d", "atleast_2d",
         "shape", "ndim", "result_type", "can_cast", "may_share_memory", "shares_memory", "iscomplexobj"}
_ELEMENTWISE = {"where", "clip", "nan_to_num", "isclose", "allclose_elementwise", "round", "around", "cross"}


def _asarray(a, dtype=None, order=None):
    if isinstance(a, StrictArray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return a.astype(dtype)
    _count("upload")
    return StrictArray(np.array(a, dtype=dtype, order=order, copy=True))


def _ascontiguousarray(a, dtype=None):
    if not isinstance(a, StrictArray):
        raise _refuse("ascontiguousarray of a host array")
    if a._a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    _count("copy")
    return StrictArray(np.ascontiguousarray(a._a, dtype=dtype))


def _einsum(subscripts, *operands, **kwargs):
    """CuPy's einsum: no out, order or casting; a result whose layout is not NumPy's (here: never
    C-contiguous when it has an axis, so that code relying on the layout fails in CI)."""
    _refuse_kwargs(kwargs, ("dtype", "optimize"), "einsum")
    kind = "matmul" if len(operands) > 1 else "reduction"
    r = _call(kind, np.einsum, (subscripts,) + operands, kwargs)
    if r.ndim:
        buf = np.empty(r.shape + (2,), r.dtype)          # every other element of a wider buffer
        buf[..., 0] = r._a
        r = StrictArray(buf[..., 0])
    return r


def _take(a, indices, axis=None, out=None, **kwargs):
    """CuPy's take: no mode; ``out`` must have the result's exact dtype and shape (TypeError 'Output
    dtype mismatch', ValueError 'Output shape mismatch' in cupy/_core/_routines_indexing.pyx)."""
    _refuse_kwargs(kwargs, (), "take (besides axis and out)")
    if out is not None:
        shape = (np.shape(_unwrap(indices)) if axis is None else
                 a.shape[:axis % a.ndim] + np.shape(_unwrap(indices)) + a.shape[axis % a.ndim + 1:])
        if out.dtype != a.dtype:
            raise TypeError(f"strict xp: take into an out of dtype {out.dtype} from {a.dtype} "
                            f"(CuPy: 'Output dtype mismatch')")
        if tuple(out.shape) != tuple(shape):
            raise ValueError(f"strict xp: take into an out of shape {out.shape}, the result is {shape} "
                             f"(CuPy: 'Output shape mismatch')")
    return _call("copy", np.take, (a, indices), {"axis": axis} if out is None else {"axis": axis, "out": out})


class _Stream:
    def synchronize(self):
        _count("sync")


class _Pool:
    """CuPy's memory pool, as far as bench reads it (NumPy allocates on the host: zeros)."""

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


class _Linalg(types.SimpleNamespace):
    pass


class StrictNamespace(types.ModuleType):
    """``xp``: NumPy's names, each wrapped to take and give StrictArrays and to count its calls."""

    ndarray = StrictArray
    newaxis = None
    cuda = types.SimpleNamespace(get_current_stream=lambda: _Stream(),
                                 Device=lambda *a: types.SimpleNamespace(id=0, synchronize=lambda: _count("sync")))
    __gatepose_special__ = types.SimpleNamespace(
        expit=lambda x, out=None: _call("elementwise", scipy.special.expit, (x,), {} if out is None else {"out": out}))

    def __init__(self):
        super().__init__("strict_xp", "the strict CuPy stand-in (tests/strict_xp.py)")
        self.asarray = self.array = _asarray
        self.ascontiguousarray = _ascontiguousarray
        self.einsum = _einsum
        self.take = _take
        self.linalg = _Linalg(**{n: self._wrapped(getattr(np.linalg, n), "reduction")
                                 for n in ("svd", "det", "norm", "inv", "solve", "eigh", "qr")})
        self._pool = _Pool()

    def get_default_memory_pool(self):
        return self._pool

    @staticmethod
    def _wrapped(fn, kind, ufunc=False, reduction=False):
        name = getattr(fn, "__name__", "f")

        def f(*args, **kwargs):
            if ufunc:
                _refuse_sequences(args, f"xp.{name}")
                _refuse_kwargs(kwargs, _UFUNC_KWARGS, f"the ufunc xp.{name}")
            elif reduction:
                _refuse_kwargs(kwargs, _REDUCTION_KWARGS, f"xp.{name}")
            return _call(kind, fn, args, kwargs)
        f.__name__ = name
        return f

    def __getattr__(self, name):
        obj = getattr(np, name)          # AttributeError for names NumPy lacks
        if isinstance(obj, (type, np.dtype)) or not callable(obj):
            return obj                   # dtypes (xp.float32 is np.float32 on CuPy too), constants
        if isinstance(obj, np.ufunc) or name in _ELEMENTWISE:
            kind = "elementwise"
        elif name in _REDUCTIONS:
            kind = "reduction"
        elif name in _COPIES:
            kind = "copy"
        elif name in _FILLS:
            kind = "fill"
        elif name in _FREE:
            kind = None
        elif name in ("matmul", "dot", "tensordot", "inner", "outer", "vdot"):
            kind = "matmul"
        else:
            raise AttributeError(f"strict xp: np.{name} is not classified by the stand-in; add it")
        f = self._wrapped(obj, kind, ufunc=isinstance(obj, np.ufunc), reduction=name in _REDUCTIONS)
        setattr(self, name, f)           # cached: __getattr__ runs once per name
        return f


xp = StrictNamespace()
StrictArray.__gatepose_xp__ = xp
