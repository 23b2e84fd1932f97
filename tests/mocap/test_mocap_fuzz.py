"""Property-based fuzzing of the mocap parsers: damaged bytes, tokens and structure of the shipped
CMU excerpts (tests/fixtures/mocap).

Every outcome is either a clip that passes the importer's checks (finite poses of the right shape,
filmed into a valid archive, no NumPy warning leaked) or a :class:`DataError`; never another
exception. Hypothesis draws the damage; the examples are derandomised in CI (tests/conftest.py).
The excerpts are shortened (a few frames) so that an example costs milliseconds: 100 examples per
test, about 10 s for the file on two cores (FUZZ_EXAMPLES=5000 HYPOTHESIS_PROFILE=dev for a hunt).
"""
import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatepose.data.archive import DataWarning
from gatepose.data.mocap.importer import build_dataset, read_clip
from gatepose.errors import DataError
from mocap_files import MOCAP_FIXTURES, amc_excerpt, bvh_excerpt, join_motion, split_motion

BVH = bvh_excerpt(12).encode()                      # the excerpts, shortened
ASF = (MOCAP_FIXTURES / "49.asf").read_bytes()
AMC = amc_excerpt(9).encode()

# Tokens a damaged file plausibly holds: the formats' own keywords and punctuation, numbers at the
# edges of float64, non-numbers, and characters that change lines or encodings.
TOKENS = ["{", "}", "ROOT", "JOINT", "End", "Site", "OFFSET", "CHANNELS", "MOTION", "HIERARCHY", "Frames:",
          "Frame", "Time:", ":", "Xrotation", "Yrotation", "Zrotation", "Xposition", "Zposition", "7", "3", "0",
          "-1", "2.5", "nan", "inf", "-inf", "1e308", "-1e308", "1e-320", "1e300", "abc", "0x1p3", "1_000",
          "\ufeff", "\r", "\n", "\t", "#", "(", ",", ":root", ":bonedata", ":hierarchy", ":units", "begin",
          "end", "dof", "rx", "ry", "rz", "tx", "l", "length", "direction", "axis", "XYZ", "XXZ", "order",
          "root", "lfemur", "ltibia", "lhipjoint", ":FULLY-SPECIFIED", ":RADIANS", "1", "120", "\xe9"]


CHANNEL_NAMES = ["Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"]


@st.composite
def damaged(draw, data: bytes):
    """One or a few damages of one kind to ``data``: bytes, tokens, lines, or (BVH) a joint's
    CHANNELS line rewritten with any count and names (orders, repeats, too many or few)."""
    kinds = ["bytes", "tokens", "lines", "truncate"] + (["channels"] if data.startswith(b"HIERARCHY") else [])
    kind = draw(st.sampled_from(kinds))
    n = draw(st.integers(1, 3))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    if kind == "bytes":
        b = bytearray(data)
        for _ in range(n):
            i = draw(st.integers(0, len(b)))
            j = min(len(b), i + draw(st.integers(0, 8)))
            b[i:j] = draw(st.binary(max_size=8))
        return bytes(b)
    text = data.decode("utf-8", errors="replace")
    if kind == "channels":
        lines = text.splitlines()
        at = [i for i, ln in enumerate(lines) if "CHANNELS" in ln]
        i = draw(st.sampled_from(at))
        n_old = int(lines[i].split()[1])       # mostly as many as before, so that the frames still fit
        size = draw(st.sampled_from([n_old, n_old, n_old, draw(st.integers(0, 7))]))
        names = draw(st.lists(st.sampled_from(CHANNEL_NAMES), min_size=size, max_size=size))
        count = draw(st.sampled_from([len(names), len(names), max(len(names) - 1, 0), len(names) + 1]))
        lines[i] = f"CHANNELS {count} " + " ".join(names)
        return "\n".join(lines).encode()
    if kind == "tokens":
        parts = re.split(r"(\s+)", text)
        words = [k for k in range(len(parts)) if parts[k] and not parts[k].isspace()]
        for _ in range(n):
            k = draw(st.sampled_from(words))
            op = draw(st.sampled_from(["replace", "delete", "duplicate", "insert"]))
            tok = draw(st.sampled_from(TOKENS))
            parts[k] = {"replace": tok, "delete": "", "duplicate": parts[k] + " " + parts[k],
                        "insert": parts[k] + " " + tok}[op]
        return "".join(parts).encode("utf-8", errors="surrogatepass")
    lines = text.splitlines()
    for _ in range(n):
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "join", "move", "one_line"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "join" and i + 1 < len(lines):
            lines[i:i + 2] = [lines[i] + " " + lines[i + 1]]
        elif op == "move":
            lines.insert(j, lines.pop(i))
        elif op == "one_line":                     # lines i..j written as one
            a, b = sorted((i, j))
            lines[a:b + 1] = [" ".join(lines[a:b + 1])]
        if not lines:
            lines = [""]
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return eol.join(lines).encode("utf-8", errors="surrogatepass")


