"""The trainable gate and the gated multi-head self-attention of PoseGate-Former (SPEC section 1).

Shapes: B batch, h heads, J joints (tokens), d_k head width, n = J * d the flattened layer input.

Gate module (the paper's "right branch", Fig. 1a): two separate two-layer paths read the same U_flat,

    G  = sigmoid(sigmoid(U_flat A1 + a1) A2 + a2)      (B, h)   one gate value per sample and head
    Bb = sigmoid(sigmoid(U_flat C1 + c1) C2 + c2)      (B, h)   one bias value per sample and head

Attention, Eq. (1) read literally, per head (S: (B, h, J, J), softmax over the last axis):

    S    = softmax(Q K^T / sqrt(d_k))
    A    = G (S + (1 - Bb))            'gated'        (the scalar 1 - Bb is added to every entry)
    A    = S                           'vanilla'
    A    = 1 / J                       'fixed'        (Q and K unused)
    A    = g (S + (1 - 1 / J))         'scalar-gate'  (g one trainable scalar per layer, shape (1,))
    head = A V                         (B, h, J, d_k)
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

from ..backend import get_xp, is_gpu
from ..errors import GateposeError
from ..names import ATTENTION_VARIANTS as VARIANTS  # the one list (gatepose/names.py, the CLI's too)
from .activations import sigmoid_backward, sigmoid_forward
from .softmax import softmax_backward, softmax_forward

GATE_PARAMS = ("A1", "a1", "A2", "a2", "C1", "c1", "C2", "c2")


def _T(x):
    """Swap the last two axes: the per-(sample, head) matrix transpose."""
    return x.swapaxes(-1, -2)


# -- the gate module ---------------------------------------------------------------------------
class GateCache(NamedTuple):
    U_flat: object  # (B, n) layer input, flattened
    hidden: object  # (2, B, hidden) [hG, hB]: sigmoid(U_flat A1 + a1), sigmoid(U_flat C1 + c1)
    out: object     # (2, B, h) [G, Bb]
    p: Mapping      # the gate's weights A1 ... c2


def gate_forward(U_flat, p: Mapping):
    """U_flat: (B, J*d); p: A1, C1 (J*d, hidden), a1, c1 (hidden,), A2, C2 (hidden, h), a2, c2 (h,).

    Returns ((G, Bb), cache), G and Bb: (B, h), both in (0, 1).
    """
    xp = get_xp(U_flat)
    B, H, h = U_flat.shape[0], p["A1"].shape[1], p["A2"].shape[1]
    # The two paths side by side in (2, B, .) arrays, so that each elementwise step is one pass
    # over both. Two GEMMs into it rather than one against [A1 | C1]: fusing would copy both
    # (J*d, hidden) matrices on every call, which costs more than it saves (and dominates
    # single-pose latency).
    z = xp.empty((2, B, H), dtype=U_flat.dtype)
    xp.add(xp.matmul(U_flat, p["A1"], out=z[0]), p["a1"], out=z[0])
    xp.add(xp.matmul(U_flat, p["C1"], out=z[1]), p["c1"], out=z[1])
    hidden, _ = sigmoid_forward(z)
    y = xp.empty((2, B, h), dtype=U_flat.dtype)
    xp.add(xp.matmul(hidden[0], p["A2"], out=y[0]), p["a2"], out=y[0])
    xp.add(xp.matmul(hidden[1], p["C2"], out=y[1]), p["c2"], out=y[1])
    out, _ = sigmoid_forward(y)
    return (out[0], out[1]), GateCache(U_flat, hidden, out, p)


def gate_backward(dG, dBb, cache: GateCache):
    """dG, dBb: (B, h) -> (dU_flat (B, J*d), grads keyed A1 ... c2)."""
    U_flat, hidden, out, p = cache
    xp = get_xp(dG)
    # [G, Bb] = sigmoid(z2), z2 = [hG A2 + a2, hB C2 + c2];  [hG, hB] = sigmoid(U_flat [A1, C1] + [a1, c1])
    dz2 = sigmoid_backward(xp.stack([dG, dBb]), out)              # (2, B, h)
    dW2 = hidden.transpose(0, 2, 1) @ dz2                          # (2, hidden, h): A2, C2
    db2 = dz2.sum(axis=1)                                          # (2, h): a2, c2
    dh = xp.empty(hidden.shape, dtype=dz2.dtype)
    xp.matmul(dz2[0], p["A2"].T, out=dh[0])
    xp.matmul(dz2[1], p["C2"].T, out=dh[1])
    dz1 = sigmoid_backward(dh, hidden)                             # (2, B, hidden)
    dW1 = U_flat.T @ dz1                                           # (2, J*d, hidden): A1, C1
    db1 = dz1.sum(axis=1)                                          # (2, hidden): a1, c1
    # both paths read U_flat
    dU_flat = dz1[0] @ p["A1"].T
    dU_flat += dz1[1] @ p["C1"].T
    g = {"A1": dW1[0], "a1": db1[0], "A2": dW2[0], "a2": db2[0],
         "C1": dW1[1], "c1": db1[1], "C2": dW2[1], "c2": db2[1]}
    return dU_flat, {k: g[k] for k in GATE_PARAMS}


# -- gated multi-head self-attention -------------------------------------------------------------
class AttentionCache(NamedTuple):
    variant: str
    Q: object   # (B, h, J, d_k)     (for 'fixed' kept only so plots can show the unused scores)
    K: object   # (B, h, J, d_k)
    V: object   # (B, h, J, d_k)     the backward reads its values (dA = dhead V^T) and its shape
    S: object   # (B, h, J, J)       softmax scores; None for 'fixed'
    A: object   # (B, h, J, J)       the attention actually applied; None for 'fixed' (all 1/J)
    G: object   # (B, h)             'gated' only
    Bb: object  # (B, h)             'gated' only
    g: object   # (1,)               'scalar-gate' only
    T: object = None  # (B, h, J, J)   the gate's factor A / G: S + (1 - Bb) ('gated'), S + (1 - 1/J)
    #                                  ('scalar-gate'): dG = sum(dA T) in one pass


class AttentionGrads(NamedTuple):
    dQ: object
    dK: object
    dV: object
    dG: object = None   # (B, h) for 'gated'
    dBb: object = None  # (B, h) for 'gated'
    dg: object = None   # (1,) for 'scalar-gate'


def attention_forward(Q, K, V, G=None, Bb=None, variant: str = "gated", gscalar=None):
    """Q, K, V: (B, h, J, d_k); G, Bb: (B, h) for 'gated'; gscalar: (1,) for 'scalar-gate'.

    Returns head = A V: (B, h, J, d_k) and the cache.
    """
    J, d_k = V.shape[-2], V.shape[-1]
    if variant == "fixed":
        # A = 1/J everywhere: every output row is the mean of the value vectors.
        head = V.mean(axis=-2, keepdims=True).repeat(J, axis=-2)
        return head, AttentionCache(variant, Q, K, V, None, None, None, None, None)
    if variant not in VARIANTS:
        raise GateposeError(f"unknown attention variant {variant!r}; expected one of {VARIANTS}")
    logits = Q @ _T(K)
    logits *= d_k ** -0.5          # in place on the fresh product; a Python float keeps float32
    S, _ = softmax_forward(logits)
    T = None
    if variant == "vanilla":
        A = S
    elif variant == "gated":
        T = S + (1.0 - Bb)[..., None, None]
        A = T * G[..., None, None]
    else:  # scalar-gate
        T = S + (1.0 - 1.0 / J)
        A = T * gscalar
    return _apply(A, V), AttentionCache(variant, Q, K, V, S, A, G, Bb, gscalar, T)


def _apply(A, V):
    """head = A V: (B, h, J, d_k). On NumPy the product is written straight into (B, J, h, d_k)
    memory, so concatenating the heads is a reshape, not a copy. Why here, not in ``gatepose/fast/``:
    the values are A @ V's (only the memory they land in differs), and this is the training step's
    own forward, which no fast path shadows."""
    xp = get_xp(A, V)
    if is_gpu(xp):
        return A @ V
    B, h, J, d_k = V.shape
    return xp.matmul(A, V, out=xp.empty((B, J, h, d_k), dtype=V.dtype).transpose(0, 2, 1, 3))


def attention_backward(dhead, cache: AttentionCache) -> AttentionGrads:
    """dhead: (B, h, J, d_k) -> AttentionGrads(dQ, dK, dV, dG, dBb, dg), absent ones None.

    For 'fixed', dQ and dK are zeros (Q and K do not reach the output).
    """
    xp = get_xp(dhead)
    variant, Q, K, V, S, A, G, Bb, g, T = cache
    J, d_k = V.shape[-2], V.shape[-1]
    if variant == "fixed":
        # head = (1/J) 1 1^T V  =>  dV = (1/J) 1 1^T dhead: every row gets the mean of dhead's rows
        dV = dhead.mean(axis=-2, keepdims=True).repeat(J, axis=-2)
        zeros = xp.zeros_like(dV)
        return AttentionGrads(zeros, zeros.copy(), dV)

    # head = A V
    dA = dhead @ _T(V)                       # (B, h, J, J)
    dV = _T(A) @ dhead                       # (B, h, J, d_k)

    # A = G (S + (1 - Bb))  /  S  /  g (S + (1 - 1/J))
    dG = dBb = dg = None
    if variant == "gated":
        dG = xp.einsum("bhij,bhij->bh", dA, T)                       # sum(dA * (S + 1 - Bb))
        dS = dA
        dS *= G[..., None, None]     # in place: dA is a fresh product and not needed any more
        dBb = -xp.einsum("bhij->bh", dS)                             # sum(dA * -G)
    elif variant == "scalar-gate":
        dg = xp.einsum("bhij,bhij->", dA, T).reshape(1)              # sum(dA * (S + 1 - 1/J))
        dS = dA
        dS *= g
    else:  # vanilla
        dS = dA

    # S = softmax(logits), logits = Q K^T / sqrt(d_k)
    dlogits = softmax_backward(dS, S)
    dlogits *= d_k ** -0.5
    dQ = dlogits @ K                         # (B, h, J, d_k)
    dK = _T(dlogits) @ Q                     # (B, h, J, d_k)
    return AttentionGrads(dQ, dK, dV, dG, dBb, dg)
