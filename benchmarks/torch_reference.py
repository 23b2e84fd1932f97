#!/usr/bin/env python
"""The training step of a gatepose preset, built again in PyTorch eager on the CPU, to compare
gatepose's hand-written NumPy step with PyTorch's autograd on the same work.

    python benchmarks/torch_reference.py --preset small-weak [--iterations 40] [--warmup 5]
                                         [--threads N] [--infer-batch 1024] [--json]
    python benchmarks/torch_reference.py --preset small-weak --gatepose   # gatepose's step too, alternately
    python benchmarks/torch_reference.py --preset paper --check           # numbers against gatepose (float64)

On a busy machine, PyTorch's spinning OpenMP threads wait for a free core at every parallel op (a
step can take tens of times longer): use --threads 1 or --omp-passive there, and read the load
average the script prints before trusting a figure.

What it builds (the spec: SPEC.md, gatepose/train.py, nn/, losses.py, losses3d.py, optim.py):

* the three models with gatepose's parameter names and layouts (y = x W + b, W stored (d_in, d_out)):
  PoseGate-Former (joint embedding + positional embedding, pre-norm layers with the two-path
  sigmoid gate on the flattened layer input, gated attention A = G (S + (1 - Bb)) written out as
  gatepose forms it, tanh GELU FFN, final LayerNorm, head; ``lift="depth"`` keeps the input's x, y
  beside the predicted depth, root-relative, over its Frobenius norm), the camera net (residual
  MLP, LeakyReLU 0.3, a 2 x 3 M, projection X M^T) and the two-path KCS critic;
* the weak iteration of ``Trainer._weak_iteration``: the iteration's (n_critic + 1) input batches
  drawn first, the fakes of all critic steps from one generator forward (no grad), n_critic critic
  steps (real poses, eps interpolation, WGAN-GP with lambda, the penalty by a true double backward:
  ``autograd.grad(create_graph=True)``), each followed by an Adam step; then one step of generator +
  camera on L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam (+ w_geo self-consistency with random
  turns, + w_bone bone prior) with the critic frozen (only its input gradient is taken), one Adam
  step; then the generator's EMA when ``ema`` > 0;
* the full-supervision iteration: one step of the generator alone on the mean per-joint distance.

Differences from gatepose's step, all in how the work is organised, not in what is computed:
gatepose's critic step stacks the real, fake and interpolated batches into one 3B-row pass and
pushes the penalty's adjoint forward by hand; here the real and fake batches share one forward
(2B rows), the interpolated batch has its own (B rows), and autograd forms whatever products its
double backward needs. gatepose cuts each batch into shards on threads and uses a flat-buffer Adam;
here it is PyTorch's intra-op threads and ``torch.optim.Adam`` (``--adam`` picks its
implementation). The learning rate is constant (as in ``gatepose bench --preset``, which does not
step a schedule). Initialisation follows gatepose's scheme but draws from torch's RNG. The GFLOP
figure is gatepose's analytic count of the step (``gatepose.bench.phase_flops``), shown when
gatepose is importable; PyTorch's autograd forms a somewhat different set of products.

PyTorch is not a dependency of gatepose: this script exits with a message when it is missing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from types import SimpleNamespace

# -- gatepose's presets, used when gatepose cannot be imported (a copy of gatepose/names.py and of
# TrainOptions' defaults; with gatepose importable its own PRESETS and model_configs are used) --------
SPEC_SIZES = dict(d_model=256, n_heads=8, n_layers=4, d_ff=512, gate_hidden=100, repnet_width=1000,
                  camera_width=1000, critic_pose_width=100, critic_kcs_width=1000)
DEFAULTS = dict(generator="posegate", attention="gated", batch_size=256, lr=1e-4, lr_critic=None,
                betas=(0.5, 0.9), n_critic=5, lam=10.0, w_adv=1.0, w_rep=1.0, w_cam=1.0, supervision="weak",
                lift="xyz", w_geo=0.0, w_bone=0.0, aug_real=False, aug_flip_2d=False, ema=0.0, aug_noise_2d=0.0,
                aug_drop_joints=0.0, aug_noise_spread=False, reproject_clean=False, perspective=0.0, w_adv_2d=0.0, **SPEC_SIZES)
PRESETS = {"paper": {},
           "small": dict(d_model=64, n_heads=4, n_layers=2, d_ff=128, batch_size=128, lr=5e-4, w_rep=10.0,
                         n_critic=1, lr_schedule="cosine", eval_every=100, checkpoint_every=100)}
PRESETS["small-weak"] = {**PRESETS["small"], "camera_width": 256, "critic_kcs_width": 256, "w_geo": 3.0,
                         "lr": 1e-3, "n_critic": 2, "ema": 0.99, "lift": "offset", "aug_noise_2d": 0.012,
                         "reproject_clean": True, "perspective": 0.4, "lr_schedule": "constant"}
PRESETS["small-full"] = {**PRESETS["small"], "supervision": "full", "ema": 0.99, "lr_schedule": "constant"}
PRESETS["small-full-detector"] = {**PRESETS["small-full"], "aug_noise_2d": 0.008, "aug_drop_joints": 0.05}
H36M17_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
THORAX = 8
EPS_DIST = 1e-6    # losses3d.EPS: sqrt(|d|^2 + EPS^2)


def import_gatepose():
    """gatepose's modules when importable (from an install, or this checkout), else None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for attempt in range(2):
        try:
            import gatepose.bench  # noqa: F401
            import gatepose.names
            import gatepose.options
            return gatepose
        except ImportError:
            if attempt == 0 and root not in sys.path:
                sys.path.append(root)
    return None


