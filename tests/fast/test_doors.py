"""Each fast door equals its plain reference on parameters away from their initial values, and each
fold, broken on purpose, is caught.

Why perturbed parameters: at initialisation LayerNorm's gain is 1, its shift 0 and every bias 0, so
folding the affine step into the next product ((xhat gamma + beta) W + b = xhat (gamma W) +
(beta W + b)) changes nothing whether it is done right or not: a fold that drops beta, gamma or a
bias gives the same numbers (``test_fresh_parameters_hide_an_affine_break`` shows it). Here every
comparison runs in float64 on ``gradcheck.generator.perturbed_params`` (and critic and camera
parameters with noise on every array, biases non-zero), with a relative tolerance of 1e-10.

The checks are functions returning the largest relative difference (``max_rel_diff``), so that the
break tests can run the very same check with one fold monkeypatched into a wrong version and see
it fail by orders of magnitude:

* FAST DOOR 4 (and DOOR 1 on the CPU, the trainer's fakes): ``fast.fused.generator_inference``
  against ``generator_forward(need_cache=False)``, the fused blocks really taken;
* FAST DOOR 1 on a GPU: ``fast.one_pass.generator_forward_rows`` and the backward on its kept rows'
  cache against two plain passes;
* FAST DOOR 2: ``fast.critic_step.stacked_critic_loss`` against ``losses.critic_loss``, and
  ``fast.parallel.sharded`` over two shards against the unsharded losses (critic and generator);
* FAST DOOR 3: ``fast.adam.FlatAdam`` (both of its branches) against ``optim.Adam``.
"""
import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gatepose.names import LIFTS   # every lift: xyz, depth, offset
from gatepose.fast import adam as adam_mod
from gatepose.fast import critic_step as critic_step_mod
from gatepose.fast import fused as fused_mod
from gatepose.fast import one_pass as one_pass_mod
from gatepose.fast import parallel as parallel_mod
from gatepose.fast.adam import FlatAdam
from gatepose.fast.critic_step import stacked_critic_loss
from gatepose.gradcheck.critic import random_parents
from gatepose.gradcheck.generator import perturbed_params
from gatepose.losses import critic_loss, generator_loss
from gatepose.nn.camera import CameraConfig, init_camera
from gatepose.nn.critic import CriticConfig, init_critic
from gatepose.nn.generator import generator_backward, generator_forward
from gatepose.nn.posegate import PoseGateConfig, init_posegate
from gatepose.optim import Adam

TOL = 1e-10       # fast and plain agree to rounding: far below this
BROKEN = 1e-6     # a broken fold misses by far more than this (10^4 x TOL)
VARIANTS = ("gated", "vanilla", "fixed", "scalar-gate")
SHARP = 30.0      # query and key columns scaled by this: scores far beyond exp's float64 range

seeds = st.integers(0, 2**31 - 1)


