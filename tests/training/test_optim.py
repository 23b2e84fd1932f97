"""Adam: matches the textbook update, keeps float32, and restores its state exactly; the plain
per-tensor update (optim.Adam) and the trainer's flat-buffer one (fast.adam.FlatAdam) alike."""
import numpy as np
import pytest

from gatepose.fast.adam import FlatAdam
from gatepose.optim import Adam

BOTH = pytest.mark.parametrize("Adam", [Adam, FlatAdam], ids=["plain", "flat"])


def _reference(p, grads, lr=1e-3, b1=0.5, b2=0.9, eps=1e-8):
    m = np.zeros_like(p); v = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


@BOTH
def test_adam_matches_reference(Adam):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    params = {"w": p0.copy()}
    opt = Adam(params, lr=1e-3)
    for g in grads:
        opt.step(params, {"w": g})
    np.testing.assert_allclose(params["w"], _reference(p0, grads), rtol=1e-12)


@BOTH
def test_adam_keeps_float32_and_resumes_exactly(Adam):
    rng = np.random.default_rng(1)
    grads = [{"w": rng.standard_normal(5).astype(np.float32)} for _ in range(6)]
    a = {"w": np.ones(5, np.float32)}
    opt_a = Adam(a)
    for g in grads:
        opt_a.step(a, g)
    assert a["w"].dtype == np.float32
    b = {"w": np.ones(5, np.float32)}
    opt_b = Adam(b)
    for g in grads[:3]:
        opt_b.step(b, g)
    saved = {k: v.copy() for k, v in opt_b.state_arrays().items()}
    c = {"w": b["w"].copy()}
    opt_c = Adam(c)
    opt_c.load_state_arrays(saved, opt_b.t)
    for g in grads[3:]:
        opt_c.step(c, g)
    np.testing.assert_array_equal(a["w"], c["w"])


@pytest.mark.parametrize("big", [False, True], ids=["small", "several-blocks-and-cores"])
def test_flat_adam_matches_plain_adam(big):
    """FAST DOOR 3: the flat-buffer update (blocked, tensors dealt to the cores on the CPU) equals the
    plain per-tensor one up to rounding (float64), a tensor without a gradient left alone, and
    leaves the same moments and step count (so the checkpoints are interchangeable)."""
    rng = np.random.default_rng(3)
    shapes = {"a": (300, 700) if big else (4, 3), "b": (7,), "c": (2, 5, 3)}
    p0 = {k: rng.standard_normal(s) for k, s in shapes.items()}
    plain, flat = {k: v.copy() for k, v in p0.items()}, {k: v.copy() for k, v in p0.items()}
    opt_p, opt_f = Adam(plain, lr=1e-2), FlatAdam(flat, lr=1e-2)
    for t in range(6):
        grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
        if t == 2:
            grads["b"] = None
        opt_p.step(plain, grads)
        opt_f.step(flat, grads)
    for k in shapes:
        np.testing.assert_allclose(flat[k], plain[k], rtol=1e-12, atol=1e-14)
    sp, sf = opt_p.state_arrays(), opt_f.state_arrays()
    assert sp.keys() == sf.keys() and opt_p.t == opt_f.t
    for k in sp:
        np.testing.assert_allclose(sf[k], sp[k], rtol=1e-12, atol=1e-14)
    assert bool(opt_p.all_finite()) and bool(opt_f.all_finite())
    plain["c"][0, 0, 0] = np.nan
    flat["c"][0, 0, 0] = np.nan
    assert not bool(opt_p.all_finite()) and not bool(opt_f.all_finite())
