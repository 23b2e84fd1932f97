"""The built-in synthetic motion dataset: procedural human motion seen by pinhole cameras.

Nothing is downloaded. The pipeline, each stage vectorised over sequences and frames:

1. :func:`make_subjects` - bone lengths per subject: a height in [1.55, 1.95] m scales a base
   skeleton; each bone gets its own proportion (left and right alike), hips and shoulders their
   own width.
2. :func:`simulate` - per sequence an action family (:data:`ACTIONS`) with its own speed,
   amplitude, phase and posture offsets drives smooth joint-angle trajectories (degrees), clipped
   to :data:`JOINT_LIMITS`; :func:`forward_kinematics` turns them into 3D; the root faces a random
   direction, walks and jogs follow an arc, and the lowest ankle rests on the floor (jump and jog
   leave it in their flight phases).
3. :func:`render` - several pinhole cameras per sequence (distance 3-6 m beyond the motion's
   extent, height 0.8-2 m, aimed at the subject, focal 800-1200 px, principal point near the
   centre of a 1000 x 1000 image, a little roll) map the motion to camera coordinates and pixels.

Frames: the world frame is metric (mm) with +y up and the floor at y = 0; the body frame has
+x to the subject's left, +y up, +z forward. Camera coordinates follow Human3.6M / OpenCV: +x right,
+y down, +z forward (depth), in mm; pixels are u = fx x / z + cx, v = fy y / z + cy.

Everything is deterministic for a seed: subjects, motions and cameras come from independent
streams of ``numpy.random.default_rng([seed, stream])``, so the subjects do not change when the
number of frames does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gatepose.errors import GateposeError

from .archive import Dataset
from .skeleton import DEFAULT_SKELETON, get_skeleton, joint_map

FPS = 50.0
IMAGE_SIZE = (1000, 1000)
ACTIONS = ("walk", "jog", "box", "sit", "squat", "wave", "pickup", "jump", "kick", "talk")
#: Actions in which at least one foot is always on the floor.
STANDING_ACTIONS = ("walk", "box", "sit", "squat", "wave", "pickup", "kick", "talk")

# Rotational joints and the h36m17 joint at the end of the bone each one turns.
CHANNELS = ("lumbar", "thoracic", "neck", "head", "l_clavicle", "r_clavicle", "l_shoulder", "r_shoulder",
            "l_elbow", "r_elbow", "l_hip", "r_hip", "l_knee", "r_knee")
_CHANNEL_BONE_CHILD = (7, 8, 9, 10, 11, 14, 12, 15, 13, 16, 5, 2, 6, 3)
_CH = {name: i for i, name in enumerate(CHANNELS)}

#: Joint limits in degrees, (low, high) per axis: flexion (+ forward: thigh or arm raised
#: forward, trunk or head bent forward; + for knees means the shin folds back), abduction (+ away
#: from the body's midline; lateral bend for the trunk), twist (+ external rotation). Limbs of
#: both sides share one row; the right side is mirrored.
JOINT_LIMITS = {
    "lumbar": ((-25.0, 70.0), (-30.0, 30.0), (-35.0, 35.0)),
    "thoracic": ((-15.0, 40.0), (-20.0, 20.0), (-30.0, 30.0)),
    "neck": ((-40.0, 50.0), (-30.0, 30.0), (-60.0, 60.0)),
    "head": ((-30.0, 30.0), (-20.0, 20.0), (-30.0, 30.0)),
    "clavicle": ((-15.0, 20.0), (-10.0, 35.0), (0.0, 0.0)),
    "shoulder": ((-60.0, 170.0), (-30.0, 170.0), (-70.0, 90.0)),
    "elbow": ((0.0, 150.0), (0.0, 0.0), (0.0, 0.0)),
    "hip": ((-25.0, 125.0), (-30.0, 50.0), (-40.0, 40.0)),
    "knee": ((0.0, 150.0), (0.0, 0.0), (0.0, 0.0)),
}


def _limit_of(channel: str) -> str:
    return channel[2:] if channel[:2] in ("l_", "r_") else channel


LIMITS_ARRAY = np.array([JOINT_LIMITS[_limit_of(c)] for c in CHANNELS])  # (14, 3, 2) degrees
# Sign that turns anatomical flexion into a rotation about the body's +x (left) axis.
_FLEX_SIGN = np.array([1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, 1, 1], dtype=np.float64)
# Mirror for the right side: a reflection x -> -x flips rotations about y and z.
_MIRROR = np.array([-1.0 if c.startswith("r_") else 1.0 for c in CHANNELS])

# Rest pose of h36m17 (body frame: +x left, +y up, +z forward): unit direction of each bone, at
# the child joint; base lengths in mm for a subject 1.75 m tall.
_REST_DIR = np.array([
    [0, 0, 0],                      # 0 pelvis (root)
    [-1, -0.15, 0], [0, -1, 0], [0, -1, 0],    # r_hip, r_knee, r_ankle
    [1, -0.15, 0], [0, -1, 0], [0, -1, 0],     # l_hip, l_knee, l_ankle
    [0, 1, 0.05], [0, 1, -0.05], [0, 1, 0.3], [0, 1, -0.15],  # spine, thorax, neck, head
    [1, -0.15, 0], [0, -1, 0], [0, -1, 0],     # l_shoulder, l_elbow, l_wrist
    [-1, -0.15, 0], [0, -1, 0], [0, -1, 0],    # r_shoulder, r_elbow, r_wrist
], dtype=np.float64)
_REST_DIR[1:] /= np.linalg.norm(_REST_DIR[1:], axis=1, keepdims=True)
_BASE_LENGTH = np.array([0, 130, 450, 440, 130, 450, 440, 230, 250, 115, 115, 150, 285, 250, 150, 285, 250],
                        dtype=np.float64)
_BASE_HEIGHT = 1750.0
_PARENTS = get_skeleton("h36m17").parents
_WIDTH_BONES = (1, 4, 11, 14)       # pelvis-hip and thorax-shoulder: widths
_MIRROR_JOINT = get_skeleton("h36m17").flip_permutation


# ----------------------------------------------------------------------------------------------
# Subjects


@dataclass(frozen=True)
class Subjects:
    names: tuple[str, ...]
    height: np.ndarray         # (S,) mm
    lengths: np.ndarray        # (S, 17) mm, bone length at each child joint (0 for the root)
    ankle_height: np.ndarray   # (S,) mm, ankle joint centre above the floor when standing


def make_subjects(n: int, rng: np.random.Generator) -> Subjects:
    """``n`` subjects with heights in [1.55, 1.95] m and their own, left/right-symmetric proportions."""
    height = rng.uniform(1550.0, 1950.0, n)
    scale = np.clip(rng.normal(0.0, 0.035, (n, 17)), -0.08, 0.08)
    scale[:, _WIDTH_BONES] = np.clip(rng.normal(0.0, 0.06, (n, 4)), -0.12, 0.12)
    scale = scale[:, np.minimum(np.arange(17), _MIRROR_JOINT)]  # the left bone copies the right
    lengths = _BASE_LENGTH * (height / _BASE_HEIGHT)[:, None] * (1.0 + scale)
    return Subjects(tuple(f"S{i + 1}" for i in range(n)), height, lengths, 0.045 * height)


# ----------------------------------------------------------------------------------------------
# Kinematics


def euler_to_matrix(flex, abd, twist):
    """R = Rz(abd) Rx(flex) Ry(twist) for angles in radians of any shape (...); returns (..., 3, 3)."""
    ca, sa = np.cos(abd), np.sin(abd)
    cb, sb = np.cos(flex), np.sin(flex)
    cc, sc = np.cos(twist), np.sin(twist)
    R = np.empty(np.shape(flex) + (3, 3))
    R[..., 0, 0] = ca * cc - sa * sb * sc
    R[..., 0, 1] = -sa * cb
    R[..., 0, 2] = ca * sc + sa * sb * cc
    R[..., 1, 0] = sa * cc + ca * sb * sc
    R[..., 1, 1] = ca * cb
    R[..., 1, 2] = sa * sc - ca * sb * cc
    R[..., 2, 0] = -cb * sc
    R[..., 2, 1] = sb
    R[..., 2, 2] = cb * cc
    return R


def rot_y(yaw):
    """Rotation about the vertical axis, (...) radians -> (..., 3, 3)."""
    z = np.zeros_like(yaw)
    return euler_to_matrix(z, z, yaw)


def local_rotations(angles_deg: np.ndarray) -> np.ndarray:
    """Joint angles (..., 14, 3) in degrees (flex, abd, twist) -> local rotations (..., 14, 3, 3)."""
    a = np.deg2rad(angles_deg)
    return euler_to_matrix(a[..., 0] * _FLEX_SIGN, a[..., 1] * _MIRROR, a[..., 2] * _MIRROR)


def forward_kinematics(angles_deg: np.ndarray, root_rotation: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Joint positions relative to the pelvis, (..., 17, 3) mm.

    angles_deg: (..., 14, 3) per :data:`CHANNELS`; root_rotation: (..., 3, 3) body -> world;
    lengths: (..., 17) bone lengths (broadcastable). A bone's direction is its rest direction
    turned by the global rotation of its channel; the loop runs over the 17 joints of the tree
    (depth-first order), every step vectorised over all frames.
    """
    L = local_rotations(angles_deg)
    shape = np.broadcast_shapes(angles_deg.shape[:-2], root_rotation.shape[:-2], np.shape(lengths)[:-1])
    G = {0: np.broadcast_to(root_rotation, shape + (3, 3))}
    P = np.zeros(shape + (17, 3))
    channel_of = dict(zip(_CHANNEL_BONE_CHILD, range(len(CHANNELS))))
    for j in range(1, 17):
        p = _PARENTS[j]
        Gj = G[p] @ L[..., channel_of[j], :, :] if j in channel_of else G[p]
        G[j] = Gj
        P[..., j, :] = P[..., p, :] + (Gj @ _REST_DIR[j]) * lengths[..., j, None]
    return P


