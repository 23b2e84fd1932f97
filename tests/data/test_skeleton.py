"""Skeletons: the SPEC's joint lists, bones, left/right pairs and the KCS incidence matrix."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from gatepose.data.skeleton import SKELETONS, get_skeleton, joint_map
from gatepose.errors import GateposeError

SPEC_PARENTS = {
    "h36m17": [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
    "humaneva15": [-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1],
}


@pytest.mark.parametrize("name", sorted(SPEC_PARENTS))
def test_parents_are_the_specs(name):
    assert list(get_skeleton(name).parents) == SPEC_PARENTS[name]


def test_h36m16_is_h36m17_without_the_neck_and_the_head_on_the_thorax():
    s17, s16 = get_skeleton("h36m17"), get_skeleton("h36m16")
    assert s16.n_joints == 16 and "neck" not in s16.joint_names
    assert s16.joint_names == s17.joint_names[:9] + s17.joint_names[10:]
    assert s16.joint_names[s16.parents[s16.index("head")]] == "thorax"
    # every other joint keeps its parent (by name)
    for j, name in enumerate(s16.joint_names[1:], 1):
        if name != "head":
            assert s16.joint_names[s16.parents[j]] == s17.joint_names[s17.parents[s17.index(name)]]


def test_h36m17_names_follow_the_spec():
    names = get_skeleton("h36m17").joint_names
    assert names[0] == "pelvis" and names[1] == "r_hip" and names[6] == "l_ankle" and names[8] == "thorax"
    assert names[10] == "head" and names[13] == "l_wrist" and names[16] == "r_wrist"


@pytest.mark.parametrize("name", sorted(SKELETONS))
def test_bones_pairs_and_incidence(name):
    s = get_skeleton(name)
    assert len(s.bones) == s.n_bones == s.n_joints - 1
    assert s.root == 0 and s.joint_names[0] == "pelvis"
    C = s.incidence
    assert C.shape == (s.n_joints, s.n_bones) and C.dtype == np.float32
    assert np.all(C.sum(axis=0) == 0) and np.all((C == 1).sum(0) == 1) and np.all((C == -1).sum(0) == 1)
    for k, (c, p) in enumerate(s.bones):
        assert C[c, k] == 1 and C[p, k] == -1
    assert len(s.left) == len(s.right) == 6
    for l, r in s.left_right_pairs:
        assert s.joint_names[l].replace("l_", "r_", 1) == s.joint_names[r]
    perm = np.array(s.flip_permutation)
    assert np.array_equal(perm[perm], np.arange(s.n_joints))
    for bl, br in s.symmetric_bones:
        assert s.bone_names[bl].replace("l_", "r_") == s.bone_names[br]
    with pytest.raises(ValueError):
        C[0, 0] = 3.0  # shared and read-only


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 5), name=st.sampled_from(sorted(SKELETONS)))
def test_incidence_gives_bone_vectors(seed, B, name):
    s = get_skeleton(name)
    X = np.random.default_rng(seed).normal(size=(B, s.n_joints, 3)).astype(np.float32)
    bones = X.transpose(0, 2, 1) @ s.incidence                                # (B, 3, nb)
    child, parent = np.array(s.bones).T
    np.testing.assert_allclose(bones.transpose(0, 2, 1), X[:, child] - X[:, parent], rtol=1e-6, atol=1e-6)


def test_unknown_skeleton_lists_the_valid_names():
    with pytest.raises(GateposeError, match="h36m17, h36m16, humaneva15"):
        get_skeleton("coco")


def test_joint_map():
    idx = joint_map("h36m17", "h36m16")
    assert list(idx) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16]
    idx = joint_map("h36m17", "humaneva15")
    s17 = get_skeleton("h36m17")
    assert [s17.joint_names[i] for i in idx] == list(get_skeleton("humaneva15").joint_names)
    with pytest.raises(GateposeError, match="neck"):
        joint_map("h36m16", "h36m17")
