"""Gradient checks: the finite-difference checker (``checker.py``) and the registered cases, one
module per layer of the code: ``ops`` (linear, LayerNorm, softmax, activations), ``generator``
(attention, gate, encoder layer, PoseGate-Former, RepNet's generator), ``critic`` (the residual
block, camera net, projection, KCS, critic), ``losses`` (reprojection, camera, the gradient
penalty's double backward, the critic loss), ``steps``
(the trainer's generator and critic steps through its own code path), ``losses3d`` (full
supervision, geometric self-consistency: departures, gatepose/losses3d.py).

This package sits above the models and the losses: it imports them, they never import it.
"""
from .checker import (DEFAULT_EPS, DEFAULT_RTOL, CHECKS, CheckResult, GradCase, all_checks,  # noqa: F401
                      check_backward, check_scalar_gradient, register_check, rel_error, run_check)
from . import ops, generator, critic, losses, steps, losses3d  # noqa: F401,E402  (registers the cases, in this order)
