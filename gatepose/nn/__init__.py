"""Models built from the ops: the generator (PoseGate-Former), the camera net and the critic."""

from collections.abc import Mapping

from ..errors import GateposeError


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
        if name in d and not _fits(d[name], f.default):
            raise GateposeError(f"{where}: field '{name}': expected {type(f.default).__name__}, got {d[name]!r}"[:300])
    return cls(**d)


def _fits(v, default) -> bool:
    """A JSON value against a field's default: ints for ints (not bools), numbers for floats,
    strings for strings, booleans for booleans; other fields (lists, None) are left to the config."""
    if isinstance(default, bool):
        return isinstance(v, bool)
    if isinstance(default, int):
        return isinstance(v, int) and not isinstance(v, bool)
    if isinstance(default, float):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if isinstance(default, str):
        return isinstance(v, str)
    return True