# -- configuration ----------------------------------------------------------------------------------
def resolve(preset: str, overrides: dict, gp):
    """-> (options namespace, model sizes namespace, gatepose's (opts, gcfg, ccfg, dcfg) or None)."""
    if gp is not None:
        from gatepose.names import PRESETS as GP_PRESETS
        from gatepose.options import TrainOptions, model_configs
        opts = TrainOptions(**{**GP_PRESETS[preset], **overrides})
        opts.check_values()
        gcfg, ccfg, dcfg = model_configs(opts, "h36m17")
        if opts.generator != "posegate":
            raise SystemExit("torch_reference: only PoseGate-Former is mirrored (generator=repnet is not)")
        o = SimpleNamespace(**{k: getattr(opts, k) for k in DEFAULTS})
        m = SimpleNamespace(n_joints=gcfg.n_joints, d_model=gcfg.d_model, n_heads=gcfg.n_heads,
                            n_layers=gcfg.n_layers, d_ff=gcfg.d_ff, gate_hidden=gcfg.gate_hidden,
                            attention=gcfg.attention, lift=gcfg.lift, ln_eps=gcfg.ln_eps,
                            pos_embedding=gcfg.pos_embedding, camera_width=ccfg.width,
                            camera_blocks=ccfg.n_blocks, camera_alpha=ccfg.alpha, pose_width=dcfg.pose_width,
                            kcs_width=dcfg.kcs_width, head_width=dcfg.head_width, critic_alpha=dcfg.alpha,
                            incidence=[list(r) for r in dcfg.incidence])
        return o, m, (opts, gcfg, ccfg, dcfg)
    values = {**DEFAULTS, **PRESETS[preset], **overrides}
    unknown = sorted(set(overrides) - set(DEFAULTS) - {"lr_schedule", "eval_every", "checkpoint_every", "seed"})
    if unknown:
        raise SystemExit(f"torch_reference: unknown option(s) {', '.join(unknown)} (without gatepose only "
                         f"these can be set: {', '.join(sorted(DEFAULTS))})")
    o = SimpleNamespace(**{k: values[k] for k in DEFAULTS})
    J = len(H36M17_PARENTS)
    children = [j for j, p in enumerate(H36M17_PARENTS) if p >= 0]
    inc = [[0] * len(children) for _ in range(J)]
    for k, j in enumerate(children):
        inc[j][k], inc[H36M17_PARENTS[j]][k] = 1, -1
    m = SimpleNamespace(n_joints=J, d_model=o.d_model, n_heads=o.n_heads, n_layers=o.n_layers, d_ff=o.d_ff,
                        gate_hidden=o.gate_hidden, attention=o.attention, lift=o.lift, ln_eps=1e-5,
                        pos_embedding=True, camera_width=o.camera_width, camera_blocks=2, camera_alpha=0.3,
                        pose_width=o.critic_pose_width, kcs_width=o.critic_kcs_width, head_width=100,
                        critic_alpha=0.3, incidence=inc)
    return o, m, None


def check_supported(o, m):
    bad = []
    if o.generator != "posegate":
        bad.append(f"generator={o.generator}")
    if m.attention != "gated":
        bad.append(f"attention={m.attention}")
    if o.aug_real:
        bad.append("aug_real")
    if o.aug_flip_2d:
        bad.append("aug_flip_2d")
    if o.aug_drop_joints:
        bad.append("aug_drop_joints")
    if o.aug_noise_spread:
        bad.append("aug_noise_spread")
    if o.w_adv_2d:
        bad.append("w_adv_2d")
    if bad:
        raise SystemExit(f"torch_reference: not mirrored in PyTorch: {', '.join(bad)} (the four presets use none)")