# ----------------------------------------------------------------------------------------------
# Motion


@dataclass(frozen=True)
class Motion:
    """Q sequences of T frames in the world frame (mm, +y up, floor at y = 0)."""

    world: np.ndarray          # (Q, T, 17, 3) float64
    angles: np.ndarray         # (Q, T, 14, 3) degrees, per CHANNELS
    root_pitch: np.ndarray     # (Q, T) degrees, forward tilt of the pelvis
    subject: np.ndarray        # (Q,) str
    subject_index: np.ndarray  # (Q,) int
    action: np.ndarray         # (Q,) str
    path_radius: np.ndarray    # (Q,) mm, 0 for actions that stay in place
    fps: float
    subjects: Subjects


def _bump(phi, mu, kappa):
    """A smooth periodic bump in (0, 1], peak 1 at phase mu; larger kappa is narrower."""
    return np.exp(kappa * (np.cos(phi - mu) - 1.0))


def _hold(phi):
    """Smooth 0 -> 1 -> 0 over one cycle, lingering at both ends (twice smoothstepped)."""
    s = 0.5 - 0.5 * np.cos(phi)
    for _ in range(2):
        s = s * s * (3.0 - 2.0 * s)
    return s


class _Seq:
    """Per-action parameters for q sequences and the arrays an action fills (degrees)."""

    def __init__(self, q, T, fps, rng, freq):
        self.t = np.arange(T) / fps                                      # (T,) s
        self.f = rng.uniform(*freq, (q, 1))                              # cycles per second
        self.a = rng.uniform(0.75, 1.2, (q, 1))                          # amplitude
        self.phi = 2 * np.pi * self.f * self.t + rng.uniform(0, 2 * np.pi, (q, 1))  # (q, T)
        self.side = rng.choice([-1.0, 1.0], (q, 1))                      # +1: left limb leads
        self.A = np.zeros((q, T, len(CHANNELS), 3))
        self.pitch = np.zeros((q, T))
        self.roll = np.zeros((q, T))
        self.yaw = np.zeros((q, T))
        self.lift = np.zeros((q, T))        # mm above the floor contact (flight)
        self.speed = np.zeros((q, 1))       # mm/s along an arc
        self.radius = np.zeros((q, 1))      # mm
        self.rng = rng

    def set(self, ch, axis, value):
        self.A[:, :, _CH[ch], axis] = value

    def add(self, ch, axis, value):
        self.A[:, :, _CH[ch], axis] += value

    def sided(self, lead, ch, axis, value):
        """Set ``value`` on the lead side's ``ch`` (lead: +1 left, -1 right, per sequence)."""
        left, right = "l_" + ch, "r_" + ch
        cur_l, cur_r = self.A[:, :, _CH[left], axis], self.A[:, :, _CH[right], axis]
        self.A[:, :, _CH[left], axis] = np.where(lead > 0, value, cur_l)
        self.A[:, :, _CH[right], axis] = np.where(lead < 0, value, cur_r)

    def relaxed_arms(self):
        for s in ("l_", "r_"):
            self.set(s + "shoulder", 1, 8.0)
            self.set(s + "elbow", 0, 12.0)


