"""RepNet's Wasserstein critic on 3D poses: a pose path and a KCS path (SPEC section 4).

    pose path (width P = 100):  h1 = LReLU(pose.in(X_flat));  h2 = LReLU(pose.fc1(h1));
                                h3 = LReLU(h1 + pose.fc2(h2));  p = pose.out(h3)
    KCS path  (width K = 1000): k1 = LReLU(kcs.in(triu(Psi)));  k2 = LReLU(kcs.fc1(k1));
                                k = k1 + kcs.fc2(k2)
    head:                       D = head.out(LReLU(head.fc(concat(p, k))))        D: (B,)

Only Linear layers, LeakyReLU and sums, so the input gradient g = dD/dX is a *linear* network in
the seed once the slope masks are fixed. Three passes live here, side by side:

* ``critic_forward``: the scores, keeping each Linear layer's input and each slope mask;
* ``critic_input_backward``: the deltas (gradient at each Linear layer's output) and dX;
  ``critic_backward`` adds the parameter gradients u^T delta;
* ``critic_tangents``: the forward-mode push of a direction a_X through that linear network (the
  double backward of SPEC section 5 needs it: dP/dW = a_u^T delta for each layer).

Each pass works on the rows of a 2-D (rows, width) matrix: one GEMM per layer.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..backend import get_xp
from ..errors import GateposeError
from ..names import SPEC_SIZES
from . import check_config, config_from_dict
from ..ops.activations import leaky_relu_forward
from .kcs import KCSCache, incidence_from_parents, kcs_backward, kcs_forward, kcs_jvp, n_kcs_features

# SPEC section 7's default skeleton, h36m17; the trainer passes the data's own incidence instead.
_H36M17_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)


def _incidence_tuple(incidence, n_joints) -> tuple:
    """Validate a J x nb incidence (nested lists or an array) into a tuple of int tuples."""
    rows = incidence.tolist() if hasattr(incidence, "tolist") else incidence
    try:
        t = tuple(tuple(int(round(float(v))) for v in row) for row in rows)
    except (TypeError, ValueError):
        raise GateposeError("critic config: incidence must be a J x nb nested list of numbers") from None
    nb = len(t[0]) if t else 0
    if len(t) != n_joints or nb == 0 or any(len(r) != nb for r in t):
        raise GateposeError(f"critic config: incidence must be {n_joints} x nb with nb >= 1 "
                            f"(n_joints rows), got {len(t)} rows of lengths {sorted({len(r) for r in t})}")
    for k in range(nb):
        col = sorted(r[k] for r in t)
        if col.count(1) != 1 or col.count(-1) != 1 or col.count(0) != n_joints - 2:
            raise GateposeError(f"critic config: incidence column {k} must hold one +1 (child), "
                                f"one -1 (parent) and zeros")
    return t


@dataclass(frozen=True)
class CriticConfig:
    """Sizes of the critic. ``incidence``: the skeleton's J x nb incidence matrix as nested lists
    (+1 at the child, -1 at the parent; JSON-able), None for h36m17. Stored as a tuple of tuples.
    ``coords``: 3 for the paper's critic on 3D poses; 2 for the same critic on 2D poses (the
    random-projection critic, ``losses3d``): the pose path takes J x coords numbers, and the KCS of
    2D bones is their Gram matrix as in 3D."""

    n_joints: int = 17
    incidence: tuple | None = None
    pose_width: int = SPEC_SIZES["critic_pose_width"]
    kcs_width: int = SPEC_SIZES["critic_kcs_width"]
    head_width: int = 100
    alpha: float = 0.3
    coords: int = 3

    def __post_init__(self):
        check_config(self, "critic config", positive=("n_joints", "pose_width", "kcs_width", "head_width", "coords"),
                     slopes=("alpha",))
        if self.coords not in (2, 3):
            raise GateposeError(f"critic config: coords must be 2 or 3, got {self.coords!r}")
        inc = self.incidence
        if inc is None:
            if self.n_joints != 17:
                raise GateposeError(f"critic config: incidence is required for n_joints = {self.n_joints} "
                                    f"(the default skeleton h36m17 has 17 joints)")
            inc = incidence_from_parents(_H36M17_PARENTS)
        object.__setattr__(self, "incidence", _incidence_tuple(inc, self.n_joints))

    def in_2d(self) -> "CriticConfig":
        """The same critic of 2D poses (coords 2): the random-projection critic's."""
        return replace(self, coords=2)

    @classmethod
    def from_parents(cls, parents, **kw) -> "CriticConfig":
        return cls(n_joints=len(parents), incidence=incidence_from_parents(parents), **kw)

    @property
    def n_bones(self) -> int:
        return len(self.incidence[0])

    @property
    def n_features(self) -> int:
        return n_kcs_features(self.n_bones)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["incidence"] = [list(r) for r in self.incidence]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CriticConfig":
        return config_from_dict(cls, d, "critic config")