# -- the models, functional, on parameter dicts named like gatepose's ------------------------------------
def build(torch, F, m, o, dtype):
    """The three models and the losses as closures over the sizes; returns a namespace."""
    J, d, h, H, Fw = m.n_joints, m.d_model, m.n_heads, m.gate_hidden, m.d_ff
    dk = d // h
    C = torch.tensor(m.incidence, dtype=dtype)                       # (J, nb)
    nb = C.shape[1]
    r, c = torch.triu_indices(nb, nb)
    triu = r * nb + c                                                # upper triangle, diagonal included
    eye2 = torch.eye(2, dtype=dtype)
    ca, da = float(m.camera_alpha), float(m.critic_alpha)

    def linear(x, W, b):
        """x (..., d_in) -> x W + b: one GEMM over all rows (gatepose's linear_forward)."""
        y = torch.addmm(b, x.reshape(-1, x.shape[-1]), W)
        return y.reshape(*x.shape[:-1], W.shape[1])

    def normal(shape, std):
        return torch.randn(*shape, dtype=dtype) * std

    # initial parameters: gatepose's scheme and names (nn/posegate.py, camera.py, critic.py), torch's RNG
    def init_generator():
        def glorot(n_in, n_out, gain=1.0):
            return normal((n_in, n_out), gain * math.sqrt(2.0 / (n_in + n_out)))
        z, one = (lambda n: torch.zeros(n, dtype=dtype)), (lambda n: torch.ones(n, dtype=dtype))
        p = {"embed.E": glorot(2, d), "embed.b": z(d)}
        if m.pos_embedding:
            p["embed.P"] = normal((J, d), 0.02)
        for i in range(m.n_layers):
            q = f"layers.{i}."
            p[q + "ln1.gamma"], p[q + "ln1.beta"] = one(d), z(d)
            p[q + "attn.W_qkv"] = torch.cat([glorot(d, d) for _ in range(3)], dim=1)
            p[q + "attn.b_qkv"] = z(3 * d)
            p[q + "attn.W_o"], p[q + "attn.b_o"] = glorot(d, d), z(d)
            p[q + "gate.A1"], p[q + "gate.a1"] = glorot(J * d, H), z(H)
            p[q + "gate.A2"], p[q + "gate.a2"] = glorot(H, h, 0.1), z(h)
            p[q + "gate.C1"], p[q + "gate.c1"] = glorot(J * d, H), z(H)
            p[q + "gate.C2"], p[q + "gate.c2"] = glorot(H, h, 0.1), torch.full((h,), math.log(J - 1), dtype=dtype)
            p[q + "ln2.gamma"], p[q + "ln2.beta"] = one(d), z(d)
            p[q + "ffn.W1"], p[q + "ffn.b1"] = normal((d, Fw), math.sqrt(2.0 / d)), z(Fw)
            p[q + "ffn.W2"], p[q + "ffn.b2"] = glorot(Fw, d), z(d)
        p["ln_f.gamma"], p["ln_f.beta"] = one(d), z(d)
        p["head.W"], p["head.b"] = glorot(d, 3), z(3)
        return p

    def he(fan_in, alpha):
        return math.sqrt(2.0 / ((1.0 + alpha * alpha) * fan_in))

    def init_camera():
        w = m.camera_width
        p = {"in.W": normal((2 * J, w), he(2 * J, ca)), "in.b": torch.zeros(w, dtype=dtype)}
        for i in range(m.camera_blocks):
            for fc in ("fc1", "fc2"):
                p[f"blocks.{i}.{fc}.W"] = normal((w, w), he(w, ca))
                p[f"blocks.{i}.{fc}.b"] = torch.zeros(w, dtype=dtype)
        p["out.W"] = normal((w, 6), 1e-2 / math.sqrt(w))
        p["out.b"] = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=dtype)
        return p

    P_, K_, Hh, nF = m.pose_width, m.kcs_width, m.head_width, nb * (nb + 1) // 2
    critic_layers = (("pose.in", 3 * J, P_, True), ("pose.fc1", P_, P_, True), ("pose.fc2", P_, P_, True),
                     ("pose.out", P_, P_, False), ("kcs.in", nF, K_, True), ("kcs.fc1", K_, K_, True),
                     ("kcs.fc2", K_, K_, False), ("head.fc", P_ + K_, Hh, True), ("head.out", Hh, 1, False))

    def init_critic():
        p = {}
        for name, n_in, n_out, act in critic_layers:
            gain = 2.0 / (1.0 + da * da) if act else 1.0
            p[name + ".W"] = normal((n_in, n_out), math.sqrt(gain / n_in))
            p[name + ".b"] = torch.zeros(n_out, dtype=dtype)
        return p

    # forwards
    def ln(x, p, pre):
        return F.layer_norm(x, (d,), p[pre + "gamma"], p[pre + "beta"], m.ln_eps)

    def normalize(P, eps):
        """root-relative over its Frobenius norm (data/normalize.normalize)."""
        cen = P - P[:, :1]
        s = cen.square().sum(dim=(1, 2)).sqrt()
        return cen / s.clamp_min(eps)[:, None, None]

    def generator(p, W):
        """W (B, J, 2) -> X (B, J, 3): PoseGate-Former, then the depth lift when lift='depth' (with
        the network's first two channels added to W's x and y when lift='offset')."""
        B = W.shape[0]
        Z = linear(W, p["embed.E"], p["embed.b"])
        if m.pos_embedding:
            Z = Z + p["embed.P"]
        for i in range(m.n_layers):
            q = f"layers.{i}."
            U = ln(Z, p, q + "ln1.")
            qkv = linear(U, p[q + "attn.W_qkv"], p[q + "attn.b_qkv"]).view(B, J, 3, h, dk).permute(2, 0, 3, 1, 4)
            Q, K, V = qkv[0], qkv[1], qkv[2]                              # (B, h, J, dk)
            Uf = U.reshape(B, J * d)                                      # the gate reads the flattened input
            G = torch.sigmoid(linear(torch.sigmoid(linear(Uf, p[q + "gate.A1"], p[q + "gate.a1"])),
                                     p[q + "gate.A2"], p[q + "gate.a2"]))
            Bb = torch.sigmoid(linear(torch.sigmoid(linear(Uf, p[q + "gate.C1"], p[q + "gate.c1"])),
                                      p[q + "gate.C2"], p[q + "gate.c2"]))
            S = torch.softmax((Q @ K.transpose(-1, -2)) * dk ** -0.5, dim=-1)
            A = (S + (1.0 - Bb)[..., None, None]) * G[..., None, None]    # Eq. (1), read literally
            heads = (A @ V).transpose(1, 2).reshape(B, J, d)
            Z = Z + linear(heads, p[q + "attn.W_o"], p[q + "attn.b_o"])
            Hf = F.gelu(linear(ln(Z, p, q + "ln2."), p[q + "ffn.W1"], p[q + "ffn.b1"]), approximate="tanh")
            Z = Z + linear(Hf, p[q + "ffn.W2"], p[q + "ffn.b2"])
        X = linear(ln(Z, p, "ln_f."), p["head.W"], p["head.b"])
        if m.lift in ("depth", "offset"):
            xy = W + X[..., :2] if m.lift == "offset" else W
            X = normalize(torch.cat([xy, X[..., 2:]], dim=2), 1e-12)
        return X

    def camera(p, W):
        """W (B, J, 2) -> M (B, 2, 3)."""
        B = W.shape[0]
        x = F.leaky_relu(linear(W.reshape(B, -1), p["in.W"], p["in.b"]), ca)
        for i in range(m.camera_blocks):
            q = f"blocks.{i}."
            a = F.leaky_relu(linear(x, p[q + "fc1.W"], p[q + "fc1.b"]), ca)
            x = F.leaky_relu(x + linear(a, p[q + "fc2.W"], p[q + "fc2.b"]), ca)
        return linear(x, p["out.W"], p["out.b"]).view(B, 2, 3)

    def critic(p, X):
        """X (B, J, 3) -> D (B,)."""
        B = X.shape[0]
        lr = lambda z: F.leaky_relu(z, da)  # noqa: E731
        h1 = lr(linear(X.reshape(B, -1), p["pose.in.W"], p["pose.in.b"]))
        h2 = lr(linear(h1, p["pose.fc1.W"], p["pose.fc1.b"]))
        h3 = lr(h1 + linear(h2, p["pose.fc2.W"], p["pose.fc2.b"]))
        pp = linear(h3, p["pose.out.W"], p["pose.out.b"])
        bones = C.T @ X                                               # (nb, J) @ (B, J, 3) -> (B, nb, 3)
        Psi = bones @ bones.transpose(1, 2)                           # (B, nb, nb)
        feat = Psi.reshape(B, nb * nb)[:, triu]
        k1 = lr(linear(feat, p["kcs.in.W"], p["kcs.in.b"]))
        k2 = lr(linear(k1, p["kcs.fc1.W"], p["kcs.fc1.b"]))
        k = k1 + linear(k2, p["kcs.fc2.W"], p["kcs.fc2.b"])
        hh = lr(linear(torch.cat([pp, k], dim=1), p["head.fc.W"], p["head.fc.b"]))
        return linear(hh, p["head.out.W"], p["head.out.b"]).reshape(B)

    # losses (losses.py, losses3d.py)
    def rr(P):
        return P - P[:, :1]

    def joint_distance(A_, B_):
        return ((A_ - B_).square().sum(dim=2) + EPS_DIST ** 2).sqrt().mean()

    def camera_loss(M):
        A_ = M @ M.transpose(1, 2)
        t = A_[:, 0, 0] + A_[:, 1, 1]
        return (A_ * (2.0 / t)[:, None, None] - eye2).abs().sum() / M.shape[0]

    def bone_ratios(X):
        lengths = ((C.T @ X).square().sum(dim=2) + EPS_DIST ** 2).sqrt()
        return lengths / lengths.mean(dim=1, keepdim=True)

    def critic_loss(p, X_real, X_fake, eps):
        """L_D = mean D(X_f) - mean D(X_r) + lam mean_b (||dD/dX (X_hat_b)|| - 1)^2 (SPEC section 5)."""
        B = X_real.shape[0]
        e = eps[:, None, None]
        X_hat = (e * X_real + (1.0 - e) * X_fake).requires_grad_(True)
        D_rf = critic(p, torch.cat([X_real, X_fake]))
        D_hat = critic(p, X_hat)
        g, = torch.autograd.grad(D_hat.sum(), X_hat, create_graph=True)   # the double backward's graph
        norm = g.reshape(B, -1).square().sum(dim=1).sqrt()
        pen = o.lam * (norm - 1.0).square().mean()
        d_real, d_fake = D_rf[:B].mean(), D_rf[B:].mean()
        return d_fake - d_real + pen, {"wasserstein": d_real - d_fake, "penalty": pen, "grad_norm": norm.mean()}

    def generator_loss(pg, pc, pd, W, R=None, bone_target=None, W_target=None):
        """-> (L_G, terms): L_G = w_adv L_adv + w_rep L_rep + w_cam L_cam (+ w_geo L_geo + w_bone L_bone);
        L_rep against W_target when given (reproject_clean), else against W."""
        X = generator(pg, W)
        M = camera(pc, W)
        Wp = X @ M.transpose(1, 2)
        if o.perspective:                       # shrunk by exp(-K z), z along M's rows' cross product
            c = torch.linalg.cross(M[:, 0], M[:, 1])
            r = c / c.norm(dim=1, keepdim=True).clamp_min(1e-12)
            Wp = Wp * (-o.perspective * (X @ r[:, :, None])).exp()
        T = W if W_target is None else W_target
        terms = {"loss_adv": -critic(pd, X).mean(), "loss_rep": (T - Wp).abs().mean(), "loss_cam": camera_loss(M)}
        L = o.w_adv * terms["loss_adv"] + o.w_rep * terms["loss_rep"] + o.w_cam * terms["loss_cam"]
        if R is not None:                       # self-consistency: turn, project, normalise, lift again
            Y = X @ R.transpose(1, 2)
            P = Y[..., :2] * (-o.perspective * Y[..., 2:]).exp() if o.perspective else Y[..., :2]
            X2 = generator(pg, normalize(P, 1e-6))
            terms["loss_geo"] = joint_distance(rr(X2), rr(Y))
            L = L + o.w_geo * terms["loss_geo"]
        if bone_target is not None:
            terms["loss_bone"] = (bone_ratios(X) - bone_target).square().sum() / X.shape[0]
            L = L + o.w_bone * terms["loss_bone"]
        return L, terms

    def supervised_loss(pg, W, X_gt):
        return joint_distance(rr(generator(pg, W)), rr(X_gt))

    return SimpleNamespace(init_generator=init_generator, init_camera=init_camera, init_critic=init_critic,
                           generator=generator, camera=camera, critic=critic, critic_loss=critic_loss,
                           generator_loss=generator_loss, supervised_loss=supervised_loss, normalize=normalize,
                           bone_ratios=bone_ratios)


