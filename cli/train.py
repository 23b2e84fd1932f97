"""`gatepose train`: weakly supervised training (WGAN-GP with reprojection and camera losses)."""
from __future__ import annotations

import dataclasses
import shlex

import click

from gatepose.names import PRESET_NAMES, PRESETS, describe_preset

from .common import announce_device, device_option, pick_device


def train_options(command):
    """One click option per TrainOptions field (its default and help text stated there, once)."""
    from gatepose.options import TrainOptions

    for f in reversed(dataclasses.fields(TrainOptions)):
        m = f.metadata
        if not m.get("cli"):
            continue
        flag = m["flag"] or "--" + f.name.replace("_", "-")
        kw = dict(default=f.default, help=m["help"], show_default=f.default is not None)
        if isinstance(f.default, bool):
            # an on/off pair, so that a preset's True can be turned off (--no-reproject-clean)
            flag = f"{flag}/--no-{flag[2:]}"
            kw.update(show_default=False)
        elif isinstance(f.default, tuple):
            kw.update(nargs=len(f.default), type=type(f.default[0]))
        elif m["choices"]:
            kw["type"] = click.Choice(list(m["choices"]))
        elif m["path"]:
            kw["type"] = click.Path(dir_okay=False)
        else:
            kw["type"] = m["type"] or type(f.default)
        command = click.option(flag, f.name, **kw)(command)
    return command


def _check_generator_options(ctx, options) -> None:
    """Options given on the command line that the chosen generator does not have are one error,
    never ignored: PoseGate-Former's sizes with --generator repnet, --repnet-width without it.
    (A preset's values are not "given": a preset sets both generators' sizes.)"""
    from click.core import ParameterSource
    from gatepose.errors import GateposeError
    from gatepose.options import ATTENTION_ONLY, TrainOptions

    def given(k):
        return ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE

    named = {f.name: f.metadata.get("flag") for f in dataclasses.fields(TrainOptions)}
    if options["generator"] == "repnet":
        bad = [k for k in ATTENTION_ONLY if given(k)]
        if bad:
            flags = ", ".join(named.get(k) or "--" + k.replace("_", "-") for k in bad)
            raise GateposeError(f"{flags}: PoseGate-Former's option(s), which --generator repnet does not have "
                                "(RepNet's generator is an MLP without attention; its width is --repnet-width)")
    elif given("repnet_width"):
        raise GateposeError("--repnet-width: the width of --generator repnet; this run's generator is "
                            f"{options['generator']}")


@click.command()
@train_options
@device_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="New run folder.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this folder exactly where it stopped (other options come from its config, except --steps/--epochs).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None,
              help="Start from a named option set; options given explicitly override it. "
                   + "; ".join(describe_preset(p) for p in PRESET_NAMES)
                   + ". docs/departures.md lists the departures.")
@click.pass_context
def train(ctx, device, out, resume, quiet, preset, **options):
    """Train PoseGate-Former weakly supervised: 2D poses in, no 3D labels paired with them.

    Each iteration runs --n-critic critic steps (WGAN-GP on KCS features, real 3D poses unpaired
    with the 2D batch) and then one step of generator + camera net on the adversarial,
    reprojection and camera losses. The run folder gets config.json, metrics.jsonl (one line per
    logged step), checkpoint.npz (atomic; Ctrl-C saves one) and best.npz (lowest validation
    N-MPJPE on frames held out of the training subjects).

    Without --preset the sizes and schedule are the SPEC's ("paper"): on a 2-core CPU a step
    takes one to two seconds, so 2000 steps take about an hour. --preset small-weak trains the
    recommended recipe in minutes (the benchmarks' --steps 6000: 12-14 minutes on 2 cores).

    --supervision full trains the same generator on the paired 3D poses instead (no camera net,
    no critic): the supervised baseline to compare the weak model with.

    --generator repnet puts RepNet's generator (a residual MLP, the paper's Table 1 baseline) in
    PoseGate-Former's place; everything else (camera net, critic, losses, options) stays. It runs
    on the plain path (the fused inference and GPU one pass are the transformer's).

    \b
    Examples:
      gatepose train --steps 200 --out runs/first              # built-in synthetic data
      gatepose train --resume runs/first --steps 400           # continues from step 200
      gatepose train --data h36m.npz --epochs 5 --out runs/h36m --device gpu
      gatepose train --attention vanilla --steps 1000 --out runs/vanilla
      gatepose train --preset small-weak --data cmu.npz --steps 1500 --out runs/weak
      gatepose train --preset small-full --data cmu.npz --steps 1500 --out runs/full   # the supervised baseline
      gatepose train --preset small-weak --generator repnet --steps 1500 --out runs/repnet   # Table 1's RepNet
      gatepose train --reference --steps 20 --out runs/plain    # the plain algorithm, no speed paths
    """
    from gatepose.runs import read_options
    from gatepose.options import TrainOptions
    from gatepose.training import train as run_training

    if (out is None) == (resume is None):
        raise click.UsageError("give exactly one of --out RUN_DIR (a new run) or --resume RUN_DIR")
    if resume is not None:
        from click.core import ParameterSource
        from gatepose.errors import GateposeError

        # --data and --real-poses may name where a moved archive is now: the resume checks that it
        # holds the data the run started with (training.check_same_data)
        movable = ("steps", "epochs", "data", "real_poses")
        given = [k for k in (*options, "preset") if k not in movable
                 and ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE]
        if given:   # a resumed run keeps its own options: never ignore what the user asked for
            named = {f.name: f.metadata.get("flag") for f in dataclasses.fields(TrainOptions)}
            flags = ", ".join(named.get(k) or "--" + k.replace("_", "-") for k in given)
            raise GateposeError(f"--resume {resume}: continues the run with the options in its config.json; "
                                f"{flags} cannot change now (only --steps/--epochs, and --data/--real-poses "
                                "for a moved archive, can); start a new run with --out to use other options")
        opts = TrainOptions.from_dict(read_options(resume), f"{resume}/config.json")
        if options["steps"] is not None or options["epochs"] is not None:
            opts.steps, opts.epochs = options["steps"], options["epochs"]
        for k in ("data", "real_poses"):
            if options[k] is not None:
                if getattr(opts, k) is None:
                    raise GateposeError(f"--resume {resume}: the run was trained without --{k.replace('_', '-')}; "
                                        "it cannot be given now")
                setattr(opts, k, options[k])
        run_dir = resume
    else:
        if preset is not None:
            for k, v in PRESETS[preset].items():
                if ctx.get_parameter_source(k) is click.core.ParameterSource.DEFAULT:
                    options[k] = v
        _check_generator_options(ctx, options)
        opts = TrainOptions(**options)
        run_dir = out
    opts.check()  # bad options fail here, before data or device work
    xp = pick_device(device, defer=True)
    row = run_training(opts, run_dir, xp, resume=resume is not None, progress=not quiet, ready=announce_device)
    if row:
        keys = ("step", "loss_rep", "loss_cam", "wasserstein", "val_mpjpe", "val_n_mpjpe")
        click.echo("finished: " + "  ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                                            for k in keys if k in row))
        click.echo(f"run folder: {run_dir}  (evaluate with: gatepose eval --run {shlex.quote(str(run_dir))})")
