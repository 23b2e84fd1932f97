"""BVH export: bone directions survive the round trip; an independent library (bvhio) agrees with gatepose's reader."""

import numpy as np
import pytest

from gatepose.data.archive import load_archive
from gatepose.data.mocap.bvh import bvh_tree, forward_kinematics, read_bvh
from gatepose.data.mocap.export import camera_to_yup, write_poses_bvh
from gatepose.data.mocap.rigs import match_rig, to_h36m17
from gatepose.data.skeleton import get_skeleton
from helpers import assert_refused, invoke
from mocap_files import MOCAP_FIXTURES

BONES = np.array(get_skeleton("h36m17").bones)


def _angles(A, B):
    a = A[:, BONES[:, 0]] - A[:, BONES[:, 1]]
    b = B[:, BONES[:, 0]] - B[:, BONES[:, 1]]
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


@pytest.fixture(scope="module")
def mocap(tmp_path_factory):
    out = tmp_path_factory.mktemp("mocap") / "ex.npz"
    assert invoke("data", "import-mocap", MOCAP_FIXTURES, "--cameras", 1, "--out", out).exit_code == 0
    return load_archive(out)


@pytest.mark.parametrize("units", ["mm", "cm", "m", "inch"])
def test_round_trip_keeps_bone_directions(tmp_path, mocap, units):
    """Noisy poses (bone lengths vary per frame, like predictions) -> BVH -> import-mocap's reader."""
    X = mocap.poses_3d[mocap.clip == "49_18"].astype(np.float64)
    X = X + np.random.default_rng(1).normal(0, 20, X.shape)
    write_poses_bvh(tmp_path / "x.bvh", X, units=units, fps=25)
    b = read_bvh(tmp_path / "x.bvh")
    assert abs(b.fps - 25) < 1e-4
    tree = bvh_tree(b)
    rig = match_rig(tree)
    assert all(v == k for k, v in rig.described.items())          # one to one, nothing synthesised
    Y = to_h36m17(tree, rig) / {"mm": 1, "cm": 0.1, "m": 0.001, "inch": 1 / 25.4}[units]
    Z = camera_to_yup(X)
    assert _angles(Y, Z).max() < 0.5
    np.testing.assert_allclose(Y[:, 0], Z[:, 0], atol=1e-2 * (1 if units == "mm" else 10))
    L = np.linalg.norm(Y[:, BONES[:, 0]] - Y[:, BONES[:, 1]], axis=-1)
    assert np.ptp(L, axis=0).max() < 0.05 * (1 if units == "mm" else 30)     # fixed lengths
    np.testing.assert_allclose(L[0], np.median(np.linalg.norm(Z[:, BONES[:, 0]] - Z[:, BONES[:, 1]], axis=-1), 0),
                               rtol=1e-4)


def test_export_bvh_command_and_reimport(tmp_path, mocap, monkeypatch):
    arch = tmp_path / "a.npz"
    from gatepose.data.archive import save_archive
    save_archive(arch, mocap)
    out = tmp_path / "walk.bvh"
    r = invoke("export-bvh", arch, "--clip", "02_01", "--units", "cm", "--out", out)
    assert r.exit_code == 0, r.output
    r = invoke("data", "import-mocap", out, "--out", tmp_path / "back.npz")
    assert r.exit_code == 0 and "cm: 1 clips" in r.output
    r = invoke("export-bvh", arch, "--clip", "nope", "--out", tmp_path / "n.bvh")
    assert_refused(r, not_written=[tmp_path / "n.bvh"])


