"""Check the hand-written backward of PoseGate-Former's gated attention by finite differences.

The gated attention of one layer (SPEC section 1, the paper's Eq. 1) is, per sample and head,

    S = softmax(Q K^T / sqrt(d_k)),   A = G (S + (1 - Bb)),   head = A V

with the gate G and bias Bb in (0, 1). We build small random float64 inputs, run
``attention_forward`` / ``attention_backward`` and let ``gatepose.gradcheck.check_backward``
compare every gradient with central differences. A correct backward scores ~1e-8 or better (the tolerance: 1e-6).

    python examples/check_gated_attention.py            # B=2, h=2, J=5, d_k=3
    python examples/check_gated_attention.py --joints 17 --heads 4
"""
import argparse

import numpy as np

from gatepose.gradcheck import check_backward
from gatepose.ops.attention import attention_backward, attention_forward

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--batch", type=int, default=2)
p.add_argument("--heads", type=int, default=2)
p.add_argument("--joints", type=int, default=5)
p.add_argument("--d-k", type=int, default=3)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

rng = np.random.default_rng(args.seed)
B, h, J, d_k = args.batch, args.heads, args.joints, args.d_k
inputs = {
    "Q": rng.standard_normal((B, h, J, d_k)),
    "K": rng.standard_normal((B, h, J, d_k)),
    "V": rng.standard_normal((B, h, J, d_k)),
    # gate and bias as the gate module's sigmoids give them: strictly inside (0, 1)
    "G": rng.uniform(0.1, 0.9, (B, h)),
    "Bb": rng.uniform(0.1, 0.9, (B, h)),
}


def forward(i):
    return attention_forward(i["Q"], i["K"], i["V"], i["G"], i["Bb"], variant="gated")


def backward(dhead, cache):
    g = attention_backward(dhead, cache)
    return {"Q": g.dQ, "K": g.dK, "V": g.dV, "G": g.dG, "Bb": g.dBb}


results = check_backward(forward, backward, inputs, seed=args.seed)
print(f"gated attention, B={B} h={h} J={J} d_k={d_k} (float64, central differences)")
print(f"{'input':<6} {'shape':<14} {'mode':<11} {'max rel err':>11}  result")
for r in results:
    shape = "x".join(map(str, r.shape))
    print(f"{r.name:<6} {shape:<14} {r.mode:<11} {r.max_rel_error:11.2e}  {'pass' if r.passed else 'FAIL'}")
failed = [r.name for r in results if not r.passed]
print("all gradients match" if not failed else f"FAILED: {', '.join(failed)}")
raise SystemExit(1 if failed else 0)