def turns(torch, B, dtype, elevation=0.0, elevation_std=0.0):
    """(B, 3, 3) R = Rx(e2) Ry(theta) Rx(-e1) (data/augment.camera_turns)."""
    def pitch(a):
        c, s = a.cos(), a.sin()
        R = torch.zeros(B, 3, 3, dtype=torch.float64)
        R[:, 0, 0], R[:, 1, 1], R[:, 1, 2], R[:, 2, 1], R[:, 2, 2] = 1.0, c, -s, s, c
        return R
    e1 = elevation + elevation_std * torch.randn(B, dtype=torch.float64)
    e2 = elevation + elevation_std * torch.randn(B, dtype=torch.float64)
    th = (torch.rand(B, dtype=torch.float64) * 2.0 - 1.0) * math.pi
    c, s = th.cos(), th.sin()
    Ry = torch.zeros(B, 3, 3, dtype=torch.float64)
    Ry[:, 0, 0], Ry[:, 0, 2], Ry[:, 1, 1], Ry[:, 2, 0], Ry[:, 2, 2] = c, s, 1.0, -s, c
    return (pitch(e2) @ Ry @ pitch(-e1)).to(dtype)


# -- the trainer ----------------------------------------------------------------------------------------
class TorchTrainer:
    """Trainer's iteration (gatepose/train.py) in PyTorch: models, two Adams, samplers over a random pool."""

    def __init__(self, torch, F, o, m, n_data, adam, dtype):
        self.torch, self.o, self.m = torch, o, m
        self.nets = build(torch, F, m, o, dtype)
        self.full = o.supervision == "full"
        leaf = lambda p: {k: v.requires_grad_(True) for k, v in p.items()}  # noqa: E731
        self.gen = leaf(self.nets.init_generator())
        self.cam = {} if self.full else leaf(self.nets.init_camera())
        self.critic = {} if self.full else leaf(self.nets.init_critic())
        self.adv = list(self.gen.values()) + list(self.cam.values())
        kw = {"foreach": True} if adam == "foreach" else {"fused": True} if adam == "fused" else {}
        self.opt_g = torch.optim.Adam(self.adv, lr=o.lr, betas=tuple(o.betas), eps=1e-8, **kw)
        self.opt_d = (torch.optim.Adam(list(self.critic.values()), lr=o.lr_critic or o.lr, betas=tuple(o.betas),
                                       eps=1e-8, **kw) if self.critic else None)
        self.ema = ({k: v.detach().clone() for k, v in self.gen.items()} if o.ema else None)
        # random normalised poses (gatepose.bench.random_train_data): 2D inputs, unpaired 3D poses
        J = m.n_joints
        self.W_pool = self.nets.normalize(torch.randn(n_data, J, 2), 1e-6).to(dtype)
        self.X_pool = self.nets.normalize(torch.randn(n_data, J, 3), 1e-6).to(dtype)
        self.ptr = {"2d": [torch.randperm(n_data), 0], "3d": [torch.randperm(n_data), 0]}
        up = self.X_pool[:, THORAX].double() - self.X_pool[:, 0].double()   # augment.estimate_elevation
        e = torch.atan2(-up[:, 2], -up[:, 1])
        self.elevation = (float(e.mean()), float(e.std())) if o.w_geo else (0.0, 0.0)
        self.bone_target = self.nets.bone_ratios(self.X_pool).mean(dim=0) if o.w_bone else None
        self.dtype = dtype

    def _next(self, which, pool):
        B, torch = self.o.batch_size, self.torch
        perm, i = self.ptr[which]
        if i + B > len(perm):
            perm, i = torch.randperm(len(perm)), 0
        self.ptr[which] = [perm, i + B]
        return pool[perm[i:i + B]]

    @staticmethod
    def _step(opt, params, grads):
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()

    def iteration(self) -> dict:
        torch = self.torch
        losses = self._full() if self.full else self._weak()
        if self.ema is not None:
            with torch.no_grad():
                for k, p in self.gen.items():
                    self.ema[k].lerp_(p, 1.0 - self.o.ema)     # ema <- d ema + (1 - d) p
        return losses

    def _full(self):
        torch, n = self.torch, self.nets
        W, X = self._noisy(self._next("2d", self.W_pool)), self._next("3d", self.X_pool)   # pairs in gatepose; random here
        L = n.supervised_loss(self.gen, W, X)
        self._step(self.opt_g, self.adv, torch.autograd.grad(L, self.adv))
        return {"loss_sup": L.detach()}

    def _weak(self):
        torch, o, n, B = self.torch, self.o, self.nets, self.o.batch_size
        eps_all = torch.rand(o.n_critic, B, dtype=self.dtype)
        W_clean = [self._next("2d", self.W_pool) for _ in range(o.n_critic + 1)]
        W_all = torch.cat([self._noisy(W) for W in W_clean])
        nf = o.n_critic * B
        with torch.no_grad():                                 # the generator is frozen for the critic steps
            X_fakes = n.generator(self.gen, W_all[:nf])
        dparams = list(self.critic.values())
        for k in range(o.n_critic):
            L_D, info = n.critic_loss(self.critic, self._next("3d", self.X_pool), X_fakes[k * B:(k + 1) * B], eps_all[k])
            self._step(self.opt_d, dparams, torch.autograd.grad(L_D, dparams))
        R = turns(torch, B, self.dtype, *self.elevation) if o.w_geo else None
        L_G, terms = n.generator_loss(self.gen, self.cam, self.critic, W_all[nf:], R, self.bone_target,
                                      W_clean[-1] if o.reproject_clean else None)
        self._step(self.opt_g, self.adv, torch.autograd.grad(L_G, self.adv))  # critic frozen: no weight grads
        return {"loss_d": L_D.detach(), **{k: v.detach() for k, v in info.items()},
                **{k: v.detach() for k, v in terms.items()}}

    def _noisy(self, W):
        """aug_noise_2d: N(0, sigma^2) on every coordinate, normalised again (augment.corrupt_inputs)."""
        if not self.o.aug_noise_2d:
            return W
        return self.nets.normalize(W + self.o.aug_noise_2d * self.torch.randn_like(W), 1e-6)

    def infer(self, W):
        with self.torch.no_grad():
            return self.nets.generator(self.gen, W)


