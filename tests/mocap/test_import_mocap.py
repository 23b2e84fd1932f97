"""`gatepose data import-mocap`: rigs by name, units, cameras, labels, bad files, and training on the result."""
import dataclasses
import json
import shutil

import numpy as np
import pytest

from gatepose.data.archive import load_archive, save_archive
from gatepose.data.mocap.bvh import bvh_tree, parse_bvh
from gatepose.data.mocap.rigs import match_rig, to_h36m17
from helpers import assert_refused, invoke
from mocap_files import MOCAP_FIXTURES, Joint, bvh_text


# A T-posed rig, written with any joint names: (role, parent role, offset in cm).
_RIG = [
    ("hips", None, (0, 95, 0)), ("spine", "hips", (0, 10, 0)), ("chest", "spine", (0, 30, 0)),
    ("neck", "chest", (0, 15, 0)), ("head", "neck", (0, 10, 0)),
    ("lclav", "chest", (3, 12, 0)), ("lsho", "lclav", (15, 0, 0)), ("lelb", "lsho", (28, 0, 0)),
    ("lwri", "lelb", (25, 0, 0)), ("lfing", "lwri", (8, 0, 0)),
    ("rclav", "chest", (-3, 12, 0)), ("rsho", "rclav", (-15, 0, 0)), ("relb", "rsho", (-28, 0, 0)),
    ("rwri", "relb", (-25, 0, 0)),
    ("lhipj", "hips", (5, -5, 0)), ("lhip", "lhipj", (4, -3, 0)), ("lkne", "lhip", (0, -42, 0)),
    ("lank", "lkne", (0, -42, 0)), ("ltoe", "lank", (0, -5, 12)),
    ("rhipj", "hips", (-5, -5, 0)), ("rhip", "rhipj", (-4, -3, 0)), ("rkne", "rhip", (0, -42, 0)),
    ("rank", "rkne", (0, -42, 0)),
]
RIGS = {
    "mixamo": dict(hips="mixamorig:Hips", spine="mixamorig:Spine", chest="mixamorig:Spine2", neck="mixamorig:Neck",
                   head="mixamorig:Head", lclav="mixamorig:LeftShoulder", lsho="mixamorig:LeftArm",
                   lelb="mixamorig:LeftForeArm", lwri="mixamorig:LeftHand", lfing="mixamorig:LeftHandIndex1",
                   rclav="mixamorig:RightShoulder", rsho="mixamorig:RightArm", relb="mixamorig:RightForeArm",
                   rwri="mixamorig:RightHand", lhipj="mixamorig:LeftHipHelper", lhip="mixamorig:LeftUpLeg",
                   lkne="mixamorig:LeftLeg", lank="mixamorig:LeftFoot", ltoe="mixamorig:LeftToeBase",
                   rhipj="mixamorig:RightHipHelper", rhip="mixamorig:RightUpLeg", rkne="mixamorig:RightLeg",
                   rank="mixamorig:RightFoot"),
    "cmu_mb": dict(hips="Hips", spine="LowerBack", chest="Spine1", neck="Neck1", head="Head", lclav="LeftShoulder",
                   lsho="LeftArm", lelb="LeftForeArm", lwri="LeftHand", lfing="LeftFingerBase",
                   rclav="RightShoulder", rsho="RightArm", relb="RightForeArm", rwri="RightHand",
                   lhipj="LHipJoint", lhip="LeftUpLeg", lkne="LeftLeg", lank="LeftFoot", ltoe="LeftToeBase",
                   rhipj="RHipJoint", rhip="RightUpLeg", rkne="RightLeg", rank="RightFoot"),
    "generic": dict(hips="Root", spine="Spine_01", chest="Chest", neck="Neck", head="Head", lclav="Clavicle_L",
                    lsho="UpperArm_L", lelb="LowerArm_L", lwri="Hand_L", lfing="Finger_L", rclav="Clavicle_R",
                    rsho="UpperArm_R", relb="LowerArm_R", rwri="Hand_R", lhipj="Pelvis_L", lhip="UpperLeg_L",
                    lkne="LowerLeg_L", lank="Foot_L", ltoe="Toes_L", rhipj="Pelvis_R", rhip="UpperLeg_R",
                    rkne="LowerLeg_R", rank="Foot_R"),
    "biped": dict(hips="Bip01", spine="Bip01 Spine", chest="Bip01 Spine1", neck="Bip01 Neck", head="Bip01 Head",
                  lclav="Bip01 L Clavicle", lsho="Bip01 L UpperArm", lelb="Bip01 L Forearm", lwri="Bip01 L Hand",
                  lfing="Bip01 L Finger0", rclav="Bip01 R Clavicle", rsho="Bip01 R UpperArm",
                  relb="Bip01 R Forearm", rwri="Bip01 R Hand", lhipj="Bip01 Pelvis L", lhip="Bip01 L Thigh",
                  lkne="Bip01 L Calf", lank="Bip01 L Foot", ltoe="Bip01 L Toe0", rhipj="Bip01 Pelvis R",
                  rhip="Bip01 R Thigh", rkne="Bip01 R Calf", rank="Bip01 R Foot"),
}
_EXPECT = {"RHip": "rhip", "RKnee": "rkne", "RAnkle": "rank", "LHip": "lhip", "LKnee": "lkne", "LAnkle": "lank",
           "LShoulder": "lsho", "LElbow": "lelb", "LWrist": "lwri", "RShoulder": "rsho", "RElbow": "relb",
           "RWrist": "rwri", "Neck": "head"}


