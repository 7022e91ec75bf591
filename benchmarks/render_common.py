"""Shared pieces of the render benchmarks: the test portraits, motion frames by name, and measurements
on faces re-detected by mediapipe FaceMesh (a model nobody here wrote) in the rendered frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from facecast import face_topology as ft
from facecast.motion_frame import frame_from as frame  # noqa: F401 - the benchmarks' pose builder

PORTRAITS = Path(__file__).resolve().parents[2] / "shared" / "portraits"
if not PORTRAITS.is_dir():
    PORTRAITS = Path("/work/shared/portraits")


def portrait_files() -> list[Path]:
    return sorted(p for p in PORTRAITS.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))


class Redetector:
    """mediapipe FaceMesh (478 landmarks) on rendered frames; None where no face is found."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import face_mesh

        self._mesh = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        h, w = image.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(image[..., :3]))
        if not result.multi_face_landmarks:
            return None
        return np.array([[p.x * w, p.y * h, p.z * w] for p in result.multi_face_landmarks[0].landmark])


def _scale(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[ft.LEFT_EYE_OUTER, :2] - lm[ft.RIGHT_EYE_OUTER, :2]))


def lip_gap(lm: np.ndarray) -> float:
    """Inner-lip gap at the mouth centre, in units of the outer-eye-corner distance."""
    return float(np.linalg.norm(lm[14, :2] - lm[13, :2]) / _scale(lm))


def eye_aperture(lm: np.ndarray) -> float:
    """Mean eyelid opening of both eyes (upper to lower lid at the centre), same units."""
    return float((np.linalg.norm(lm[159, :2] - lm[145, :2]) + np.linalg.norm(lm[386, :2] - lm[374, :2]))
                 / 2 / _scale(lm))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Right-handed y-up rotation, as the renderer composes it (export/render_model.py)."""
    y, p, r = np.radians([yaw, pitch, -roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def head_pose(neutral: np.ndarray, turned: np.ndarray, points: Sequence[int] = ft.RIGID) -> tuple[float, float]:
    """(yaw, pitch) in degrees of the head in ``turned`` relative to ``neutral``, both re-detected.

    The neutral face's re-detected 3D shape (``points``, by default the rigid ones: forehead, nose, eye
    corners, temples) is rotated, scaled and shifted until its orthographic projection best fits the
    turned face's re-detected 2D landmarks.
    """
    idx = list(points)
    ref = neutral[idx] * np.array([1.0, -1.0, -1.0])  # x right, y up, z toward the camera
    ref = ref - ref.mean(0)
    obs = turned[idx, :2] * np.array([1.0, -1.0])

    def residual(p: np.ndarray) -> np.ndarray:
        proj = p[3] * ref @ _rotation(*p[:3]).T
        return (proj[:, :2] + p[4:6] - obs).ravel()

    start = np.array([0, 0, 0, 1, *obs.mean(0)])
    fit = least_squares(residual, start)
    return float(fit.x[0]), float(fit.x[1])


# The landmarks and weights by which mediapipe's own face-geometry module fits a face's pose (a weighted
# Procrustes fit of the 3D landmarks): `procrustes_landmark_basis` in mediapipe/modules/face_geometry/data/
# geometry_pipeline_metadata_landmarks.pbtxt (Apache-2.0). Pairs of mirror landmarks share a weight.
FACE_GEOMETRY_BASIS = {
    4: 0.070909939706326, 6: 0.032100144773722, 10: 0.008446550928056, (33, 263): 0.058724168688059,
    (54, 284): 0.007667080033571, (67, 297): 0.009078059345484, (117, 346): 0.009791937656701,
    (119, 348): 0.014565368182957, (121, 350): 0.018591361120343, (127, 356): 0.005197994410992,
    (129, 358): 0.120625205338001, (132, 361): 0.005560018587857, (133, 362): 0.05328618362546,
    (136, 365): 0.066890455782413, (143, 372): 0.014816547743976, (147, 376): 0.014262833632529,
    (198, 420): 0.025462191551924, (205, 425): 0.047252278774977,
}
_BASIS = [(i, w) for key, w in FACE_GEOMETRY_BASIS.items() for i in (key if isinstance(key, tuple) else (key,))]
_BASIS_INDEX = np.array([i for i, _ in _BASIS])
_BASIS_WEIGHT = np.array([w for _, w in _BASIS])


def head_pose_3d(neutral: np.ndarray, turned: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of the head in ``turned`` relative to ``neutral``, as mediapipe's face-geometry
    module reads a pose: the rotation of a weighted Procrustes fit between the two faces' re-detected 3D
    landmarks (its own depth included), on its landmark basis.

    Where ``head_pose`` fits only the turned face's 2D points, this one also takes the depth mediapipe
    re-detects, which carries most of what it sees of a pitch.
    """
    flip = np.array([1.0, -1.0, -1.0])  # x right, y up, z toward the camera
    w = _BASIS_WEIGHT[:, None] / _BASIS_WEIGHT.sum()
    a, b = neutral[_BASIS_INDEX] * flip, turned[_BASIS_INDEX] * flip
    a, b = a - (w * a).sum(0), b - (w * b).sum(0)
    u, _, vt = np.linalg.svd((w * b).T @ a)
    rot = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt  # maps neutral onto turned
    # rot = Ry(yaw) Rx(pitch) Rz(roll), as ``_rotation`` composes it.
    return float(np.degrees(np.arctan2(rot[0, 2], rot[2, 2]))), float(np.degrees(np.arcsin(-rot[1, 2])))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))