# -- timing -------------------------------------------------------------------------------------------
def percentile(xs, q):
    s = sorted(xs)
    k = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(times):
    ms = [1e3 * t for t in times]
    return {"median_ms": percentile(ms, 50), "p10_ms": percentile(ms, 10), "p90_ms": percentile(ms, 90), "n": len(ms)}


def n_params(p):
    return int(sum(v.numel() for v in p.values()))


# -- against gatepose, in float64 (--check) -------------------------------------------------------------
def check_against_gatepose(torch, F, o, m, gpcfg, seed=0, B=8):
    """gatepose's initial parameters in the torch models (names and shapes must match exactly), one
    batch, and each loss and gradient of the step compared with gatepose's hand-written ones."""
    import numpy as np
    from gatepose.data.augment import camera_turns
    from gatepose.data.normalize import normalize
    from gatepose.losses import critic_loss, generator_loss
    from gatepose.losses3d import bone_prior_term, bone_ratios, consistency_term, supervised_step
    from gatepose.nn.camera import init_camera
    from gatepose.nn.critic import init_critic
    from gatepose.nn.generator import init_generator

    opts, gcfg, ccfg, dcfg = gpcfg
    rng = np.random.default_rng(seed)
    dt = torch.float64
    nets = build(torch, F, m, o, dt)
    full = o.supervision == "full"
    np_models = {"generator": init_generator(gcfg, rng, np, np.float64)}
    mine = {"generator": nets.init_generator()}
    if not full:
        np_models["camera"], mine["camera"] = init_camera(ccfg, rng, np, np.float64), nets.init_camera()
        np_models["critic"], mine["critic"] = init_critic(dcfg, rng, np, np.float64), nets.init_critic()
    tp = {}
    for name, ref in np_models.items():
        if set(ref) != set(mine[name]) or any(tuple(ref[k].shape) != tuple(mine[name][k].shape) for k in ref):
            raise SystemExit(f"--check: the torch {name}'s parameter names or shapes differ from gatepose's")
        tp[name] = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in ref.items()}
    J = m.n_joints
    W = normalize(rng.standard_normal((B, J, 2)))[0]
    X_r = normalize(rng.standard_normal((B, J, 3)))[0]
    X_f = normalize(rng.standard_normal((B, J, 3)))[0]
    T = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    report = {}

    def compare(name, L_ref, L_t, g_ref, params):
        g_t = dict(zip(params, torch.autograd.grad(L_t, list(params.values()))))
        # each tensor's difference over its largest entry; a gradient that is zero in exact arithmetic
        # (head.b of a root-relative loss, the depth lift's unused channels) over 1e-9 of the model's largest
        floor = 1e-9 * max(float(np.abs(g).max()) for g in g_ref.values())
        rel = {k: float(np.abs(g_ref[k] - g.numpy()).max()) / max(float(np.abs(g_ref[k]).max()), floor)
               for k, g in g_t.items()}
        worst = max(rel, key=rel.get)
        L_t = float(L_t.detach())
        report[name] = {"loss_gatepose": float(L_ref), "loss_torch": L_t,
                        "loss_rel_diff": abs(float(L_ref) - L_t) / max(abs(float(L_ref)), 1e-30),
                        "max_rel_grad_diff": rel[worst], "worst_tensor": worst, "tensors": len(rel)}

    if full:
        L_ref, g_ref = supervised_step(np_models["generator"], gcfg, W, X_r)
        compare("supervised step", L_ref, nets.supervised_loss(tp["generator"], T(W), T(X_r)), g_ref, tp["generator"])
        return report
    eps = rng.random(B)
    L_ref, g_ref, _ = critic_loss(np_models["critic"], X_r, X_f, eps, dcfg, opts.lam)
    L_t, _ = nets.critic_loss(tp["critic"], T(X_r), T(X_f), T(eps))
    compare("critic step (L_D, gradient penalty)", L_ref, L_t, g_ref, tp["critic"])
    R = camera_turns(rng, B, np, np.float64, 0.2, 0.1) if o.w_geo else None
    target = bone_ratios(X_r, np.asarray(m.incidence, np.float64)).mean(axis=0) if o.w_bone else None
    terms = (() if R is None else (consistency_term(np_models["generator"], gcfg, R, o.w_geo, o.perspective),)) + \
        (() if target is None else (bone_prior_term(np.asarray(m.incidence, np.float64), target, o.w_bone),))
    # reproject_clean: the step's input is a noisy W, L_rep's target the W before the noise
    W_in = normalize(W + 0.01 * rng.standard_normal(W.shape))[0] if o.reproject_clean else W
    W_target = W if o.reproject_clean else None
    vals, gg, gc = generator_loss(np_models["generator"], np_models["camera"], np_models["critic"], W_in, gcfg,
                                  ccfg, dcfg, o.w_adv, o.w_rep, o.w_cam, terms=terms, W_target=W_target,
                                  perspective=o.perspective)
    weights = [o.w_adv, o.w_rep, o.w_cam] + [o.w_geo] * (R is not None) + [o.w_bone] * (target is not None)
    L_ref = sum(w * float(v) for w, v in zip(weights, vals))
    L_t, _ = nets.generator_loss(tp["generator"], tp["camera"], tp["critic"], T(W_in), None if R is None else T(R),
                                 None if target is None else T(target), None if W_target is None else T(W_target))
    adv = {**{"gen/" + k: v for k, v in tp["generator"].items()}, **{"cam/" + k: v for k, v in tp["camera"].items()}}
    compare("generator step (L_G)", L_ref, L_t, {**{"gen/" + k: v for k, v in gg.items()},
                                                 **{"cam/" + k: v for k, v in gc.items()}}, adv)
    return report