def _walk(m: _Seq, jog=False):
    a, phi = m.a, m.phi
    hip_amp, knee_amp = (36.0, 85.0) if jog else (24.0, 55.0)
    for s, ph in (("l_", phi), ("r_", phi + np.pi)):
        m.set(s + "hip", 0, (15.0 if jog else 8.0) + hip_amp * a * np.sin(ph))
        m.set(s + "knee", 0, (12.0 if jog else 5.0) + knee_amp * a * _bump(ph, 0.2 if jog else 0.0, 1.5))
        m.set(s + "shoulder", 0, (5.0 if jog else 0.0) - (28.0 if jog else 18.0) * a * np.sin(ph))
        m.set(s + "shoulder", 1, 10.0)
        m.set(s + "elbow", 0, (85.0 if jog else 15.0) + (10.0 if jog else 12.0) * a * (0.5 - 0.5 * np.sin(ph)))
    m.set("lumbar", 2, 7.0 * a * np.sin(phi))
    m.set("lumbar", 0, 8.0 if jog else 3.0)
    m.yaw[:] = -5.0 * a * np.sin(phi)
    m.roll[:] = 3.0 * a * np.sin(2 * phi)
    m.pitch[:] = 8.0 if jog else 2.0
    size = m.rng.uniform(0.85, 1.15, m.a.shape)
    m.speed[:] = m.f * (2000.0 if jog else 1350.0) * a * size
    m.radius[:] = m.rng.uniform(1500.0, 3000.0, m.a.shape)
    if jog:  # two flight phases per cycle
        m.lift[:] = 45.0 * a * (0.5 - 0.5 * np.cos(2 * phi - 0.8)) ** 2


