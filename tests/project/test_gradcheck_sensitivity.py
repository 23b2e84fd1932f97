"""Every registered gradient check fails when its backward is broken on purpose.

For each op in the registry (the same cases `gatepose gradcheck` runs) and each of its inputs, the
backward is wrapped so that this one gradient comes back wrong in the ways real bugs do: its sign
flipped, its entries shifted by one place (a transposed or misaligned index), or a term lost
(half of it missing). The check of that input must then fail. Op-specific bugs (a dropped softmax
term, a forgotten transpose in the KCS backward, a dropped path of the double backward) are tested
next to each op.
"""
import numpy as np
import pytest

from gatepose.gradcheck import all_checks, check_backward
from mutations import assert_caught, output_changed

CORRUPTIONS = {
    "sign flip": lambda g: -g,
    "shifted entries": lambda g: np.roll(g.reshape(-1), 1).reshape(g.shape),
    "missing term": lambda g: 0.5 * g,
}


def _cases():
    out = []
    for name, case in all_checks().items():
        built = case.build(np, np.random.default_rng(0), **case.sizes)
        if isinstance(built, list):  # precomputed results (the penalty): see tests/losses/test_penalty.py
            continue
        out.append(pytest.param(name, id=name))
    return out


@pytest.mark.parametrize("name", _cases())
def test_every_broken_gradient_is_caught(name):
    case = all_checks()[name]
    forward, backward, inputs, *rest = case.build(np, np.random.default_rng(0), **case.sizes)
    wrt = rest[0] if rest else [k for k, v in inputs.items() if getattr(v, "dtype", None) is not None
                                and v.dtype.kind == "f"]
    probe = backward(*_seed_and_cache(forward, inputs))
    # inputs that do not reach the output ('fixed' attention's Q and K) have a zero gradient
    live = [k for k in wrt if np.abs(np.asarray(probe[k])).max() > 0]
    checked = 0
    for inp in live:
        for bug, corrupt in CORRUPTIONS.items():
            broken = output_changed(backward, lambda grads, dout, cache, inp=inp, corrupt=corrupt:
                                    {**dict(grads), inp: corrupt(np.asarray(grads[inp]))})
            # A corruption that leaves this gradient (numerically) unchanged is no bug: skip it.
            g = np.asarray(probe[inp])
            if np.abs(corrupt(g) - g).max() <= 1e-6 * max(np.abs(g).max(), 1e-300):
                continue
            assert_caught(check_backward(forward, broken, inputs, wrt=[inp]), inp,
                          what=f"{name}: {bug} in d{inp}")
            checked += 1
    # every input was broken in at least two ways (a sign flip never leaves a nonzero gradient alone)
    assert live and checked >= 2 * len(live), f"{name}: only {checked} corruptions for {len(live)} inputs"


def _seed_and_cache(forward, inputs):
    """The same upstream gradient check_backward uses (seed 0), with the forward's cache."""
    out, cache = forward(dict(inputs))
    rng = np.random.default_rng(0)
    if isinstance(out, (tuple, list)):
        return tuple(rng.standard_normal(np.shape(o)) for o in out), cache
    return rng.standard_normal(np.shape(out)), cache