@lru_cache(maxsize=None)
def _incidence_array(incidence: tuple, xp, dtype_str: str):
    """The incidence on the device, made once per (skeleton, backend, dtype): no copy per step."""
    return xp.asarray(np.array(incidence, dtype=dtype_str))


def critic_incidence(cfg: CriticConfig, xp, dtype):
    """C: (J, nb) on ``xp`` in ``dtype``."""
    return _incidence_array(cfg.incidence, xp, np.dtype(dtype).str)


# The Linear layers in forward order: (param prefix, field name in Layers, feeds a LeakyReLU).
_LAYERS = (
    ("pose.in", "pose_in", True), ("pose.fc1", "pose_fc1", True), ("pose.fc2", "pose_fc2", True),
    ("pose.out", "pose_out", False),
    ("kcs.in", "kcs_in", True), ("kcs.fc1", "kcs_fc1", True), ("kcs.fc2", "kcs_fc2", False),
    ("head.fc", "head_fc", True), ("head.out", "head_out", False),
)


class Layers(NamedTuple):
    """One (rows, width) array per Linear layer. As the forward's cache: each layer's input u.
    As deltas: the gradient at each layer's output (pre-activation). As tangents: the tangent of
    each layer's input."""

    pose_in: object   # input: X_flat (rows, cJ), c = cfg.coords (3; 2 for a critic of 2D poses)
    pose_fc1: object  # input: h1 (rows, P)
    pose_fc2: object  # input: h2 (rows, P)
    pose_out: object  # input: h3 (rows, P)
    kcs_in: object    # input: triu(Psi) (rows, F)
    kcs_fc1: object   # input: k1 (rows, K)
    kcs_fc2: object   # input: k2 (rows, K)
    head_fc: object   # input: concat(p, k) (rows, P + K)
    head_out: object  # input: LReLU(head.fc(.)) (rows, H)


class Masks(NamedTuple):
    """LeakyReLU slope masks (1 where the pre-activation is positive, alpha elsewhere)."""

    h1: object  # (rows, P)
    h2: object  # (rows, P)
    h3: object  # (rows, P)
    k1: object  # (rows, K)
    k2: object  # (rows, K)
    hh: object  # (rows, H)


class CriticCache(NamedTuple):
    X: object          # (rows, J, c) the scored poses (the KCS Jacobian is evaluated there)
    C: object          # (J, nb)
    inputs: Layers
    masks: Masks
    kcs: KCSCache
    params: dict
    pose_width: int


def init_critic(cfg: CriticConfig, rng, xp, dtype) -> dict:
    """Parameters '<layer>.W' (d_in, d_out) and '<layer>.b' (d_out,) for the layers
    pose.in (cJ, P) (c = cfg.coords, 3 unless a 2D critic), pose.fc1, pose.fc2, pose.out (P, P), kcs.in (F, K), kcs.fc1, kcs.fc2 (K, K),
    head.fc (P + K, H), head.out (H, 1). He init (gain for LeakyReLU's slope) for layers feeding a
    LeakyReLU, LeCun (std 1/sqrt(fan_in)) for the linear outputs; zero biases."""
    J, P, K, H, F = cfg.n_joints, cfg.pose_width, cfg.kcs_width, cfg.head_width, cfg.n_features
    a = float(cfg.alpha)
    shapes = {"pose.in": (cfg.coords * J, P), "pose.fc1": (P, P), "pose.fc2": (P, P), "pose.out": (P, P),
              "kcs.in": (F, K), "kcs.fc1": (K, K), "kcs.fc2": (K, K),
              "head.fc": (P + K, H), "head.out": (H, 1)}
    params = {}
    for name, _, activated in _LAYERS:
        fan_in, fan_out = shapes[name]
        gain = 2.0 / (1.0 + a * a) if activated else 1.0
        std = math.sqrt(gain / fan_in)
        params[name + ".W"] = xp.asarray(rng.standard_normal((fan_in, fan_out)) * std, dtype=dtype)
        params[name + ".b"] = xp.zeros(fan_out, dtype=dtype)
    return params


