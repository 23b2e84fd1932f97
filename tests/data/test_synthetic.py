"""The synthetic motion dataset, checked the way a person would look at it."""
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gatepose.data import synthetic as syn
from gatepose.data.skeleton import get_skeleton
from gatepose.errors import GateposeError

SKEL = get_skeleton("h36m17")
REQUIRED_ACTIONS = {"walk", "jog", "box", "sit", "squat", "wave", "pickup", "jump"}


@pytest.fixture(scope="module")
def ds():
    return syn.generate(n_subjects=4, sequences_per_action=1, frames_per_sequence=60, n_cameras=3, seed=3)


@pytest.fixture(scope="module")
def motion():
    subjects = syn.make_subjects(4, np.random.default_rng([3, 0]))
    return syn.simulate(subjects, sequences_per_action=3, frames=80, seed=3)


def bone_lengths(X):
    child, parent = np.array(SKEL.bones).T
    return np.linalg.norm(X[..., child, :].astype(np.float64) - X[..., parent, :], axis=-1)


def test_actions_and_sizes(ds):
    assert REQUIRED_ACTIONS <= set(syn.ACTIONS) and len(syn.ACTIONS) >= 8
    assert set(ds.action) == set(syn.ACTIONS)
    assert len(ds) == 4 * len(syn.ACTIONS) * 1 * 3 * 60
    assert ds.poses_3d.dtype == np.float32 and ds.poses_2d.dtype == np.float32 and ds.skeleton == "h36m17"


def test_bone_lengths_constant_within_a_sequence(ds):
    L = bone_lengths(ds.poses_3d)
    seq = ds.sequence_ids()
    assert seq.max() + 1 == 4 * len(syn.ACTIONS) * 3
    for s in np.unique(seq):
        assert L[seq == s].std(axis=0).max() < 0.05  # mm, float32 rounding only


def test_left_and_right_limbs_of_a_subject_are_equal_and_subjects_differ(ds):
    L = bone_lengths(ds.poses_3d)
    means = []
    for subject in np.unique(ds.subject):
        m = L[ds.subject == subject].mean(axis=0)
        for bl, br in SKEL.symmetric_bones:
            assert abs(m[bl] - m[br]) < 0.05
        means.append(m)
    assert np.ptp(np.array(means), axis=0).min() > 1.0  # every bone differs between subjects


def test_subject_heights_and_proportions():
    subj = syn.make_subjects(50, np.random.default_rng(0))
    assert subj.height.min() >= 1550 and subj.height.max() <= 1950
    thigh, shin = subj.lengths[:, 2], subj.lengths[:, 3]
    assert np.all((thigh / subj.height > 0.22) & (thigh / subj.height < 0.29))
    assert np.all((shin / subj.height > 0.22) & (shin / subj.height < 0.29))


def test_joint_angles_within_limits(motion):
    lo, hi = syn.LIMITS_ARRAY[..., 0], syn.LIMITS_ARRAY[..., 1]
    assert np.all(motion.angles >= lo - 1e-9) and np.all(motion.angles <= hi + 1e-9)
    # and every action actually moves: more than 20 degrees of range in some joint
    for a in syn.ACTIONS:
        assert np.ptp(motion.angles[motion.action == a], axis=1).max() > 20.0, a


def _angle(u, v):
    cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_knees_and_elbows_bend_the_right_way_in_3d(motion):
    W = motion.world
    lateral = W[..., 4, :] - W[..., 1, :]                                   # right hip -> left hip
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        thigh, shin = W[..., knee, :] - W[..., hip, :], W[..., ankle, :] - W[..., knee, :]
        flex = _angle(thigh, shin)
        assert flex.max() <= 150.5
        bent = flex > 10
        # the shin folds backwards: thigh x shin points to the subject's left
        assert np.all((np.cross(thigh, shin) * lateral).sum(-1)[bent] > 0)
    for sh, el, wr in ((11, 12, 13), (14, 15, 16)):
        assert _angle(W[..., el, :] - W[..., sh, :], W[..., wr, :] - W[..., el, :]).max() <= 150.5


def test_feet_on_the_floor_and_nothing_below_it(motion):
    W = motion.world
    ankle_h = motion.subjects.ankle_height[motion.subject_index][:, None]
    lowest_ankle = np.minimum(W[..., 3, 1], W[..., 6, 1])
    standing = np.isin(motion.action, syn.STANDING_ACTIONS)
    np.testing.assert_allclose(lowest_ankle[standing], np.broadcast_to(ankle_h, lowest_ankle.shape)[standing],
                               atol=1e-6)
    assert np.all(lowest_ankle >= ankle_h - 1e-6)                         # no foot under the floor
    assert np.delete(W, [3, 6], axis=2)[..., 1].min() > 100.0               # no hand or knee through it
    jump = motion.action == "jump"
    assert (lowest_ankle - ankle_h)[jump].max(axis=1).min() > 100.0        # every jump leaves the ground


