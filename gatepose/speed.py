"""The one seam between the algorithm and the speed machinery of ``gatepose/fast/``.

A run makes four choices for speed alone, and all four come from the object :func:`speed_paths`
builds here from its options, once: the trainer and the loaded runs receive it, and nothing else in
the algorithm or the commands imports ``gatepose.fast`` (only ``bench`` and ``gradcheck`` do, to
measure and check the fast paths themselves). :class:`PlainPaths` is the plain reference
of each choice (what ``train --reference`` runs, and what each fast path is proved equal to);
:class:`FastPaths` overrides them with ``gatepose/fast/``'s paths. The places where the algorithm
enters the seam are marked ``# FAST DOOR n`` in ``train.py``:

1. ``fakes``: the critic steps' fakes (and, on a GPU, the generator step's forward in the same pass);
2. ``batch_mean``, ``critic_loss``: a loss and its gradients as a mean over the batch (shards side
   by side on the cores; the critic step with its three batches stacked);
3. ``optimiser``: Adam, tensor by tensor or over one flat buffer per model;
4. ``infer``: the generator's forward without a cache (validation, evaluation, prediction).

Each fast path is equal to its reference up to rounding; ``tests/fast/test_doors.py`` proves it in
float64 on perturbed parameters and sees each fold fail when broken on purpose.
"""
from __future__ import annotations

import numpy as np

from . import losses
from .backend import is_gpu
from .nn.generator import generator_forward, has_fast_path
from .optim import Adam


class PlainPaths:
    """The plain algorithm: one shard, the plain critic loss, Adam tensor by tensor, the plain forward."""

    name = "plain"
    shards = 1
    optimiser = Adam                    # door 3

    def critic_loss(self, params: dict, X_real, X_fake, eps, cfg, lam: float):
        """Door 2. L_D, its gradients and info: ``losses.critic_loss``, the sum of SPEC section 5."""
        return losses.critic_loss(params, X_real, X_fake, eps, cfg, lam)

    def fakes(self, gen: dict, gcfg, W_all, n_fake: int):
        """Door 1. W_all: (n_fake + B, J, 2), an iteration's 2D inputs -> (the fakes: the
        generator's output on the first n_fake rows (n_fake, J, 3), ``forward``: None, or the
        generator step's forward already done on the last B rows, (X (B, J, 3), its cache))."""
        return self.infer(gen, W_all[:n_fake], gcfg), None

    def batch_mean(self, loss, *batches):
        """Door 2. ``loss(*batches) -> (value, grads, ...)``, means over the batch."""
        return loss(*batches)

    def infer(self, gen: dict, W, gcfg):
        """Door 4. W (b, J, 2) -> the lifted poses (b, J, 3), nothing kept for a backward."""
        return generator_forward(gen, W, gcfg, need_cache=False)[0]


class FastPaths(PlainPaths):
    """``gatepose/fast/``'s paths; each method names its plain reference (the one it overrides)."""

    name = "fast"

    def __init__(self, shards: int, xp=np):
        from .fast.adam import FlatAdam

        self.shards, self.xp = int(shards), xp
        self.optimiser = FlatAdam        # door 3: one flat buffer per model (a dozen kernels on a GPU)

    def critic_loss(self, params, X_real, X_fake, eps, cfg, lam):
        """Door 2. The critic step with its three batches stacked: one forward and one backward over
        3B rows (``fast.critic_step``)."""
        from .fast import critic_step

        return critic_step.stacked_critic_loss(params, X_real, X_fake, eps, cfg, lam)

    def fakes(self, gen, gcfg, W_all, n_fake):
        """Door 1. On a GPU with one shard: one cached forward over all the rows (a GPU is bound by
        the forward's launches, not its rows; ``fast.one_pass``). On the CPU: the fused inference
        where ``fast.fused.uses_fused`` (above INFER_BLOCK_TOKENS tokens). Elsewhere (RepNet's
        generator, small batches) the plain forward."""
        from .fast.fused import generator_inference, uses_fused
        from .fast.one_pass import generator_forward_rows

        if has_fast_path(gcfg):
            if self.shards == 1 and is_gpu(self.xp):
                X_all, cache = generator_forward_rows(gen, W_all, gcfg, slice(n_fake, None))
                return X_all[:n_fake], (X_all[n_fake:], cache)
            if uses_fused(W_all[:n_fake], gcfg):
                return generator_inference(gen, W_all[:n_fake], gcfg), None
        return super().fakes(gen, gcfg, W_all, n_fake)

    def batch_mean(self, loss, *batches):
        """Door 2. The batch cut into ``shards`` side by side on the cores, the shards' means
        weighted by their sizes (``fast.parallel.sharded``)."""
        from .fast.parallel import sharded

        return sharded(loss, list(batches), self.shards, self.xp)

    def infer(self, gen, W, gcfg):
        """Door 4. The fused CPU inference (LayerNorm's affine steps and biases folded into the
        products, blocks side by side on the cores; ``fast.fused``)."""
        from .fast.fused import generator_inference

        return generator_inference(gen, W, gcfg)


def speed_paths(reference: bool = False, shards: int | None = None, xp=np) -> PlainPaths:
    """The one place a run's speed is chosen: the plain paths with ``reference``, else the fast
    ones cut into ``shards`` (default: 2 on the CPU, one on a GPU)."""
    if reference:
        return PlainPaths()
    return FastPaths(shards or (1 if is_gpu(xp) else 2), xp)