def _masked(t, m):
    """t * m in place (t is a fresh GEMM output): the LeakyReLU backward / tangent step."""
    t *= m
    return t


def critic_forward(params: dict, X, cfg: CriticConfig):
    """X: (B, J, c) poses, c = cfg.coords (3; 2 for a 2D critic) -> (D (B,) scores, cache)."""
    B = X.shape[0]
    alpha = float(cfg.alpha)
    C = critic_incidence(cfg, get_xp(X), X.dtype)

    def linear(u, name):
        z = u @ params[name + ".W"]
        z += params[name + ".b"]
        return z

    def lrelu(z):
        return leaky_relu_forward(z, alpha, out=z)   # in place: every z here is a fresh array

    # pose path
    x = X.reshape(B, -1)
    h1, m_h1 = lrelu(linear(x, "pose.in"))
    h2, m_h2 = lrelu(linear(h1, "pose.fc1"))
    z = linear(h2, "pose.fc2")
    z += h1
    h3, m_h3 = lrelu(z)
    p = linear(h3, "pose.out")
    # KCS path
    feat, kcs_cache = kcs_forward(X, C)
    k1, m_k1 = lrelu(linear(feat, "kcs.in"))
    k2, m_k2 = lrelu(linear(k1, "kcs.fc1"))
    k = linear(k2, "kcs.fc2")
    k += k1
    # head
    c = get_xp(X).concatenate([p, k], axis=1)
    hh, m_hh = lrelu(linear(c, "head.fc"))
    D = linear(hh, "head.out").reshape(B)
    inputs = Layers(x, h1, h2, h3, feat, k1, k2, c, hh)
    masks = Masks(m_h1, m_h2, m_h3, m_k1, m_k2, m_hh)
    return D, CriticCache(X, C, inputs, masks, kcs_cache, params, cfg.pose_width)


def critic_input_backward(dD, cache: CriticCache):
    """dD: (B,) -> (dX (B, J, c), deltas: Layers of the gradient at each Linear layer's output).

    The first backward of SPEC section 5, delta_u = (m * delta_y) W^T per layer; the deltas are
    what the parameter gradients (``critic_param_grads``) and the double backward need."""
    p, m, P = cache.params, cache.masks, cache.pose_width
    B = dD.shape[0]
    # head: D = hh w_o + c_o;  hh = LReLU(concat(p, k) W_fc + c_fc)
    d_head_out = dD.reshape(B, 1)
    d_head_fc = _masked(d_head_out @ p["head.out.W"].T, m.hh)
    d_cat = d_head_fc @ p["head.fc.W"].T
    d_p, d_k = d_cat[:, :P], d_cat[:, P:]                       # the concat splits back
    # KCS path, reversed: k = k1 + kcs.fc2(k2); k2 = LReLU(kcs.fc1(k1)); k1 = LReLU(kcs.in(feat))
    d_kcs_fc2 = d_k
    d_kcs_fc1 = _masked(d_k @ p["kcs.fc2.W"].T, m.k2)
    d_k1 = d_kcs_fc1 @ p["kcs.fc1.W"].T
    d_k1 += d_k                                                 # the residual's direct path
    d_kcs_in = _masked(d_k1, m.k1)
    d_feat = d_kcs_in @ p["kcs.in.W"].T
    # pose path, reversed: p = pose.out(h3); h3 = LReLU(h1 + pose.fc2(h2)); h2 = LReLU(pose.fc1(h1))
    d_pose_out = d_p
    d_pose_fc2 = _masked(d_p @ p["pose.out.W"].T, m.h3)
    d_pose_fc1 = _masked(d_pose_fc2 @ p["pose.fc2.W"].T, m.h2)
    d_h1 = d_pose_fc1 @ p["pose.fc1.W"].T
    d_h1 += d_pose_fc2                                          # the residual's direct path
    d_pose_in = _masked(d_h1, m.h1)
    # the two input paths, summed: g = delta_X + J_KCS^T delta_Psi
    dX = (d_pose_in @ p["pose.in.W"].T).reshape(cache.X.shape)
    dX += kcs_backward(d_feat, cache.kcs)
    deltas = Layers(d_pose_in, d_pose_fc1, d_pose_fc2, d_pose_out, d_kcs_in, d_kcs_fc1, d_kcs_fc2,
                    d_head_fc, d_head_out)
    return dX, deltas