def _outcome(kind, path, asf=None):
    """read_clip's result, checked; None for a DataError. Anything else propagates (and fails)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            clip = read_clip(kind, path, asf)
            ds = build_dataset([clip], n_cameras=1)
        except DataError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg, msg          # one line
            return None
    leaked = [w for w in caught if not issubclass(w.category, DataWarning)]
    assert not leaked, [str(w.message) for w in leaked]
    assert clip.world.ndim == 3 and clip.world.shape[1:] == (17, 3) and len(clip.world) >= 1
    assert np.isfinite(clip.world).all()
    assert len(ds) == len(clip.world) and np.isfinite(ds.poses_3d).all() and np.isfinite(ds.poses_2d).all()
    return clip


FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 100)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_the_undamaged_excerpts_import(tmp_path):
    (tmp_path / "a.bvh").write_bytes(BVH)
    (tmp_path / "49.asf").write_bytes(ASF)
    (tmp_path / "49_18.amc").write_bytes(AMC)
    assert _outcome("bvh", tmp_path / "a.bvh") is not None
    assert _outcome("amc", tmp_path / "49_18.amc", tmp_path / "49.asf") is not None


@FUZZ
@given(data=damaged(BVH))
def test_damaged_bvh_parses_or_is_one_data_error(tmp_path, data):
    (tmp_path / "a.bvh").write_bytes(data)
    _outcome("bvh", tmp_path / "a.bvh")


@FUZZ
@given(data=damaged(ASF))
def test_damaged_asf_parses_or_is_one_data_error(tmp_path, data):
    (tmp_path / "49.asf").write_bytes(data)
    (tmp_path / "49_18.amc").write_bytes(AMC)
    _outcome("amc", tmp_path / "49_18.amc", tmp_path / "49.asf")


@FUZZ
@given(data=damaged(AMC))
def test_damaged_amc_parses_or_is_one_data_error(tmp_path, data):
    (tmp_path / "49.asf").write_bytes(ASF)
    (tmp_path / "49_18.amc").write_bytes(data)
    _outcome("amc", tmp_path / "49_18.amc", tmp_path / "49.asf")


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 100)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["nan", "abc", "1e400", ""])),
       where=st.sampled_from(["frame_time", "offset", "root_x", "angle", "units_length", "amc_value", "amc_root"]),
       frame=st.integers(0, 8))
def test_extreme_values_in_any_field(tmp_path, value, where, frame):
    """Any float64 (or non-number) in a field that holds a number, in any frame (kept by the
    default --fps or not): read, or one DataError."""
    v = value if isinstance(value, str) else repr(value)
    bvh, asf, amc = BVH.decode(), ASF.decode(), AMC.decode()
    if where == "frame_time":
        bvh = re.sub(r"Frame Time:.*", f"Frame Time: {v}", bvh)
    elif where == "offset":
        bvh = bvh.replace("OFFSET 0 20.6881 -0.73152", f"OFFSET 0 {v} -0.73152", 1)
    elif where in ("root_x", "angle"):
        head, lines = split_motion(bvh)
        k = 3 + frame                              # '', Frames:, Frame Time:, then the frames
        vals = lines[k].split()
        vals[0 if where == "root_x" else 7] = v
        lines[k] = " ".join(vals)
        bvh = join_motion(head, lines)
    elif where == "units_length":
        asf = asf.replace("length 0.45", f"length {v}", 1)
    else:
        lines = amc.splitlines()
        i = lines.index(str(frame + 1)) + (1 if where == "amc_root" else 3)
        vals = lines[i].split()
        vals[1] = v
        lines[i] = " ".join(vals)
        amc = "\n".join(lines) + "\n"
    (tmp_path / "a.bvh").write_text(bvh)
    (tmp_path / "49.asf").write_text(asf)
    (tmp_path / "49_18.amc").write_text(amc)
    if where in ("frame_time", "offset", "root_x", "angle"):
        _outcome("bvh", tmp_path / "a.bvh")
    else:
        _outcome("amc", tmp_path / "49_18.amc", tmp_path / "49.asf")


@pytest.mark.parametrize("eol", ["\r", "\r\n"])
def test_line_endings_do_not_change_the_clip(tmp_path, eol):
    (tmp_path / "a.bvh").write_bytes(BVH)
    (tmp_path / "b.bvh").write_bytes(BVH.replace(b"\n", eol.encode()))
    a, b = _outcome("bvh", tmp_path / "a.bvh"), _outcome("bvh", tmp_path / "b.bvh")
    np.testing.assert_allclose(a.world, b.world, atol=1e-9)
