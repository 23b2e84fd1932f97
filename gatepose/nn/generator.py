"""A run's generator, either kind (``train --generator``): PoseGate-Former (``posegate.py``, the
default) or RepNet's MLP (``repnet.py``, the baseline of the paper's Table 1). Everything above the
models (the losses, the trainer, the run folders, the gradient checks of the steps) reaches the
generator through these functions, so that the two kinds share every other piece of a run.

A config is a ``PoseGateConfig`` or a ``RepNetConfig``; a cache is the one its forward returned,
and the backward follows it. Either config's ``lift`` says what the network's output is: ``xyz``
(the paper's) takes it as the 3D pose; ``depth`` (a departure, ElePose's and Chen et al.'s set-up)
keeps only its third channel, each joint's depth, and puts it beside the input's own x and y
(:func:`depth_lift_forward`): the generator then cannot move a joint across the image, only in
depth. ``offset`` (a departure too, ``small-weak``'s) is the depth lift with the first two
channels added to the input's x and y: the lifter may move a joint a little across the image, so
that noise in a detector's 2D need not pass one for one into the 3D pose (docs/detector-inputs.md);
with zero offsets it is the depth lift. In config.json a generator config with ``"kind": "repnet"``
is RepNet's; one without ``kind`` (every run written before RepNet existed) is PoseGate-Former's.

Missing joints (``missing_token``, a departure; docs/detector-inputs.md): a joint NaN in W is
missing; each network has its own way to take it (``posegate.py``, ``repnet.py``), and with the
depth lift a missing joint's x and y are the network's own first two output channels instead of
the input's (the lifter infers where it is); every present joint keeps the input's x and y.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ..backend import get_xp
from ..data.normalize import missing_joints, normalize, root_relative_backward
from ..errors import GateposeError
from ..names import GENERATORS  # the one list (gatepose/names.py, the CLI's too)
from .posegate import PoseGateConfig, posegate_backward, posegate_forward, init_posegate
from .repnet import RepNetCache, RepNetConfig, init_repnet, repnet_backward, repnet_forward


def generator_kind(cfg) -> str:
    return "repnet" if isinstance(cfg, RepNetConfig) else "posegate"


def has_fast_path(cfg) -> bool:
    """Whether ``gatepose/fast``'s generator paths (fused CPU inference, the GPU one pass) apply:
    they are PoseGate-Former's without the missing token; RepNet's MLP, and a generator with the
    missing token (whose inputs may hold NaN), run the one plain path everywhere."""
    return isinstance(cfg, PoseGateConfig) and not cfg.missing_token


def takes_missing(cfg) -> bool:
    """Whether the generator ``cfg`` takes missing (NaN) joints: its ``missing_token``, the config's
    one name for either network's way (PoseGate-Former's learnt token ``embed.M``, RepNet's zeros
    and mask input; runs, the CLI and the docs say "missing-joint token" for both)."""
    return bool(getattr(cfg, "missing_token", False))


def generator_config_from_dict(d, where: str = "generator config"):
    """config.json's "generator" object -> PoseGateConfig or RepNetConfig (by its ``kind``)."""
    if not isinstance(d, Mapping):
        raise GateposeError(f"{where}: expected a JSON object, got {type(d).__name__}")
    kind = d.get("kind", "posegate")
    if kind == "repnet":
        return RepNetConfig.from_dict(d, where)
    if kind != "posegate":
        raise GateposeError(f"{where}: field 'kind': expected one of {', '.join(GENERATORS)}, got {kind!r}"[:300])
    return PoseGateConfig.from_dict({k: v for k, v in d.items() if k != "kind"}, where)


def init_generator(cfg, rng, xp, dtype) -> dict:
    """The initial parameters of the generator ``cfg`` describes (deterministic for ``rng``)."""
    if isinstance(cfg, RepNetConfig):
        return init_repnet(cfg, rng, xp, dtype)
    return init_posegate(cfg, rng, xp, dtype)


