"""Options and helpers shared by every command."""
from __future__ import annotations

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
