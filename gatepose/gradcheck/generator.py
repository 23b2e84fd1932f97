"""Gradient-check cases for the gate, every attention variant, the encoder layer and the generator,
and for RepNet's generator (the baseline of the paper's Table 1).

Registered for `gatepose gradcheck` and the tests. Default sizes are small so the CLI runs fast;
tests call the builders with hypothesis sizes. Parameters are drawn away from their initial values
(LayerNorm gamma = 1, zero biases) so that a backward that forgets gamma or a bias cannot hide.
"""
from __future__ import annotations

import numpy as np

from ..ops import attention as attn_ops
from ..ops.attention import GATE_PARAMS, VARIANTS
from ..nn import posegate as gen
from ..nn.posegate import PoseGateConfig, init_posegate
from ..nn import repnet
from .checker import register_check


def _randn(xp, rng, *shape, scale=1.0):
    return xp.asarray(rng.standard_normal(shape) * scale)


def perturbed_params(cfg: PoseGateConfig, xp, rng, dtype=np.float64) -> dict:
    """init_posegate's parameters moved off their initial values, for gradient checks.

    The checks need every gradient clearly above finite-difference noise, so no sigmoid may sit
    saturated: weight matrices get noise of half their own spread; the gate's second layer (A2, C2,
    initialised at 0.1 Glorot) is redrawn at spread 1/sqrt(hidden); constant inits (biases,
    LayerNorm) get N(0, 0.3^2) noise, except c2, redrawn around 0 so that Bb sits near 1/2 where its
    sigmoid is steepest, and the scalar gate g, kept near 1/J (x (1 +- 0.3)): a large g makes the
    attention swamp the residual stream, and the next LayerNorm nearly cancels its effect.
    """
    params = init_posegate(cfg, rng, np, np.float64)
    out = {}
    for k, v in params.items():
        noise = rng.standard_normal(v.shape)
        if k.endswith(("gate.A2", "gate.C2")):
            v = noise * cfg.gate_hidden ** -0.5
        elif k.endswith("gate.c2"):
            v = 0.3 * noise
        elif k.endswith("attn.g"):
            v = v * (1.0 + 0.3 * noise)
        elif v.ndim == 2:
            v = v + 0.5 * float(v.std()) * noise
        else:
            v = v + 0.3 * noise
        out[k] = xp.asarray(v, dtype=dtype)
    return out


@register_check("gate", B=3, n=12, hidden=5, h=2)
def _gate(xp, rng, B, n, hidden, h):
    shapes = {"A1": (n, hidden), "a1": (hidden,), "A2": (hidden, h), "a2": (h,)}
    shapes.update({"C" + k[1:] if k[0] == "A" else "c" + k[1:]: s for k, s in shapes.items()})
    inputs = {"U_flat": _randn(xp, rng, B, n)}
    for k in GATE_PARAMS:
        # weights scaled by 1/sqrt(fan-in) so no sigmoid saturates (a flat sigmoid leaves a gradient
        # so small that finite-difference noise dominates it)
        scale = {"A1": n ** -0.5, "C1": n ** -0.5, "A2": hidden ** -0.5, "C2": hidden ** -0.5}.get(k, 1.0)
        inputs[k] = _randn(xp, rng, *shapes[k], scale=scale)

    def fwd(i):
        return attn_ops.gate_forward(i["U_flat"], {k: i[k] for k in GATE_PARAMS})

    def bwd(d, c):
        dU, g = attn_ops.gate_backward(d[0], d[1], c)
        return {"U_flat": dU, **g}

    return fwd, bwd, inputs