# -- the measure -------------------------------------------------------------------------------------
def _leaves(tree, prefix=""):
    """Nested dicts, tuples and lists of arrays (or numbers) -> {path: array}; None entries dropped."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_leaves(v, f"{prefix}/{k}"))
        return out
    if isinstance(tree, (tuple, list)):
        out = {}
        for i, v in enumerate(tree):
            out.update(_leaves(v, f"{prefix}/{i}"))
        return out
    return {} if tree is None else {prefix: np.asarray(tree)}


def max_rel_diff(got, want) -> float:
    """The largest difference of any entry of ``got`` from ``want``, relative to the largest value of
    that entry in ``want`` (with a floor of 1e-4 of the largest value of the whole result, for
    entries that are exactly zero in exact arithmetic: e.g. the critic's output bias gradient, or
    head.b's under the depth lift). Anything non-finite in ``got`` is an infinite difference."""
    g, w = _leaves(got), _leaves(want)
    assert g.keys() == w.keys(), sorted(set(g) ^ set(w))
    scale = max(float(np.abs(v).max(initial=0.0)) for v in w.values())
    worst = 0.0
    for k, b in w.items():
        a = g[k]
        assert a.shape == b.shape, (k, a.shape, b.shape)
        assert a.dtype == b.dtype == np.float64, (k, a.dtype, b.dtype)
        if not np.isfinite(a).all():
            return math.inf
        floor = max(float(np.abs(b).max(initial=0.0)), 1e-4 * scale, 1e-300)
        worst = max(worst, float(np.abs(a - b).max(initial=0.0)) / floor)
    return worst


# -- cases -----------------------------------------------------------------------------------------
def posegate_case(seed, B, J, h, d_k, L, attention, lift="xyz", gate_hidden=5, fresh=False, sharp=False):
    """(cfg, params, W (B, J, 2)) in float64: ``perturbed_params`` (``fresh``: init_posegate's own);
    ``sharp``: the query and key columns of every W_qkv scaled by SHARP, so that attention scores
    leave exp's range and the softmax's shift is needed."""
    d = h * d_k
    cfg = PoseGateConfig(n_joints=J, d_model=d, n_heads=h, n_layers=L, d_ff=2 * d + 1,
                         gate_hidden=gate_hidden, attention=attention, lift=lift)
    rng = np.random.default_rng(seed)
    params = init_posegate(cfg, rng, np, np.float64) if fresh else perturbed_params(cfg, np, rng)
    if sharp:
        for i in range(L):
            params[f"layers.{i}.attn.W_qkv"][:, :2 * d] *= SHARP
    return cfg, params, rng.standard_normal((B, J, 2)) * 0.5


def _perturb(params: dict, rng) -> dict:
    """Noise on every array: weights by half their own spread, vectors (biases) N(0, 0.3^2)."""
    out = {}
    for k, v in params.items():
        noise = rng.standard_normal(v.shape)
        out[k] = v + (0.5 * float(v.std()) * noise if v.ndim == 2 else 0.3 * noise)
        assert out[k].dtype == np.float64
    return out


def critic_setup(rng, J, pose_width=6, kcs_width=10, head_width=5):
    cfg = CriticConfig.from_parents(random_parents(rng, J), pose_width=pose_width, kcs_width=kcs_width,
                                    head_width=head_width)
    return cfg, _perturb(init_critic(cfg, rng, np, np.float64), rng)


def critic_batches(rng, B, J):
    """X_real, X_fake (B, J, 3), eps (B,)."""
    return rng.standard_normal((B, J, 3)) * 0.5, rng.standard_normal((B, J, 3)) * 0.5, rng.uniform(0, 1, B)


# -- the checks (each returns the largest relative difference) ------------------------------------------
def fused_vs_plain(params, W, cfg, block_tokens=None) -> float:
    """FAST DOOR 4 (and 1 on the CPU): ``generator_inference`` against the plain forward. With
    ``block_tokens``, INFER_BLOCK_TOKENS is set to it for the call. Asserts that the fused blocks
    were taken (at least two when the batch has two poses), and not the plain forward."""
    B = W.shape[0]
    blocks, plain_calls = [], []
    real_fused, real_plain = fused_mod.fused_forward, fused_mod.posegate_forward
    with pytest.MonkeyPatch.context() as mp:
        if block_tokens is not None:
            mp.setattr(fused_mod, "INFER_BLOCK_TOKENS", block_tokens)
        assert fused_mod.uses_fused(W, cfg), "the batch is too small for the fused path"

        def spy_fused(plan, Wb, c):
            blocks.append(Wb.shape[0])
            return real_fused(plan, Wb, c)

        def spy_plain(*a, **kw):
            plain_calls.append(1)
            return real_plain(*a, **kw)

        mp.setattr(fused_mod, "fused_forward", spy_fused)
        mp.setattr(fused_mod, "posegate_forward", spy_plain)
        got = fused_mod.generator_inference(params, W, cfg)
    assert not plain_calls, "posegate_inference ran the plain forward"
    assert sum(blocks) == B and len(blocks) >= min(B, 2), blocks
    want, none = generator_forward(params, W, cfg, need_cache=False)
    assert none is None
    return max_rel_diff(got, want)


def one_pass_vs_two_passes(params, W, cfg, n_fake, dX) -> float:
    """FAST DOOR 1 on a GPU: one cached forward over the fakes' and the step's rows, the step's
    backward on its rows' cache (``cache_rows``), against the two plain passes."""
    keep = slice(n_fake, None)
    X_all, cache = one_pass_mod.generator_forward_rows(params, W, cfg, keep)
    dW, grads = generator_backward(dX, cache)
    fakes, _ = generator_forward(params, W[:n_fake], cfg, need_cache=False)
    X, plain_cache = generator_forward(params, W[keep], cfg)
    dW_plain, grads_plain = generator_backward(dX, plain_cache)
    assert grads.keys() == grads_plain.keys() == params.keys()
    return max_rel_diff({"fakes": X_all[:n_fake], "X": X_all[keep], "dW": dW, "grads": grads},
                        {"fakes": fakes, "X": X, "dW": dW_plain, "grads": grads_plain})


def stacked_vs_plain_critic(params, X_r, X_f, eps, cfg) -> float:
    """FAST DOOR 2, the critic step: the stacked loss against the plain sum (value, every gradient,
    every info entry)."""
    L, grads, info = critic_loss(params, X_r, X_f, eps, cfg, lam=10.0)
    L_s, grads_s, info_s = stacked_critic_loss(params, X_r, X_f, eps, cfg, lam=10.0)
    assert list(grads_s) == list(grads) == list(params) and info_s.keys() == info.keys()
    return max_rel_diff((L_s, grads_s, info_s), (L, grads, info))


def sharded_vs_whole(fn, batches, shards=2) -> float:
    """FAST DOOR 2, the shards: ``fast.parallel.sharded`` over ``shards`` shards against fn on the
    whole batch (fn returns means over its batch)."""
    assert len(parallel_mod.shard_bounds(batches[0].shape[0], shards)) == shards
    got = parallel_mod.sharded(fn, list(batches), shards, np)
    return max_rel_diff(got, fn(*batches))


def flat_vs_plain_adam(p0: dict, grad_steps: list, lr=1e-2, gpu_branch=False) -> float:
    """FAST DOOR 3: FlatAdam against optim.Adam over the steps: parameters, their updates (p - p0,
    so that a wrong step is not lost in the parameters' size), moments and step count.
    ``gpu_branch``: FlatAdam's whole-buffer branch (one gather, a dozen whole-buffer passes)."""
    plain = {k: v.copy() for k, v in p0.items()}
    flat = {k: v.copy() for k, v in p0.items()}
    opt_p, opt_f = Adam(plain, lr=lr), FlatAdam(flat, lr=lr)
    with pytest.MonkeyPatch.context() as mp:
        if gpu_branch:
            mp.setattr(adam_mod, "is_gpu", lambda xp: True)
        for grads in grad_steps:
            opt_p.step(plain, grads)
            opt_f.step(flat, grads)
    assert opt_p.t == opt_f.t == len(grad_steps)
    sp, sf = opt_p.state_arrays(), opt_f.state_arrays()
    return max_rel_diff({"p": flat, "step": {k: flat[k] - p0[k] for k in p0}, "state": sf},
                        {"p": plain, "step": {k: plain[k] - p0[k] for k in p0}, "state": sp})


# -- FAST DOOR 4 / DOOR 1 on the CPU: fused inference ---------------------------------------------------
@pytest.mark.parametrize("lift", LIFTS)
@pytest.mark.parametrize("attention", VARIANTS)
@settings(max_examples=10)
@given(seed=seeds, B=st.integers(3, 7), J=st.integers(2, 7), h=st.integers(1, 3), d_k=st.integers(1, 3),
       L=st.integers(1, 2), gate_hidden=st.integers(1, 4), poses_per_block=st.integers(1, 2),
       sharp=st.booleans())
def test_fused_inference_equals_plain_forward(attention, lift, seed, B, J, h, d_k, L, gate_hidden,
                                              poses_per_block, sharp):
    """The fused blocks (INFER_BLOCK_TOKENS lowered so that small batches take them, two or more
    blocks) on perturbed parameters, every attention variant and lift; ``sharp``: scores far beyond
    80 in size (the softmax's shifted branch), and beyond exp's float64 range."""
    event(f"sharp={sharp}")
    cfg, params, W = posegate_case(seed, B, J, h, d_k, L, attention, lift, gate_hidden, sharp=sharp)
    assert fused_vs_plain(params, W, cfg, block_tokens=poses_per_block * J) < TOL


@pytest.mark.parametrize("attention", VARIANTS)
def test_fused_inference_at_the_real_block_size(attention):
    """No monkeypatching: a batch of 17-joint poses just above INFER_BLOCK_TOKENS (1536 tokens: 97
    poses) takes the fused path, in two blocks."""
    B = fused_mod.INFER_BLOCK_TOKENS // 17 + 7
    cfg, params, W = posegate_case(1, B, 17, 2, 4, 1, attention, gate_hidden=4)
    assert fused_vs_plain(params, W, cfg) < TOL


# -- FAST DOOR 1 on a GPU: one pass ------------------------------------------------------------------
@pytest.mark.parametrize("lift", LIFTS)
@pytest.mark.parametrize("attention", VARIANTS)
@settings(max_examples=6)
@given(seed=seeds, n_fake=st.integers(1, 6), B=st.integers(1, 4), J=st.integers(2, 6), h=st.integers(1, 3),
       d_k=st.integers(1, 3), L=st.integers(1, 2))
def test_one_pass_equals_two_plain_passes(attention, lift, seed, n_fake, B, J, h, d_k, L):
    cfg, params, W = posegate_case(seed, n_fake + B, J, h, d_k, L, attention, lift)
    dX = np.random.default_rng(seed + 1).standard_normal((B, J, 3))
    assert one_pass_vs_two_passes(params, W, cfg, n_fake, dX) < TOL


# -- FAST DOOR 2: the stacked critic step, and shards -------------------------------------------------
@settings(max_examples=30)
@given(seed=seeds, B=st.integers(1, 5), J=st.integers(2, 7), widths=st.tuples(*[st.integers(2, 8)] * 3))
def test_stacked_critic_loss_equals_plain_critic_loss(seed, B, J, widths):
    rng = np.random.default_rng(seed)
    cfg, params = critic_setup(rng, J, *widths)
    assert stacked_vs_plain_critic(params, *critic_batches(rng, B, J), cfg) < TOL


def _critic_fns(params, cfg):
    return {"stacked": lambda X_r, X_f, e: stacked_critic_loss(params, X_r, X_f, e, cfg, lam=10.0),
            "plain": lambda X_r, X_f, e: critic_loss(params, X_r, X_f, e, cfg, lam=10.0)}


@settings(max_examples=20)
@given(seed=seeds, B=st.integers(2, 7), J=st.integers(2, 6))
def test_sharded_critic_loss_equals_whole_batch(seed, B, J):
    """Two shards of the stacked step (the trainer's door 2) and of the plain loss, against the plain
    loss on the whole batch."""
    rng = np.random.default_rng(seed)
    cfg, params = critic_setup(rng, J)
    batches = critic_batches(rng, B, J)
    fns = _critic_fns(params, cfg)
    want = fns["plain"](*batches)
    for name, fn in fns.items():
        assert sharded_vs_whole(fn, batches) < TOL, name
        assert max_rel_diff(parallel_mod.sharded(fn, list(batches), 2, np), want) < TOL, name


def generator_loss_setup(seed, J=5, attention="gated", lift="xyz"):
    """(fn W -> generator_loss's result, W (5, J, 2)): PoseGate-Former, camera net and critic all
    perturbed."""
    cfg, gen, W = posegate_case(seed, 5, J, 2, 2, 1, attention, lift, gate_hidden=3)
    rng = np.random.default_rng(seed + 1)
    ccfg = CameraConfig(n_joints=J, width=6, n_blocks=1)
    cam = _perturb(init_camera(ccfg, rng, np, np.float64), rng)
    dcfg, critic = critic_setup(rng, J)
    return (lambda Wb: generator_loss(gen, cam, critic, Wb, cfg, ccfg, dcfg, 1.0, 0.7, 0.3)), W


@pytest.mark.parametrize("attention,lift", [("gated", "xyz"), ("scalar-gate", "depth"), ("vanilla", "xyz")])
def test_sharded_generator_loss_equals_whole_batch(attention, lift):
    fn, W = generator_loss_setup(3, attention=attention, lift=lift)
    assert sharded_vs_whole(fn, (W,)) < TOL


# -- FAST DOOR 3: Adam over flat buffers -----------------------------------------------------------------
def adam_case(seed, steps, big=False):
    """(p0, [grads per step]): perturbed PoseGate-Former parameters (plus, with ``big``, a tensor of
    several cache blocks), random gradients of spread 0.1 to 10 per tensor, one tensor without a
    gradient at the second step."""
    cfg, p0, _ = posegate_case(seed, 1, 4, 2, 2, 1, "gated", gate_hidden=3)
    rng = np.random.default_rng(seed + 1)
    if big:
        p0["big"] = rng.standard_normal((300, 250))
    scales = {k: 10.0 ** rng.uniform(-1, 1) for k in p0}
    grads = [{k: rng.standard_normal(v.shape) * scales[k] for k, v in p0.items()} for _ in range(steps)]
    if steps > 1:
        grads[1]["embed.E"] = None
    return p0, grads


@settings(max_examples=16)
@given(seed=seeds, steps=st.integers(1, 6), big=st.booleans(), gpu_branch=st.booleans())
def test_flat_adam_equals_plain_adam(seed, steps, big, gpu_branch):
    p0, grads = adam_case(seed, steps, big)
    assert flat_vs_plain_adam(p0, grads, gpu_branch=gpu_branch) < TOL


# -- every fold broken on purpose is caught ----------------------------------------------------------
def _fold_without(part):
    """_fold_affine without one of its terms: 'beta' (beta W), 'gamma' (the gain), 'bias' (b)."""
    def broken(W, b, gamma, beta):      # fresh arrays, as the real fold's (fold_layer scales them)
        if part == "beta":
            return gamma[:, None] * W, b.copy()
        if part == "gamma":
            return W.copy(), beta @ W + b
        return gamma[:, None] * W, beta @ W
    return broken


def _fold_layer_then(edit):
    """fold_layer followed by ``edit(f, cfg)`` on the folded matrices."""
    real = fused_mod.fold_layer

    def broken(p, cfg):
        f = real(p, cfg)
        edit(f, cfg)
        return f
    return broken


def _unscale_queries(f, cfg):            # the 1 / sqrt(d_k) left out of the query columns
    d = cfg.d_model
    f["qkv_W"][:, :d] *= math.sqrt(cfg.d_k)
    f["qkv_b"][:d] *= math.sqrt(cfg.d_k)


def _drop_bias_row(f, cfg):              # [W_o; 0] instead of [W_o; b_o]
    f["o"][-1] = 0.0


def _swap_gate_halves(f, cfg):           # G read from C1's half of the product, Bb from A1's
    H = cfg.gate_hidden
    f["gate_W"] = np.concatenate([f["gate_W"][:, H:], f["gate_W"][:, :H]], axis=1)
    f["gate_b"] = np.concatenate([f["gate_b"][H:], f["gate_b"][:H]])


def _attention_without_one_minus_Bb():
    real = fused_mod._attention

    def broken(Q, K, V, G, Bb, g, out):  # G (e / s + 1 - 1): the gate's constant term dropped
        return real(Q, K, V, G, None if Bb is None else np.ones_like(Bb), g, out)
    return broken


def _gelu_without_bias():
    real = fused_mod.gelu_inplace
    return lambda x, b=None: real(x, None)


SCORES_SEEN = []


def _softmax_never_shifted(x, inplace=False):
    """softmax_unnormalised without the shift by the row maximum, whatever the scores."""
    SCORES_SEEN.append(float(np.abs(x).max(initial=0.0)))
    with np.errstate(over="ignore"):
        e = np.exp(x, out=x if inplace else None)
    return e, np.einsum("...n->...", e)


def _fused_check(attention, lift="xyz", sharp=False, seed=5):
    def check():
        cfg, params, W = posegate_case(seed, 4, 5, 2, 3, 2, attention, lift, gate_hidden=3, sharp=sharp)
        with np.errstate(invalid="ignore", over="ignore"):
            return fused_vs_plain(params, W, cfg, block_tokens=2 * 5)
    return check


def _one_pass_check():
    cfg, params, W = posegate_case(7, 6, 5, 2, 2, 2, "gated", "depth", gate_hidden=3)
    dX = np.random.default_rng(8).standard_normal((3, 5, 3))
    return one_pass_vs_two_passes(params, W, cfg, 3, dX)


def _stacked_check():
    rng = np.random.default_rng(9)
    cfg, params = critic_setup(rng, 6)
    return stacked_vs_plain_critic(params, *critic_batches(rng, 4, 6), cfg)


def _sharded_check():                    # 5 rows: shards of 2 and 3, weights 0.4 and 0.6
    rng = np.random.default_rng(10)
    cfg, params = critic_setup(rng, 6)
    return sharded_vs_whole(_critic_fns(params, cfg)["plain"], critic_batches(rng, 5, 6))


def _sharded_generator_check():
    fn, W = generator_loss_setup(11)
    return sharded_vs_whole(fn, (W,))


def _adam_check(gpu_branch):
    def check():
        return flat_vs_plain_adam(*adam_case(12, 4, big=not gpu_branch), gpu_branch=gpu_branch)
    return check


def _cut_wrong_rows():
    real = one_pass_mod.cache_rows
    return lambda cache, rows, n, params: real(cache, slice(rows.start - 1, n - 1), n, params)


def _tangents_without_head_mask():
    real = critic_step_mod.critic_tangents_into

    def broken(a_X, cache, out):
        return real(a_X, cache._replace(masks=cache.masks._replace(hh=np.ones_like(cache.masks.hh))), out)
    return broken


def _tangents_without_kcs_path():
    real = critic_step_mod.critic_tangents_into

    def broken(a_X, cache, out):
        t = real(a_X, cache, out)
        out.kcs_in[...] = 0.0            # dP/d kcs.in.W loses its tangent a_Psi
        return t
    return broken


def _weighted_mean_equal_weights():
    real = parallel_mod.weighted_mean
    return lambda results, weights: real(results, [1.0 / len(weights)] * len(weights))


def _adam_without(correction):
    real = FlatAdam._update

    def broken(self, xp, p, m, v, g, s, coef):
        step, inv_sqrt_c2 = coef
        coef = (self.lr, inv_sqrt_c2) if correction == "c1" else (step, 1.0)
        return real(self, xp, p, m, v, g, s, coef)
    return broken


# name -> (the check it must fail, (module or class, attribute, a factory of the broken version))
BREAKS = {
    "ln-affine-beta-dropped": (_fused_check("gated"), (fused_mod, "_fold_affine", lambda: _fold_without("beta"))),
    "ln-affine-gamma-dropped": (_fused_check("vanilla"), (fused_mod, "_fold_affine", lambda: _fold_without("gamma"))),
    "folded-bias-dropped": (_fused_check("scalar-gate"), (fused_mod, "_fold_affine", lambda: _fold_without("bias"))),
    "ln-beta-dropped-fixed-depth": (_fused_check("fixed", "depth"),
                                    (fused_mod, "_fold_affine", lambda: _fold_without("beta"))),
    "query-scale-dropped": (_fused_check("vanilla"), (fused_mod, "fold_layer", lambda: _fold_layer_then(_unscale_queries))),
    "W_o-bias-row-dropped": (_fused_check("fixed"), (fused_mod, "fold_layer", lambda: _fold_layer_then(_drop_bias_row))),
    "gate-halves-swapped": (_fused_check("gated"), (fused_mod, "fold_layer", lambda: _fold_layer_then(_swap_gate_halves))),
    "gate-one-minus-Bb-dropped": (_fused_check("gated"), (fused_mod, "_attention", _attention_without_one_minus_Bb)),
    "gelu-bias-dropped": (_fused_check("gated", "depth"), (fused_mod, "gelu_inplace", _gelu_without_bias)),
    "softmax-shift-skipped": (_fused_check("vanilla", sharp=True),
                              (fused_mod, "softmax_unnormalised", lambda: _softmax_never_shifted)),
    "one-pass-cache-wrong-rows": (_one_pass_check, (one_pass_mod, "cache_rows", _cut_wrong_rows)),
    "critic-tangent-head-mask-dropped": (_stacked_check, (critic_step_mod, "critic_tangents_into",
                                                          _tangents_without_head_mask)),
    "critic-tangent-kcs-path-dropped": (_stacked_check, (critic_step_mod, "critic_tangents_into",
                                                         _tangents_without_kcs_path)),
    "shards-weighted-equally": (_sharded_check, (parallel_mod, "weighted_mean", _weighted_mean_equal_weights)),
    "generator-shards-weighted-equally": (_sharded_generator_check,
                                          (parallel_mod, "weighted_mean", _weighted_mean_equal_weights)),
    "adam-c1-correction-dropped": (_adam_check(False), (FlatAdam, "_update", lambda: _adam_without("c1"))),
    "adam-c2-correction-dropped": (_adam_check(True), (FlatAdam, "_update", lambda: _adam_without("c2"))),
}


# the never-shifted softmax's overflow (inf / inf) is the point of its case; it happens in the shards'
# threads, where np.errstate does not reach
_BREAK_PARAMS = [pytest.param(n, marks=pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning"))
                 if n == "softmax-shift-skipped" else n for n in BREAKS]


@pytest.mark.parametrize("name", _BREAK_PARAMS)
def test_a_broken_fold_is_caught(monkeypatch, name):
    """The check passes as the library stands, and fails by orders of magnitude with one fold broken."""
    check, (owner, attr, make_broken) = BREAKS[name]
    assert check() < TOL
    monkeypatch.setattr(owner, attr, make_broken())
    SCORES_SEEN.clear()
    diff = check()
    assert diff > BROKEN, f"{name}: the broken fold went unnoticed (max relative difference {diff:.2e})"
    if name == "softmax-shift-skipped":  # the case really needs the shift: exp overflows without it
        assert max(SCORES_SEEN) > 710.0, max(SCORES_SEEN)


# -- why the parameters are perturbed ------------------------------------------------------------------
AFFINE_BREAKS = ["ln-affine-beta-dropped", "ln-affine-gamma-dropped", "folded-bias-dropped",
                 "W_o-bias-row-dropped", "gelu-bias-dropped"]


@pytest.mark.parametrize("name", AFFINE_BREAKS)
def test_fresh_parameters_hide_an_affine_break(monkeypatch, name):
    """With init_posegate's own parameters (LayerNorm gain 1, shift 0, zero biases) a fold that drops
    beta W, gamma or a bias gives the plain forward's numbers to rounding: the old proof's set-up
    could not see it. The same break on perturbed parameters of the same shapes is caught."""
    _, (owner, attr, make_broken) = BREAKS[name]
    cfg, fresh, W = posegate_case(5, 4, 5, 2, 3, 2, "gated", gate_hidden=3, fresh=True)
    _, perturbed, _ = posegate_case(5, 4, 5, 2, 3, 2, "gated", gate_hidden=3)
    monkeypatch.setattr(owner, attr, make_broken())
    assert fused_vs_plain(fresh, W, cfg, block_tokens=10) < TOL
    assert fused_vs_plain(perturbed, W, cfg, block_tokens=10) > BROKEN
