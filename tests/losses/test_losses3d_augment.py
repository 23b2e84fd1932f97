"""The supervised and self-consistency losses against central differences (hypothesis sizes), the
terms whose loss the checks must catch, and the mechanics of every augmentation."""
import numpy as np
from hypothesis import given, settings, strategies as st

from gatepose import losses3d as L3
from gatepose.data.augment import (augment_real_poses, camera_turns, flip_half, mirror, pitch_matrices, rotate,
                                   yaw_matrices)
from gatepose.data.skeleton import SKELETONS, get_skeleton
from gatepose.gradcheck import all_checks, check_backward, run_check
from helpers import assert_pass
from mutations import assert_caught

seeds = st.integers(0, 2**31 - 1)


# -- gradients ---------------------------------------------------------------------------------------
@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 17))
def test_supervised_loss_gradient(seed, B, J):
    assert_pass(run_check("supervised_loss", seed=seed, B=B, J=J))


@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 17))
def test_squared_supervised_loss_gradient(seed, B, J):
    assert_pass(run_check("supervised_loss[squared]", seed=seed, B=B, J=J))


def _broken_squared(change):
    """The squared supervised loss's case with its backward changed: 'factor 2' dropped, 'sign'
    flipped, 'root' (the root-relative backward left out)."""
    case = all_checks()["supervised_loss[squared]"]
    fwd, bwd, inputs, wrt = case.build(np, np.random.default_rng(4), **case.sizes)

    def broken(dL, c):
        B, J = c.inner.diff.shape[:2]
        d = c.inner.diff * ({"factor 2": 1.0, "sign": -2.0}.get(change, 2.0) * dL / (B * J))
        return {"X": d if change == "root" else L3.root_relative_backward(d)}

    return check_backward(fwd, broken, inputs, wrt=wrt)


def test_squared_supervised_check_catches_broken_backwards():
    for change in ("factor 2", "sign", "root"):
        assert_caught(_broken_squared(change), "X", what=change)
    assert_pass(_broken_squared(None))


@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 17))
def test_normalize_2d_gradient(seed, B, J):
    assert_pass(run_check("normalize_2d", seed=seed, B=B, J=J))


# d_model >= 4: a LayerNorm over 2 features has a zero input gradient, nothing to check
@settings(max_examples=10, deadline=None)
@given(seed=seeds, B=st.integers(1, 3), J=st.integers(3, 6), h=st.just(2), d_k=st.integers(2, 3),
       L=st.integers(1, 2), attention=st.sampled_from(["gated", "vanilla", "scalar-gate"]))
def test_consistency_loss_gradient(seed, B, J, h, d_k, L, attention):
    assert_pass(run_check("consistency_loss", seed=seed, B=B, J=J, h=h, d_k=d_k, L=L, attention=attention))


def _broken_consistency(drop):
    """The consistency case with one path of its backward dropped."""
    case = all_checks()["consistency_loss"]
    fwd, bwd, inputs, wrt = case.build(np, np.random.default_rng(3), **case.sizes)

    def broken(dL, c):
        dD = L3.joint_distance_backward(dL, c.dist)
        dX2 = L3.root_relative_backward(dD)
        dY = -L3.root_relative_backward(dD) if drop != "target" else np.zeros_like(dD)
        dW2, g = L3.generator_backward(dX2, c.gen2)
        if drop != "second input":
            dY[..., :2] += L3.normalize_2d_backward(dW2, c.norm)
        R = c.R.transpose(0, 2, 1) if drop == "transposed R" else c.R
        return {"X1": dY @ R, **g}

    return check_backward(fwd, broken, inputs, wrt=["X1"])


def test_consistency_check_catches_dropped_paths():
    for drop in ("target", "second input", "transposed R"):
        assert_caught(_broken_consistency(drop), "X1", what=drop)
    assert_pass(_broken_consistency(None))