# -- main -----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="gatepose's training step of a preset, in PyTorch eager on the CPU.")
    ap.add_argument("--preset", default="small-weak", choices=tuple(PRESETS))
    ap.add_argument("--iterations", type=int, default=40, help="timed training iterations (median, p10, p90)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--infer-batch", type=int, default=1024, help="generator forward under no_grad (0: skip)")
    ap.add_argument("--infer-repeat", type=int, default=10)
    ap.add_argument("--omp-passive", action="store_true",
                    help="OMP_WAIT_POLICY=PASSIVE for torch's threads (helps a lot on a busy machine, where spinning "
                         "threads wait for a core at every parallel op)")
    ap.add_argument("--adam", choices=("default", "foreach", "fused"), default="default",
                    help="torch.optim.Adam's implementation (default: PyTorch's own choice on the CPU)")
    ap.add_argument("--n-data", type=int, default=20000, help="random normalised poses in each pool")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="override a preset option (TrainOptions' name, e.g. batch_size=256, w_bone=1.0); repeatable")
    ap.add_argument("--gatepose", action="store_true",
                    help="also time gatepose's own step of the preset in this process, alternating blocks")
    ap.add_argument("--rounds", type=int, default=2, help="with --gatepose: alternating blocks per side")
    ap.add_argument("--check", action="store_true",
                    help="compare the step's losses and gradients with gatepose's (float64, gatepose's init), then exit")
    ap.add_argument("--json", action="store_true")
    return ap.parse_args(argv)


