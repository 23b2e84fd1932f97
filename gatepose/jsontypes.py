"""Whether a value read back from JSON (a run's config.json, a model config) fits a dataclass field:
the one check that options.TrainOptions.from_dict and nn.config_from_dict share. No imports, so the
CLI may load it."""
from __future__ import annotations


def is_number(v) -> bool:
    """An int or a float, not a bool (JSON's true is not 1)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fits(v, default, declared=None) -> bool:
    """Does ``v`` fit a field whose default is ``default``? Booleans for booleans, integers (not
    booleans) for integers, numbers for floats, strings for strings. A field whose default is None
    takes None or a value of ``declared`` (its declared type; None: anything). A field of any other
    default (a tuple, a list) is left to its own check."""
    if v is None:
        return default is None
    kind = declared if default is None else type(default)
    if kind is bool:
        return isinstance(v, bool)
    if kind is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind is float:
        return is_number(v)
    if kind is str:
        return isinstance(v, str)
    return True
