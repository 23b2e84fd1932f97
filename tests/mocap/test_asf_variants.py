"""ASF/AMC files as other software writes them: one pose written with CMU's conventions and with
each variant's (radians, other root/axis/dof orders, units, offsets, layout), checked against an
independent forward kinematics built from scipy.spatial.transform.Rotation; bad files via the CLI."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation as R

from gatepose.data.archive import load_archive
from gatepose.data.mocap.asf import amc_tree, read_asf
from gatepose.errors import DataError
from helpers import assert_refused, invoke, stderr_of
from mocap_files import amc_text, asf_text

CMU_L = 0.45          # CMU's ':units length'
T = 5

# (bone, parent, direction, length in CMU units, axis X Y Z degrees (CMU: order XYZ), dof)
_SKEL = [
    ("lhipjoint", "root", (0.64, -0.71, 0.28), 2.5, (0, 0, 0), ""),
    ("lfemur", "lhipjoint", (0.34, -0.94, 0), 7.0, (0, 0, 20), "rx ry rz"),
    ("ltibia", "lfemur", (0.34, -0.94, 0), 7.5, (0, 0, 20), "rx"),
    ("lfoot", "ltibia", (0.08, -0.22, 0.97), 2.1, (-90, 0, 20), "rx rz"),
    ("rhipjoint", "root", (-0.64, -0.71, 0.28), 2.5, (0, 0, 0), ""),
    ("rfemur", "rhipjoint", (-0.34, -0.94, 0), 7.0, (0, 0, -20), "rx ry rz"),
    ("rtibia", "rfemur", (-0.34, -0.94, 0), 7.5, (0, 0, -20), "rx"),
    ("rfoot", "rtibia", (-0.08, -0.22, 0.97), 2.1, (-90, 0, -20), "rx rz"),
    ("lowerback", "root", (0, 1, 0), 2.0, (0, 0, 0), "rx ry rz"),
    ("upperback", "lowerback", (0, 1, 0.05), 2.0, (0, 0, 0), "rx ry rz"),
    ("thorax", "upperback", (0, 1, 0), 2.0, (0, 0, 0), "rx ry rz"),
    ("lowerneck", "thorax", (0, 1, 0.1), 1.5, (0, 0, 0), "rx ry rz"),
    ("head", "lowerneck", (0, 1, 0), 1.6, (0, 0, 0), "rx ry rz"),
    ("lclavicle", "thorax", (0.95, 0.3, 0), 3.5, (0, 0, -20), "ry rz"),
    ("lhumerus", "lclavicle", (1, 0, 0), 5.0, (0, 0, -90), "rx ry rz"),
    ("lradius", "lhumerus", (1, 0, 0), 3.5, (0, 0, -90), "rx"),
    ("lwrist", "lradius", (1, 0, 0), 1.8, (0, 0, -90), "ry"),
    ("rclavicle", "thorax", (-0.95, 0.3, 0), 3.5, (0, 0, 20), "ry rz"),
    ("rhumerus", "rclavicle", (-1, 0, 0), 5.0, (0, 0, 90), "rx ry rz"),
    ("rradius", "rhumerus", (-1, 0, 0), 3.5, (0, 0, 90), "rx"),
    ("rwrist", "rradius", (-1, 0, 0), 1.8, (0, 0, 90), "ry"),
]
BONES = {b[0]: b for b in _SKEL}


def _pose(seed=0):
    """CMU-convention values: root (T, 6) = tx ty tz (CMU units) rx ry rz (deg); bone -> (T, n dof) deg."""
    rng = np.random.default_rng(seed)
    root = np.concatenate([rng.uniform(-5, 5, (T, 3)) + [0, 17, 0], rng.uniform(-25, 25, (T, 3))], axis=1)
    root[:, 4] = rng.uniform(-170, 170, T)
    return root, {b: rng.uniform(-35, 35, (T, len(d.split()))) for b, _, _, _, _, d in _SKEL}


def reference(root, vals, mm_per_unit=25.4 / CMU_L):
    """Independent FK in CMU's conventions with Rotation objects: {bone: (T, 3) start in mm, 'x_End': end}."""
    out = {"root": root[:, :3] * mm_per_unit}
    for t in range(T):
        G = {"root": R.from_euler("xyz", root[t, 3:], degrees=True)}
        tip = {"root": root[t, :3]}
        for name, parent, d, length, axis, dof in _SKEL:
            C = R.from_euler("xyz", axis, degrees=True)
            ang = dict(zip([x[1] for x in dof.split()], vals[name][t]))
            M = R.from_euler("xyz", [ang.get(a, 0.0) for a in "xyz"], degrees=True)
            G[name] = G[parent] * C * M * C.inv()
            d = np.asarray(d, float) / np.linalg.norm(d)
            tip[name] = tip[parent] + length * G[name].apply(d)
            out.setdefault(name, np.zeros((T, 3)))[t] = tip[parent] * mm_per_unit
            if not any(b[1] == name for b in _SKEL):
                out.setdefault(name + "_End", np.zeros((T, 3)))[t] = tip[name] * mm_per_unit
    return out


