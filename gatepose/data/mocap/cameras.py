"""Cameras that film a mocap clip: random virtual ones, or Human3.6M's own four.

Mocap worlds are Y up (mm after import); camera frames are gatepose's (x right, y down, z
forward, mm) and pixels ``u = fx x / z + cx``, ``v = fy y / z + cy`` (pinhole, no distortion).
Every camera stays fixed for the whole clip, as in a real capture.

**Virtual** (``--cameras N``, :func:`virtual_cameras`): each camera looks at the clip's centre
(the mean horizontal position of the Pelvis, at its median height) from a direction with yaw
uniform in [0, 360) degrees and elevation uniform in ``ELEVATION_DEG`` = [-5, 25] degrees, at a
distance uniform in ``DISTANCE_MM`` = [3500, 6000] mm *plus* the clip's horizontal radius (the
largest distance of the Pelvis from that centre), so a walk never comes closer than 3.5 m. Focal
length uniform in ``FOCAL_PX`` = [900, 1200] px for a ``IMAGE_SIZE`` = 1000 x 1000 image, principal
point at its centre, no roll. Drawn from ``numpy.random.default_rng([seed, clip number])``.

**Human3.6M** (``--camera-rig h36m``, :func:`h36m_cameras`): the four cameras of subject S1 as
published (``gatepose/data/cameras/h36m_cameras.json``: intrinsics and extrinsics, distortion
ignored), in Human3.6M's Z-up world. The clip is turned into that world (Y up -> Z up), turned
about the vertical by a random yaw (same seed rule), its mean Pelvis position moved to where
Human3.6M's subjects stand (the point nearest to the four optical axes, on the floor) and its
lowest ankle placed 80 mm above the floor (the 5th percentile over the clip of the lower ankle).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gatepose.errors import DataError

ELEVATION_DEG = (-5.0, 25.0)
DISTANCE_MM = (3500.0, 6000.0)
FOCAL_PX = (900.0, 1200.0)
IMAGE_SIZE = (1000, 1000)
ANKLE_HEIGHT_MM = 80.0


@dataclass(frozen=True)
class Camera:
    """World -> camera: ``X_cam = (X - centre) @ R.T``; pinhole intrinsics in pixels."""

    R: np.ndarray          # (3, 3) world-to-camera rotation (rows: right, down, forward)
    centre: np.ndarray     # (3,) camera position, world mm
    focal: tuple           # (fx, fy)
    principal: tuple       # (cx, cy)
    size: tuple            # (width, height)

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) world mm -> camera mm."""
        return (X - self.centre) @ self.R.T

    def project(self, Xc: np.ndarray) -> np.ndarray:
        """(..., 3) camera mm -> (..., 2) pixels."""
        z = Xc[..., 2:3]
        return Xc[..., :2] / z * np.asarray(self.focal) + np.asarray(self.principal)


def look_at(centre: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World-to-camera rotation (3, 3) of a camera at ``centre`` looking at ``target`` (no roll)."""
    f = target - centre
    f = f / np.linalg.norm(f)
    r = np.cross(f, up)
    r = r / np.linalg.norm(r)
    d = np.cross(f, r)
    return np.stack([r, d, f])


def clip_centre(pelvis: np.ndarray) -> tuple[np.ndarray, float]:
    """(target (3,), horizontal radius) of a Y-up Pelvis trajectory (T, 3)."""
    target = np.array([pelvis[:, 0].mean(), np.median(pelvis[:, 1]), pelvis[:, 2].mean()])
    radius = float(np.max(np.hypot(pelvis[:, 0] - target[0], pelvis[:, 2] - target[2])))
    return target, radius


def virtual_cameras(n: int, pelvis: np.ndarray, rng: np.random.Generator) -> list[Camera]:
    """``n`` random cameras looking at a clip whose Pelvis (T, 3) moves in a Y-up world (mm)."""
    target, radius = clip_centre(pelvis)
    cams = []
    for _ in range(n):
        yaw = rng.uniform(0.0, 2 * np.pi)
        el = np.deg2rad(rng.uniform(*ELEVATION_DEG))
        dist = rng.uniform(*DISTANCE_MM) + radius
        f = rng.uniform(*FOCAL_PX)
        centre = target + dist * np.array([np.cos(el) * np.sin(yaw), np.sin(el), np.cos(el) * np.cos(yaw)])
        cams.append(Camera(look_at(centre, target), centre, (f, f),
                           (IMAGE_SIZE[0] / 2, IMAGE_SIZE[1] / 2), IMAGE_SIZE))
    return cams


def _h36m_rig():
    from ..h36m import camera_extrinsics, load_cameras

    R_c2w, t = camera_extrinsics("h36m", "S1")
    intr = load_cameras("h36m")["intrinsics"]
    cams = [Camera(R_c2w[c].T, t[c], tuple(intr[c]["focal_length"]), tuple(intr[c]["center"]),
                   (intr[c]["res_w"], intr[c]["res_h"])) for c in range(len(intr))]
    # Where the subjects stand: least-squares point nearest to every optical axis, on the floor.
    A, b = np.zeros((3, 3)), np.zeros(3)
    for c in cams:
        d = c.R[2]
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ c.centre
    spot = np.linalg.solve(A, b)
    spot[2] = 0.0
    return cams, spot


def h36m_cameras(pelvis: np.ndarray, ankles: np.ndarray, rng: np.random.Generator):
    """(cameras, transform) for Human3.6M's rig: ``transform(X)`` maps a Y-up clip (..., 3) into
    Human3.6M's world as the module docstring says. pelvis (T, 3), ankles (T, 2, 3), Y-up mm."""
    cams, spot = _h36m_rig()
    yaw = rng.uniform(0.0, 2 * np.pi)
    cy, sy = np.cos(yaw), np.sin(yaw)
    # Y up -> Z up: (x, y, z) -> (x, -z, y), then a turn about the new vertical.
    M = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]]) @ np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    shift = spot - np.array([*(M @ np.array([pelvis[:, 0].mean(), 0.0, pelvis[:, 2].mean()]))[:2], 0.0])
    floor = np.percentile(ankles[..., 1].min(axis=1), 5) - ANKLE_HEIGHT_MM
    shift[2] -= floor

    def transform(X):
        return X @ M.T + shift

    return cams, transform


def film(X_world: np.ndarray, cam: Camera, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(camera mm (T, J, 3), pixels (T, J, 2)); a DataError if a joint comes within 100 mm of the
    camera plane (the clip walks through or behind the camera)."""
    Xc = cam.to_camera(X_world)
    if (Xc[..., 2] < 100.0).any():
        raise DataError(f"{where}: the subject comes within 100 mm of a camera's image plane or behind it; "
                        "this clip cannot be filmed by that rig")
    return Xc, cam.project(Xc)