def _box(m: _Seq):
    a, phi, lead = m.a, m.phi, m.side
    for s in ("l_", "r_"):
        m.set(s + "knee", 0, 20.0 + 5.0 * np.sin(2 * phi))
        m.set(s + "shoulder", 0, 45.0)
        m.set(s + "shoulder", 1, 15.0)
        m.set(s + "elbow", 0, 120.0)
    m.sided(lead, "hip", 0, 20.0 + 5.0 * np.sin(2 * phi))
    m.sided(-lead, "hip", 0, -8.0 + 5.0 * np.sin(2 * phi))
    m.pitch[:] = 5.0
    m.yaw[:] = 25.0 * lead
    m.set("lumbar", 0, 10.0)
    punch = {"l_": _bump(phi, 0.0, 3.0) * a, "r_": _bump(phi, np.pi, 3.0) * a}
    for s, p in punch.items():
        m.add(s + "shoulder", 0, 40.0 * p)
        m.add(s + "elbow", 0, -105.0 * p)
        m.add(s + "shoulder", 2, -20.0 * p)
    m.set("lumbar", 2, 15.0 * (punch["r_"] - punch["l_"]))


def _sit(m: _Seq):
    c, a = _hold(m.phi), m.a
    for s in ("l_", "r_"):
        m.set(s + "hip", 0, 5.0 + 88.0 * c)
        m.set(s + "hip", 1, 6.0 * c)
        m.set(s + "knee", 0, 5.0 + 88.0 * c)
    m.pitch[:] = 3.0 * c + 30.0 * 4.0 * c * (1.0 - c)   # leaning forward to rise or sit down
    m.set("lumbar", 0, 8.0 * c)
    talk = 2 * np.pi * 0.45 * m.t + m.rng.uniform(0, 2 * np.pi, m.a.shape)
    for s, sign in (("l_", 1.0), ("r_", -1.0)):
        m.set(s + "shoulder", 0, 25.0 * c + 15.0 * a * np.sin(talk * sign))
        m.set(s + "shoulder", 1, 10.0)
        m.set(s + "elbow", 0, 25.0 + 40.0 * c + 20.0 * a * np.cos(talk))
    m.set("neck", 2, 25.0 * np.sin(0.5 * talk))


