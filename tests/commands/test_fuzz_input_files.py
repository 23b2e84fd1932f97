"""Generated corruptions of every file a user hands gatepose: each ends in a GateposeError (one
line, naming the file) or in a valid result, never in another exception.

Hypothesis draws the corruption (which field, which damage, which byte range); the seeds are
derandomised in CI (tests/conftest.py), so a failure found once is found every run. Run-folder and
checkpoint corruptions are in tests/commands/test_run_folders.py.
"""
import io
import json
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepose.data.archive import Dataset, load_archive, make_dataset, save_archive
from gatepose.errors import GateposeError

FIELDS = ("poses_2d", "poses_3d", "image_size", "subject", "action", "camera", "frame", "skeleton",
          "split", "confidence")


def _good_arrays(n=6):
    rng = np.random.default_rng(0)
    ds = make_dataset(poses_2d=rng.uniform(100, 900, (n, 17, 2)), image_size=(1000, 1000),
                      subject=["S1"] * n, action=["walk"] * n, camera=np.zeros(n), frame=np.arange(n),
                      poses_3d=rng.normal(0, 300, (n, 17, 3)) + [0, 0, 5000], split=["train"] * n,
                      confidence=np.ones((n, 17)))
    return ds.arrays()


# One damage applied to one field: what a buggy converter or a careless edit produces.
DAMAGES = {
    "drop": lambda a, rng: None,
    "nan": lambda a, rng: _poke(a, np.nan, rng),
    "inf": lambda a, rng: _poke(a, -np.inf, rng),
    "huge": lambda a, rng: _poke(a, 1e30, rng),
    "negative": lambda a, rng: _poke(a, -7, rng),
    "zeros": lambda a, rng: np.zeros_like(a),
    "float64": lambda a, rng: a.astype(np.float64) if a.dtype.kind in "fiu" else a,
    "as_text": lambda a, rng: a.astype(str),
    "as_bytes": lambda a, rng: np.char.encode(a.astype(str)),
    "transpose": lambda a, rng: a.T,
    "one_row_short": lambda a, rng: a[:-1] if a.ndim else a,
    "extra_axis": lambda a, rng: a[None],
    "scalar": lambda a, rng: np.array(3),
    "empty": lambda a, rng: a[:0] if a.ndim else np.array(""),
    "object": lambda a, rng: np.array([{"x": 1}] * max(a.size, 1), dtype=object),
}


def _poke(a, value, rng):
    if a.dtype.kind not in "fiu" or a.size == 0:
        return a
    a = a.astype(np.float64 if isinstance(value, float) else a.dtype).copy()
    a.flat[int(rng.integers(a.size))] = value
    return a.astype(np.float32) if a.dtype == np.float64 and isinstance(value, float) else a


def _save(path, arrays):
    safe = {k: v for k, v in arrays.items() if v is not None}
    if any(v.dtype == object for v in safe.values()):
        _savez_pickled(path, safe)
    else:
        np.savez(path, **safe)


def _savez_pickled(path, arrays):
    """An .npz whose object members are pickles (np.savez refuses to write them without pickling)."""
    with zipfile.ZipFile(path, "w") as z:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, v, allow_pickle=True)
            z.writestr(f"{k}.npy", buf.getvalue())