def rig_bvh(names: dict, frames: int = 4, scale: float = 1.0, seed: int = 0) -> str:
    """A BVH of the T-posed rig above with small random rotations, lengths times ``scale``."""
    rng = np.random.default_rng(seed)

    def joint(i):
        role, parent, off = _RIG[i]
        kids = [joint(k) for k, (_, p, _) in enumerate(_RIG) if p == role]
        channels = ("Xposition", "Yposition", "Zposition") * (parent is None) + ("Zrotation", "Xrotation", "Yrotation")
        return Joint(names[role], " ".join(str(v * scale) for v in off), channels, kids, end=f"0 {5 * scale} 0")

    lines = [" ".join(f"{v:.4f}" for v in [0, 95 * scale, 0] + list(rng.uniform(-20, 20, 3 * len(_RIG))))
             for _ in range(frames)]
    return bvh_text(joint(0), lines, frame_time="0.0333333")


@pytest.mark.parametrize("style", sorted(RIGS))
def test_rig_styles_map_by_name(style):
    names = RIGS[style]
    tree = bvh_tree(parse_bvh(rig_bvh(names), f"{style}.bvh"))
    rig = match_rig(tree)
    for h36m, role in _EXPECT.items():
        assert rig.described[h36m] == names[role], (style, h36m)
    assert rig.described["Pelvis"].startswith("synthesised")
    X = to_h36m17(tree, rig)
    np.testing.assert_allclose(X[:, 0], 0.5 * (X[:, 1] + X[:, 4]))
    assert np.isfinite(X).all()


def test_unmappable_rig_names_the_missing_joints(tmp_path):
    names = {r: f"bone{i}" for i, (r, _, _) in enumerate(_RIG)}
    names.update(lelb="LowerArm_L", lwri="Hand_L", head="Head")
    p = tmp_path / "odd.bvh"
    p.write_text(rig_bvh(names))
    out = tmp_path / "odd.npz"
    r = invoke("data", "import-mocap", p, "--out", out)
    line = assert_refused(r, str(p), not_written=[out], progress=True)
    for j in ("RHip", "RKnee", "RAnkle", "LHip", "LShoulder", "RWrist", "Pelvis"):
        assert j in line
    # the user's joint map makes the same rig importable
    jm = {"RHip": "bone20", "RKnee": "bone21", "RAnkle": "bone22", "LHip": "bone15", "LKnee": "bone16",
          "LAnkle": "bone17", "LShoulder": "bone6", "RShoulder": "bone11", "RElbow": "bone12", "RWrist": "bone13"}
    (tmp_path / "map.json").write_text(json.dumps(jm))
    r = invoke("data", "import-mocap", p, "--joint-map", tmp_path / "map.json", "--out", out)
    assert r.exit_code == 0, r.output
    assert "RKnee<-bone21" in r.output and load_archive(out).poses_3d.shape[1] == 17


def test_units_auto_explicit_and_implausible(tmp_path):
    p = tmp_path / "walker.bvh"
    p.write_text(rig_bvh(RIGS["cmu_mb"], scale=1 / 100))    # metres
    out = tmp_path / "w.npz"
    r = invoke("data", "import-mocap", p, "--out", out, "--force", "--force")
    assert r.exit_code == 0 and "m: 1 clips" in r.output
    from gatepose.data.mocap.importer import body_height
    assert 1300 < body_height(load_archive(out).poses_3d.astype(np.float64)) < 2000
    r = invoke("data", "import-mocap", p, "--units", "cm", "--out", tmp_path / "bad.npz")
    assert_refused(r, "--units m would fit", "wrong units", not_written=[tmp_path / "bad.npz"])
    p2 = tmp_path / "inches.bvh"
    p2.write_text(rig_bvh(RIGS["cmu_mb"], scale=1 / 2.54))
    r = invoke("data", "import-mocap", p2, "--units", "inch", "--out", out, "--force", "--force")
    assert r.exit_code == 0, r.output