def parse_overrides(items):
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected OPTION=VALUE")
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            v = val
        out[key.strip().replace("-", "_")] = tuple(v) if isinstance(v, list) else v
    return out


def gatepose_trainer(opts, n_data, seed):
    """gatepose's Trainer as ``gatepose bench --preset`` builds it (random_train_data, X_train paired)."""
    import dataclasses

    import numpy as np
    from gatepose.bench import random_train_data
    from gatepose.train import Trainer
    opts = dataclasses.replace(opts, seed=seed, steps=1)
    data = random_train_data(17, n_data, seed)
    data = dataclasses.replace(data, X_train=data.X_real[:len(data.W_train)])
    return Trainer(opts, data, np, np.float32)


def main(argv=None):
    args = parse_args(argv)
    if args.omp_passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"     # read when torch loads its OpenMP runtime
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        sys.exit("torch_reference.py needs PyTorch, which gatepose does not depend on. Install the CPU build, "
                 "e.g.  pip install torch (its CPU build)")
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    gp = import_gatepose()
    overrides = parse_overrides(args.set)
    if args.gatepose and gp is None:
        sys.exit("--gatepose: gatepose cannot be imported here")
    o, m, gpcfg = resolve(args.preset, overrides, gp)
    check_supported(o, m)

    if args.check:
        if gp is None:
            sys.exit("--check: gatepose cannot be imported here")
        rep = check_against_gatepose(torch, F, o, m, gpcfg, args.seed)
        ok = all(r["loss_rel_diff"] < 1e-9 and r["max_rel_grad_diff"] < 1e-7 for r in rep.values())
        if args.json:
            print(json.dumps({"preset": args.preset, "check": rep, "ok": ok}, indent=2))
        else:
            for name, r in rep.items():
                print(f"{args.preset}: {name}: loss {r['loss_gatepose']:.10g} (gatepose) vs {r['loss_torch']:.10g} "
                      f"(torch), rel. diff {r['loss_rel_diff']:.1e}; largest rel. gradient diff over its {r['tensors']} "
                      f"tensors {r['max_rel_grad_diff']:.1e} ({r['worst_tensor']})")
            print("check:", "ok (float64: losses within 1e-9, gradients within 1e-7)" if ok else "MISMATCH")
        return 0 if ok else 1

    dtype = torch.float32
    tr = TorchTrainer(torch, F, o, m, args.n_data, args.adam, dtype)
    params = {"generator": n_params(tr.gen), "camera": n_params(tr.cam), "critic": n_params(tr.critic)}
    result = {"preset": args.preset, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "dtype": "float32", "adam": args.adam, "presets_from": "gatepose" if gp else "built-in copy",
              "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(o).items()},
              "parameters": params}
    flops = None
    if gp is not None:
        import numpy as np
        from gatepose.bench import generator_flops, phase_flops
        from gatepose.nn.camera import init_camera
        from gatepose.nn.critic import init_critic
        from gatepose.nn.generator import init_generator
        opts, gcfg, ccfg, dcfg = gpcfg
        rng = np.random.default_rng(0)
        gpar = {"generator": int(sum(v.size for v in init_generator(gcfg, rng, np, np.float32).values()))}
        if not tr.full:
            gpar["camera"] = int(sum(v.size for v in init_camera(ccfg, rng, np, np.float32).values()))
            gpar["critic"] = int(sum(v.size for v in init_critic(dcfg, rng, np, np.float32).values()))
        else:
            gpar.update(camera=0, critic=0)
        result["parameters_gatepose"] = gpar
        result["parameters_match"] = gpar == params
        flops = sum(phase_flops(SimpleNamespace(opts=opts, gcfg=gcfg, ccfg=ccfg, dcfg=dcfg, full=tr.full)).values())
        result["step_flops_gatepose_count"] = flops
        result["infer_flops_gatepose_count"] = generator_flops(gcfg, args.infer_batch) if args.infer_batch else None

    gtr = gatepose_trainer(gpcfg[0], args.n_data, args.seed) if args.gatepose else None
    losses = {}
    for _ in range(args.warmup):
        losses = tr.iteration()
    if gtr is not None:
        for _ in range(args.warmup):
            gtr.iteration()
    rounds = max(1, args.rounds) if gtr is not None else 1
    t_torch, t_gp = [], []
    for r in range(rounds):
        n = args.iterations // rounds + (1 if r < args.iterations % rounds else 0)
        last = {}

        def it():
            last.update(tr.iteration())
        t_torch += timed(it, n)
        losses = last or losses
        if gtr is not None:
            t_gp += timed(gtr.iteration, n)
    result["train"] = summary(t_torch)
    result["losses"] = {k: float(v) for k, v in losses.items()}
    if flops:
        result["train"]["gflop_per_s"] = flops / 1e9 / (result["train"]["median_ms"] / 1e3)
    if gtr is not None:
        result["gatepose_train"] = summary(t_gp)
        result["gatepose_shards"] = gtr.shards
        result["torch_over_gatepose"] = result["train"]["median_ms"] / result["gatepose_train"]["median_ms"]
    if args.infer_batch:
        Wi = tr.nets.normalize(torch.randn(args.infer_batch, m.n_joints, 2), 1e-6).to(dtype)
        timed(lambda: tr.infer(Wi), 2)
        result["infer"] = {"batch": args.infer_batch, **summary(timed(lambda: tr.infer(Wi), args.infer_repeat))}
        result["infer"]["poses_per_s"] = args.infer_batch / (result["infer"]["median_ms"] / 1e3)
        if gtr is not None:
            import numpy as np
            Wn = Wi.numpy().astype(np.float32)
            timed(lambda: gtr.speed.infer(gtr.gen, Wn, gtr.gcfg), 2)
            result["gatepose_infer"] = summary(timed(lambda: gtr.speed.infer(gtr.gen, Wn, gtr.gcfg), args.infer_repeat))
    result["load_average_1min_before_after"] = [load_before, os.getloadavg()[0] if load_before is not None else None]
    result["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "default")
    finite = all(math.isfinite(v) for v in result["losses"].values())
    result["losses_finite"] = finite

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_result(result, o, m))
    return 0 if finite else 1


