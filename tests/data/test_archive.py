"""The dataset archive: round trips, atomic writes, and a reader that only ever raises DataError."""
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gatepose.data.archive import (OPTIONAL, REQUIRED, Dataset, concatenate, load_archive, make_dataset,
                                   save_archive)
from gatepose.errors import DataError


def small_dataset(seed=0, N=6, J=17, with_3d=True, skeleton="h36m17"):
    rng = np.random.default_rng(seed)
    return make_dataset(
        poses_2d=rng.uniform(0, 1000, (N, J, 2)), image_size=(1000, 1000),
        subject=["S1"] * (N // 2) + ["S2"] * (N - N // 2), action=["walk"] * N, camera=np.zeros(N),
        frame=np.arange(N), skeleton=skeleton,
        poses_3d=rng.normal(0, 500, (N, J, 3)) + [0, 0, 4000] if with_3d else None,
        split=["train"] * (N // 2) + ["test"] * (N - N // 2))


def assert_same(a: Dataset, b: Dataset):
    for k, v in a.arrays().items():
        w = b.arrays()[k]
        assert v.dtype == w.dtype and np.array_equal(v, w), k
    assert set(a.arrays()) == set(b.arrays())


@pytest.mark.parametrize("with_3d", [True, False])
def test_round_trip(tmp_path, with_3d):
    ds = small_dataset(with_3d=with_3d)
    path = save_archive(tmp_path / "a.npz", ds)
    back = load_archive(path)
    assert_same(ds, back)
    assert (back.poses_3d is None) == (not with_3d)
    assert os.listdir(tmp_path) == ["a.npz"]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) <= set(REQUIRED + OPTIONAL)
        assert z["poses_2d"].dtype == np.float32 and z["skeleton"].shape == ()


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_archive(tmp_path / "a.npz", small_dataset(seed=1))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError):
        save_archive(path, small_dataset(seed=2))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["a.npz"]


def test_save_refuses_an_invalid_dataset(tmp_path):
    ds = small_dataset()
    bad = Dataset(**{**{k: getattr(ds, k) for k in ds.__dataclass_fields__},
                     "poses_2d": ds.poses_2d.astype(np.float64)})
    with pytest.raises(DataError, match="poses_2d"):
        save_archive(tmp_path / "a.npz", bad)
    assert not (tmp_path / "a.npz").exists()


def test_error_message_names_file_field_and_expectation(tmp_path):
    arrays = small_dataset(N=10).arrays()
    arrays["poses_2d"] = np.zeros((10, 16, 2))
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as e:
        load_archive(path)
    assert str(e.value) == (f"{path}: field 'poses_2d': expected float32 array of shape (N, 17, 2), "
                            "got float64 (10, 16, 2)")


def test_helpers():
    ds = small_dataset(N=8)
    assert len(ds) == 8 and ds.skel.n_joints == 17
    train, test = ds.train_test()
    assert set(train.subject) == {"S1"} and set(test.subject) == {"S2"} and len(train) + len(test) == 8
    a, b = ds.split_by_subjects(["S1"])
    assert set(a.subject) == {"S2"} and set(b.subject) == {"S1"}
    assert np.array_equal(ds.sequence_ids(), [0, 0, 0, 0, 1, 1, 1, 1])
    both = concatenate([ds, ds])
    assert len(both) == 16 and np.array_equal(both.sequence_ids(), np.repeat([0, 1, 2, 3], 4))
    assert_same(ds.subset(np.arange(8)), ds)


# ---------------------------------------------------------------------------------------------
# Corruption: the reader raises DataError, one line naming the file, and nothing else.

FLOAT_FIELDS = ("poses_2d", "poses_3d")
ALL_FIELDS = REQUIRED + ("poses_3d", "split")
WRONG_DTYPE = {"f": [np.float64, np.int32, np.float16, np.str_, np.complex64],
               "i": [np.float32, np.str_, np.bool_], "U": [np.int64, np.float32, np.bytes_]}


def _wrong_dtype(a, rng):
    choices = WRONG_DTYPE[a.dtype.kind if a.dtype.kind != "u" else "i"]
    dtype = choices[rng.integers(len(choices))]
    if a.dtype.kind == "U" and dtype is not np.bytes_:
        return np.zeros(a.shape, dtype)  # strings do not cast to numbers
    return a.astype(dtype)


def _wrong_shape(a, rng):
    ops = [lambda x: x[None], lambda x: x.reshape(-1) if x.ndim > 1 else x[:, None], lambda x: x[:-1],
           lambda x: np.concatenate([x, x[:1]])]
    if a.ndim >= 2:
        ops += [lambda x: x[:, :-1], lambda x: np.swapaxes(x, 0, 1)]
    if a.ndim == 0:
        return np.stack([a, a])
    out = ops[rng.integers(len(ops))](a)
    return out if out.shape != a.shape else out[None]


def corrupt(arrays, path, kind, field, rng):
    """Write a broken archive to ``path``; return whether it is certainly invalid."""
    arrays = dict(arrays)
    if kind == "drop":
        del arrays[field]
        np.savez(path, **arrays)
        return field in REQUIRED
    if kind == "dtype":
        arrays[field] = _wrong_dtype(arrays[field], rng)
    elif kind == "shape":
        arrays[field] = _wrong_shape(arrays[field], rng)
    elif kind == "nonfinite":
        field = FLOAT_FIELDS[rng.integers(2)]
        a = arrays[field].copy()
        a.flat[rng.integers(a.size)] = [np.nan, np.inf, -np.inf][rng.integers(3)]
        arrays[field] = a
    elif kind == "pickle":
        obj = np.empty(len(arrays["poses_2d"]), dtype=object)
        obj[:] = [{"x": i} for i in range(len(obj))]
        arrays[field] = obj
        np.savez(path, allow_pickle=True, **arrays)
        return True
    elif kind == "unknown_skeleton":
        arrays["skeleton"] = np.array(["coco", "", "h36m", "H36M17"][rng.integers(4)])
    elif kind == "extra":
        arrays["weights"] = np.ones(3)
    elif kind == "empty":
        arrays = {k: v[:0] if v.ndim else v for k, v in arrays.items()}
    elif kind == "bad_values":
        key = ["image_size", "camera", "frame", "split"][rng.integers(4)]
        a = arrays[key].copy()
        a.flat[rng.integers(a.size)] = "validate" if key == "split" else -1
        arrays[key] = a
    np.savez(path, **arrays)
    raw = Path(path).read_bytes()
    if kind == "truncate":
        Path(path).write_bytes(raw[: rng.integers(0, len(raw))])
    elif kind == "garbage":
        n = int(rng.integers(0, 2000))
        head = [b"", b"PK\x03\x04", b"\x93NUMPY", b"PK\x05\x06"][rng.integers(4)]
        Path(path).write_bytes(head + rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    elif kind == "flip":  # may leave a readable archive (e.g. a flipped timestamp): then it must load
        b = bytearray(raw)
        for i in rng.integers(0, len(b), int(rng.integers(1, 8))):
            b[i] ^= int(rng.integers(1, 256))
        Path(path).write_bytes(bytes(b))
        return False
    return True


KINDS = ["drop", "dtype", "shape", "nonfinite", "pickle", "truncate", "garbage", "unknown_skeleton", "extra",
         "empty", "bad_values", "flip"]


@settings(max_examples=150)
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(KINDS), field=st.sampled_from(ALL_FIELDS))
def test_reader_raises_only_data_error(seed, kind, field):
    rng = np.random.default_rng(seed)
    arrays = small_dataset(seed=seed % 7, N=int(rng.integers(1, 9))).arrays()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "corrupt.npz"
        certain = corrupt(arrays, path, kind, field, rng)
        try:
            ds = load_archive(path)
        except DataError as exc:
            msg = str(exc)
            assert "\n" not in msg and str(path) in msg, msg
            return
        assert not certain, f"{kind} {field}: corrupt archive loaded"
        assert isinstance(ds, Dataset) and len(ds) >= 1


def test_pickled_object_field_names_the_danger(tmp_path):
    arrays = small_dataset().arrays()
    arrays["subject"] = np.array([{"evil": 1}] * 6, dtype=object)
    path = tmp_path / "p.npz"
    np.savez(path, allow_pickle=True, **arrays)
    with pytest.raises(DataError, match=r"field 'subject': holds pickled Python objects"):
        load_archive(path)


def test_npy_file_and_missing_file(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 17, 2), np.float32))
    with pytest.raises(DataError, match="single .npy array"):
        load_archive(tmp_path / "x.npy")
    with pytest.raises(DataError, match="no such file"):
        load_archive(tmp_path / "nope.npz")
    with pytest.raises(DataError, match="not a file"):
        load_archive(tmp_path)
