"""`gatepose bench`: training and inference throughput, FLOP/s and utilisation."""
from __future__ import annotations

import json

import click

from gatepose.names import ATTENTION_VARIANTS, GENERATORS, PRESET_NAMES

from .common import device_option, pick_device


@click.command()
@device_option
@click.option("--batch", type=int, default=256, show_default=True, help="Training batch size.")
@click.option("--infer-batch", type=int, default=1024, show_default=True, help="Inference batch size.")
@click.option("--layers", type=int, default=4, show_default=True, help="Encoder layers L.")
@click.option("--attention", type=click.Choice(ATTENTION_VARIANTS), default="gated", show_default=True)
@click.option("--generator", type=click.Choice(GENERATORS), default="posegate", show_default=True,
              help="repnet: RepNet's generator (width 1000, SPEC section 1b) in PoseGate-Former's place.")
@click.option("--iterations", type=int, default=None,
              help="Timed training iterations (median). Default: 3, or 30 with --preset.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None,
              help="Time one real training step of this preset (every option of it) instead, broken into its "
                   "phases (fakes, critic steps, generator step, Adam, EMA, sampler), each with its FLOP count "
                   "and utilisation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option("--tiny", is_flag=True, hidden=True, help="Tiny model and sizes: a smoke run for tests.")
def bench(device, batch, infer_batch, layers, attention, generator, iterations, preset, as_json, tiny):
    """Measure speed against this machine's own matrix-multiply rate.

    Reports, on the chosen backend: the float32 matmul rate (FLOP/s); generator inference at
    --infer-batch (poses/s) and the latency of one pose; one full training iteration (5 critic
    steps with fresh fakes and the gradient penalty, then one generator + camera step) at --batch
    (generator poses/s); for each, the achieved FLOP/s from an analytic FLOP count (see
    gatepose/bench.py) and its fraction of the matmul rate, the utilisation; and the peak memory.

    \b
    Examples:
      gatepose bench --device cpu
      gatepose bench --device gpu --json
      gatepose bench --layers 2 --attention vanilla
      gatepose bench --generator repnet
      gatepose bench --preset small-weak        # the recommended recipe's step, phase by phase
      gatepose bench --preset small-full --json
    """
    from gatepose.bench import format_bench, format_preset_bench, run_bench, run_preset_bench
    from gatepose.errors import GateposeError

    iterations = iterations if iterations is not None else (30 if preset else 3)

    for name, v in (("--batch", batch), ("--infer-batch", infer_batch), ("--layers", layers),
                    ("--iterations", iterations)):
        if v < 1:
            raise GateposeError(f"{name}: must be at least 1, got {v}")
    if generator == "repnet" and (layers != 4 or attention != "gated"):
        raise GateposeError("--layers, --attention: PoseGate-Former's options, which --generator repnet does not have")
    if preset is not None:
        given = [name for name, v, default in (("--batch", batch, 256), ("--infer-batch", infer_batch, 1024),
                                               ("--layers", layers, 4), ("--attention", attention, "gated"),
                                               ("--generator", generator, "posegate")) if v != default]
        if given:
            raise GateposeError(f"{', '.join(given)}: the preset sets the model and batch; --preset takes only "
                                "--iterations, --device and --json")
        xp = pick_device(device)
        sizes = None
        if tiny:
            from gatepose.bench import TINY_SIZES

            sizes = dict(TINY_SIZES, batch_size=8, n_layers=1)
        r = run_preset_bench(xp, preset, iterations=iterations, sizes=sizes,
                             **({"matmul_sizes": (64,), "n_data": 256} if tiny else {}))
        click.echo(json.dumps(r, indent=2) if as_json else format_preset_bench(r))
        return
    xp = pick_device(device)
    extra = {}
    if tiny:
        from gatepose.bench import TINY_SIZES

        extra = dict(sizes={**TINY_SIZES, **({"repnet_width": 16} if generator == "repnet" else {})},
                     matmul_sizes=(64,), latency_repeat=3)
    r = run_bench(xp, batch=batch, infer_batch=infer_batch, n_layers=layers, attention=attention,
                  iterations=iterations, generator=generator, **extra)
    click.echo(json.dumps(r, indent=2) if as_json else format_bench(r))