def test_motion_is_smooth(motion):
    assert np.abs(np.diff(motion.angles, axis=1)).max() < 25.0             # degrees per frame at 50 fps
    rel = motion.world - motion.world[:, :, :1]
    assert np.linalg.norm(np.diff(rel, axis=1), axis=-1).max() < 200.0    # mm per frame


def test_walk_and_jog_travel_the_others_stay(motion):
    travel = np.linalg.norm(motion.world[:, -1, 0, [0, 2]] - motion.world[:, 0, 0, [0, 2]], axis=-1)
    moving = np.isin(motion.action, ["walk", "jog"])
    assert travel[moving].min() > 500 and travel[~moving].max() < 300


def test_cameras_see_the_subject(ds):
    X, uv = ds.poses_3d, ds.poses_2d
    assert X[..., 2].min() > 1500                                          # in front, not too close
    inside = ((uv >= 0) & (uv < np.asarray(ds.image_size)[:, None, :])).all(-1)
    assert inside.mean() > 0.99
    height_px = np.ptp(uv[..., 1], axis=1)
    assert np.median(height_px) > 150                                      # a person, not a speck


def test_2d_is_a_pinhole_projection_of_3d(ds):
    seq = ds.sequence_ids()
    for s in np.unique(seq)[::7]:
        X, uv = ds.poses_3d[seq == s].reshape(-1, 3).astype(np.float64), ds.poses_2d[seq == s].reshape(-1, 2)
        for axis in (0, 1):  # u = f x / z + c: fit f and c, residual ~ rounding
            A = np.stack([X[:, axis] / X[:, 2], np.ones(len(X))], 1)
            coef, *_ = np.linalg.lstsq(A, uv[:, axis], rcond=None)
            assert 800 * 0.99 < coef[0] < 1200 * 1.01 and 450 < coef[1] < 550
            assert np.abs(A @ coef - uv[:, axis]).max() < 0.05


def test_subject_wise_split(ds):
    train, test = ds.train_test()
    assert set(train.subject).isdisjoint(test.subject)
    assert set(test.subject) == {"S4"} and len(test) == len(ds) // 4
    full = syn.generate(n_subjects=8, sequences_per_action=1, frames_per_sequence=10, n_cameras=1)
    assert set(full.subject[full.split == "test"]) == {"S7", "S8"}


def test_deterministic_for_a_seed():
    kw = dict(n_subjects=2, sequences_per_action=1, frames_per_sequence=20, n_cameras=2)
    a, b, c = syn.generate(seed=5, **kw), syn.generate(seed=5, **kw), syn.generate(seed=6, **kw)
    for k, v in a.arrays().items():
        assert np.array_equal(v, b.arrays()[k]), k
    assert not np.array_equal(a.poses_3d, c.poses_3d)


@settings(max_examples=8)
@given(n=st.integers(1, 30000), subjects=st.integers(1, 5), cams=st.integers(1, 4))
def test_n_frames_gives_at_least_that_many(n, subjects, cams):
    ds = syn.generate(n_subjects=subjects, n_frames=n, n_cameras=cams, actions=("walk", "sit"))
    n_seq = ds.sequence_ids().max() + 1
    assert n <= len(ds) <= max(n + n_seq, 2 * n_seq)  # whole sequences of >= 2 frames


@pytest.mark.parametrize("skeleton", ["h36m16", "humaneva15"])
def test_other_skeletons(skeleton):
    ds = syn.generate(n_subjects=2, sequences_per_action=1, frames_per_sequence=10, n_cameras=1, skeleton=skeleton)
    assert ds.poses_3d.shape[1] == get_skeleton(skeleton).n_joints and ds.skeleton == skeleton


def test_bad_arguments():
    with pytest.raises(GateposeError, match="unknown action"):
        syn.generate(actions=("fly",))
    with pytest.raises(GateposeError):
        syn.generate(n_subjects=0)


def test_100k_poses_in_under_10_seconds():
    t0 = time.perf_counter()
    ds = syn.generate(n_frames=100_000, seed=1)
    elapsed = time.perf_counter() - t0
    assert len(ds) >= 100_000
    assert elapsed < 10.0, f"{elapsed:.1f} s"