def _squat(m: _Seq):
    depth = np.clip(m.a, 0.6, 1.05)
    c = (0.5 - 0.5 * np.cos(m.phi)) * depth
    m.pitch[:] = 30.0 * c
    for s in ("l_", "r_"):
        m.set(s + "hip", 0, 85.0 * c + m.pitch)
        m.set(s + "hip", 1, 12.0 * c + 5.0)
        m.set(s + "hip", 2, 15.0 * c)
        m.set(s + "knee", 0, 120.0 * c)
        m.set(s + "shoulder", 0, 85.0 * c)
        m.set(s + "elbow", 0, 10.0)
    m.set("neck", 0, -20.0 * c)


def _wave(m: _Seq):
    a, phi, side = m.a, m.phi, m.side
    m.relaxed_arms()
    high = m.rng.uniform(0.0, 1.0, m.a.shape)           # 0: hand at head height, 1: overhead
    m.sided(side, "shoulder", 1, 95.0 + 55.0 * high)
    m.sided(side, "shoulder", 0, 20.0 - 10.0 * high)
    m.sided(side, "shoulder", 2, 85.0 * (1.0 - high))
    m.sided(side, "elbow", 0, 75.0 * (1.0 - high) + 20.0 + 25.0 * a * np.sin(phi))
    m.sided(side, "clavicle", 1, 15.0 + 10.0 * high)
    m.set("lumbar", 1, -4.0 * side)
    m.set("neck", 2, 10.0 * np.sin(0.2 * phi))


def _pickup(m: _Seq):
    c = _hold(m.phi)
    knee_style = m.rng.uniform(0.1, 0.8, m.a.shape)    # stoop (0) ... squat (1)
    knee = 100.0 * knee_style * c
    m.pitch[:] = (60.0 - 30.0 * knee_style) * c
    lumbar, thoracic = 30.0 * c, 15.0 * c
    m.set("lumbar", 0, lumbar)
    m.set("thoracic", 0, thoracic)
    m.set("neck", 0, -20.0 * c)
    for s in ("l_", "r_"):
        m.set(s + "knee", 0, knee)
        m.set(s + "hip", 0, 0.45 * knee + m.pitch)
        m.set(s + "shoulder", 0, 0.9 * (m.pitch + lumbar + thoracic) + 10.0 * c)
        m.set(s + "shoulder", 1, 8.0)
        m.set(s + "elbow", 0, 15.0)


def _jump(m: _Seq):
    phi, a = m.phi, m.a
    crouch = _bump(phi, -0.9, 4.0) + 0.8 * _bump(phi, 0.9, 4.0)
    fly = _bump(phi, 0.0, 6.0)
    b0 = math.exp(6.0 * (math.cos(0.55) - 1.0))
    m.lift[:] = m.rng.uniform(150.0, 400.0, m.a.shape) * a * np.clip((fly - b0) / (1.0 - b0), 0.0, None)
    m.pitch[:] = 25.0 * crouch
    for s in ("l_", "r_"):
        m.set(s + "knee", 0, 8.0 + 85.0 * crouch)
        m.set(s + "hip", 0, 5.0 + 60.0 * crouch + m.pitch)
        m.set(s + "shoulder", 0, -40.0 * _bump(phi, -0.9, 4.0) + 140.0 * a * _bump(phi, 0.1, 3.0))
        m.set(s + "shoulder", 1, 10.0)
        m.set(s + "elbow", 0, 20.0 + 20.0 * crouch)


def _kick(m: _Seq):
    phi, a, side = m.phi, m.a, m.side
    kick = _bump(phi, 0.0, 3.0) * a
    chamber = _bump(phi, -0.6, 5.0)
    m.sided(side, "hip", 0, 75.0 * kick + 20.0 * chamber)
    m.sided(side, "knee", 0, 90.0 * chamber + 10.0)
    m.sided(-side, "knee", 0, 12.0 + 8.0 * kick)
    for s in ("l_", "r_"):
        m.set(s + "shoulder", 0, 35.0)
        m.set(s + "shoulder", 1, 15.0)
        m.set(s + "elbow", 0, 100.0)
    m.set("lumbar", 0, -12.0 * kick)


