"""`gatepose bench`: training and inference throughput, FLOP/s and utilisation."""
from __future__ import annotations

import json

import click

from .common import device_option, pick_device


@click.command()
@device_option
@click.option("--batch", type=int, default=256, show_default=True, help="Training batch size.")
@click.option("--infer-batch", type=int, default=1024, show_default=True, help="Inference batch size.")
@click.option("--layers", type=int, default=4, show_default=True, help="Encoder layers L.")
@click.option("--attention", type=click.Choice(["gated", "vanilla", "fixed", "scalar-gate"]), default="gated",
              show_default=True)
@click.option("--generator", type=click.Choice(["posegate", "repnet"]), default="posegate", show_default=True,
              help="repnet: RepNet's generator (width 1000, SPEC section 1b) in PoseGate-Former's place.")
@click.option("--iterations", type=int, default=3, show_default=True, help="Timed training iterations (median).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option("--tiny", is_flag=True, hidden=True, help="Tiny model and sizes: a smoke run for tests.")
def bench(device, batch, infer_batch, layers, attention, generator, iterations, as_json, tiny):
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
    """
    from gatepose.bench import format_bench, run_bench
    from gatepose.errors import GateposeError

    for name, v in (("--batch", batch), ("--infer-batch", infer_batch), ("--layers", layers),
                    ("--iterations", iterations)):
        if v < 1:
            raise GateposeError(f"{name}: must be at least 1, got {v}")
    if generator == "repnet" and (layers != 4 or attention != "gated"):
        raise GateposeError("--layers, --attention: PoseGate-Former's options, which --generator repnet does not have")
    xp = pick_device(device)
    extra = {}
    if tiny:
        from gatepose.bench import TINY_SIZES

        extra = dict(sizes={**TINY_SIZES, **({"repnet_width": 16} if generator == "repnet" else {})},
                     matmul_sizes=(64,), latency_repeat=3)
    r = run_bench(xp, batch=batch, infer_batch=infer_batch, n_layers=layers, attention=attention,
                  iterations=iterations, generator=generator, **extra)
    click.echo(json.dumps(r, indent=2) if as_json else format_bench(r))
