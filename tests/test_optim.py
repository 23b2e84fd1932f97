"""Adam: matches the textbook update, keeps float32, and restores its state exactly."""
import numpy as np

from gatepose.optim import Adam


def _reference(p, grads, lr=1e-3, b1=0.5, b2=0.9, eps=1e-8):
    m = np.zeros_like(p); v = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def test_adam_matches_reference():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    params = {"w": p0.copy()}
    opt = Adam(params, lr=1e-3)
    for g in grads:
        opt.step(params, {"w": g})
    np.testing.assert_allclose(params["w"], _reference(p0, grads), rtol=1e-12)


def test_adam_keeps_float32_and_resumes_exactly():
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
