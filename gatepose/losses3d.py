"""Losses on 3D poses beyond the paper's weak supervision, each with its hand-written backward.

* ``supervised_loss``: the full-supervision baseline (``train --supervision full``), the mean
  per-joint Euclidean distance between the generator's pose and the paired ground truth, both
  root-relative, the ground truth normalised like the critic's real poses (SPEC section 7: divided
  by its Frobenius norm). It is MPJPE on the normalised scale, so it optimises what N-MPJPE
  measures, and as a sum of norms it is robust to the few badly converted frames real mocap has.
  ``--sup-loss squared`` takes the mean *squared* per-joint distance instead (Martinez et al.'s
  L2), so the baseline's loss is searched rather than assumed (docs/benchmark-gap.md).
* ``consistency_loss``: geometric self-consistency (Chen et al., CVPR 2019; ElePose, CVPR 2022), a
  departure from the paper (off in the ``paper`` preset): lift X1 = G(W), rotate it, Y = X1 R^T,
  project it orthographically and normalise it like an input, W2 = n(Y[..., :2]), lift again,
  X2 = G(W2), and ask X2 to match Y (both root-relative). Its gradient reaches the generator
  through both passes and through X1 (the target and the second input both depend on it).
* ``bone_prior_loss``: ElePose's bone-length prior, a departure (off in the ``paper`` preset): the
  lifted pose's bone lengths relative to their mean against the same ratios averaged over the
  critic's unpaired real poses.
* ``projection_critic_term``: the random-projection critic, a departure (off in the ``paper``
  preset): the lifted pose turned about the vertical axis, projected and normalised like an input,
  scored by a second Wasserstein critic, one of 2D poses trained on the 2D inputs (Chen et al.,
  CVPR 2019; the adversarial form of ElePose's likelihood of random reprojections). A limb lifted
  to the wrong depth can leave a plausible pose in its own view and show in another.

Every loss returns a 0-d array of its input's dtype; backward functions take the upstream scalar
``dL`` (a Python float such as the loss weight, or a 0-d array).
"""
from __future__ import annotations

from typing import NamedTuple

from .backend import get_xp, python_scalar
from .data.augment import rotate
from .data.normalize import normalize, root_relative, root_relative_backward
from .errors import GateposeError
from .losses import adversarial_loss, adversarial_loss_backward
from .nn.camera import depth_shrink, depth_shrink_backward
from .nn.critic import critic_forward, critic_input_backward
from .nn.generator import generator_backward, generator_forward

# Smooths the distance at 0 (sqrt(d^2 + EPS^2)): the loss stays differentiable where a joint is
# exactly right, and EPS is far below any error that matters (normalised poses have norm 1).
EPS = 1e-6


# -- the mean per-joint distance ------------------------------------------------------------------
class DistanceCache(NamedTuple):
    unit: object   # (B, J, D) (A - C) / sqrt(|A - C|^2 + EPS^2)
    shape: tuple


def joint_distance(A, C):
    """A, C: (B, J, D) -> (mean_{b,j} sqrt(|A_bj - C_bj|^2 + EPS^2) 0-d, cache)."""
    if A.shape != C.shape or A.ndim != 3:
        raise GateposeError(f"joint distance: both poses must be (B, J, D) of one shape, got {A.shape} and {C.shape}")
    xp = get_xp(A, C)
    D = A - C
    n = xp.sqrt((D * D).sum(axis=2, keepdims=True) + EPS * EPS)
    return n.mean(), DistanceCache(D / n, tuple(A.shape))


def joint_distance_backward(dL, cache: DistanceCache):
    """-> dA (B, J, D) = unit dL / (B J); dC is its negative."""
    B, J = cache.shape[:2]
    return cache.unit * (python_scalar(dL) / (B * J))


# -- the mean squared per-joint distance ----------------------------------------------------------
class SquaredCache(NamedTuple):
    diff: object   # (B, J, D) A - C


def joint_squared(A, C):
    """A, C: (B, J, D) -> (mean_{b,j} |A_bj - C_bj|^2 0-d, cache)."""
    if A.shape != C.shape or A.ndim != 3:
        raise GateposeError(f"squared joint distance: both poses must be (B, J, D) of one shape, got {A.shape} and {C.shape}")
    D = A - C
    return (D * D).sum(axis=2).mean(), SquaredCache(D)


