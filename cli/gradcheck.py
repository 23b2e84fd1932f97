"""`gatepose gradcheck`: every hand-written backward against central finite differences."""
from __future__ import annotations

import sys

import click

from .common import device_option, pick_device


@click.command()
@device_option
@click.option("--op", "ops", multiple=True, metavar="NAME",
              help="Check only this op (repeatable). Default: every registered op.")
@click.option("--seed", default=0, type=click.IntRange(min=0), show_default=True, help="Seed for inputs and random directions.")
@click.option("--list", "list_only", is_flag=True, help="List the op names and exit.")
def gradcheck(device, ops, seed, list_only):
    """Check every backward pass against central finite differences in float64.

    For each op and each of its inputs and parameters, the gradient from the hand-written
    backward is compared with (L(x + eps v) - L(x - eps v)) / 2 eps, element by element for
    small tensors and along random directions for large ones. One row per input; the op fails
    if any input's relative error exceeds the tolerance (1e-6). Exit code 1 on any failure.

    \b
    Examples:
      gatepose gradcheck                      # all ops, on the GPU if one is usable
      gatepose gradcheck --device cpu --op 'attention[gated]'
      gatepose gradcheck --list
    """
    from gatepose.gradcheck import DEFAULT_EPS, DEFAULT_RTOL, all_checks, run_check

    checks = all_checks()
    if list_only:
        for name in checks:
            click.echo(name)
        return
    unknown = [o for o in ops if o not in checks]
    if unknown:
        raise click.BadParameter(f"unknown op(s) {', '.join(unknown)}; choose from: {', '.join(checks)}",
                                 param_hint="--op")
    xp = pick_device(device)
    names = list(ops) or list(checks)
    rows, failed = [], []
    for name in names:
        for r in run_check(name, xp=xp, seed=seed):
            rows.append((name, r.name, "x".join(map(str, r.shape)) or "scalar", r.mode, r.max_rel_error, r.passed))
            if not r.passed:
                failed.append(f"{name}:{r.name}")
    w_op = max(len(r[0]) for r in rows + [("op",)])
    w_in = max(len(r[1]) for r in rows + [("", "input")])
    w_sh = max(len(r[2]) for r in rows + [("", "", "shape")])
    click.echo(f"{'op':<{w_op}}  {'input':<{w_in}}  {'shape':<{w_sh}}  {'mode':<10}  {'max rel err':>11}  result")
    for op, inp, shape, mode, err, ok in rows:
        click.echo(f"{op:<{w_op}}  {inp:<{w_in}}  {shape:<{w_sh}}  {mode:<10}  {err:11.2e}  {'pass' if ok else 'FAIL'}")
    n_ops = len(names)
    if failed:
        click.echo(f"\n{len(failed)} of {len(rows)} checks FAILED ({', '.join(failed)})", err=True)
        sys.exit(1)
    click.echo(f"\nall {len(rows)} checks over {n_ops} ops passed (float64, eps {DEFAULT_EPS:g}, tolerance {DEFAULT_RTOL:g})")