def _attention_case(variant):
    def build(xp, rng, B, h, J, d_k):
        inputs = {"Q": _randn(xp, rng, B, h, J, d_k), "K": _randn(xp, rng, B, h, J, d_k),
                  "V": _randn(xp, rng, B, h, J, d_k)}
        if variant == "gated":
            # gate values as the sigmoids would give them: inside (0, 1)
            inputs["G"] = xp.asarray(rng.uniform(0.1, 0.9, (B, h)))
            inputs["Bb"] = xp.asarray(rng.uniform(0.1, 0.9, (B, h)))
        if variant == "scalar-gate":
            inputs["g"] = xp.asarray(rng.uniform(0.2, 1.5, (1,)))

        def fwd(i):
            # looked up at call time, so a test can monkeypatch a broken backward into the module
            return attn_ops.attention_forward(i["Q"], i["K"], i["V"], i.get("G"), i.get("Bb"),
                                              variant, i.get("g"))

        def bwd(d, c):
            gr = attn_ops.attention_backward(d, c)
            out = {"Q": gr.dQ, "K": gr.dK, "V": gr.dV}
            if variant == "gated":
                out["G"], out["Bb"] = gr.dG, gr.dBb
            if variant == "scalar-gate":
                out["g"] = gr.dg
            return out

        return fwd, bwd, inputs

    return build


for _v in VARIANTS:
    register_check(f"attention[{_v}]", B=2, h=2, J=5, d_k=3)(_attention_case(_v))


def _config(attention, J, d_k, h, L=1, gate_hidden=5, d_ff=None, pos_embedding=True):
    d = h * d_k
    return PoseGateConfig(n_joints=J, d_model=d, n_heads=h, n_layers=L, d_ff=d_ff or 2 * d,
                           gate_hidden=gate_hidden, attention=attention, pos_embedding=pos_embedding)


@register_check("encoder_layer", B=2, J=4, h=2, d_k=3, attention="gated")
def _encoder_layer(xp, rng, B, J, h, d_k, attention):
    cfg = _config(attention, J, d_k, h)
    p = gen.layer_params(perturbed_params(cfg, xp, rng), 0)
    names = list(p)
    inputs = {"Z": _randn(xp, rng, B, J, cfg.d_model), **p}

    def fwd(i):
        return gen.encoder_layer_forward(i["Z"], {k: i[k] for k in names}, cfg)

    def bwd(d, c):
        dZ, g = gen.encoder_layer_backward(d, c)
        return {"Z": dZ, **g}

    return fwd, bwd, inputs


for _v in VARIANTS:       # the layer's own use of each variant's gradients (attn.g, the unused Q and K)
    if _v != "gated":
        register_check(f"encoder_layer[{_v}]", B=2, J=4, h=2, d_k=3, attention=_v)(_encoder_layer)


@register_check("generator", B=2, J=4, h=2, d_k=3, L=2, attention="gated", pos_embedding=True)
def _generator(xp, rng, B, J, h, d_k, L, attention, pos_embedding):
    """The whole generator w.r.t. every parameter and its input W, each one input of the check."""
    cfg = _config(attention, J, d_k, h, L=L, pos_embedding=pos_embedding)
    params = perturbed_params(cfg, xp, rng)
    names = list(params)
    # normalised 2D poses are O(1 / sqrt(J)); O(1) inputs exercise the same code with larger signal
    inputs = {"W": _randn(xp, rng, B, J, 2), **params}

    def fwd(i):
        return gen.posegate_forward({k: i[k] for k in names}, i["W"], cfg)

    def bwd(d, c):
        dW, g = gen.posegate_backward(d, c)
        return {"W": dW, **g}

    return fwd, bwd, inputs


def repnet_case(cfg, xp, rng, B, missing=None):
    """(params, W (B, J, 2)) for RepNet's generator in float64: biases off zero, 'out.W' at spread
    1/sqrt(width), resampled until every LeakyReLU pre-activation on W is farther than the critic
    cases' PREACT_MARGIN from its kink (on W with the joints ``missing`` (B, J, 1) made NaN)."""
    from .critic import _TRIES, PREACT_MARGIN, _randomise_biases

    for _ in range(_TRIES):
        params = _randomise_biases(repnet.init_repnet(cfg, rng, xp, np.float64), rng, xp)
        params["out.W"] = _randn(xp, rng, cfg.width, 3 * cfg.n_joints, scale=cfg.width ** -0.5)
        W = _randn(xp, rng, B, cfg.n_joints, 2)
        W_in = W if missing is None else with_missing(W, missing)
        if repnet.repnet_min_abs_preactivation(repnet.repnet_forward(params, W_in, cfg)[1]) > PREACT_MARGIN:
            return params, W
    raise RuntimeError("could not draw a RepNet case with pre-activations away from zero")