def joint_squared_backward(dL, cache: SquaredCache):
    """-> dA (B, J, D) = 2 (A - C) dL / (B J); dC is its negative."""
    B, J = cache.diff.shape[:2]
    return cache.diff * (2.0 * python_scalar(dL) / (B * J))


# -- full supervision -----------------------------------------------------------------------------
# --sup-loss: the per-joint loss of full supervision, name -> (forward, backward)
SUPERVISED_LOSSES = {"distance": (joint_distance, joint_distance_backward),
                     "squared": (joint_squared, joint_squared_backward)}


class SupervisedCache(NamedTuple):
    kind: str      # a key of SUPERVISED_LOSSES
    inner: object  # its forward's cache


def supervised_loss(X, X_gt, kind: str = "distance"):
    """X: (B, J, 3) lifted poses, X_gt: (B, J, 3) paired ground truth, normalised (root-relative,
    unit Frobenius norm) -> (L_sup 0-d, cache): the mean per-joint distance of the root-relative
    poses (MPJPE in normalised units), or with ``kind="squared"`` its mean square."""
    if kind not in SUPERVISED_LOSSES:
        raise GateposeError(f"supervised loss: expected one of {', '.join(SUPERVISED_LOSSES)}, got {kind!r}")
    L, cache = SUPERVISED_LOSSES[kind][0](root_relative(X), root_relative(X_gt))
    return L, SupervisedCache(kind, cache)


def supervised_loss_backward(dL, cache: SupervisedCache):
    """-> dX (B, J, 3)."""
    return root_relative_backward(SUPERVISED_LOSSES[cache.kind][1](dL, cache.inner))


# -- normalising a projected pose like an input (SPEC section 7) -----------------------------------
class Normalize2dCache(NamedTuple):
    Wn: object     # (B, J, 2) the normalised pose
    scale: object  # (B, 1, 1) its Frobenius norm before normalising


def normalize_2d_forward(Y, eps: float = 1e-6):
    """Y (B, J, 2) -> (Wn, cache): ``data.normalize.normalize`` (SPEC section 7), with its cache."""
    Wn, s = normalize(Y, eps)
    return Wn, Normalize2dCache(Wn, get_xp(Y).maximum(s, eps)[:, None, None])


def normalize_2d_backward(dWn, cache: Normalize2dCache):
    """-> dY (B, J, 2): with Wn = C / ||C||, dC = (dWn - Wn <Wn, dWn>) / ||C||."""
    Wn, s = cache
    inner = (Wn * dWn).sum(axis=(1, 2), keepdims=True)
    return root_relative_backward((dWn - Wn * inner) / s)


# -- a turned camera's view: the pose's image in a camera turned by R --------------------------------
def turned_view(Y, k: float = 0.0):
    """Y: (B, J, 3) a pose in a turned camera's frame -> (P (B, J, 2) its image, e): Y's x and y,
    with perspective k > 0 (``--perspective``) shrunk by e = exp(-k z) (B, J) as
    ``camera.perspective_forward`` projects (``camera.depth_shrink``), so a turned pose is drawn
    as the inputs are; e is None without. Backward: ``camera.depth_shrink_backward``."""
    if not k:
        return Y[..., :2], None
    return depth_shrink(Y[..., :2], Y[..., 2], k)


# -- geometric self-consistency --------------------------------------------------------------------
class ConsistencyCache(NamedTuple):
    R: object          # (B, 3, 3)
    norm: Normalize2dCache
    gen2: object       # the generator cache of the second lift (either kind, nn/generator.py)
    dist: DistanceCache
    Y: object = None   # (B, J, 3) the turned pose, and (B, J) exp(-k z): with perspective only
    e: object = None
    k: float = 0.0


def consistency_loss(gen: dict, gcfg, X1, R, perspective: float = 0.0):
    """gen: generator parameters, X1: (B, J, 3) the first lift G(W), R: (B, 3, 3) rotations ->
    (L_geo 0-d, cache): the mean per-joint distance between r(G(n(p(Y)))) and r(Y), Y = X1 R^T,
    r = root-relative, n = normalise like an input, p the turned camera's projection: Y's x and y,
    with ``perspective`` k > 0 shrunk by exp(-k z) as ``camera.perspective_forward`` projects
    (``--perspective``: the second lift then sees 2D poses drawn as the inputs are)."""
    Y = rotate(X1, R)
    P, e = turned_view(Y, perspective)
    W2, ncache = normalize_2d_forward(P)
    X2, gcache = generator_forward(gen, W2, gcfg)
    L, dcache = joint_distance(root_relative(X2), root_relative(Y))
    return L, ConsistencyCache(R, ncache, gcache, dcache, Y if perspective else None, e, float(perspective))