# -- writing files ---------------------------------------------------------------------------------

def write_asf(path, *, angle="deg", length=CMU_L, root_order="TX TY TZ RX RY RZ", root_axis="XYZ",
              orientation=(0, 0, 0), position=(0, 0, 0), axis_order="XYZ", full_dof="rx ry rz", names=None,
              noisy=False, extra_bones=""):
    """The skeleton with a variant's conventions; axis angles converted so that C stays the same."""
    k = length / CMU_L
    rad = angle.lower().startswith("rad")
    conv = (lambda a: np.radians(a)) if rad else (lambda a: np.asarray(a, float))
    names = names or {}
    nm = lambda b: names.get(b, b)  # noqa: E731
    o = np.array(orientation, float)
    c = "  # a comment" if noisy else ""
    bones = []
    for name, parent, d, ln, axis, dof in _SKEL:
        e = R.from_euler("xyz", axis, degrees=True).as_euler(axis_order.lower(), degrees=True)
        xyz = [e[axis_order.upper().index(a)] for a in "XYZ"]
        dof = full_dof if dof == "rx ry rz" else dof
        n = len(dof.split())
        bones.append(dict(name=nm(name), direction=" ".join(repr(float(v)) for v in d), length=repr(ln * k),
                          axis=" ".join(repr(float(v)) for v in conv(xyz)) + f" {axis_order}",
                          dof=dof and dof + c, limits=["(-180.0, 180.0)" if noisy else "(-180.0 180.0)"] * n))
    kids = {}
    for name, parent, *_ in _SKEL:
        kids.setdefault(parent, []).append(name)
    hierarchy = [" ".join([nm(p) if p != "root" else "root"] + [nm(x) for x in ks]) for p, ks in kids.items()]
    text = asf_text(bones, hierarchy, head=["# written by a test"], name="variant" + c, length=repr(length),
                    angle=f"{angle}{c}", documentation=["free text: begin end :not a keyword here", "second line"],
                    root_order=root_order, root_axis=f"{root_axis}{c}",
                    position=" ".join(repr(v * k) for v in position),
                    orientation=" ".join(repr(float(v)) for v in conv(o)), extra_bones=extra_bones)
    if noisy:
        text = text.replace("     ", "\t").replace("\n", "\r\n")
    Path(path).write_text(text, newline="")


