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


def pick_device(name: str, quiet: bool = False):
    """Resolve --device and tell the user which backend runs (on stderr, so stdout stays data)."""
    xp, desc = resolve_device(name)
    if not quiet:
        click.echo(f"device: {desc}", err=True)
    return xp