def format_result(r, o, m):
    p = r["parameters"]
    lines = [f"torch_reference --preset {r['preset']}: PyTorch {r['torch']} eager, CPU, {r['threads']} thread(s), "
             f"float32, Adam {r['adam']}, OMP_WAIT_POLICY {r['omp_wait_policy']} (presets from {r['presets_from']})",
             f"  generator d={m.d_model} h={m.n_heads} L={m.n_layers} d_ff={m.d_ff} gate={m.gate_hidden} "
             f"lift={m.lift}: {p['generator']:,} parameters"]
    if o.supervision == "full":
        lines.append(f"  full supervision: one generator step per iteration; batch {o.batch_size}, lr {o.lr}")
    else:
        lines.append(f"  camera width {m.camera_width}: {p['camera']:,}; critic {m.pose_width}/{m.kcs_width}: "
                     f"{p['critic']:,} parameters")
        lines.append(f"  batch {o.batch_size}, n_critic {o.n_critic}, lam {o.lam}, weights adv/rep/cam/geo/bone "
                     f"{o.w_adv}/{o.w_rep}/{o.w_cam}/{o.w_geo}/{o.w_bone}, ema {o.ema}, betas {tuple(o.betas)}, lr {o.lr}")
    if "parameters_gatepose" in r:
        lines.append(f"  parameter counts {'match' if r['parameters_match'] else 'DIFFER FROM'} gatepose's "
                     f"init_generator / init_camera / init_critic: {r['parameters_gatepose']}")
    t = r["train"]
    fl = (f"; {r['step_flops_gatepose_count'] / 1e9:.2f} GFLOP (gatepose's count) -> {t['gflop_per_s']:.1f} GFLOP/s"
          if "gflop_per_s" in t else "")
    lines.append(f"training iteration: {t['median_ms']:.1f} ms median (p10 {t['p10_ms']:.1f} / p90 {t['p90_ms']:.1f}) "
                 f"over {t['n']} iterations{fl}")
    if "gatepose_train" in r:
        g = r["gatepose_train"]
        lines.append(f"gatepose's own step, same process, alternating blocks: {g['median_ms']:.1f} ms median "
                     f"(p10 {g['p10_ms']:.1f} / p90 {g['p90_ms']:.1f}), {r['gatepose_shards']} shard(s); "
                     f"torch / gatepose = {r['torch_over_gatepose']:.2f}")
    if "infer" in r:
        i = r["infer"]
        lines.append(f"inference, batch {i['batch']} (no_grad): {i['median_ms']:.1f} ms median "
                     f"({i['poses_per_s']:,.0f} poses/s)")
        if "gatepose_infer" in r:
            lines.append(f"gatepose inference, batch {i['batch']}: {r['gatepose_infer']['median_ms']:.1f} ms median")
    la = r["load_average_1min_before_after"]
    if la[0] is not None:
        busy = la[0] >= (os.cpu_count() or 1) - 0.5
        lines.append(f"load average (1 min) before / after: {la[0]:.2f} / {la[1]:.2f} on {os.cpu_count()} cores"
                     + ("; the machine was busy: figures are noisy" if busy else "")
                     + ("; with several torch threads on a busy machine try --threads 1 or --omp-passive"
                        if busy and r["threads"] > 1 and r["omp_wait_policy"] == "default" else ""))
    lines.append("last losses: " + ", ".join(f"{k} {v:.4g}" for k, v in r["losses"].items())
                 + ("" if r["losses_finite"] else "  NOT FINITE"))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
