"""Options and helpers shared by every command."""
from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from gatepose.backend import resolve_device

device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"], case_sensitive=False),
    default="auto",
    show_default=True,
    help="auto uses CuPy when a GPU is usable and NumPy otherwise, and says which.",
)


def pick_device(name: str, quiet: bool = False, defer: bool = False):
    """Resolve --device and tell the user which backend runs (on stderr, so stdout stays data).

    ``defer``: hold the line until :func:`announce_device`, which a command calls once its inputs
    have been read and checked, so that a bad input is reported by its ``error:`` line alone."""
    xp, desc = resolve_device(name)
    _pending.clear()
    if not quiet:
        _pending.append(f"device: {desc}")
        if not defer:
            announce_device()
    return xp


_pending: list = []


def announce_device() -> None:
    """Print the line :func:`pick_device` held back (once; nothing if there is none)."""
    while _pending:
        click.echo(_pending.pop(0), err=True)


def echo_table(header, rows) -> None:
    """Print rows under header in aligned columns, the first left-aligned, the others right."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths)))
    click.echo(fmt(header))
    for r in rows:
        click.echo(fmt(r))


@contextmanager
def echo_data_warnings():
    """Print each DataWarning as one 'warning: ...' line on stderr."""
    from gatepose.data.archive import DataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, DataWarning):
                    click.echo(f"warning: {w.message}", err=True)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf (which pass click's comparisons or mean nothing)."""

    def convert(self, value, param, ctx):
        import math

        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number; expected {self._describe_range()}", param, ctx)
        return super().convert(rv, param, ctx)

    def _describe_range(self) -> str:       # 1/3600 as 0.000278, not 0.0002777777777777778
        lo = "" if self.min is None else f"{self.min:.3g}{'<' if self.min_open else '<='}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='}{self.max:.6g}"
        return f"{lo}x{hi}"


def path_inputs(ctx, skip=()) -> list[str]:
    """Every value of the command's file-path arguments and options (the files it reads)."""
    out = []
    for p in ctx.command.params:
        if p.name in skip or not isinstance(p.type, click.Path):
            continue
        v = ctx.params.get(p.name)
        out += [str(x) for x in (v if isinstance(v, (list, tuple)) else [v]) if x is not None]
    return out


def check_inputs(ctx, out, extra=(), dest: str = "out") -> None:
    """Refuse, before any work, an input that is a FIFO or device, and an ``--out`` that is any
    input (``extra``: files found inside input folders), --force or not."""
    from gatepose.files import check_output_file, check_regular_input

    inputs = path_inputs(ctx, skip=(dest,))
    for f in inputs:
        check_regular_input(f)
    check_output_file(out, [*inputs, *extra])


def output_file_option(help: str, dest: str = "out", suffix: str | None = None):
    """``--out FILE`` and ``--force``: a file a command writes. Checked while the options are read,
    before any work: never an existing file unless --force, never a run's own files, and the
    folder must exist and take a new file; then, before the command runs, never one of the
    command's path arguments (a command reading folders checks the files in them itself), and its
    ``suffix`` where one is given (an archive named .bvh would mislead)."""
    def remember_force(ctx, param, value):
        ctx.meta["gatepose_force"] = value

    def checked(ctx, param, value):
        from gatepose.errors import GateposeError
        from gatepose.files import check_output_file

        if value is None:
            return value
        try:
            check_output_file(value, force=ctx.meta.get("gatepose_force", False))
        except GateposeError as exc:
            msg = str(exc)
            raise click.BadParameter(msg[len("--out "):] if msg.startswith("--out ") else msg,
                                     ctx=ctx, param=param) from None
        return value

    def decorate(body):
        @functools.wraps(body)
        def guarded(*args, **kwargs):
            ctx = click.get_current_context()
            if kwargs.get(dest) is not None:
                check_inputs(ctx, kwargs[dest], dest=dest)
                if suffix is not None and Path(kwargs[dest]).suffix.lower() != suffix:
                    from gatepose.errors import GateposeError

                    raise GateposeError(f"--out {kwargs[dest]}: expected a {suffix} file name, got "
                                        f"{Path(kwargs[dest]).suffix or 'no suffix'!r}")
            return body(*args, **kwargs)

        command = click.option("--out", dest, required=True, type=click.Path(dir_okay=False),
                               callback=checked, help=help)(guarded)
        return click.option("--force", is_flag=True, is_eager=True, expose_value=False,
                            callback=remember_force,
                            help="Replace an existing --out file (never an input or a run's own files).")(command)
    return decorate


def refine_options(fn):
    """--refine-above / --no-refine (eval and predict): whether a pose the offset lift moved far is
    lifted again from its own corrected 2D (``gatepose.runs.refine_lifts``)."""
    fn = click.option("--no-refine", is_flag=True, default=False,
                      help="Lift every pose once, even where the run keeps a refine threshold.")(fn)
    return click.option("--refine-above", type=FiniteFloatRange(min=0.0), default=None,
                        help="Lift a pose again, from its own corrected x and y, where the first lift "
                             "moved its joints more than this on average (normalised units). Default: "
                             "the run's own threshold (best.npz of an offset-lift run: what 99 % of its "
                             "clean validation poses stay under), else lift once.")(fn)


def apply_refine(run, refine_above, no_refine) -> None:
    """The run's refine threshold as the options say (--no-refine wins)."""
    if no_refine:
        run.refine_above = None
    elif refine_above is not None:
        run.refine_above = float(refine_above)