def consistency_loss_backward(dL, cache: ConsistencyCache):
    """-> (dX1 (B, J, 3), generator gradients of the second lift). The caller adds dX1 to the first
    lift's upstream gradient, so the first pass's backward carries this loss's share too."""
    dD = joint_distance_backward(dL, cache.dist)
    dX2 = root_relative_backward(dD)
    dY = -root_relative_backward(dD)
    dW2, grads = generator_backward(dX2, cache.gen2)
    dP = normalize_2d_backward(dW2, cache.norm)
    if cache.e is None:
        dY[..., :2] += dP
    else:   # P = Y_xy e, e = exp(-k Y_z)
        dP, dz = depth_shrink_backward(dP, cache.Y[..., :2], cache.e, cache.k)
        dY[..., :2] += dP
        dY[..., 2] += dz
    # Y = X1 R^T, so dX1 = dY R
    return dY @ cache.R, grads


# -- the bone-length prior ----------------------------------------------------------------------
def bone_vectors(X, incidence):
    """X (B, J, 3), incidence (J, nb) (+1 at a bone's child, -1 at its parent) -> bones (B, nb, 3)."""
    xp = get_xp(X)
    return xp.einsum("jk,bjc->bkc", xp.asarray(incidence, dtype=X.dtype), X)


def bone_ratios(X, incidence):
    """X (B, J, 3) -> (B, nb): each bone's length over the pose's mean bone length (scale-free)."""
    xp = get_xp(X)
    lengths = xp.sqrt((bone_vectors(X, incidence) ** 2).sum(axis=2) + EPS * EPS)
    return lengths / lengths.mean(axis=1, keepdims=True)


class BoneCache(NamedTuple):
    bones: object      # (B, nb, 3)
    lengths: object    # (B, nb), smoothed like joint_distance's
    mean: object       # (B, 1) the mean length
    residual: object   # (B, nb) ratio - target
    incidence: object  # (J, nb) on X's device


def bone_prior_loss(X, incidence, target):
    """ElePose's bone-length prior (Wandt et al., CVPR 2022), a departure from the paper.
    X (B, J, 3) lifted poses, incidence (J, nb), target (nb,) the ratios r_k = l_k / mean_k l_k
    averaged over real poses (``bone_ratios`` of the critic's unpaired pool) ->
    (L_bone = mean_b sum_k (r_bk - target_k)^2 0-d, cache). Scale-free: it constrains proportions,
    left against right included, never size."""
    xp = get_xp(X)
    C = xp.asarray(incidence, dtype=X.dtype)
    bones = bone_vectors(X, C)
    lengths = xp.sqrt((bones * bones).sum(axis=2) + EPS * EPS)
    mean = lengths.mean(axis=1, keepdims=True)
    residual = lengths / mean - xp.asarray(target, dtype=X.dtype)
    L = (residual * residual).sum() * (1.0 / X.shape[0])
    return L, BoneCache(bones, lengths, mean, residual, C)


def bone_prior_loss_backward(dL, cache: BoneCache):
    """-> dX (B, J, 3). With g_k = dL/dr_k = 2 (r_k - target_k) dL / B and r_k = l_k / lbar:
    dL/dl_j = g_j / lbar - (sum_k g_k l_k) / (nb lbar^2); dbone_k = dL/dl_k bone_k / l_k; then the
    incidence matrix carries each bone's gradient to its child (+) and parent (-)."""
    xp = get_xp(cache.bones)
    B, nb = cache.lengths.shape
    g = cache.residual * (2.0 * python_scalar(dL) / B)
    dl = (g - (g * cache.lengths).sum(axis=1, keepdims=True) / (nb * cache.mean)) / cache.mean
    dbones = cache.bones * (dl / cache.lengths)[..., None]
    return xp.einsum("jk,bkc->bjc", cache.incidence, dbones)


def bone_prior_term(incidence, target, weight: float = 1.0):
    """The bone-length prior as a term of ``losses.generator_loss``: X (B, J, 3) -> (L_bone 0-d,
    d(weight * L_bone)/dX, no generator gradients of its own)."""
    def term(X):
        L, cache = bone_prior_loss(X, incidence, target)
        return L, bone_prior_loss_backward(weight, cache), None
    return term