def _expect_error(path):
    """Loading ``path`` must be one GateposeError: one line, naming the file."""
    with pytest.raises(GateposeError) as exc:
        load_archive(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg, msg


def _expect_dataset(path, like=None):
    """Loading ``path`` must give a dataset (with the arrays of ``like``, when given)."""
    ds = load_archive(path)
    assert isinstance(ds, Dataset) and len(ds) > 0
    if like is not None:
        got, want = ds.arrays(), like.arrays()
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    return ds


# The damaged fields that still make a valid archive: the optional fields dropped, labels that
# became empty strings (zeros of a text field), confidences and frame numbers all zero (allowed
# values), and one 2D or 3D coordinate at -7 (a plausible value). Every other damage that changes a
# field must be an error; a damage that changes nothing (a numeric damage of a text field, the
# transpose of a 1-D field, the 0-d skeleton cut short) must load.
STILL_VALID = {("confidence", "drop"), ("poses_3d", "drop"), ("split", "drop"), ("action", "zeros"),
               ("subject", "zeros"), ("confidence", "zeros"), ("frame", "zeros"), ("poses_2d", "negative"),
               ("poses_3d", "negative")}


def _unchanged(before, after) -> bool:
    return (after is not None and after.dtype == before.dtype and after.shape == before.shape
            and np.array_equal(after, before))


@given(field=st.sampled_from(FIELDS), damage=st.sampled_from(sorted(DAMAGES)), seed=st.integers(0, 2**16))
@settings(max_examples=60)
def test_damaged_field(tmp_path_factory, field, damage, seed):
    arrays = _good_arrays()
    before = arrays[field]
    arrays[field] = DAMAGES[damage](arrays[field], np.random.default_rng(seed))
    path = tmp_path_factory.mktemp("fuzz") / "a.npz"
    _save(path, arrays)
    if (field, damage) in STILL_VALID or _unchanged(before, arrays[field]):
        _expect_dataset(path)
    else:
        _expect_error(path)


def _member_data(raw: bytes, path) -> list:
    """[start, stop) of every member's stored bytes in a zip: the bytes its CRC-32 covers."""
    out = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            off = info.header_offset
            name_len, extra_len = struct.unpack("<HH", raw[off + 26:off + 30])
            start = off + 30 + name_len + extra_len
            out.append((start, start + info.compress_size))
    return out


@given(start=st.floats(0, 1), length=st.integers(1, 4096), mode=st.sampled_from(["truncate", "garble", "zero"]),
       seed=st.integers(0, 2**16))
@settings(max_examples=40)
def test_damaged_bytes(tmp_path_factory, start, length, mode, seed):
    folder = tmp_path_factory.mktemp("fuzz")
    good = save_archive(folder / "good.npz", Dataset(**_fields(_good_arrays())))
    data = bytearray(good.read_bytes())
    i = int(start * (len(data) - 1))
    if mode == "truncate":
        data = data[:i]
    elif mode == "garble":
        data[i:i + length] = np.random.default_rng(seed).integers(0, 256, len(data[i:i + length]), np.uint8).tobytes()
    else:
        data[i:i + length] = bytes(len(data[i:i + length]))
    bad = folder / "bad.npz"
    bad.write_bytes(bytes(data))
    original = good.read_bytes()
    changed = [k for k in range(min(i + length, len(data))) if k >= i and data[k] != original[k]]
    if mode == "truncate" or any(a <= k < b for k in changed for a, b in _member_data(original, good)):
        # cut short, or a byte of an .npy member changed (its CRC-32 no longer matches)
        _expect_error(bad)
    elif not changed:
        _expect_dataset(bad, like=load_archive(good))
    else:
        # only bytes of the zip's own records changed (headers, central directory, end record): the
        # reader checks some of their fields and takes others (versions, times, a second copy of the
        # sizes) on trust, so an error or the original dataset, never another dataset
        try:
            ds = load_archive(bad)
        except GateposeError:
            _expect_error(bad)
        else:
            _expect_dataset(bad, like=load_archive(good))


def _fields(arrays):
    out = dict(arrays)
    out["skeleton"] = str(out["skeleton"])
    return out


def test_a_pickle_is_never_loaded(tmp_path):
    """A pickle with a payload: refused by its magic bytes, never unpickled."""
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(GateposeError, match="not a gatepose dataset archive"):
        load_archive(path)


# -- predict's inputs -------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.sampled_from(["image_id", "category_id", "keypoints", "score", "annotations", "x"]), inner, max_size=5),
    max_leaves=60)


@given(doc=JSON_VALUES)
@settings(max_examples=80)
def test_any_json_as_keypoints(tmp_path_factory, doc):
    from gatepose.posefiles import read_poses_2d

    path = tmp_path_factory.mktemp("fuzz") / "det.json"
    path.write_text(json.dumps(doc))
    try:
        p = read_poses_2d(path, "h36m17")
    except GateposeError as exc:
        assert "\n" not in str(exc)
        return
    assert p.poses.shape[1:] == (17, 2) and np.isfinite(p.poses).all()


@given(shape=st.lists(st.integers(0, 18), min_size=0, max_size=4),
       dtype=st.sampled_from(["float32", "float64", "int16", "uint8", "bool", "complex64", "U3"]),
       fill=st.sampled_from(["random", "zeros", "nan", "huge"]))
@settings(max_examples=60)
def test_any_npy_as_poses(tmp_path_factory, shape, dtype, fill):
    from gatepose.posefiles import read_poses_2d

    rng = np.random.default_rng(0)
    a = rng.uniform(0, 500, shape) if fill == "random" else np.zeros(shape)
    if fill == "nan" and a.size:
        a.flat[0] = np.nan
    if fill == "huge":
        a = a + 1e30
    path = tmp_path_factory.mktemp("fuzz") / "in.npy"
    with np.errstate(invalid="ignore"):
        np.save(path, a.astype(dtype))
    try:
        p = read_poses_2d(path, "h36m17")
    except GateposeError as exc:
        assert "\n" not in str(exc)
        return
    assert p.poses.shape[1:] == (17, 2) and np.isfinite(p.poses).all() and len(p.poses) > 0
