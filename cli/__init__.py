"""The ``gatepose`` command line: parsing, printing and exit codes only; the work is in gatepose/."""


def main():
    """The console script. Imports the commands (NumPy, SciPy, click: about half a second) inside
    the guard, so a Ctrl-C even during start-up ends in one line and exit code 130."""
    import sys

    try:
        from .main import cli

        cli(prog_name="gatepose")
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C now must not cut the line short
        print("interrupted", file=sys.stderr)
        sys.exit(130)
