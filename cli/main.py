"""Entry point: ``gatepose <command>``. Each command family lives in its own module."""
from __future__ import annotations

import sys
import warnings

import click

from gatepose import __version__
from gatepose.errors import GateposeError


class GateposeGroup(click.Group):
    """The one place where a command's failure becomes what the user reads.

    * a GateposeError anywhere below: one ``error:`` line on stderr, exit code 2;
    * an OSError (a folder that cannot be written, a full disk): the same, naming the path;
      but a closed pipe on stdout (``| head``) ends the command quietly, exit code 1;
    * Ctrl-C at any moment: one line (the library's message, e.g. where the checkpoint is), exit 130;
    * warnings (NumPy's RuntimeWarnings on bad input among them) are held back: a command that
      fails prints its one ``error:`` line alone; one that succeeds prints them afterwards as
      ``warning:`` lines.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's own usage errors (a typo in an option's value, a missing option) become one
        ``error:`` line with exit code 2 too, instead of click's usage block. SIGTERM and SIGHUP
        (a job scheduler's stop, ``timeout``, a closed terminal) are taken as a Ctrl-C while the
        command runs: a training run saves its checkpoint, any command cleans up and exits 130."""
        previous = _terminations_as_interrupts()
        try:
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)
        finally:
            _restore_handlers(previous)

    def _main(self, args, prog_name, complete_var, standalone_mode, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:   # `gatepose` alone: the help
            click.echo(exc.format_message())
            sys.exit(0)
        except click.exceptions.UsageError as exc:
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _fail(f"error: {exc.format_message()}{where}", exc.exit_code)
        except click.exceptions.ClickException as exc:
            _fail(f"error: {exc.format_message()}", exc.exit_code)
        except click.exceptions.Abort:
            _fail("interrupted", 130)
        except KeyboardInterrupt:   # a Ctrl-C that lands in click's own handling of the first one
            _fail("interrupted", 130)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv

    def invoke(self, ctx):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                result = super().invoke(ctx)
            except GateposeError as exc:
                _fail(f"error: {exc}", 2)
            except BrokenPipeError:      # the reader left (`gatepose data info a.npz | head`): stop quietly
                _quiet_stdout()
                sys.exit(1)
            except OSError as exc:
                _fail(f"error: {str(exc.filename) + ': ' if exc.filename else ''}{exc.strerror or exc}", 2)
            except KeyboardInterrupt as exc:
                ignore_sigint()
                _fail(str(exc) or "interrupted", 130)
        for w in caught:
            click.echo(f"warning: {w.message}", err=True)
        return result


def ignore_sigint() -> None:
    """Once a Ctrl-C (or SIGTERM, SIGHUP) is being handled, further ones are ignored: the one line
    and exit 130 follow (and the interpreter's shutdown, joining worker threads, is not interrupted
    into a traceback)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _terminations_as_interrupts() -> dict:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as SIGINT does; returns the handlers they had."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    sigs = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    # one already ignored stays so: `nohup gatepose train ...` must outlive its terminal
    return {s: signal.signal(s, _raise_interrupt) for s in sigs if signal.getsignal(s) is not signal.SIG_IGN}


def _restore_handlers(previous: dict) -> None:
    import signal

    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush to a closed pipe is silent."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # no file descriptor (a test's captured stdout)
        pass


def _fail(line: str, code: int):
    if code == 130:
        ignore_sigint()
    click.echo(line, err=True)
    sys.exit(code)


@click.group(cls=GateposeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gatepose")
def cli():
    """gatepose: lift 2D human poses to 3D with PoseGate-Former, trained weakly supervised.

    \b
    Typical session:
      gatepose demo                         # weak vs supervised on synthetic data (3-4 min, 2 cores)
      gatepose data synth --out s.npz       # the built-in synthetic motion dataset
      gatepose train --out runs/a           # WGAN-GP training on it
      gatepose eval --run runs/a            # MPJPE / N-MPJPE / P-MPJPE per action
      gatepose gradcheck                    # every hand-written backward vs finite differences
    """


def _register():
    # One line per command family; modules are imported eagerly so --help lists them all.
    from . import gradcheck as _gradcheck

    cli.add_command(_gradcheck.gradcheck)
    from . import data as _data
    cli.add_command(_data.data)
    from . import mocap as _mocap
    _data.data.add_command(_mocap.import_mocap)
    cli.add_command(_mocap.export_bvh)
    from . import train as _train

    cli.add_command(_train.train)
    from . import bench as _bench

    cli.add_command(_bench.bench)
    from . import experiments as _experiments

    cli.add_command(_experiments.demo)
    cli.add_command(_experiments.ablate)
    from . import evaluate as _evaluate
    cli.add_command(_evaluate.evaluate)
    from . import predict as _predict
    cli.add_command(_predict.predict)
    from . import plot as _plot
    cli.add_command(_plot.plot)


_register()


def main():
    cli(prog_name="gatepose")


if __name__ == "__main__":
    main()
