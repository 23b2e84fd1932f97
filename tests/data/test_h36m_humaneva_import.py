"""Human3.6M and HumanEva-I importers, on small files in the common preprocessing's format."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from gatepose.data.archive import DataWarning, load_archive
from gatepose.data.h36m import (H36M_32_TO_17, action_family, camera_extrinsics, import_h36m, load_cameras,
                                world_to_camera)
from gatepose.data.humaneva import import_humaneva
from gatepose.errors import DataError
from helpers import assert_refused


def world_poses(rng, n, joints):
    """Poses standing in the capture volume: metres, world frame with z up."""
    centre = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), 0.9])
    return (centre + rng.normal(0, 0.3, (n, joints, 3))).astype(np.float32)


def project(X_world_m, subject, camera, cameras="h36m"):
    R, t = camera_extrinsics(cameras, subject)
    X = world_to_camera(X_world_m * 1000.0, R[camera], t[camera])
    intr = load_cameras(cameras)["intrinsics"][camera]
    f, c = np.array(intr.get("focal_length", [1000, 1000])), np.array(intr.get("center", [320, 240]))
    return (X[..., :2] / X[..., 2:] * f + c).astype(np.float32)


def save_pickled(path, key, obj):
    np.savez(path, **{key: np.array(obj, dtype=object)}, allow_pickle=True)


@pytest.fixture
def h36m_files(tmp_path):
    rng = np.random.default_rng(0)
    pos3, pos2 = {}, {}
    for subject, actions in {"S1": {"Walking 1": 12, "TakingPhoto": 9}, "S9": {"Walking": 10}}.items():
        pos3[subject], pos2[subject] = {}, {}
        for action, n in actions.items():
            X = world_poses(rng, n, 32)
            pos3[subject][action] = X
            pos2[subject][action] = [project(X[:, list(H36M_32_TO_17)], subject, c) for c in range(4)]
    pos2["S9"]["Walking"][2] = pos2["S9"]["Walking"][2][:7]  # a shorter 2D track
    p3, p2 = tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz"
    save_pickled(p3, "positions_3d", pos3)
    np.savez(p2, positions_2d=np.array(pos2, dtype=object),
             metadata=np.array({"num_joints": 17, "keypoints_symmetry": [[4, 5, 6], [1, 2, 3]]}, dtype=object),
             allow_pickle=True)
    return p3, p2, pos3


def test_h36m_refuses_pickles_unless_trusted(h36m_files):
    p3, p2, _ = h36m_files
    with pytest.raises(DataError) as e:
        import_h36m(p3, p2)
    msg = str(e.value)
    assert "\n" not in msg and str(p3) in msg and "pickle" in msg and "--trust-pickle" in msg
    assert "run arbitrary code" in msg


def test_h36m_import(h36m_files):
    p3, p2, pos3 = h36m_files
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = import_h36m(p3, p2, trust_pickle=True)
    msgs = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert any("S9 Walking camera 2" in m and "kept the first 7" in m for m in msgs)
    assert ds.skeleton == "h36m17" and ds.poses_3d.shape[1:] == (17, 3)
    assert len(ds) == 4 * (12 + 9) + 3 * 10 + 7
    assert set(ds.action) == {"Walking", "Photo"}
    assert set(ds.subject[ds.split == "train"]) == {"S1"} and set(ds.subject[ds.split == "test"]) == {"S9"}
    # 3D is camera coordinates in mm of the 17 selected joints: it projects onto the file's 2D
    sel = (ds.subject == "S1") & (ds.action == "Walking") & (ds.camera == 1)
    R, t = camera_extrinsics("h36m", "S1")
    expected = world_to_camera(pos3["S1"]["Walking 1"][:, list(H36M_32_TO_17)] * 1000.0, R[1], t[1])
    np.testing.assert_allclose(ds.poses_3d[sel], expected, rtol=1e-5, atol=0.05)
    for c in range(4):
        m = ds.camera == c
        intr = load_cameras("h36m")["intrinsics"][c]
        uv = ds.poses_3d[m, :, :2] / ds.poses_3d[m, :, 2:] * intr["focal_length"] + intr["center"]
        np.testing.assert_allclose(uv, ds.poses_2d[m], atol=0.05)
        assert np.all(ds.image_size[m] == [intr["res_w"], intr["res_h"]])
    assert ds.poses_3d[..., 2].min() > 1000  # in front of every camera
    assert ds.sequence_ids().max() + 1 == 4 * 3


def test_h36m_published_cameras_look_at_the_capture_volume():
    cams = load_cameras("h36m")
    for subject in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
        R, t = camera_extrinsics("h36m", subject)
        for c in range(4):
            X = world_to_camera(np.array([[[0.0, 0.0, 1000.0]]]), R[c], t[c])[0, 0]
            intr = cams["intrinsics"][c]
            uv = X[:2] / X[2] * intr["focal_length"] + intr["center"]
            assert 3000 < X[2] < 8000 and np.all((uv > 0) & (uv < 1000)), (subject, c)


def test_h36m_action_families():
    assert action_family("Walking 1") == "Walking" and action_family("SittingDown 2") == "SittingDown"
    assert action_family("TakingPhoto 1") == "Photo" and action_family("WalkingDog") == "WalkDog"


def test_h36m_malformed_files(tmp_path, h36m_files):
    p3, p2, pos3 = h36m_files
    bad = tmp_path / "bad3d.npz"
    save_pickled(bad, "positions_3d", {"S1": {"Walking": np.zeros((5, 17, 3))}})
    with pytest.raises(DataError, match=r"positions_3d\['S1'\]\['Walking'\].*\(N, 32, 3\)"):
        import_h36m(bad, p2, trust_pickle=True)
    wrong_key = tmp_path / "wrong.npz"
    save_pickled(wrong_key, "poses", {})
    with pytest.raises(DataError, match="field 'positions_3d': missing"):
        import_h36m(wrong_key, p2, trust_pickle=True)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(DataError, match="cannot be read"):
        import_h36m(text, p2, trust_pickle=True)
    with pytest.raises(DataError, match="no such file"):
        import_h36m(tmp_path / "missing.npz", p2)
    with pytest.raises(DataError, match="no subject 'S5'"):
        import_h36m(p3, p2, trust_pickle=True, subjects=["S5"])


@pytest.fixture
def humaneva_files(tmp_path):
    rng = np.random.default_rng(1)
    layout = {"Train/S1": {"Walking 1 chunk0": 8, "Walking 1 chunk1": 6, "Box 1 chunk0": 5, "Gestures 1 chunk0": 4},
              "Validate/S2": {"Jog 1 chunk0": 9}}
    pos3, pos2 = {}, {}
    for key, actions in layout.items():
        subject = key.split("/")[1]
        pos3[key], pos2[key] = {}, {}
        for action, n in actions.items():
            X = world_poses(rng, n, 15)
            pos3[key][action] = X
            pos2[key][action] = [project(X, subject, c, "humaneva") for c in range(3)]
    p3, p2 = tmp_path / "data_3d_humaneva15.npz", tmp_path / "data_2d_humaneva15_gt.npz"
    save_pickled(p3, "positions_3d", pos3)
    save_pickled(p2, "positions_2d", pos2)
    return p3, p2, pos3


def test_humaneva_import(humaneva_files):
    p3, p2, pos3 = humaneva_files
    with pytest.raises(DataError, match="--trust-pickle"):
        import_humaneva(p3, p2)
    ds = import_humaneva(p3, p2, trust_pickle=True)
    assert ds.skeleton == "humaneva15" and ds.poses_3d.shape[1:] == (15, 3)
    assert set(ds.action) == {"Walk", "Box", "Jog"}                     # Gestures left out by default
    assert len(ds) == 3 * (8 + 6 + 5 + 9)
    assert set(ds.subject) == {"S1", "S2"}
    assert set(ds.subject[ds.split == "train"]) == {"S1"} and set(ds.subject[ds.split == "test"]) == {"S2"}
    assert np.all(ds.image_size == [640, 480])
    assert ds.sequence_ids().max() + 1 == 3 * 4                        # the two chunks stay apart
    sel = (ds.action == "Jog") & (ds.camera == 0)
    R, t = camera_extrinsics("humaneva", "S2")
    np.testing.assert_allclose(ds.poses_3d[sel], world_to_camera(pos3["Validate/S2"]["Jog 1 chunk0"] * 1000.0,
                                                                 R[0], t[0]), rtol=1e-5, atol=0.05)
    everything = import_humaneva(p3, p2, trust_pickle=True, actions=None)
    assert "Gestures" in set(everything.action)


def test_import_commands(h36m_files, humaneva_files, tmp_path):
    runner = CliRunner()
    p3, p2, _ = h36m_files
    out = tmp_path / "h36m.npz"
    r = runner.invoke(cli, ["data", "import-h36m", str(p3), str(p2), "--out", str(out)])
    assert_refused(r, "--trust-pickle", not_written=[out])
    r = runner.invoke(cli, ["data", "import-h36m", str(p3), str(p2), "--out", str(out), "--trust-pickle"])
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "kept the first 7" in r.output
    assert len(load_archive(out)) == 4 * 21 + 37
    h3, h2, _ = humaneva_files
    out2 = tmp_path / "he.npz"
    r = runner.invoke(cli, ["data", "import-humaneva", str(h3), str(h2), "--out", str(out2), "--trust-pickle"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["data", "info", str(out2)])
    assert r.exit_code == 0 and "humaneva15" in r.output and "Validate" not in r.output


def test_refusal_from_the_shell_is_one_line(h36m_files, tmp_path):
    p3, p2, _ = h36m_files
    r = subprocess.run([sys.executable, "-m", "cli.main", "data", "import-h36m", str(p3), str(p2),
                        "--out", str(tmp_path / "x.npz")], capture_output=True, text=True)
    assert_refused(r)


def test_untrusted_files_are_looked_at_before_the_pickle_refusal(tmp_path, h36m_files):
    """Without --trust-pickle nothing is unpickled, but a file that is not the common preprocessing's
    (a gatepose archive, a text file, a plain array) is named as what it is, not as a pickle."""
    _, p2, _ = h36m_files
    archive = tmp_path / "archive.npz"
    np.savez(archive, poses_2d=np.zeros((2, 17, 2)), skeleton=np.array("h36m17"))
    with pytest.raises(DataError, match=r"field 'positions_3d': missing \(found poses_2d, skeleton"):
        import_h36m(archive, p2)
    plain = tmp_path / "plain.npz"
    np.savez(plain, positions_3d=np.zeros((2, 32, 3)))
    with pytest.raises(DataError, match="expected a pickled dict .* got a plain array"):
        import_h36m(plain, p2)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(DataError, match="cannot be read"):
        import_h36m(text, p2)
