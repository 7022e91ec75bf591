"""The deformable rig of one portrait, built from its 478 FaceMesh landmarks (numpy and scipy only).

The rig is what the render network animates: a triangle mesh over the whole picture (the face
landmarks, rings of anchor points over hair, ears, neck and shoulders, and a pinned grid over the
background), how much each vertex follows the head, where the head pivots, and one 3D displacement
per vertex for each ARKit blendshape.

Expressions are designed in a face-aligned frame, so that they work on faces turned away from the
camera: x runs from the subject's right eye to its left eye (the image's right for a frontal face),
y up the face, z out of the face, all in units of ``F``, the distance between the outer eye corners.
Vertex positions and displacements are stored in image coordinates: x right and y down in pixels,
depth toward the camera in pixels (mediapipe's z, which shares x's scale, negated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay

from facecast import face_topology as ft
from facecast.motion_frame import ARKIT_BLENDSHAPES, BLENDSHAPE_INDEX

# Anchor rings: the face oval scaled about its centre, with how much each ring follows the head and how
# far behind the oval it lies (in F). The falloff is spread over about two face radii so that a 20 deg
# head turn bends the hair and the background gently instead of tearing them.
RING_SCALES = (1.2, 1.5, 2.0, 2.7)
RING_HEAD_WEIGHTS = (1.0, 0.8, 0.4, 0.1)
RING_JAW_WEIGHTS = (0.5, 0.15, 0.0, 0.0)
RING_DEPTHS = (0.15, 0.35, 0.55, 0.75)
BACKGROUND_SPACING = 0.5  # F between pinned background points
PARALLAX_SLOPE = 1.2  # at most this much depth per pixel of distance: keeps 20-30 deg turns fold-free

JAW_HINGE = np.array([0.0, -0.3, -0.9])  # in front of the ears, behind the face
JAW_OPEN_DEG = 22.0  # jawOpen = 1: a wide-open mouth
NECK_PIVOT = np.array([0.0, -1.4, -0.9])  # head rotation pivot: top of the neck, below and behind the chin


@dataclass(frozen=True)
class Rig:
    """The geometry the render network needs for one portrait (image coordinates, see module doc)."""

    vertices: np.ndarray  # (V, 3) float32: landmarks first (478), then anchors
    triangles: np.ndarray  # (T, 3) int32, Delaunay over every vertex except the irises
    basis: np.ndarray  # (52, V, 3) float32: displacement at weight 1 of each ARKit blendshape
    head_weight: np.ndarray  # (V,) float32: 1 follows the head rotation fully, 0 stays
    pivot: np.ndarray  # (3,) float32: head rotation centre
    axes: np.ndarray  # (3, 3) float32: face frame axes (rows x, y, z) in image coordinates
    face_scale: float  # F in pixels


def _camera(points: np.ndarray) -> np.ndarray:
    """Image coordinates (x right, y down, depth toward camera) to a right-handed frame with y up."""
    return points * np.array([1.0, -1.0, 1.0])


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin, axes (rows, camera frame) and scale F of the face-aligned frame."""
    p = _camera(landmarks)
    ex = p[ft.LEFT_EYE_OUTER] - p[ft.RIGHT_EYE_OUTER]
    scale = float(np.linalg.norm(ex))
    ex = ex / scale
    ey = p[ft.FOREHEAD] - p[ft.CHIN]
    ey = ey - (ey @ ex) * ex
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    origin = (p[ft.LEFT_EYE_OUTER] + p[ft.RIGHT_EYE_OUTER]) / 2
    return origin, np.stack([ex, ey, ez]), scale


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _gauss(c: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-np.sum((c[:, :2] - centre[:2]) ** 2, axis=1) / (2 * sigma**2))


