"""COCO-17 detector keypoints to h36m17, with confidences and a report of weak joints."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from gatepose.data.coco import COCO_JOINTS, load_keypoints
from gatepose.data.skeleton import get_skeleton
from gatepose.errors import DataError

H = get_skeleton("h36m17")
C = {n: i for i, n in enumerate(COCO_JOINTS)}


def coco_poses(rng, n):
    kp = rng.uniform(100, 900, (n, 17, 2))
    conf = rng.uniform(0.5, 1.0, (n, 17))
    return kp, conf


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6))
def test_mapping_from_npy(seed, n, tmp_path_factory):
    rng = np.random.default_rng(seed)
    kp, conf = coco_poses(rng, n)
    path = tmp_path_factory.mktemp("k") / "kp.npy"
    np.save(path, np.concatenate([kp, conf[..., None]], -1))
    k = load_keypoints(path)
    P, c = k.poses_2d, k.confidence
    assert P.shape == (n, 17, 2) and P.dtype == np.float32 and c.dtype == np.float32
    mid = lambda a, b: (kp[:, C[a]] + kp[:, C[b]]) / 2  # noqa: E731
    np.testing.assert_allclose(P[:, H.index("pelvis")], mid("l_hip", "r_hip"), rtol=1e-6)
    np.testing.assert_allclose(P[:, H.index("thorax")], mid("l_shoulder", "r_shoulder"), rtol=1e-6)
    np.testing.assert_allclose(P[:, H.index("spine")],
                               (mid("l_hip", "r_hip") + mid("l_shoulder", "r_shoulder")) / 2, rtol=1e-6)
    np.testing.assert_allclose(P[:, H.index("neck")], kp[:, C["nose"]], rtol=1e-6)
    np.testing.assert_allclose(P[:, H.index("head")], mid("l_eye", "r_eye"), rtol=1e-6)
    for name in ("l_hip", "r_knee", "l_ankle", "r_shoulder", "l_elbow", "r_wrist"):
        np.testing.assert_allclose(P[:, H.index(name)], kp[:, C[name]], rtol=1e-6)
        np.testing.assert_allclose(c[:, H.index(name)], conf[:, C[name]], rtol=1e-6)
    np.testing.assert_allclose(c[:, H.index("pelvis")], np.minimum(conf[:, C["l_hip"]], conf[:, C["r_hip"]]),
                               rtol=1e-6)
    np.testing.assert_allclose(c[:, H.index("spine")],
                               conf[:, [C["l_hip"], C["r_hip"], C["l_shoulder"], C["r_shoulder"]]].min(1), rtol=1e-6)
    assert k.low_confidence == () and "every joint" in k.summary()
    assert np.array_equal(k.image_ids, np.arange(n))


def test_low_confidence_joints_are_reported_not_zeroed(tmp_path):
    rng = np.random.default_rng(0)
    kp, conf = coco_poses(rng, 3)
    conf[1, C["l_wrist"]] = 0.1
    conf[2, C["l_hip"]] = 0.2
    path = tmp_path / "kp.npy"
    np.save(path, np.concatenate([kp, conf[..., None]], -1).astype(np.float32))
    k = load_keypoints(path, threshold=0.3)
    found = {(i, name) for i, name, _ in k.low_confidence}
    assert found == {(1, "l_wrist"), (2, "l_hip"), (2, "pelvis"), (2, "spine")}
    np.testing.assert_allclose(k.poses_2d[1, H.index("l_wrist")], kp[1, C["l_wrist"]], rtol=1e-6)  # kept
    assert "4 joints in 2 of 3 poses below confidence 0.3" in k.summary()
    assert k.confidence[1, H.index("l_wrist")] < 0.3 <= k.confidence[0].min()


def test_two_channel_npy_has_full_confidence(tmp_path):
    np.save(tmp_path / "kp.npy", np.random.default_rng(1).uniform(0, 500, (4, 17, 2)))
    k = load_keypoints(tmp_path / "kp.npy")
    assert np.all(k.confidence == 1.0) and not k.low_confidence


def test_coco_results_json(tmp_path):
    rng = np.random.default_rng(2)
    kp, conf = coco_poses(rng, 3)
    dets = [{"image_id": 10 + i, "category_id": 1, "score": 0.9,
             "keypoints": np.concatenate([kp[i], conf[i, :, None]], -1).ravel().tolist()} for i in range(3)]
    dets.insert(1, {"image_id": 99, "category_id": 2, "keypoints": [0.0] * 51, "score": 0.5})  # not a person
    # a COCO-style missing point: v = 0 at (0, 0)
    dets[0]["keypoints"][3 * C["r_ankle"]: 3 * C["r_ankle"] + 3] = [0, 0, 0]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(dets))
    k = load_keypoints(path)
    assert len(k) == 3 and list(k.image_ids) == [10, 11, 12]
    assert k.confidence[0, H.index("r_ankle")] == 0
    assert (0, "r_ankle", 0.0) in k.low_confidence
    np.testing.assert_allclose(k.poses_2d[2, H.index("l_knee")], kp[2, C["l_knee"]], rtol=1e-6)


@pytest.mark.parametrize("content, match", [
    (np.zeros((3, 17)), r"\(N, 17, 2\) or \(N, 17, 3\)"),
    (np.zeros((3, 16, 3)), "got float64 \\(3, 16, 3\\)"),
    (np.full((2, 17, 3), np.nan), "finite"),
    (np.array([{"a": 1}], dtype=object), "not a readable .npy"),
    (np.zeros((0, 17, 2)), "at least one pose"),
])
def test_bad_npy(tmp_path, content, match):
    path = tmp_path / "bad.npy"
    np.save(path, content, allow_pickle=True)
    with pytest.raises(DataError, match=match) as e:
        load_keypoints(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, match", [
    ("{not json", "not a COCO results JSON"),
    ('{"a": 1}', "expected a list of detections"),
    ('[{"image_id": 1}]', "entry 0: field 'keypoints': missing"),
    ('[{"image_id": 1, "category_id": 1, "keypoints": [1, 2, 3]}]', "expected 51 numbers"),
    ('[{"image_id": 1, "category_id": 1, "keypoints": [' + ",".join(["NaN"] * 51) + ']}]', "finite"),
    # the entry's index in the file, though a detection before it (not a person) was skipped
    ('[{"category_id": 2, "keypoints": [' + ",".join(["1"] * 51) + ']}, {"category_id": 1, "keypoints": ['
     + ",".join(["1"] * 51) + ']}, {"category_id": 1, "keypoints": [NaN' + ",1" * 50 + ']}]',
     "entry 2: field 'keypoints': expected finite"),
    ('[]', "no person detections"),
    ('[{"image_id": null, "category_id": 1, "keypoints": [' + ",".join(["1"] * 51) + ']}]',
     "entry 0: field 'image_id': expected an integer or a string, got null"),
    ('[{"image_id": 1.5, "category_id": 1, "keypoints": [' + ",".join(["1"] * 51) + ']}]', "got 1.5"),
    ('[{"image_id": 139.0, "category_id": 1, "keypoints": [' + ",".join(["1"] * 51) + ']}, {"image_id": 1.5}]',
     "entry 1: field 'keypoints': missing"),      # 139.0 taken as 139: the error is the next entry's
])
def test_bad_json(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as e:
        load_keypoints(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_keypoints(tmp_path / "none.json")