@register_check("repnet_generator", B=3, J=4, width=6, n_blocks=3)
def _repnet_generator(xp, rng, B, J, width, n_blocks):
    """RepNet's whole generator w.r.t. every parameter and its input W. Biases are drawn off zero
    and 'out.W' at spread 1/sqrt(width) (so every gradient is well above finite-difference noise);
    every LeakyReLU pre-activation is kept farther than PREACT_MARGIN from its kink."""
    cfg = repnet.RepNetConfig(n_joints=J, width=width, n_blocks=n_blocks)
    params, W = repnet_case(cfg, xp, rng, B)
    names = list(params)
    inputs = {"W": W, **params}

    def fwd(i):
        # looked up at call time, so a test can monkeypatch a broken backward into the module
        return repnet.repnet_forward({k: i[k] for k in names}, i["W"], cfg)

    def bwd(d, c):
        dW, g = repnet.repnet_backward(d, c)
        return {"W": dW, **g}

    return fwd, bwd, inputs


@register_check("depth_lift", B=3, J=5)
def _depth_lift(xp, rng, B, J, offset=False):
    """The depth lift (``lift="depth"``, nn/generator.py) w.r.t. the 2D input and the network's output."""
    from ..nn.generator import DepthLiftCache, depth_lift_backward, depth_lift_forward

    inputs = {"W": _randn(xp, rng, B, J, 2), "Z": _randn(xp, rng, B, J, 3)}

    def fwd(i):
        X, scale = depth_lift_forward(i["W"], i["Z"], offset=offset)
        return X, DepthLiftCache(X, scale, None, None, offset)

    def bwd(d, c):
        dW, dZ = depth_lift_backward(d, c)
        return {"W": dW, "Z": dZ}

    return fwd, bwd, inputs


@register_check("depth_lift[offset]", B=3, J=5)
def _depth_lift_offset(xp, rng, B, J):
    """The offset lift (``lift="offset"``): the depth lift, Z's x and y added to W's."""
    return _depth_lift(xp, rng, B, J, offset=True)


@register_check("lifter[depth]", B=2, J=4, h=2, d_k=3, generator="posegate")
def _lifter_depth(xp, rng, B, J, h, d_k, generator, lift="depth"):
    """Either generator with the depth lift, through the one door (``generator_forward`` /
    ``generator_backward``), w.r.t. every parameter and the input W (which reaches X both through the
    network and directly, as x and y)."""
    import dataclasses

    from ..nn.generator import generator_backward, generator_forward

    if generator == "repnet":
        cfg = repnet.RepNetConfig(n_joints=J, width=h * d_k, lift=lift)
        params, W = repnet_case(cfg, xp, rng, B)
    else:
        cfg = dataclasses.replace(_config("gated", J, d_k, h), lift=lift)
        params, W = perturbed_params(cfg, xp, rng), _randn(xp, rng, B, J, 2)
    names = list(params)
    inputs = {"W": W, **params}

    def fwd(i):
        return generator_forward({k: i[k] for k in names}, i["W"], cfg)

    def bwd(d, c):
        dW, g = generator_backward(d, c)
        return {"W": dW, **g}

    # head.b and ln_f.beta move every joint's depth alike, which the root-relative lift cancels:
    # their gradients are exactly zero, and a relative error of finite-difference noise means nothing
    return fwd, bwd, inputs, [k for k in inputs if k not in ("head.b", "ln_f.beta")]