@given(seed=seeds, B=st.integers(1, 6), skeleton=st.sampled_from(sorted(SKELETONS)))
def test_bone_prior_gradient(seed, B, skeleton):
    assert_pass(run_check("bone_prior_loss", seed=seed, B=B, skeleton=skeleton))


def _broken_bone_prior(change):
    """The bone-prior case with its backward changed: 'mean term' drops the mean length's share,
    'sign' flips it, 'parent' sends each bone's gradient to its child only."""
    case = all_checks()["bone_prior_loss"]
    fwd, bwd, inputs, wrt = case.build(np, np.random.default_rng(5), **case.sizes)

    def broken(dL, c):
        B, nb = c.lengths.shape
        g = c.residual * (2.0 * dL / B)
        share = (g * c.lengths).sum(axis=1, keepdims=True) / (nb * c.mean)
        dl = {"mean term": g, "sign": g + share}.get(change, g - share) / c.mean
        dbones = c.bones * (dl / c.lengths)[..., None]
        C = np.maximum(c.incidence, 0) if change == "parent" else c.incidence
        return {"X": np.einsum("jk,bkc->bjc", C, dbones)}

    return check_backward(fwd, broken, inputs, wrt=wrt)


def test_bone_prior_check_catches_broken_backwards():
    for change in ("mean term", "sign", "parent"):
        assert_caught(_broken_bone_prior(change), "X", what=change)
    assert_pass(_broken_bone_prior(None))


@given(seed=seeds, scale=st.floats(0.01, 100.0))
def test_bone_prior_is_zero_at_its_target_and_free_of_scale_rotation_and_place(seed, scale):
    rng = np.random.default_rng(seed)
    sk = get_skeleton("h36m17")
    X = rng.standard_normal((3, 17, 3))
    target = L3.bone_ratios(X[:1], sk.incidence)[0]
    R = camera_turns(rng, 3, np, np.float64, 0.3, 0.2)
    moved = scale * rotate(X, R) + rng.standard_normal((3, 1, 3))
    a, _ = L3.bone_prior_loss(X, sk.incidence, target)
    b, _ = L3.bone_prior_loss(moved, sk.incidence, target)
    assert abs(float(a) - float(b)) < 1e-6 * max(1.0, float(a))   # EPS smooths lengths near 0
    assert float(L3.bone_prior_loss(X[:1], sk.incidence, target)[0]) < 1e-20
    # the ratios average to one, and a longer bone raises the loss
    assert np.allclose(L3.bone_ratios(X, sk.incidence).mean(axis=1), 1.0)
    longer = X[:1].copy()
    longer[0, sk.index("l_wrist")] += 0.5 * (longer[0, sk.index("l_wrist")] - longer[0, sk.index("l_elbow")])
    assert float(L3.bone_prior_loss(longer, sk.incidence, target)[0]) > 1e-3


def test_supervised_loss_is_mpjpe_of_root_relative_poses():
    rng = np.random.default_rng(0)
    X, G = rng.standard_normal((4, 17, 3)), rng.standard_normal((4, 17, 3))
    L, _ = L3.supervised_loss(X + rng.standard_normal((4, 1, 3)), G)  # a global shift does not count
    ref = np.linalg.norm((X - X[:, :1]) - (G - G[:, :1]), axis=-1).mean()
    assert abs(float(L) - ref) < 1e-6   # the smoothing EPS at the root
    assert float(L3.supervised_loss(G, G)[0]) < 1e-5
    L2, _ = L3.supervised_loss(X + rng.standard_normal((4, 1, 3)), G, "squared")
    assert abs(float(L2) - (np.linalg.norm((X - X[:, :1]) - (G - G[:, :1]), axis=-1) ** 2).mean()) < 1e-9


def test_camera_turns_are_rotations():
    R = camera_turns(np.random.default_rng(0), 50, np, np.float64, 0.3, 0.2)
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0)
    # with no elevation: a yaw, the vertical (y) axis unmoved
    R0 = camera_turns(np.random.default_rng(0), 50, np, np.float64)
    assert np.allclose(R0[:, :, 1], [0, 1, 0]) and np.allclose(R0[:, 1, :], [0, 1, 0])