def test_predict_writes_bvh(tmp_path, tiny_run):
    from gatepose.data.synthetic import generate

    ds = generate(n_subjects=1, seed=3, frames_per_sequence=12, sequences_per_action=1, n_cameras=1)
    np.save(tmp_path / "in.npy", ds.poses_2d[:12])
    out = tmp_path / "lifted.bvh"
    r = invoke("predict", "--run", tiny_run, "--input", tmp_path / "in.npy", "--out", out, "--fps", 50,
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    b = read_bvh(out)
    assert b.n_frames == 12 and abs(b.fps - 50) < 1e-3 and b.names[0] == "Pelvis"


# -- the independent oracle: bvhio (a test-only dependency) ----------------------------------------

def _bvhio_positions(path, frames):
    bvhio = pytest.importorskip("bvhio")
    root = bvhio.readAsHierarchy(str(path))
    out = []
    for f in frames:
        root.loadPose(f)
        out.append({j.Name: np.array(j.PositionWorld) for j, _, _ in root.layout()})
    return out


def _compare_with_bvhio(path, frames, atol):
    bvhio = pytest.importorskip("bvhio")
    ours = read_bvh(path)
    P, _ = forward_kinematics(ours, frames)
    theirs = _bvhio_positions(path, frames)
    container = bvhio.readAsBvh(str(path))
    joints = container.Root.layout()
    names = [j.Name for j, _, _ in joints]
    assert names == [n for n, e in zip(ours.names, ours.end) if not e]          # same hierarchy
    for j, _, _ in joints:                                                        # same channels
        assert list(j.Channels) == list(ours.channels[ours.names.index(j.Name)])
    assert container.FrameCount == ours.n_frames and abs(container.FrameTime - ours.frame_time) < 1e-6
    for t, f in enumerate(frames):
        for n in names:
            np.testing.assert_allclose(theirs[t][n], P[t, ours.names.index(n)], atol=atol, err_msg=n)


def test_bvhio_agrees_on_cmu_excerpt():
    _compare_with_bvhio(MOCAP_FIXTURES / "02_01.bvh", [0, 17, 59], atol=1e-3)


def test_bvhio_agrees_on_written_file(tmp_path, mocap):
    X = mocap.poses_3d[mocap.clip == "02_01"][:15].astype(np.float64)
    write_poses_bvh(tmp_path / "x.bvh", X)
    _compare_with_bvhio(tmp_path / "x.bvh", [0, 7, 14], atol=5e-2)


def test_clips_of_one_stem_get_labels_that_tell_them_apart(tmp_path):
    """walk.bvh in two folders, and 49_18.bvh beside 49_18.amc: one label per clip (FOLDER/STEM,
    then FOLDER/STEM.EXT), each exported by its own --clip; a clip alone keeps its stem."""
    from gatepose.data.archive import save_archive
    from gatepose.data.mocap.importer import build_dataset, clip_names, find_files, read_clip

    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "walk.bvh").write_bytes((MOCAP_FIXTURES / "02_01.bvh").read_bytes())
    (tmp_path / "y" / "walk.bvh").write_text((MOCAP_FIXTURES / "02_01.bvh").read_text().replace("\n", "\r\n"))
    z = tmp_path / "z"
    z.mkdir()
    for name in ("49.asf", "49_18.amc"):
        (z / name).write_bytes((MOCAP_FIXTURES / name).read_bytes())
    (z / "49_18.bvh").write_bytes((MOCAP_FIXTURES / "02_01.bvh").read_bytes())
    clips = [read_clip(*f) for f in find_files([tmp_path])]
    names = sorted(clip_names(clips).values())
    assert names == ["x/walk", "y/walk", "z/49_18.amc", "z/49_18.bvh"]
    assert list(clip_names(clips[:1]).values()) == [clips[0].name]
    arch = tmp_path / "a.npz"
    save_archive(arch, build_dataset(clips, n_cameras=1))
    assert sorted(set(load_archive(arch).clip)) == names
    for clip in ("y/walk", "z/49_18.amc"):
        out = tmp_path / (clip.replace("/", "_") + ".bvh")
        r = invoke("export-bvh", arch, "--clip", clip, "--out", out)
        assert r.exit_code == 0 and "warning" not in r.output, r.output