def critic_param_grads(left: Layers, deltas: Layers, params: dict, bias="sum") -> dict:
    """dW = left^T delta for each layer (one GEMM over the rows). ``left`` is the forward's layer
    inputs for an ordinary backward, or tangents for the double backward. Biases: ``"sum"`` (the
    column sums of delta), ``"zero"``, or a slice of rows (the column sums of delta over those
    rows: the stacked critic step's, fast/critic_step.py). Keyed like ``params``."""
    grads = {}
    for name, field, _ in _LAYERS:
        u, d = getattr(left, field), getattr(deltas, field)
        grads[name + ".W"] = u.T @ d
        if isinstance(bias, slice):
            grads[name + ".b"] = d[bias].sum(axis=0)
        elif bias in ("sum", "zero"):
            grads[name + ".b"] = d.sum(axis=0) if bias == "sum" else get_xp(d).zeros(d.shape[1], d.dtype)
        else:
            raise ValueError(f"bias must be 'sum', 'zero' or a slice, got {bias!r}")
    return {k: grads[k] for k in params}


def critic_backward(dD, cache: CriticCache):
    """dD: (B,) -> (dX (B, J, c), grads keyed like the params)."""
    dX, deltas = critic_input_backward(dD, cache)
    return dX, critic_param_grads(cache.inputs, deltas, cache.params)


def critic_tangents(a_X, cache: CriticCache) -> Layers:
    """Push a direction a_X: (B, J, c) forward through the critic linearised at cache.X (masks
    fixed, no biases): the tangent a_u of every Linear layer's input (SPEC section 5,
    a_y = m * (a_u W), sums and the concat as in the forward). These are the left factors of the
    double backward: dP/dW = a_u^T delta. (fast/critic_step.py has a copy that writes them into
    the stacked step's own buffers.)"""
    p, m = cache.params, cache.masks
    xp = get_xp(a_X)
    B = a_X.shape[0]
    # KCS path: a_Psi = J_KCS(X) a_X, a forward-mode product
    a_feat = kcs_jvp(cache.X, cache.C, a_X)
    # pose path: a_X enters as it is (a_X = a_g)
    a_x = a_X.reshape(B, -1)
    a_h1 = _masked(a_x @ p["pose.in.W"], m.h1)
    a_h2 = _masked(a_h1 @ p["pose.fc1.W"], m.h2)
    a_z3 = a_h2 @ p["pose.fc2.W"]
    a_z3 += a_h1                                                # h1 + pose.fc2(h2)
    a_h3 = _masked(a_z3, m.h3)
    a_p = a_h3 @ p["pose.out.W"]
    a_k1 = _masked(a_feat @ p["kcs.in.W"], m.k1)
    a_k2 = _masked(a_k1 @ p["kcs.fc1.W"], m.k2)
    a_k = a_k2 @ p["kcs.fc2.W"]
    # head: a_c = concat(a_p, a_k1 + a_k)
    a_k += a_k1                                                 # k1 + kcs.fc2(k2)
    a_c = xp.concatenate([a_p, a_k], axis=1)
    a_hh = _masked(a_c @ p["head.fc.W"], m.hh)
    return Layers(a_x, a_h1, a_h2, a_h3, a_feat, a_k1, a_k2, a_c, a_hh)


def critic_rows(cache: CriticCache, rows: slice) -> CriticCache:
    """The cache of a contiguous block of rows (views): a critic run once on stacked batches can
    be differentiated for one of them."""
    return cache._replace(X=cache.X[rows], inputs=Layers(*(u[rows] for u in cache.inputs)),
                          masks=Masks(*(mk[rows] for mk in cache.masks)),
                          kcs=cache.kcs._replace(bones=cache.kcs.bones[rows]))


def critic_min_abs_preactivation(cache: CriticCache) -> float:
    """Smallest |pre-activation| of any LeakyReLU (gradient checks need it farther from the kink
    than the finite-difference step). Each LeakyReLU's output y = z m is cached as the next
    layer's input, so |z| = |y| / m."""
    xp = get_xp(cache.X)
    u, m = cache.inputs, cache.masks
    pairs = ((u.pose_fc1, m.h1), (u.pose_fc2, m.h2), (u.pose_out, m.h3), (u.kcs_fc1, m.k1),
             (u.kcs_fc2, m.k2), (u.head_out, m.hh))
    return min(float(xp.abs(y / mk).min()) for y, mk in pairs)