def _nearest(c: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance (face plane) from every vertex to the nearest of ``points``."""
    return np.sqrt(((c[:, None, :2] - points[None, :, :2]) ** 2).sum(-1)).min(axis=1)


def _curve_at(x: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """The curve's y at each x (curve points sorted along x), held flat beyond its ends."""
    order = np.argsort(curve[:, 0])
    return np.interp(x, curve[order, 0], curve[order, 1])


def _rotate_x(c: np.ndarray, centre: np.ndarray, deg: float) -> np.ndarray:
    a = np.radians(deg)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return (c - centre) @ rot.T + centre - c


class _Designer:
    """Per-blendshape displacements in the face frame (units F), from landmark semantics."""

    def __init__(self, c: np.ndarray, is_landmark: np.ndarray, ring_of: np.ndarray) -> None:
        self.c = c
        self.n = len(c)
        up_in, lo_in = c[list(ft.LIPS_UPPER_INNER)], c[list(ft.LIPS_LOWER_INNER)]
        self.mouth_centre = (c[13] + c[14]) / 2
        self.corner = {"Left": c[291], "Right": c[61]}  # the subject's left corner is 291
        half_width = (c[291, 0] - c[61, 0]) / 2
        mid_y = (_curve_at(c[:, 0], up_in) + _curve_at(c[:, 0], lo_in)) / 2
        # Below the mouth line: sharp between the lips (upper and lower lip part cleanly), gradual
        # beside the mouth (cheeks stretch rather than split).
        lateral = np.clip((np.abs(c[:, 0] - self.mouth_centre[0]) - half_width) / 0.25, 0, 1)
        ramp = 0.01 + 0.35 * lateral
        self.lower = _smoothstep((mid_y - c[:, 1]) / ramp + 0.5)
        # Anchors below the face follow the jaw a little so that the chin never folds over the neck.
        anchor_jaw = np.where(ring_of >= 0, np.array(RING_JAW_WEIGHTS + (0.0,))[ring_of], 0.0)
        self.jaw_weight = np.where(is_landmark, self.lower, self.lower * anchor_jaw)
        lips = c[list(ft.LIPS_UPPER_OUTER + ft.LIPS_LOWER_OUTER + ft.LIPS_UPPER_INNER + ft.LIPS_LOWER_INNER)]
        self.lip = np.exp(-((_nearest(c, lips) / 0.1) ** 2)) * is_landmark
        self.lip_wide = np.exp(-((_nearest(c, lips) / 0.2) ** 2)) * is_landmark
        self.side = {"Left": _smoothstep((c[:, 0] - self.mouth_centre[0]) / 0.3 + 0.5)}
        self.side["Right"] = 1 - self.side["Left"]
        self.is_landmark = is_landmark
        self.out: dict[str, np.ndarray] = {}

    def set(self, name: str, disp: np.ndarray) -> None:
        self.out[name] = self.out.get(name, 0) + disp

    @staticmethod
    def vec(weight: np.ndarray, d: tuple[float, float, float]) -> np.ndarray:
        return weight[:, None] * np.asarray(d)[None, :]

    def mouth(self) -> None:
        c, sign = self.c, {"Left": 1.0, "Right": -1.0}
        jaw = _rotate_x(c, JAW_HINGE, JAW_OPEN_DEG) * self.jaw_weight[:, None]
        self.set("jawOpen", jaw)
        self.set("jawForward", self.vec(self.jaw_weight, (0, 0, 0.08)))
        self.set("jawLeft", self.vec(self.jaw_weight, (0.08, 0, 0)))
        self.set("jawRight", self.vec(self.jaw_weight, (-0.08, 0, 0)))
        # Lips closed over an open jaw: the lower lip comes back up the whole way.
        self.set("mouthClose", -jaw * (self.lower * self.lip)[:, None])
        to_centre = np.zeros_like(c)
        to_centre[:, 0] = self.mouth_centre[0] - c[:, 0]
        upper = (1 - self.lower) * self.lip
        lower = self.lower * self.lip
        self.set("mouthFunnel", 0.3 * to_centre * self.lip[:, None] + self.vec(self.lip, (0, 0, 0.08))
                 + self.vec(upper, (0, 0.05, 0)) + self.vec(lower, (0, -0.08, 0)))
        self.set("mouthPucker", 0.4 * to_centre * self.lip_wide[:, None] + self.vec(self.lip, (0, 0, 0.12))
                 + self.vec(upper, (0, -0.01, 0)) + self.vec(lower, (0, 0.02, 0)))
        self.set("mouthLeft", self.vec(self.lip_wide, (0.1, 0, 0)))
        self.set("mouthRight", self.vec(self.lip_wide, (-0.1, 0, 0)))
        outer_up = np.exp(-((_nearest(c, c[list(ft.LIPS_UPPER_OUTER[2:-2])]) / 0.05) ** 2)) * upper
        outer_lo = np.exp(-((_nearest(c, c[list(ft.LIPS_LOWER_OUTER[2:-2])]) / 0.05) ** 2)) * lower
        self.set("mouthRollUpper", self.vec(outer_up, (0, -0.04, -0.02)))
        self.set("mouthRollLower", self.vec(outer_lo, (0, 0.05, -0.02)))
        self.set("mouthShrugUpper", self.vec(upper, (0, 0.03, 0.01)))
        self.set("mouthShrugLower", self.vec(self.lower * self.lip_wide, (0, 0.04, 0.02)))
        for s in ("Left", "Right"):
            corner = _gauss(c, self.corner[s], 0.12) * self.is_landmark
            cheek = _gauss(c, self.corner[s] + np.array([0.1 * sign[s], 0.3, 0]), 0.25) * self.is_landmark
            self.set(f"mouthSmile{s}", self.vec(corner, (0.07 * sign[s], 0.08, -0.02))
                     + self.vec(cheek, (0.01 * sign[s], 0.03, 0.02)))
            self.set(f"mouthFrown{s}", self.vec(corner, (0.0, -0.07, 0)))
            self.set(f"mouthDimple{s}", self.vec(corner, (0.05 * sign[s], 0, -0.03)))
            self.set(f"mouthStretch{s}", self.vec(corner, (0.09 * sign[s], -0.03, 0)))
            side = self.side[s]
            self.set(f"mouthPress{s}",
                     self.vec(outer_up * side, (0, -0.02, 0)) + self.vec(outer_lo * side, (0, 0.025, 0)))
            self.set(f"mouthLowerDown{s}", self.vec(lower * side, (0, -0.1, 0)))
            self.set(f"mouthUpperUp{s}", self.vec(upper * side, (0, 0.08, 0)))

    def eyes(self) -> None:
        c = self.c
        for s, up_idx, lo_idx, brow_inner, brow_outer, brow in (
            ("Left", ft.LEFT_EYE_UPPER, ft.LEFT_EYE_LOWER, ft.LEFT_BROW_INNER, ft.LEFT_BROW_OUTER, ft.LEFT_BROW),
            ("Right", ft.RIGHT_EYE_UPPER, ft.RIGHT_EYE_LOWER, ft.RIGHT_BROW_INNER, ft.RIGHT_BROW_OUTER,
             ft.RIGHT_BROW),
        ):
            up, lo = c[list(up_idx)], c[list(lo_idx)]
            height = float(np.max(up[:, 1] - lo[:, 1]))
            x0, x1 = min(up[0, 0], up[-1, 0]), max(up[0, 0], up[-1, 0])
            inside_x = _smoothstep((np.minimum(c[:, 0] - x0, x1 - c[:, 0]) + 0.12) / 0.12)
            gap = _curve_at(c[:, 0], up) - _curve_at(c[:, 0], lo)  # lid opening above each vertex
            above = c[:, 1] - _curve_at(c[:, 0], up)
            below = _curve_at(c[:, 0], lo) - c[:, 1]
            # Lid skin follows its margin, fading over about one eye height away from it.
            upper_lid = inside_x * np.exp(-((np.maximum(above, 0) / (1.2 * height)) ** 2)) * (above > -0.3 * gap)
            lower_lid = inside_x * np.exp(-((np.maximum(below, 0) / (1.0 * height)) ** 2)) * (below > -0.3 * gap)
            upper_lid, lower_lid = upper_lid * self.is_landmark, lower_lid * self.is_landmark
            self.set(f"eyeBlink{s}", self.vec(upper_lid * gap, (0, -0.88, 0)) + self.vec(lower_lid * gap, (0, 0.12, 0)))
            self.set(f"eyeSquint{s}", self.vec(lower_lid * gap, (0, 0.3, 0)) + self.vec(upper_lid * gap, (0, -0.1, 0)))
            self.set(f"eyeWide{s}", self.vec(upper_lid * height, (0, 0.3, 0)))
            brows = _gauss(c, c[list(brow)].mean(0), 0.18) * self.is_landmark
            inner = _gauss(c, c[list(brow_inner)].mean(0), 0.12) * self.is_landmark
            outer = _gauss(c, c[list(brow_outer)].mean(0), 0.14) * self.is_landmark
            toward_nose = -0.02 if s == "Left" else 0.02
            self.set(f"browDown{s}", self.vec(brows, (toward_nose, -0.06, 0)))
            self.set(f"browOuterUp{s}", self.vec(outer, (0, 0.08, 0)))
            self.set("browInnerUp", self.vec(inner, (0, 0.09, 0)))

    def cheeks_and_nose(self) -> None:
        c = self.c
        for s, sign in (("Left", 1.0), ("Right", -1.0)):
            puff = _gauss(c, np.array([0.5 * sign, -0.55, 0]), 0.18) * self.is_landmark
            self.set("cheekPuff", self.vec(puff, (0.06 * sign, 0, 0.04)))
            self.set(f"cheekSquint{s}", self.vec(_gauss(c, np.array([0.42 * sign, -0.22, 0]), 0.13)
                                                 * self.is_landmark, (0, 0.04, 0)))
            self.set(f"noseSneer{s}", self.vec(_gauss(c, np.array([0.13 * sign, -0.3, 0]), 0.07)
                                               * self.is_landmark, (0, 0.04, 0)))


def _anchors(lm2: np.ndarray, centre: np.ndarray, width: int, height: int,
             scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points (2D) and their ring (0..3, or 4 for the pinned background)."""
    oval = lm2[list(ft.FACE_OVAL)]
    pts, rings = [], []
    for r, k in enumerate(RING_SCALES):
        pts.append(centre + (oval - centre) * k)
        rings.append(np.full(len(oval), r))
    # The background grid covers the image and its border; points within the outer ring are dropped so
    # the rings alone shape the falloff.
    step = max(BACKGROUND_SPACING * scale, 8.0)
    xs = np.linspace(0, width, max(2, int(np.ceil(width / step)) + 1))
    ys = np.linspace(0, height, max(2, int(np.ceil(height / step)) + 1))
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    ang_oval = np.arctan2(*(oval - centre).T[::-1])
    rad_oval = np.linalg.norm(oval - centre, axis=1)
    ang = np.arctan2(*(grid - centre).T[::-1])
    nearest = np.abs(np.angle(np.exp(1j * (ang[:, None] - ang_oval[None, :])))).argmin(1)
    rel = np.linalg.norm(grid - centre, axis=1) / rad_oval[nearest]
    grid = grid[rel > RING_SCALES[-1] + 0.35]
    pts.append(grid)
    rings.append(np.full(len(grid), len(RING_SCALES)))
    return np.concatenate(pts), np.concatenate(rings)


def _limit_slope(vertices: np.ndarray, slope: float) -> np.ndarray:
    """The largest depth at or below each vertex's own that rises at most ``slope`` per pixel across the picture.

    A nose seen in profile stands far in front of the background right next to it; turned with its true
    depth it would slide over its neighbours faster than they move apart, and the picture would fold.
    """
    xy, z = vertices[:, :2], vertices[:, 2]
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    return (z[None, :] + slope * dist).min(axis=1)


def build_rig(landmarks: np.ndarray, width: int, height: int) -> Rig:
    """The rig of a portrait of ``width`` x ``height`` pixels from its (478, 3) landmarks.

    ``landmarks`` are in pixels: x, y (down) and mediapipe's z times the image width.
    """
    lm = np.asarray(landmarks, dtype=np.float64).copy()
    lm[:, 2] *= -1  # depth toward the camera
    origin, axes, scale = face_frame(lm)
    centre = lm[list(ft.FACE_OVAL), :2].mean(0)
    anchor2, ring_of = _anchors(lm[:, :2], centre, width, height, scale)
    oval_depth = lm[list(ft.FACE_OVAL), 2][np.arange(len(anchor2)) % len(ft.FACE_OVAL)]
    depth = np.where(ring_of < len(RING_SCALES),
                     oval_depth - np.array(RING_DEPTHS + (1.0,))[ring_of] * scale, lm[:, 2].min() - scale)
    vertices = np.concatenate([lm, np.column_stack([anchor2, depth])])
    vertices[:, 2] = _limit_slope(vertices, PARALLAX_SLOPE)
    n_lm = len(lm)
    is_landmark = np.arange(len(vertices)) < ft.NUM_FACE_LANDMARKS
    ring_all = np.concatenate([np.full(n_lm, -1), ring_of])

    def to_face(p: np.ndarray) -> np.ndarray:
        return (_camera(p) - origin) @ axes.T / scale

    c = to_face(vertices)
    designer = _Designer(c, is_landmark, ring_all)
    designer.mouth()
    designer.eyes()
    designer.cheeks_and_nose()
    basis = np.zeros((len(ARKIT_BLENDSHAPES), len(vertices), 3))
    for name, disp in designer.out.items():
        basis[BLENDSHAPE_INDEX[name]] = _camera(disp @ axes * scale)

    below_chin = _smoothstep((c[ft.CHIN, 1] + 0.1 - c[:, 1]) / 0.6)
    ring_w = np.where(ring_all >= 0, np.array(RING_HEAD_WEIGHTS + (0.0,))[ring_all], 1.0)
    head_weight = np.where(ring_all >= 0, ring_w * (1 - 0.7 * below_chin), 1.0)

    keep = np.r_[np.arange(ft.NUM_FACE_LANDMARKS), np.arange(n_lm, len(vertices))]
    tri = Delaunay(vertices[keep, :2]).simplices
    pivot = _camera(origin + NECK_PIVOT @ axes * scale)
    face_axes = _camera(axes)  # rows are directions: flipping y of each is the same map
    return Rig(vertices=vertices.astype(np.float32), triangles=keep[tri].astype(np.int32),
               basis=basis.astype(np.float32), head_weight=head_weight.astype(np.float32),
               pivot=pivot.astype(np.float32), axes=face_axes.astype(np.float32), face_scale=scale)