def _talk(m: _Seq):
    t, rng, a = m.t, m.rng, m.a
    q = m.a.shape
    m.relaxed_arms()
    for s in ("l_", "r_"):
        f1, f2 = rng.uniform(0.3, 0.9, q), rng.uniform(0.3, 0.9, q)
        p1, p2 = rng.uniform(0, 2 * np.pi, q), rng.uniform(0, 2 * np.pi, q)
        m.set(s + "shoulder", 0, 25.0 + 25.0 * a * np.sin(2 * np.pi * f1 * t + p1))
        m.set(s + "elbow", 0, 60.0 + 35.0 * a * np.sin(2 * np.pi * f2 * t + p2))
    shift = np.sin(m.phi)                                     # weight shift
    m.set("l_hip", 1, 4.0 * shift)
    m.set("r_hip", 1, -4.0 * shift)
    m.roll[:] = 3.0 * shift
    m.set("neck", 2, 30.0 * np.sin(0.7 * m.phi + 1.0))
    m.set("neck", 0, 10.0 * np.sin(0.5 * m.phi))


_ACTION_FN = {  # function, cycle frequency range (Hz)
    "walk": (_walk, (0.8, 1.05)),
    "jog": (lambda m: _walk(m, jog=True), (1.25, 1.5)),
    "box": (_box, (0.7, 1.4)),
    "sit": (_sit, (0.12, 0.3)),
    "squat": (_squat, (0.25, 0.5)),
    "wave": (_wave, (1.0, 2.0)),
    "pickup": (_pickup, (0.15, 0.35)),
    "jump": (_jump, (0.5, 0.8)),
    "kick": (_kick, (0.4, 0.8)),
    "talk": (_talk, (0.1, 0.3)),
}
assert tuple(_ACTION_FN) == ACTIONS


def simulate(subjects: Subjects, actions=ACTIONS, sequences_per_action: int = 3, frames: int = 100,
             seed: int = 0, fps: float = FPS) -> Motion:
    """Motion of Q = actions x subjects x sequences_per_action sequences of ``frames`` frames, in that
    order (action-major). Every action is one vectorised block; joint angles get per-sequence
    posture offsets and slow wandering, then are clipped to :data:`JOINT_LIMITS`."""
    rng = np.random.default_rng([seed, 1])
    S, T, k = len(subjects.names), frames, sequences_per_action
    blocks = []
    for action in actions:  # one block of S * k sequences per action, all vectorised
        fn, freq = _ACTION_FN[action]
        m = _Seq(S * k, T, fps, rng, freq)
        fn(m)
        blocks.append(m)
    q = S * k
    # Posture offsets and slow wandering per channel make every sequence its own.
    A = np.concatenate([b.A for b in blocks])                                    # (n_act*q, T, 14, 3)
    n = A.shape[0]
    sigma = np.ones((len(CHANNELS), 3)) * 4.0
    sigma[[_CH["l_shoulder"], _CH["r_shoulder"], _CH["l_elbow"], _CH["r_elbow"]]] = 8.0
    A += rng.normal(0.0, 1.0, (n, 1, len(CHANNELS), 3)) * sigma
    t = np.arange(T) / fps
    for _ in range(2):
        f = rng.uniform(0.1, 0.7, (n, 1, len(CHANNELS), 3))
        amp = rng.uniform(0.0, 4.0, (n, 1, len(CHANNELS), 3))
        A += amp * np.sin(2 * np.pi * f * t[None, :, None, None] + rng.uniform(0, 2 * np.pi, f.shape))
    A = np.clip(A, LIMITS_ARRAY[..., 0], LIMITS_ARRAY[..., 1])

    cat = lambda name: np.concatenate([getattr(b, name) for b in blocks])  # noqa: E731
    pitch, roll, yaw_off, lift = cat("pitch"), cat("roll"), cat("yaw"), cat("lift")
    speed, radius = cat("speed")[:, 0], cat("radius")[:, 0]
    subj = np.tile(np.repeat(np.arange(S), k), len(actions))                       # (n,)
    action = np.repeat(np.asarray(actions, dtype=np.str_), q)
    lengths = subjects.lengths[subj]                                               # (n, 17)

    # Root: facing direction (random, turning along the arc), tilt and sway.
    facing = rng.uniform(0, 2 * np.pi, n)
    turn = rng.choice([-1.0, 1.0], n)
    arc = np.where(radius > 0, speed / np.maximum(radius, 1.0), 0.0)[:, None] * t * turn[:, None]  # rad
    yaw = facing[:, None] + arc + np.deg2rad(yaw_off)
    root_R = rot_y(yaw) @ euler_to_matrix(np.deg2rad(pitch), np.deg2rad(roll), np.zeros_like(pitch))
    body = forward_kinematics(A, root_R, lengths[:, None, :])                      # (n, T, 17, 3)

    # Feet: the lowest ankle rests on the floor; flight lifts the whole body.
    ankle_h = subjects.ankle_height[subj][:, None]
    root_y = ankle_h - np.minimum(body[..., 3, 1], body[..., 6, 1]) + lift
    # Walk along the heading: a circle of radius r (x, z start at 0), p' = speed (sin h, cos h).
    heading = facing[:, None] + arc
    rt = (radius * turn)[:, None]
    x = -rt * (np.cos(heading) - np.cos(facing)[:, None])
    z = rt * (np.sin(heading) - np.sin(facing)[:, None])
    world = body.copy()
    world[..., 0] += x[..., None]
    world[..., 1] += root_y[..., None]
    world[..., 2] += z[..., None]
    return Motion(world=world, angles=A, root_pitch=pitch, subject=np.asarray(subjects.names)[subj],
                  subject_index=subj, action=action, path_radius=radius, fps=fps, subjects=subjects)


