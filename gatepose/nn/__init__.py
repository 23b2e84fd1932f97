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
    return cls(**d)