# -- the random-projection critic ---------------------------------------------------------------
class TurnedProjectionCache(NamedTuple):
    R: object      # (B, 3, 3)
    norm: Normalize2dCache
    Y: object = None   # (B, J, 3) the turned pose, and (B, J) exp(-k z): with perspective only
    e: object = None
    k: float = 0.0


def turned_projection(X, R, perspective: float = 0.0):
    """X (B, J, 3), R (B, 3, 3) -> (W (B, J, 2), cache): the pose seen by a camera turned by R,
    W = n(p(X R^T)), p its image (``turned_view``: with ``perspective``, shrunk by exp(-k z)),
    normalised like an input (SPEC section 7)."""
    Y = rotate(X, R)
    P, e = turned_view(Y, perspective)
    W, ncache = normalize_2d_forward(P)
    return W, TurnedProjectionCache(R, ncache, Y if perspective else None, e, float(perspective))


def turned_projection_backward(dW, cache: TurnedProjectionCache):
    """-> dX (B, J, 3). Y = X R^T, so dX = dY R (without perspective dY's depth column is zero)."""
    dP = normalize_2d_backward(dW, cache.norm)
    if cache.e is None:
        return dP @ cache.R[:, :2, :]
    dP, dz = depth_shrink_backward(dP, cache.Y[..., :2], cache.e, cache.k)
    return get_xp(dP).concatenate([dP, dz[..., None]], axis=-1) @ cache.R


def projection_critic_term(critic_2d: dict, dcfg_2d, R, weight: float = 1.0, perspective: float = 0.0):
    """The random-projection critic as a term of ``losses.generator_loss``: X (B, J, 3) ->
    (L_adv2d = -mean D_2d(turned_projection(X, R, perspective)) 0-d, d(weight * L_adv2d)/dX, no
    generator gradients of its own). ``critic_2d``: the 2D critic's parameters (frozen here: its
    input gradient only), ``dcfg_2d``: its CriticConfig (coords 2)."""
    def term(X):
        W, pcache = turned_projection(X, R, perspective)
        D, dcache = critic_forward(critic_2d, W, dcfg_2d)
        L, acache = adversarial_loss(D)
        dW, _ = critic_input_backward(adversarial_loss_backward(weight, acache), dcache)
        return L, turned_projection_backward(dW, pcache), None
    return term


# -- whole steps: the generator's forward, the loss, both backwards ---------------------------------
def supervised_step(gen: dict, gcfg, W, X_gt, kind: str = "distance"):
    """W: (B, J, 2) normalised 2D poses, X_gt: (B, J, 3) their normalised 3D poses -> (L_sup 0-d,
    generator gradients of L_sup), means over the batch. ``train --supervision full``; ``kind``:
    ``--sup-loss``."""
    X, gcache = generator_forward(gen, W, gcfg)
    L, cache = supervised_loss(X, X_gt, kind)
    _, grads = generator_backward(supervised_loss_backward(1.0, cache), gcache)
    return L, grads


def consistency_term(gen: dict, gcfg, R, weight: float = 1.0, perspective: float = 0.0):
    """Self-consistency as a term of ``losses.generator_loss`` (the trainer's weak step): a function
    X1 (B, J, 3), the step's own first lift, -> (L_geo 0-d, d(weight * L_geo)/dX1, the second lift's
    generator gradients). The first lift's share of the gradient goes back through the step's one
    backward of the generator, with the paper's losses' (a lift and a backward fewer per step)."""
    def term(X1):
        L, cache = consistency_loss(gen, gcfg, X1, R, perspective)
        dX1, grads = consistency_loss_backward(weight, cache)
        return L, dX1, grads
    return term


def consistency_step(gen: dict, gcfg, W, R):
    """W: (B, J, 2), R: (B, 3, 3) -> (L_geo 0-d, generator gradients of L_geo through both lifts):
    the term of :func:`consistency_term` on its own first lift, alone (its gradient check; the
    trainer's step checks it with a weight, gradcheck/steps.py)."""
    X1, gcache = generator_forward(gen, W, gcfg)
    L, dX1, grads = consistency_term(gen, gcfg, R)(X1)
    _, grads1 = generator_backward(dX1, gcache)
    for k, g in grads1.items():
        grads[k] = grads[k] + g
    return L, grads
