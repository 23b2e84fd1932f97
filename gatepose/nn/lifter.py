"""A run's generator, either kind (``train --generator``): PoseGate-Former (``generator.py``, the
default) or RepNet's MLP (``repnet.py``, the baseline of the paper's Table 1). Everything above the
models (the losses, the trainer, the run folders, the gradient checks of the steps) reaches the
generator through these functions, so that the two kinds share every other piece of a run.

A config is a ``GeneratorConfig`` or a ``RepNetConfig``; a cache is the one its forward returned,
and the backward follows it. In config.json a generator config with ``"kind": "repnet"`` is
RepNet's; one without ``kind`` (every run written before RepNet existed) is PoseGate-Former's.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..errors import GateposeError
from .generator import GeneratorConfig, generator_backward, generator_forward, init_generator
from .repnet import RepNetCache, RepNetConfig, init_repnet, repnet_backward, repnet_forward

GENERATORS = ("posegate", "repnet")


def generator_kind(cfg) -> str:
    return "repnet" if isinstance(cfg, RepNetConfig) else "posegate"


def has_fast_path(cfg) -> bool:
    """Whether ``gatepose/fast``'s generator paths (fused CPU inference, the GPU one pass) apply:
    they are PoseGate-Former's; RepNet's MLP runs its one plain path everywhere."""
    return isinstance(cfg, GeneratorConfig)


def lifter_config_from_dict(d, where: str = "generator config"):
    """config.json's "generator" object -> GeneratorConfig or RepNetConfig (by its ``kind``)."""
    if not isinstance(d, Mapping):
        raise GateposeError(f"{where}: expected a JSON object, got {type(d).__name__}")
    kind = d.get("kind", "posegate")
    if kind == "repnet":
        return RepNetConfig.from_dict(d, where)
    if kind != "posegate":
        raise GateposeError(f"{where}: field 'kind': expected one of {', '.join(GENERATORS)}, got {kind!r}"[:300])
    return GeneratorConfig.from_dict({k: v for k, v in d.items() if k != "kind"}, where)


def init_lifter(cfg, rng, xp, dtype) -> dict:
    """The initial parameters of the generator ``cfg`` describes (deterministic for ``rng``)."""
    if isinstance(cfg, RepNetConfig):
        return init_repnet(cfg, rng, xp, dtype)
    return init_generator(cfg, rng, xp, dtype)


def lifter_forward(params: Mapping, W, cfg, need_cache: bool = True):
    """W: (B, J, 2) -> (X (B, J, 3), cache or None): the plain forward of either generator."""
    if isinstance(cfg, RepNetConfig):
        return repnet_forward(params, W, cfg, need_cache)
    return generator_forward(params, W, cfg, need_cache)


def lifter_backward(dX, cache):
    """dX: (B, J, 3) -> (dW (B, J, 2), grads keyed like the params), by the forward's cache."""
    if isinstance(cache, RepNetCache):
        return repnet_backward(dX, cache)
    return generator_backward(dX, cache)