# -- augmentation mechanics ---------------------------------------------------------------------------
def _bones(X, sk):
    return np.stack([np.linalg.norm(X[:, c] - X[:, p], axis=-1) for c, p in sk.bones], -1)


@given(seed=seeds, name=st.sampled_from(sorted(SKELETONS)))
def test_mirror_swaps_left_and_right_and_keeps_bones(seed, name):
    sk = get_skeleton(name)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((6, sk.n_joints, 3))
    M = mirror(X, sk.flip_permutation)
    for l, r in sk.left_right_pairs:
        assert np.allclose(M[:, l], X[:, r] * [-1, 1, 1]) and np.allclose(M[:, r], X[:, l] * [-1, 1, 1])
    bx, bm = _bones(X, sk), _bones(M, sk)
    perm = [k for k in range(sk.n_bones)]
    for bl, br in sk.symmetric_bones:
        perm[bl], perm[br] = br, bl
    assert np.allclose(bm, bx[:, perm])        # a left bone takes its right partner's length
    assert np.allclose(mirror(M, sk.flip_permutation), X)   # an involution
    # a mask mirrors only the poses it selects
    mask = np.array([True, False] * 3)
    Mm = mirror(X, sk.flip_permutation, mask)
    assert np.allclose(Mm[mask], M[mask]) and np.allclose(Mm[~mask], X[~mask])
    W = X[..., :2]
    assert np.allclose(mirror(W, sk.flip_permutation), M[..., :2])   # 2D: the same, in the image


@given(seed=seeds)
def test_yaw_keeps_bones_and_height(seed):
    rng = np.random.default_rng(seed)
    sk = get_skeleton("h36m17")
    X = rng.standard_normal((5, 17, 3))
    R = yaw_matrices(rng.uniform(-np.pi, np.pi, 5), np, np.float64)
    Y = rotate(X, R)
    assert np.allclose(_bones(Y, sk), _bones(X, sk))
    assert np.allclose(Y[..., 1], X[..., 1])                  # y is the vertical axis
    assert np.allclose(rotate(Y, R.transpose(0, 2, 1)), X)
    assert np.allclose(yaw_matrices([np.pi / 2], np, np.float64)[0] @ [1, 0, 0], [0, 0, -1])
    P = pitch_matrices(rng.uniform(-1, 1, 5), np, np.float64)
    assert np.allclose(rotate(X, P)[..., 0], X[..., 0])


@given(seed=seeds, elevation=st.floats(-0.6, 0.6))
def test_augment_real_poses(seed, elevation):
    """--aug-real: each pose mirrored or not, then turned about the vertical axis as a camera at
    ``elevation`` sees it: root-relative, same size, the pose's bones (or their mirror's)."""
    sk = get_skeleton("h36m17")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 17, 3)).astype(np.float32)
    X -= X[:, :1]
    A = augment_real_poses(X, np.random.default_rng(seed), sk.flip_permutation, elevation)
    assert A.dtype == np.float32 and A.shape == X.shape
    assert np.allclose(A[:, 0], 0, atol=1e-6)                                     # still root-relative
    np.testing.assert_allclose(np.linalg.norm(A, axis=(1, 2)), np.linalg.norm(X, axis=(1, 2)), rtol=1e-5)
    ref, got = _bones(X, sk), _bones(A, sk)
    swapped = ref.copy()
    for bl, br in sk.symmetric_bones:
        swapped[:, [bl, br]] = ref[:, [br, bl]]
    mirrored = np.isclose(got, swapped, atol=1e-4).all(1) & ~np.isclose(got, ref, atol=1e-4).all(1)
    assert np.all(np.isclose(got, ref, atol=1e-4).all(1) | mirrored)
    # undo the camera's elevation: the turn is then a yaw, which never changes a joint's height
    P = pitch_matrices(np.full(64, -elevation), np, np.float64)
    up = lambda Y: np.sort(rotate(Y.astype(np.float64), P)[..., 1], 1)           # noqa: E731
    np.testing.assert_allclose(up(A), up(X), atol=1e-4)
    # the same draws as the trainer's own: a mirror draw, then camera_turns
    r = np.random.default_rng(seed)
    mask = r.random(64) < 0.5
    R = camera_turns(r, 64, np, np.float32, elevation, 0.0)
    np.testing.assert_allclose(A, rotate(mirror(X, sk.flip_permutation, mask), R), rtol=1e-6, atol=1e-6)