def write_amc(path, root, vals, *, angle="deg", header=":DEGREES", length=CMU_L, root_order="TX TY TZ RX RY RZ",
              root_axis="XYZ", orientation=(0, 0, 0), position=(0, 0, 0), full_dof="rx ry rz", names=None,
              shuffle=False, first_frame=1, skip=(), noisy=False, extra=""):
    """The pose with a variant's conventions: angles re-expressed in its rotation sequences."""
    k = length / CMU_L
    rad = angle.lower().startswith("rad")
    names = names or {}
    rng = np.random.default_rng(5)
    O = R.from_euler(root_axis.lower(), [orientation["XYZ".index(a)] for a in root_axis], degrees=True)
    rseq = "".join(t[1] for t in root_order.lower().split() if t[0] == "r")
    fseq = "".join(t[1] for t in full_dof.split())
    frames = []
    for t in range(T):
        M = R.from_euler("xyz", root[t, 3:], degrees=True) * O.inv()      # so that M O = CMU's root rotation
        ang = dict(zip(rseq, M.as_euler(rseq, degrees=True)))
        tr = dict(zip("xyz", (root[t, :3] - np.asarray(position)) * k))
        vals_root = [tr[c[1]] if c[0] == "t" else (np.radians(ang[c[1]]) if rad else ang[c[1]])
                     for c in root_order.lower().split()]
        body = [("root", vals_root)]
        for name, _, _, _, _, dof in _SKEL:
            if not dof or name in skip:
                continue
            v = vals[name][t]
            if dof == "rx ry rz":
                v = R.from_euler("xyz", v, degrees=True).as_euler(fseq, degrees=True)
            body.append((names.get(name, name), np.radians(v) if rad else v))
        if shuffle:
            body = [body[i] for i in rng.permutation(len(body))]
        frames.append([(f"{n}\t" if noisy else f"{n} ") + " ".join(repr(float(x)) for x in v) for n, v in body]
                      + extra.splitlines())
    text = amc_text(frames, head=["# comment line", ":FULLY-SPECIFIED" if not skip else "", header or ""],
                    first_frame=first_frame)
    Path(path).write_text(text.replace("\n", "\r\n") if noisy else text, newline="")


def joints(asf, amc):
    tree = amc_tree(read_asf(asf), amc)
    return {n: tree.positions[:, j] for j, n in enumerate(tree.names)}


def assert_same(got, want, names=None):
    names = names or {}
    scale = max(np.abs(v).max() for v in want.values())
    for b, v in want.items():
        g = got[names.get(b.removesuffix("_End"), b.removesuffix("_End")) + ("_End" if b.endswith("_End") else "")]
        np.testing.assert_allclose(g, v, rtol=0, atol=1e-6 * scale, err_msg=b)


# -- the CMU conventions against the independent FK ---------------------------------------------------

def test_cmu_conventions_match_reference(tmp_path):
    root, vals = _pose()
    write_asf(tmp_path / "s.asf")
    write_amc(tmp_path / "s_1.amc", root, vals)
    assert_same(joints(tmp_path / "s.asf", tmp_path / "s_1.amc"), reference(root, vals))


VARIANTS = {
    "radians": dict(angle="rad", header=":RADIANS"),
    "radians_no_amc_header": dict(angle="rad", header=None),
    "asf_rad_amc_degrees": dict(asf=dict(angle="rad"), amc=dict(header=":DEGREES")),
    "angle_word_case": dict(angle="DEG"),
    "root_order_softimage": dict(root_order="TX TY TZ RZ RY RX"),
    "root_order_interleaved": dict(root_order="rz tx ry ty rx tz"),
    "root_axis_and_orientation": dict(root_axis="ZXY", orientation=(15, -40, 25), position=(3, -2, 1)),
    "bone_axis_zyx": dict(axis_order="ZYX"),
    "bone_axis_zxy_lower": dict(axis_order="zxy"),
    "dof_order_zyx": dict(full_dof="rz ry rx"),
    "dof_order_yxz": dict(full_dof="ry rx rz"),
    "length_mm": dict(length=25.4),
    "length_inch": dict(length=1.0),
    "everything": dict(angle="rad", header=":RADIANS", root_order="RY TZ RX TX RZ TY", root_axis="YZX",
                       orientation=(-30, 10, 60), position=(1, 2, 3), axis_order="ZXY", full_dof="rz rx ry",
                       length=10.0),
}
_ASF_KEYS = {"angle", "length", "root_order", "root_axis", "orientation", "position", "axis_order", "full_dof",
             "names", "noisy"}
