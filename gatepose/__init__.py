"""gatepose: PoseGate-Former, weakly supervised 3D human pose lifting on NumPy/CuPy.

Read in this order (the paper's): ``ops`` (hand-written forward/backward pairs),
``nn.posegate`` (PoseGate-Former), ``nn.camera`` and ``nn.critic`` (RepNet's camera net and KCS
critic), ``losses`` (reprojection, camera, Wasserstein, gradient penalty with its double backward),
``optim`` (Adam), ``train`` (the WGAN-GP loop), ``data``, ``metrics``; ``gradcheck`` verifies every
backward, ``bench`` measures speed.
"""
__version__ = "0.1.0"
