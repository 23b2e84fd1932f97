"""Models built from the ops: the generator (PoseGate-Former), the camera net and the critic."""

import numbers
from collections.abc import Mapping

from ..errors import GateposeError
from ..jsontypes import fits
from ..names import LIFTS


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