_AMC_KEYS = {"angle", "header", "length", "root_order", "root_axis", "orientation", "position", "full_dof",
             "names", "shuffle", "first_frame", "skip", "noisy"}


def _write_variant(tmp_path, root, vals, v):
    v = dict(v)
    a, m = v.pop("asf", {}), v.pop("amc", {})
    write_asf(tmp_path / "v.asf", **{k: x for k, x in v.items() if k in _ASF_KEYS}, **a)
    amc_args = {k: x for k, x in v.items() if k in _AMC_KEYS} | m
    if "angle" in a and "angle" not in amc_args:
        amc_args["angle"] = "deg" if amc_args.get("header") == ":DEGREES" else a["angle"]
    write_amc(tmp_path / "v_1.amc", root, vals, **amc_args)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_gives_cmu_joints(tmp_path, name):
    """The same pose, written with another software's conventions, gives the same joints (1e-6 relative)."""
    root, vals = _pose(1)
    _write_variant(tmp_path, root, vals, VARIANTS[name])
    assert_same(joints(tmp_path / "v.asf", tmp_path / "v_1.amc"), reference(root, vals))


def test_layout_noise(tmp_path):
    """CRLF, tabs, comments, commas in limits, documentation with keywords, bones shuffled, frames from 100."""
    root, vals = _pose(2)
    write_asf(tmp_path / "v.asf", noisy=True)
    write_amc(tmp_path / "v_1.amc", root, vals, shuffle=True, first_frame=100, noisy=True)
    tree = amc_tree(read_asf(tmp_path / "v.asf"), tmp_path / "v_1.amc")
    assert tree.n_source_frames == T and list(tree.source_frame) == list(range(T))
    assert_same(joints(tmp_path / "v.asf", tmp_path / "v_1.amc"), reference(root, vals))


def test_unlisted_bones_stay_at_rest_and_fixed_bone_lines(tmp_path):
    """Bones the AMC never lists keep their rest pose; a dof-less bone may be listed with no values."""
    root, vals = _pose(3)
    write_asf(tmp_path / "v.asf")
    write_amc(tmp_path / "v_1.amc", root, vals, skip=("lradius", "rtibia"), extra="lhipjoint")
    rest = dict(vals, lradius=np.zeros_like(vals["lradius"]), rtibia=np.zeros_like(vals["rtibia"]))
    assert_same(joints(tmp_path / "v.asf", tmp_path / "v_1.amc"), reference(root, rest))


def test_translation_and_length_dofs(tmp_path):
    """tx/ty/tz move a bone's start in its axis frame (before its rotation), l adds to its length."""
    extra = ("  begin\n name stick\n direction 0 0 1\n length 2\n axis 10 -20 30 ZYX\n"
             " dof l tz rx ty tx ry\n limits (-1 1)\n (-1 1)\n (-1 1)\n (-1 1)\n (-1 1)\n (-1 1)\n  end\n")
    text_skel = tmp_path / "v.asf"
    write_asf(text_skel, extra_bones=extra)
    s = text_skel.read_text().replace("    lhumerus lradius", "    lhumerus lradius stick")
    text_skel.write_text(s)
    root, vals = _pose(4)
    write_amc(tmp_path / "v_1.amc", root, vals, extra="stick 0.5 0.3 20 -0.2 0.1 -40")
    got = joints(text_skel, tmp_path / "v_1.amc")
    ref = reference(root, vals)
    assert_same({k: v for k, v in got.items() if "stick" not in k}, ref)
    # frame 0 by hand: the stick hangs off the end of lhumerus (= start of lradius)
    t = 0
    G = R.from_euler("xyz", root[t, 3:], degrees=True)
    for b in ("lowerback", "upperback", "thorax", "lclavicle", "lhumerus"):
        C = R.from_euler("xyz", BONES[b][4], degrees=True)
        ang = dict(zip([x[1] for x in BONES[b][5].split()], vals[b][t]))
        G = G * C * R.from_euler("xyz", [ang.get(a, 0.0) for a in "xyz"], degrees=True) * C.inv()
    C = R.from_euler("zyx", [30, -20, 10], degrees=True)
    M = R.from_euler("xy", [20, -40], degrees=True)
    k = 25.4 / CMU_L
    start = ref["lradius"][t] + k * (G * C).apply([0.1, -0.2, 0.3])
    end = start + k * 2.5 * (G * C * M * C.inv()).apply([0, 0, 1])
    np.testing.assert_allclose(got["stick"][t], start, atol=1e-9)
    np.testing.assert_allclose(got["stick_End"][t], end, atol=1e-9)