# ----------------------------------------------------------------------------------------------
# Cameras


@dataclass(frozen=True)
class Cameras:
    """C pinhole cameras for each of Q sequences."""

    R: np.ndarray          # (Q, C, 3, 3) world -> camera rotation (rows: right, down, forward)
    position: np.ndarray   # (Q, C, 3) mm, camera centre in the world
    focal: np.ndarray      # (Q, C, 2) px, fx, fy
    center: np.ndarray     # (Q, C, 2) px, principal point


def sample_cameras(motion: Motion, n_cameras: int, rng: np.random.Generator,
                   image_size=IMAGE_SIZE) -> Cameras:
    """Cameras around each sequence, spread in azimuth, aimed at the middle of its motion."""
    W = motion.world
    Q = W.shape[0]
    lo, hi = W.min(axis=(1, 2)), W.max(axis=(1, 2))                         # (Q, 3)
    target = 0.5 * (lo + hi)
    pelvis_xz = W[:, :, 0, [0, 2]]
    path_extent = np.linalg.norm(pelvis_xz - target[:, None, [0, 2]], axis=-1).max(axis=1)  # (Q,)
    C = n_cameras
    azimuth = (rng.uniform(0, 2 * np.pi, (Q, 1)) + 2 * np.pi * np.arange(C) / C
               + rng.uniform(-0.35, 0.35, (Q, C)))
    distance = rng.uniform(3000.0, 6000.0, (Q, C)) + path_extent[:, None]
    height = rng.uniform(800.0, 2000.0, (Q, C))
    position = np.stack([target[:, None, 0] + distance * np.sin(azimuth), height,
                         target[:, None, 2] + distance * np.cos(azimuth)], axis=-1)
    aim = target[:, None, :] + rng.uniform(-150.0, 150.0, (Q, C, 3))
    forward = aim - position
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(forward, right)
    roll = np.deg2rad(rng.uniform(-3.0, 3.0, (Q, C, 1)))
    right, down = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down
    R = np.stack([right, down, forward], axis=-2)
    f = rng.uniform(800.0, 1200.0, (Q, C, 1))
    focal = f * np.concatenate([np.ones((Q, C, 1)), 1.0 + rng.uniform(-0.005, 0.005, (Q, C, 1))], -1)
    center = np.asarray(image_size, dtype=np.float64) / 2 + rng.uniform(-20.0, 20.0, (Q, C, 2))
    return Cameras(R=R, position=position, focal=focal, center=center)


