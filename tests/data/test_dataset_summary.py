"""The dataset statistics behind `gatepose data info` and the mocap import summary, as library
functions: what they count and measure, on a small synthetic dataset and on the CMU excerpts."""

import numpy as np
import pytest

from gatepose.data.mocap.export import clip_sequence
from gatepose.data.mocap.importer import find_files, read_clip
from gatepose.data.summary import (archive_summary, bone_length_stats, frames_per_action_subject,
                                   mocap_import_summary, natural_key, perspective_strength, unmatched_subjects)
from gatepose.data.synthetic import generate
from gatepose.errors import DataError
from mocap_files import MOCAP_FIXTURES


@pytest.fixture(scope="module")
def synth():
    return generate(n_subjects=3, n_frames=600, frames_per_sequence=20, n_cameras=2,
                    actions=("walk", "jog"), n_test_subjects=1, seed=3)


def test_natural_key_orders_numbers_by_value():
    assert sorted(["S11", "S2", "S1", "10_01", "02_01"], key=natural_key) == ["02_01", "10_01", "S1", "S2", "S11"]


def test_frames_per_action_subject_counts_every_row_once(synth):
    counts = frames_per_action_subject(synth)
    assert list(counts) == ["jog", "walk"]
    assert all(list(row) == sorted(row, key=natural_key) for row in counts.values())
    for a, row in counts.items():
        for s, n in row.items():
            assert n == int(((synth.action == a) & (synth.subject == s)).sum())
    assert sum(sum(row.values()) for row in counts.values()) == len(synth)


def test_bone_lengths_are_fixed_within_a_sequence_of_synthetic_data(synth):
    stats = bone_length_stats(synth)
    assert [b["bone"] for b in stats] == list(synth.skel.bone_names)
    child, parent = np.array(synth.skel.bones).T
    L = np.linalg.norm(synth.poses_3d[:, child].astype(np.float64) - synth.poses_3d[:, parent], axis=-1)
    np.testing.assert_allclose([b["mean"] for b in stats], L.mean(0), rtol=1e-9)
    np.testing.assert_allclose([b["std"] for b in stats], L.std(0), rtol=1e-9)
    assert max(b["max_within_sequence_std"] for b in stats) < 0.05    # mm; subjects differ, sequences do not
    assert max(b["std"] for b in stats) > 1.0


def test_archive_summary_states_split_and_presence(synth):
    s = archive_summary(synth, "x.npz")
    assert (s["file"], s["frames"], s["poses_3d"], s["confidence"]) == ("x.npz", len(synth), True, False)
    assert s["split"]["train"]["frames"] + s["split"]["test"]["frames"] == len(synth)
    assert s["split"]["test"]["subjects"] == sorted(set(synth.subject[synth.split == "test"]))
    assert s["sequences"] == int(synth.sequence_ids()[-1]) + 1
    assert "bone_lengths_mm" not in archive_summary(_without_3d(synth), "y.npz")


def test_perspective_strength_is_pose_size_over_camera_distance(synth):
    """A pose of known size placed at known depths: K = size / depth, whatever the root's x and y;
    the summary states the median and spread over the archive's poses."""
    rng = np.random.default_rng(0)
    pose = rng.standard_normal((17, 3))
    pose -= pose[0]
    size = float(np.sqrt((pose ** 2).sum()))
    depths = np.array([2000.0, 4000.0, 8000.0])
    X = np.stack([pose + [rng.normal(0, 500), rng.normal(0, 500), d] for d in depths])
    np.testing.assert_allclose(perspective_strength(X), size / depths, rtol=1e-12)
    assert perspective_strength(X - [0.0, 0.0, 5000.0]) is None        # a root behind the camera
    k = archive_summary(synth, "x.npz")["perspective"]
    assert 0 < k["p5"] <= k["median"] <= k["p95"] < 2
    np.testing.assert_allclose(k["median"], np.median(perspective_strength(synth.poses_3d)), rtol=1e-12)
    assert "perspective" not in archive_summary(_without_3d(synth), "y.npz")


def _without_3d(ds):
    import dataclasses

    return dataclasses.replace(ds, poses_3d=None)


@pytest.fixture(scope="module")
def clips():
    return [read_clip(kind, path, asf, fps=None, units="auto", joint_map=None, index=None, asf_cache={})
            for kind, path, asf in find_files([str(MOCAP_FIXTURES)])]


def test_mocap_import_summary_of_the_cmu_excerpts(clips):
    from gatepose.data.mocap.importer import build_dataset

    ds = build_dataset(clips, n_cameras=2, test_subjects=["49"])
    s = mocap_import_summary(clips, ds)
    assert s["kinds"] == {"bvh": 1, "amc": 1} and s["clips"] == 2 and s["cameras"] == 2
    assert s["frames"] == len(ds) == 2 * sum(len(c.world) for c in clips)
    assert [su["subject"] for su in s["subjects"]] == ["02", "49"]
    assert [su["split"] for su in s["subjects"]] == ["train", "test"]
    assert all(1.4 < lo <= hi < 2.0 for lo, hi in (su["height_m"] for su in s["subjects"]))
    assert len(s["bones"]) == 16 and all(b["min_clip"] <= b["mean"] <= b["max_clip"] for b in s["bones"])
    assert unmatched_subjects(clips, ["2", "49", "13"]) == ["13"]


def test_clip_sequence_picks_one_camera_in_frame_order(synth):
    rows, clip, n_seq = clip_sequence(synth, "x.npz", None, camera=1)
    assert clip == f"{synth.subject[0]}/{synth.action[0]}" and n_seq >= 1
    assert (synth.camera[rows] == 1).all() and (np.diff(synth.frame[rows]) > 0).all()
    with pytest.raises(DataError, match="no rows of clip 'nope'"):
        clip_sequence(synth, "x.npz", "nope")
    with pytest.raises(DataError, match="no 3D poses"):
        clip_sequence(_without_3d(synth), "x.npz")
