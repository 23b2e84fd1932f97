"""Models built from the ops: the generators (PoseGate-Former, RepNet's), the camera net and the critic.

A model's parameters are a dict name -> array; :func:`with_prefix` and :func:`split_prefix` join
several models' dicts into one and split them again (the adversarial model, one optimiser over the
generator and the camera net as 'gen/...' and 'cam/...'; a checkpoint keeps the same names).
"""

import dataclasses
import numbers
from collections.abc import Mapping

from ..errors import GateposeError
from ..jsontypes import fits
from ..names import LIFTS


def with_prefix(params: Mapping, prefix: str) -> dict:
    """{'a': x} -> {'gen/a': x} for prefix 'gen/'."""
    return {prefix + k: v for k, v in params.items()}


def split_prefix(params: Mapping, prefix: str) -> dict:
    """{'gen/a': x, 'cam/b': y} -> {'a': x} for prefix 'gen/'."""
    n = len(prefix)
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix)}


def generator_config_dict(cfg) -> dict:
    """A generator config as JSON; ``missing_token`` only when true, so that a config without it
    reads (and is written) exactly as before the field existed."""
    d = dataclasses.asdict(cfg)
    if not d.get("missing_token"):
        d.pop("missing_token", None)
    return d


def check_config(cfg, where: str, positive=(), non_negative=(), slopes=()) -> None:
    """The one way a model config checks its fields (from its ``__post_init__``): every field named in
    ``positive`` an integer >= 1, in ``non_negative`` an integer >= 0, in ``slopes`` a number in
    [0, 1) (a LeakyReLU slope); else a GateposeError '<where>: <name>=<value>, expected ...'."""
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    for names, ok, expected in (
            (positive, lambda v: is_int(v) and v >= 1, "a positive integer"),
            (non_negative, lambda v: is_int(v) and v >= 0, "an integer >= 0"),
            (slopes, lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v < 1,
             "a number in [0, 1)")):
        for name in names:
            v = getattr(cfg, name)
            if not ok(v):
                raise GateposeError(f"{where}: {name}={v!r}, expected {expected}")


def check_lift(cfg, where: str) -> None:
    """A generator config's ``lift`` is one of LIFTS (nn/generator.py says what each means)."""
    if cfg.lift not in LIFTS:
        raise GateposeError(f"{where}: lift={cfg.lift!r}, expected one of {', '.join(LIFTS)}")


def config_from_dict(cls, d, where: str):
    """Build a config dataclass from a JSON object; an unknown key is an error (a typo must not
    pass silently into a run)."""
    if not isinstance(d, Mapping):
        raise GateposeError(f"{where}: expected a JSON object, got {type(d).__name__}")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(d) - known)
    if unknown:
        raise GateposeError(f"{where}: unknown field(s) {', '.join(unknown)}; expected some of "
                            f"{', '.join(sorted(known))}")
    for name, f in cls.__dataclass_fields__.items():
        if name in d and not fits(d[name], f.default):
            raise GateposeError(f"{where}: field '{name}': expected {type(f.default).__name__}, got {d[name]!r}"[:300])
    return cls(**d)