def test_import_excerpts_labels_split_and_fields(tmp_path):
    index = tmp_path / "index.tsv"
    index.write_text("02_01\twalk\tSubject #2\n49_18\tmodern dance\tSubject #49\n")
    out = tmp_path / "ex.npz"
    r = invoke("data", "import-mocap", MOCAP_FIXTURES, "--actions", index, "--cameras", 3, "--test-subjects", "49",
               "--out", out, "--force", "--force")
    assert r.exit_code == 0, r.output
    assert "120 fps source -> every 4th frame (30 fps)" in r.output and "ASF length 0.45" in r.output
    ds = load_archive(out)
    assert set(ds.clip) == {"02_01", "49_18"} and set(ds.subject) == {"02", "49"}
    assert set(ds.action) == {"walk", "modern dance"}
    assert (ds.split[ds.subject == "49"] == "test").all() and (ds.split[ds.subject == "02"] == "train").all()
    sel = (ds.clip == "49_18") & (ds.camera == 2)
    assert sel.sum() == 30 and (ds.source_frame[sel] == np.arange(0, 120, 4)).all()
    assert (ds.frame[sel] == np.arange(30)).all()
    assert len(np.unique(ds.sequence_ids())) == 2 * 3
    # every camera sees the same motion: bone lengths agree between cameras, 2D is the projection
    b = ds.poses_3d[:, 2] - ds.poses_3d[:, 1]
    L = np.linalg.norm(b, axis=-1)
    assert np.ptp(L[ds.clip == "02_01"]) < 0.05
    X, W = ds.poses_3d[0].astype(np.float64), ds.poses_2d[0].astype(np.float64)
    uv = X[:, :2] / X[:, 2:]
    A = np.polyfit(uv[:, 0], W[:, 0], 1)
    assert A[0] > 800 and np.allclose(np.polyval(A, uv[:, 0]), W[:, 0], atol=1e-2)
    # --fps and --test-every
    r = invoke("data", "import-mocap", MOCAP_FIXTURES / "02_01.bvh", MOCAP_FIXTURES / "49_18.amc", "--fps", 60,
               "--test-every", 2, "--camera-rig", "h36m", "--out", out, "--force", "--force")
    assert r.exit_code == 0, r.output
    ds = load_archive(out)
    assert set(ds.camera) == {0, 1, 2, 3} and (ds.image_size[:, 0] == 1000).all()
    assert (ds.split[ds.clip == "49_18"] == "test").all() and ((ds.source_frame % 2) == 0).all()
    assert ds.poses_3d[:, :, 2].min() > 2000


@pytest.mark.parametrize("content", ["HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n", "not a bvh\n", ""])
def test_cli_bad_file_writes_nothing(tmp_path, content):
    shutil.copy(MOCAP_FIXTURES / "02_01.bvh", tmp_path / "02_01.bvh")
    (tmp_path / "bad.bvh").write_text(content)
    out = tmp_path / "o.npz"
    r = invoke("data", "import-mocap", tmp_path, "--out", out)
    assert_refused(r, "bad.bvh", not_written=[out], progress=True)


def test_amc_without_asf(tmp_path):
    shutil.copy(MOCAP_FIXTURES / "49_18.amc", tmp_path / "49_18.amc")
    r = invoke("data", "import-mocap", tmp_path, "--out", tmp_path / "o.npz")
    assert_refused(r, "--asf")
    r = invoke("data", "import-mocap", tmp_path, "--asf", MOCAP_FIXTURES / "49.asf", "--out", tmp_path / "o.npz")
    assert r.exit_code == 0, r.output


def test_train_2d_only_with_mocap_real_poses(tmp_path):
    """A 2D-only archive (no poses_3d) trains with a mocap archive of another body as the critic's real poses."""
    from helpers import TINY_TRAIN

    from gatepose.data.synthetic import generate
    from gatepose.options import TrainOptions
    from gatepose.data.prepare import prepare_data
    from gatepose.training import train

    mocap = tmp_path / "mocap.npz"
    assert invoke("data", "import-mocap", MOCAP_FIXTURES, "--cameras", 4, "--out", mocap).exit_code == 0
    synth = generate(n_subjects=3, seed=2, frames_per_sequence=20, sequences_per_action=1, n_cameras=2)
    two_d = tmp_path / "video2d.npz"
    save_archive(two_d, dataclasses.replace(synth, poses_3d=None))
    opts = TrainOptions(data=str(two_d), real_poses=str(mocap), steps=2,
                        **{k: v for k, v in TINY_TRAIN.items() if k not in ("data", "real_poses")})
    data = prepare_data(opts)
    assert len(data.W_val) == 0 and np.isfinite(data.scale_3d) and 1000 < data.scale_3d < 6000
    train(opts, tmp_path / "run", np, progress=False)
    assert (tmp_path / "run" / "checkpoint.npz").exists()