@given(seed=seeds)
def test_flip_half_mirrors_pairs_together(seed):
    """--aug-flip-2d: a 2D pose and its paired 3D pose are mirrored by the same draw."""
    from gatepose.data.normalize import normalize_2d

    sk = get_skeleton("h36m17")
    rng = np.random.default_rng(seed)
    W, _ = normalize_2d(rng.standard_normal((32, 17, 2)).astype(np.float32))
    X = rng.standard_normal((32, 17, 3)).astype(np.float32)
    A, B = flip_half(np.random.default_rng(seed), sk.flip_permutation, W, X)
    mask = np.random.default_rng(seed).random(32) < 0.5
    np.testing.assert_array_equal(A, mirror(W, sk.flip_permutation, mask))
    np.testing.assert_array_equal(B, mirror(X, sk.flip_permutation, mask))
    assert np.allclose(np.linalg.norm(A, axis=(1, 2)), 1, atol=1e-5)             # still normalised
    assert np.array_equal(flip_half(np.random.default_rng(seed), sk.flip_permutation, W), A)


@given(seed=seeds, e=st.floats(-0.6, 0.6))
def test_estimate_elevation_recovers_a_pitch(seed, e):
    from gatepose.data.augment import estimate_elevation

    sk = get_skeleton("h36m17")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 17, 3)) * 0.05
    X[:, sk.index("thorax")] += [0.0, -1.0, 0.0]            # upright: the thorax above the pelvis
    X[:, 0] = 0.0
    Y = rotate(X, yaw_matrices(rng.uniform(-np.pi, np.pi, 40), np, np.float64))   # any heading
    Y = rotate(Y, pitch_matrices(np.full(40, e), np, np.float64))
    mean, std = estimate_elevation(Y, sk)
    assert abs(mean - e) < 0.05 and std < 0.1


@settings(max_examples=3, deadline=None)
@given(seed=seeds, B=st.integers(1, 2), J=st.integers(3, 5), d_k=st.just(2))
def test_whole_steps_gradients(seed, B, J, d_k):
    assert_pass(run_check("supervised_step", seed=seed, B=B, J=J, h=2, d_k=d_k))
    assert_pass(run_check("supervised_step[squared]", seed=seed, B=B, J=J, h=2, d_k=d_k))
    assert_pass(run_check("consistency_step", seed=seed, B=B, J=J, h=2, d_k=d_k))


def test_whole_step_check_catches_a_missing_first_lift():
    """consistency_step without the first lift's backward (the target treated as a constant) fails."""
    from gatepose.gradcheck.checker import check_scalar_gradient
    from gatepose.gradcheck.generator import perturbed_params
    from gatepose.nn.posegate import PoseGateConfig, posegate_forward

    rng = np.random.default_rng(1)
    cfg = PoseGateConfig(n_joints=4, d_model=4, n_heads=2, n_layers=1, d_ff=8, gate_hidden=5)
    p = perturbed_params(cfg, np, rng)
    W = rng.standard_normal((2, 4, 2))
    R = camera_turns(rng, 2, np, np.float64, 0.2, 0.3)
    X1, _ = posegate_forward(p, W, cfg)
    _, grads_second_only = L3.consistency_loss_backward(1.0, L3.consistency_loss(p, cfg, X1, R)[1])
    res = check_scalar_gradient(lambda q: float(L3.consistency_step(q, cfg, W, R)[0]), grads_second_only, p,
                                wrt=["embed.E", "layers.0.ffn.W1"])
    assert_caught(res)