# -- other software's bone names through the CLI ----------------------------------------------------

_NAMINGS = {
    "motionbuilder": {"lhipjoint": "LHipJoint", "lfemur": "LeftUpLeg", "ltibia": "LeftLeg", "lfoot": "LeftFoot",
                      "rhipjoint": "RHipJoint", "rfemur": "RightUpLeg", "rtibia": "RightLeg", "rfoot": "RightFoot",
                      "lowerback": "Spine", "upperback": "Spine1", "thorax": "Spine2", "lowerneck": "Neck",
                      "head": "Head", "lclavicle": "LeftShoulder", "lhumerus": "LeftArm", "lradius": "LeftForeArm",
                      "lwrist": "LeftHand", "rclavicle": "RightShoulder", "rhumerus": "RightArm",
                      "rradius": "RightForeArm", "rwrist": "RightHand"},
    "vicon_caps": {b: (b[0].upper() + b[1:2].upper() + b[2:]) if b[0] in "lr" else b.capitalize() for b in BONES},
    "snake_sides": {b: (b[1:] + "_" + b[0].upper()) if b[0] in "lr" and b not in ("lowerback", "lowerneck")
                    else b for b in BONES},
}






@pytest.mark.parametrize("naming", sorted(_NAMINGS))
def test_other_bone_names_import_like_cmu(tmp_path, naming):
    root, vals = _pose(6)
    (tmp_path / "cmu").mkdir()
    (tmp_path / "other").mkdir()
    write_asf(tmp_path / "cmu" / "s.asf")
    write_amc(tmp_path / "cmu" / "s_1.amc", root, vals)
    names = _NAMINGS[naming]
    write_asf(tmp_path / "other" / "s.asf", names=names, root_order="TX TY TZ RZ RY RX", full_dof="rz ry rx")
    write_amc(tmp_path / "other" / "s_1.amc", root, vals, names=names, root_order="TX TY TZ RZ RY RX",
              full_dof="rz ry rx")
    outs = []
    for d in ("cmu", "other"):
        r = invoke("data", "import-mocap", tmp_path / d / "s_1.amc", "--out", tmp_path / f"{d}.npz")
        assert r.exit_code == 0, stderr_of(r)
        outs.append(load_archive(tmp_path / f"{d}.npz").poses_3d)
    np.testing.assert_allclose(outs[1], outs[0], rtol=0, atol=1e-6 * np.abs(outs[0]).max())


def test_unknown_names_one_error_then_joint_map(tmp_path):
    root, vals = _pose(7)
    names = {b: f"seg{i:02d}" for i, b in enumerate(BONES)}
    write_asf(tmp_path / "s.asf", names=names)
    write_amc(tmp_path / "s_1.amc", root, vals, names=names)
    out = tmp_path / "o.npz"
    r = invoke("data", "import-mocap", tmp_path / "s_1.amc", "--out", out)
    assert_refused(r, "--joint-map", "seg01", not_written=[out], progress=True)
    jm = {"RHip": "rfemur", "RKnee": "rtibia", "RAnkle": "rfoot", "LHip": "lfemur", "LKnee": "ltibia",
          "LAnkle": "lfoot", "LShoulder": "lhumerus", "LElbow": "lradius", "LWrist": "lwrist",
          "RShoulder": "rhumerus", "RElbow": "rradius", "RWrist": "rwrist", "Neck": "head", "Head": "head_End"}
    (tmp_path / "map.json").write_text(json.dumps({k: names.get(v, names.get(v.removesuffix("_End"), "")) +
                                                   ("_End" if v.endswith("_End") else "") for k, v in jm.items()}))
    r = invoke("data", "import-mocap", tmp_path / "s_1.amc", "--joint-map", tmp_path / "map.json", "--out", out)
    assert r.exit_code == 0, stderr_of(r)
    X = load_archive(out).poses_3d
    assert X.shape[1:] == (17, 3) and np.isfinite(X).all()