def project(world: np.ndarray, cams: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """World (Q, T, J, 3) -> camera coordinates (Q, C, T, J, 3) mm and pixels (Q, C, T, J, 2)."""
    rel = world[:, None] - cams.position[:, :, None, None, :]                  # (Q, C, T, J, 3)
    Q, C, T, J, _ = rel.shape
    X = (rel.reshape(Q, C, T * J, 3) @ np.swapaxes(cams.R, -1, -2)).reshape(Q, C, T, J, 3)
    uv = X[..., :2] / X[..., 2:3] * cams.focal[:, :, None, None, :] + cams.center[:, :, None, None, :]
    return X, uv


# ----------------------------------------------------------------------------------------------
# The dataset


def generate(n_subjects: int = 8, n_frames: int | None = None, frames_per_sequence: int = 100,
             sequences_per_action: int = 3, n_cameras: int = 4, actions=ACTIONS, seed: int = 0,
             n_test_subjects: int | None = None, skeleton: str = DEFAULT_SKELETON,
             fps: float = FPS) -> Dataset:
    """The synthetic dataset; rows ordered by action, subject, sequence, camera, frame.

    n_frames: if given, ``sequences_per_action`` and then ``frames_per_sequence`` are chosen so
    that the dataset holds at least this many poses (whole sequences, so up to one frame per
    sequence more). Default size: 8 subjects x 10
    actions x 3 sequences x 4 cameras x 100 frames = 96,000 poses.
    The last ``n_test_subjects`` subjects (default a quarter, at least one when there are two or
    more) form the test split.
    """
    if n_subjects < 1 or frames_per_sequence < 2 or n_cameras < 1 or sequences_per_action < 1:
        raise GateposeError("synthetic data needs >= 1 subject, >= 2 frames per sequence, >= 1 camera "
                            "and >= 1 sequence per action")
    actions = tuple(actions)
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown or not actions:
        raise GateposeError(f"unknown action {unknown[0] if unknown else '(none given)'}: expected some of "
                            f"{', '.join(ACTIONS)}")
    get_skeleton(skeleton)
    if n_frames is not None:
        if n_frames < 1:
            raise GateposeError(f"--frames must be positive, got {n_frames}")
        per_k = n_subjects * len(actions) * n_cameras * frames_per_sequence
        sequences_per_action = max(1, math.ceil(n_frames / per_k))
        frames_per_sequence = max(2, math.ceil(n_frames / (per_k // frames_per_sequence * sequences_per_action)))
    if n_test_subjects is None:
        n_test_subjects = max(1, n_subjects // 4) if n_subjects >= 2 else 0
    if n_test_subjects >= n_subjects and n_subjects > 0:
        raise GateposeError(f"--test-subjects {n_test_subjects} leaves no training subject of --subjects "
                            f"{n_subjects}; hold out at most {n_subjects - 1}")
    subjects = make_subjects(n_subjects, np.random.default_rng([seed, 0]))
    motion = simulate(subjects, actions, sequences_per_action, frames_per_sequence, seed, fps)
    cams = sample_cameras(motion, n_cameras, np.random.default_rng([seed, 2]))
    return render(motion, cams, n_test_subjects, skeleton)


def render(motion: Motion, cams: Cameras, n_test_subjects: int = 0, skeleton: str = DEFAULT_SKELETON,
           image_size=IMAGE_SIZE) -> Dataset:
    """Project ``motion`` with ``cams`` into a :class:`Dataset` (rows: sequence, camera, frame)."""
    X, uv = project(motion.world, cams)
    Q, C, T, J, _ = X.shape
    if skeleton != "h36m17":
        idx = joint_map("h36m17", skeleton)
        X, uv = X[..., idx, :], uv[..., idx, :]
        J = len(idx)
    n = Q * C * T
    per_row = lambda a: np.broadcast_to(np.asarray(a)[:, None, None], (Q, C, T)).reshape(n)  # noqa: E731
    names = motion.subjects.names
    test = np.asarray(names[len(names) - n_test_subjects:] if n_test_subjects else [], dtype=np.str_)
    split = np.where(np.isin(motion.subject, test), "test", "train")
    return Dataset(
        poses_2d=uv.reshape(n, J, 2).astype(np.float32),
        poses_3d=X.reshape(n, J, 3).astype(np.float32),
        image_size=np.broadcast_to(np.asarray(image_size, dtype=np.int32), (n, 2)).copy(),
        subject=per_row(motion.subject).astype(np.str_),
        action=per_row(motion.action).astype(np.str_),
        camera=np.broadcast_to(np.arange(C, dtype=np.int32)[None, :, None], (Q, C, T)).reshape(n).copy(),
        frame=np.broadcast_to(np.arange(T, dtype=np.int32), (Q, C, T)).reshape(n).copy(),
        skeleton=skeleton,
        split=per_row(split).astype(np.str_),
    )
