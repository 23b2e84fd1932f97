"""The one exception family a user of gatepose sees.

Commands catch :class:`GateposeError`, print its message on one line and exit with code 2, so a
bad file or option never ends in a traceback. Library callers can catch it like any ValueError.
"""


class GateposeError(ValueError):
    """A problem with the user's input, files or options; the message says what and where."""


class DataError(GateposeError):
    """A dataset file is missing, malformed or unsafe. The message names the file and the field."""


class DeviceError(GateposeError):
    """The requested device (e.g. ``--device gpu``) cannot be used; the message says why."""


class TrainingDiverged(GateposeError):
    """A loss became NaN or inf; the last good checkpoint is kept."""