# -- bad files: one error line, exit 2, nothing written -------------------------------------------------

def _bad(tmp_path, kind):
    root, vals = _pose(8)
    asf, amc = tmp_path / "s.asf", tmp_path / "s_1.amc"
    write_asf(asf, angle="grad" if kind == "unit" else "deg")
    write_amc(amc, root, vals)
    text = amc.read_text().splitlines()
    i = next(n for n, ln in enumerate(text) if ln.startswith("lfemur "))
    if kind == "dof_count":
        text[i] += " 1.5"
    elif kind == "non_numeric":
        text[i] = "lfemur 1 abc 3"
    elif kind == "unknown_bone":
        text.insert(i, "ltail 4 5")
    elif kind == "missing_asf":
        asf.unlink()
    elif kind == "bad_length":
        asf.write_text(asf.read_text().replace("length 0.45", "length -2"))
    elif kind == "bad_root_order":
        asf.write_text(asf.read_text().replace("order TX TY TZ RX RY RZ", "order TX TY TZ RX RY RW"))
    elif kind == "bad_dof":
        asf.write_text(asf.read_text().replace("dof rx ry rz", "dof rx ry rq", 1))
    elif kind == "negative_bone_length":     # a limb turned back on itself, not a unit
        asf.write_text(re.sub(r"(name lfemur\s+direction [^\n]*\n\s*length )", r"\1-", asf.read_text(), count=1))
    elif kind == "no_root":                  # the keyword lost: its lines would join ':documentation'
        asf.write_text(asf.read_text().replace(":root\n", "", 1))
    amc.write_text("\n".join(text) + "\n")
    return amc


@pytest.mark.parametrize("kind,words", [
    ("unit", "angle grad"), ("dof_count", "4 values"), ("non_numeric", "'abc'"), ("unknown_bone", "'ltail'"),
    ("missing_asf", "s.asf"), ("bad_length", "must be positive"), ("bad_root_order", "root order"),
    ("bad_dof", "dof rx ry rq"), ("negative_bone_length", "bone 'lfemur': length -"), ("no_root", "no ':root' section"),
])
def test_bad_files_one_error_line(tmp_path, kind, words):
    amc = _bad(tmp_path, kind)
    out = tmp_path / "o.npz"
    r = invoke("data", "import-mocap", amc, "--out", out)
    assert_refused(r, words, not_written=[out], progress=True)


def test_missing_named_asf(tmp_path):
    root, vals = _pose(9)
    write_amc(tmp_path / "s_1.amc", root, vals)
    out = tmp_path / "o.npz"
    r = invoke("data", "import-mocap", tmp_path / "s_1.amc", "--asf", tmp_path / "nope.asf", "--out", out)
    assert_refused(r, not_written=[out], progress=True)


def test_fully_specified_frame_missing_a_bone_is_an_error(tmp_path):
    root, vals = _pose(10)
    write_asf(tmp_path / "s.asf")
    write_amc(tmp_path / "s_1.amc", root, vals)
    lines = (tmp_path / "s_1.amc").read_text().splitlines()
    i = [n for n, ln in enumerate(lines) if ln.startswith("ltibia ")][1]     # second frame
    del lines[i]
    (tmp_path / "s_1.amc").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="FULLY-SPECIFIED"):
        amc_tree(read_asf(tmp_path / "s.asf"), tmp_path / "s_1.amc")
