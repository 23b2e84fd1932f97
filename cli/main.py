"""Entry point: ``gatepose <command>``. Each command family lives in its own module."""
from __future__ import annotations

import sys

import click

from gatepose import __version__
from gatepose.errors import GateposeError


class GateposeGroup(click.Group):
    """Turns a GateposeError anywhere below into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GateposeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=GateposeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gatepose")
def cli():
    """gatepose: lift 2D human poses to 3D with PoseGate-Former, trained weakly supervised.

    \b
    Typical session:
      gatepose demo                         # synthetic data, small model, table (~5 min CPU)
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