def generator_forward(params: Mapping, W, cfg, need_cache: bool = True):
    """W: (B, J, 2) -> (X (B, J, 3), cache or None): the plain forward of either generator, and with
    ``cfg.lift == "depth"`` (or ``"offset"``) the depth lift of its output."""
    if isinstance(cfg, RepNetConfig):
        Z, cache = repnet_forward(params, W, cfg, need_cache)
    else:
        Z, cache = posegate_forward(params, W, cfg, need_cache)
    if cfg.lift == "xyz":
        return Z, cache
    missing = missing_joints(W)[..., None] if takes_missing(cfg) else None
    offset = cfg.lift == "offset"
    X, scale = depth_lift_forward(W, Z, missing, offset)
    return X, (DepthLiftCache(X, scale, cache, missing, offset) if need_cache else None)


def generator_backward(dX, cache):
    """dX: (B, J, 3) -> (dW (B, J, 2), grads keyed like the params), by the forward's cache."""
    if isinstance(cache, DepthLiftCache):
        dW_direct, dZ = depth_lift_backward(dX, cache)
        dW, grads = generator_backward(dZ, cache.inner)
        return dW + dW_direct, grads
    if isinstance(cache, RepNetCache):
        return repnet_backward(dX, cache)
    return posegate_backward(dX, cache)


def generator_output(W, Z, cfg):
    """The network's output Z (B, J, 3) on the input W (B, J, 2) -> the lifted pose X, without a
    cache: for the fast paths, which run the network themselves (``gatepose.fast``)."""
    if cfg.lift == "xyz":
        return Z
    return depth_lift_forward(W, Z, missing_joints(W)[..., None] if takes_missing(cfg) else None,
                              cfg.lift == "offset")[0]


# -- the depth lift (lift="depth", and "offset") --------------------------------------------------
class DepthLiftCache(NamedTuple):
    X: object       # (B, J, 3) the lifted pose, unit Frobenius norm
    scale: object   # (B, 1, 1) the norm it was divided by
    inner: object   # the network's own cache
    missing: object = None   # (B, J, 1) bool, the missing joints (missing_token), or None
    offset: bool = False     # lift="offset": Z's x and y were added to the input's


def depth_lift_forward(W, Z, missing=None, offset: bool = False):
    """W: (B, J, 2) normalised 2D poses, Z: (B, J, 3) the network's output -> (X (B, J, 3), the
    norm (B, 1, 1)): P = [W, Z[..., 2]], the input's x and y with the predicted depth, made
    root-relative and divided by its Frobenius norm, the scale of the critic's real poses (SPEC
    section 7). x and y stay the input's up to that one factor, so a scaled orthographic camera
    reprojects X onto W exactly; only the depths are learnt. Z's first two channels go unused (the
    network stays the same for either lift, and so do its fast paths and checkpoints).
    ``missing`` (B, J, 1) bool: the missing joints, whose x and y are Z's first two channels.
    ``offset``: every present joint's x and y are W's plus Z's first two channels."""
    xp = get_xp(W, Z)
    xy = W + Z[..., :2] if offset else W
    xy = xy if missing is None else xp.where(missing, Z[..., :2], xy)
    # a normalised input has norm 1, so P's is at least 1; the floor is for degenerate inputs
    X, scale = normalize(xp.concatenate([xy, Z[..., 2:]], axis=2), eps=1e-12)
    return X, xp.maximum(scale, 1e-12).reshape(-1, 1, 1)


def depth_lift_backward(dX, cache: DepthLiftCache):
    """-> (dW (B, J, 2), dZ (B, J, 3), zero in its first two channels except at missing joints,
    whose x and y gradients go to Z instead of W, and everywhere with ``offset``, where x and y
    are W's plus Z's). With X = P / ||P||: dP = (dX - X <X, dX>) / ||P||; the root-relative step
    takes the sum over joints off the root."""
    xp = get_xp(dX)
    X, scale = cache.X, cache.scale
    dP = root_relative_backward((dX - X * xp.einsum("bjc,bjc->b", X, dX).reshape(-1, 1, 1)) / scale)
    if cache.offset:
        dZ = dP.copy()
        return (dP[..., :2] if cache.missing is None else xp.where(cache.missing, 0.0, dP[..., :2])), dZ
    dZ = xp.zeros_like(dP)
    dZ[..., 2] = dP[..., 2]
    if cache.missing is None:
        return dP[..., :2], dZ
    dZ[..., :2] = xp.where(cache.missing, dP[..., :2], 0.0)
    return xp.where(cache.missing, 0.0, dP[..., :2]), dZ