@register_check("lifter[offset]", B=2, J=4, h=2, d_k=3, generator="posegate")
def _lifter_offset(xp, rng, B, J, h, d_k, generator):
    """Either generator with the offset lift (``lift="offset"``), like ``lifter[depth]``."""
    return _lifter_depth(xp, rng, B, J, h, d_k, generator, lift="offset")


# -- missing joints (missing_token, a departure) ----------------------------------------------------
def missing_mask(xp, rng, B, J):
    """(B, J, 1) bool, about a third of the joints missing: pose 0 always misses its last joint
    (so embed.M has a gradient), every pose keeps at least one joint, and the root goes missing in
    some draws (the depth lift's root then comes from the network)."""
    u = rng.random((B, J))
    u[0, J - 1] = 0.0
    mask = u < 0.35
    mask[np.arange(B), u.argmax(axis=1)] = False
    return xp.asarray(mask[..., None])


def with_missing(W, missing):
    """W with the joints ``missing`` (B, J, 1) set to NaN in both coordinates (the convention)."""
    from ..backend import get_xp

    return get_xp(W).where(missing, np.nan, W)


@register_check("depth_lift[missing]", B=3, J=5)
def _depth_lift_missing(xp, rng, B, J, offset=False):
    """The depth lift with missing joints: their x and y come from Z's first two channels, and W's
    coordinates there get no gradient (W's values there are made NaN inside the forward, so the
    finite differences see that they do not matter)."""
    from ..nn.generator import DepthLiftCache, depth_lift_backward, depth_lift_forward

    missing = missing_mask(xp, rng, B, J)
    inputs = {"W": _randn(xp, rng, B, J, 2), "Z": _randn(xp, rng, B, J, 3)}

    def fwd(i):
        X, scale = depth_lift_forward(with_missing(i["W"], missing), i["Z"], missing, offset)
        return X, DepthLiftCache(X, scale, None, missing, offset)

    def bwd(d, c):
        dW, dZ = depth_lift_backward(d, c)
        return {"W": dW, "Z": dZ}

    return fwd, bwd, inputs


@register_check("depth_lift[missing,offset]", B=3, J=5)
def _depth_lift_missing_offset(xp, rng, B, J):
    """The offset lift with missing joints (theirs are Z's x and y alone)."""
    return _depth_lift_missing(xp, rng, B, J, offset=True)


def _missing_token_case(generator, lift):
    def build(xp, rng, B, J, h, d_k):
        """Either generator with ``missing_token`` through the one door, on inputs with missing
        (NaN) joints, w.r.t. every parameter (embed.M, or RepNet's mask rows of in.W) and W: the
        finite differences move W's coordinates at missing joints too, and must see no change."""
        import dataclasses

        from ..nn.generator import generator_backward, generator_forward

        missing = missing_mask(xp, rng, B, J)
        if generator == "repnet":
            cfg = repnet.RepNetConfig(n_joints=J, width=h * d_k, lift=lift, missing_token=True)
            params, W = repnet_case(cfg, xp, rng, B, missing)
        else:
            cfg = dataclasses.replace(_config("gated", J, d_k, h), lift=lift, missing_token=True)
            params, W = perturbed_params(cfg, xp, rng), _randn(xp, rng, B, J, 2)
        names = list(params)
        inputs = {"W": W, **params}

        def fwd(i):
            return generator_forward({k: i[k] for k in names}, with_missing(i["W"], missing), cfg)

        def bwd(d, c):
            dW, g = generator_backward(d, c)
            return {"W": dW, **g}

        return fwd, bwd, inputs
    return build


for _g in ("posegate", "repnet"):
    for _lift in ("xyz", "depth"):
        _name = f"missing_token[{_g}{',depth' if _lift == 'depth' else ''}]"
        register_check(_name, B=3, J=5, h=2, d_k=3)(_missing_token_case(_g, _lift))
