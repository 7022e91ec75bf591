"""The deformable rig of one portrait, built from its 478 FaceMesh landmarks (numpy and scipy only).

The rig is what the render network animates: a triangle mesh over the whole picture (the face
landmarks, rings of anchor points over hair, ears, neck and shoulders, and a pinned grid over the
background), how much each vertex follows the head, where the head pivots, and one 3D displacement
per vertex for each ARKit blendshape.

Expressions are designed in a face-aligned frame, so that they work on faces turned away from the
camera: x runs from the subject's right eye to its left eye (the image's right for a frontal face),
y up the face, z out of the face, all in units of ``F``, the distance between the outer eye corners.
Vertex positions and displacements are stored in image coordinates: x right and y down in pixels,
depth toward the camera in pixels (mediapipe's z, which shares x's scale, negated). A vertex's depth is
that of the surface the picture shows at its place (a landmark hidden behind a turned face takes the
depth in front of it), capped where it rises so fast across the picture that a head turn would fold it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecast import face_topology as ft
from facecast.motion_frame import ARKIT_BLENDSHAPES, BLENDSHAPE_INDEX

# Anchor rings: the face oval scaled about its centre, with how much each ring follows the head and how
# far behind the oval it lies (in F). The falloff is spread over about two face radii so that a 20 deg
# head turn bends the hair and the background gently instead of tearing them. The depths follow a
# head's shape (F is about 9 cm): an ellipsoid 15.5 cm wide and 20 cm deep whose face oval is 14 cm
# wide is widest 4-5 cm behind the oval's sides, where the first ring, a fifth of a face radius outside
# the oval, already lies outside the head's outline; the neck lies about as far behind the chin. The
# first ring's 0.3 F (about 3 cm) stays on the shallow side of that.
RING_SCALES = (1.2, 1.5, 2.0, 2.7)
RING_HEAD_WEIGHTS = (1.0, 0.8, 0.4, 0.1)
RING_JAW_WEIGHTS = (0.5, 0.15, 0.0, 0.0)
RING_DEPTHS = (0.3, 0.5, 0.7, 0.9)
BACKGROUND_SPACING = 0.5  # F between pinned background points
PARALLAX_SLOPE = 2.0  # most depth per pixel of distance between moving points: fold-free up to about 25 deg
SURFACE_NEIGHBOURS = 10  # landmarks (itself included) through which a landmark's surface plane is fitted

JAW_HINGE = np.array([0.0, -0.3, -0.9])  # in front of the ears, behind the face
JAW_OPEN_DEG = 22.0  # jawOpen = 1: a wide-open mouth
NECK_PIVOT = np.array([0.0, -1.4, -0.9])  # head rotation pivot: top of the neck, below and behind the chin


# Head-and-shoulders framing of the rendered frames: the face oval's height is this fraction of the frame,
# its centre this far above the frame's centre (fraction of the frame).
FACE_FRACTION = 0.42
FACE_CENTRE_RAISE = 0.06


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


def framing(landmarks: np.ndarray, width: int, height: int) -> tuple[float, float, float]:
    """The square head-and-shoulders crop (x0, y0, side) the renderer shows, inside the picture (pixel edges)."""
    oval = np.asarray(landmarks)[list(ft.FACE_OVAL), :2]
    lo, hi = oval.min(0), oval.max(0)
    side = min(max((hi[1] - lo[1]) / FACE_FRACTION, (hi[0] - lo[0]) * 2.0), width, height)
    cx = (lo[0] + hi[0]) / 2
    cy = (lo[1] + hi[1]) / 2 + FACE_CENTRE_RAISE * side
    x0 = float(np.clip(cx - side / 2, 0, width - side))
    y0 = float(np.clip(cy - side / 2, 0, height - side))
    return x0, y0, float(side)


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
        # A closed mouth puts both inner lips on the midline itself: their side is known by name. Toward
        # the corners both lips share the jaw's motion more evenly (half each at the corner), so the
        # opening is a lens rather than a box.
        along = np.clip(np.abs(c[:, 0] - self.mouth_centre[0]) / half_width, 0, 1) ** 2 / 2
        upper_lip = list(ft.LIPS_UPPER_INNER[1:-1] + ft.LIPS_UPPER_OUTER[1:-1])
        lower_lip = list(ft.LIPS_LOWER_INNER[1:-1] + ft.LIPS_LOWER_OUTER[1:-1])
        self.lower[upper_lip] = along[upper_lip]
        self.lower[lower_lip] = 1 - along[lower_lip]
        self.lower[[ft.LIPS_UPPER_INNER[0], ft.LIPS_UPPER_INNER[-1], *ft.MOUTH_CORNERS]] = 0.5
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
            # The brows move the forehead and stretch the lid skin below them; the lid's margin, its lashes
            # and the eye stay (eyeWide opens them). Moved with the brows, the lash line smeared upward
            # into a dark band over the eye. The brows themselves move in full: the share rises from 0 at
            # the margin to 1 at the brow's lowest landmark.
            to_brow = max(float(above[list(brow)].min()), 0.5 * height)
            off_lid = 1 - inside_x * (1 - _smoothstep(above / to_brow) ** 2)
            brows = _gauss(c, c[list(brow)].mean(0), 0.18) * self.is_landmark * off_lid
            inner = _gauss(c, c[list(brow_inner)].mean(0), 0.12) * self.is_landmark * off_lid
            outer = _gauss(c, c[list(brow_outer)].mean(0), 0.14) * self.is_landmark * off_lid
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


def _inside(points: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    x0, y0, x1, y1 = box
    return ((points[:, 0] > x0 + margin) & (points[:, 0] < x1 - margin)
            & (points[:, 1] > y0 + margin) & (points[:, 1] < y1 - margin))


def _sides(box: tuple[float, float, float, float], step: float) -> list[np.ndarray]:
    """Points every ``step`` or less along the top, bottom, left and right sides of ``box`` (x0, y0, x1, y1);
    the corners are on the top and bottom."""
    x0, y0, x1, y1 = box
    xs = np.linspace(x0, x1, max(2, int(np.ceil((x1 - x0) / step)) + 1))
    ys = np.linspace(y0, y1, max(2, int(np.ceil((y1 - y0) / step)) + 1))
    return [np.column_stack([xs, np.full_like(xs, y0)]), np.column_stack([xs, np.full_like(xs, y1)]),
            np.column_stack([np.full_like(ys[1:-1], x0), ys[1:-1]]),
            np.column_stack([np.full_like(ys[1:-1], x1), ys[1:-1]])]


def _edge(box: tuple[float, float, float, float], step: float) -> np.ndarray:
    """Points every ``step`` or less along the sides of ``box`` (x0, y0, x1, y1), corners included."""
    return np.concatenate(_sides(box, step))


def _anchors(lm2: np.ndarray, centre: np.ndarray, width: int, height: int, scale: float,
             frame: tuple[float, float, float, float], whole: tuple[float, float, float, float]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchor points (2D), their ring (0..3, or 4 for the pinned background) and face-oval point.

    ``whole`` is the whole picture (x0, y0, x1, y1) in this picture's pixels, when this one was cut from it:
    the background grid is laid out over the whole picture, so the part keeps the points it had there."""
    oval = lm2[list(ft.FACE_OVAL)]
    step = max(BACKGROUND_SPACING * scale, 8.0)
    pts, rings, oval_of = [], [], []
    for r, k in enumerate(RING_SCALES):
        ring = centre + (oval - centre) * k
        # Ring points near or past the rendered frame's edge would fight its pinned border.
        keep = _inside(ring, frame, step / 2)
        pts.append(ring[keep])
        rings.append(np.full(int(keep.sum()), r))
        oval_of.append(np.nonzero(keep)[0])
    # The background grid covers the image; points within the outer ring are dropped so the rings alone
    # shape the falloff, except on the border, which is always pinned so the frame's edges never move.
    wx0, wy0, wx1, wy1 = whole
    xs = np.linspace(wx0, wx1, max(2, int(np.ceil((wx1 - wx0) / step)) + 1))
    ys = np.linspace(wy0, wy1, max(2, int(np.ceil((wy1 - wy0) / step)) + 1))
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    grid = grid[(grid[:, 0] >= 0) & (grid[:, 1] >= 0) & (grid[:, 0] <= width) & (grid[:, 1] <= height)]
    # Where the part was cut from inside the whole picture, its cut edges are pinned too (far from the frame).
    cuts = [side for side, cut in zip(_sides((0, 0, width, height), step), (wy0 < 0, wy1 > height, wx0 < 0,
                                                                          wx1 > width), strict=True) if cut]
    ang_oval = np.arctan2(*(oval - centre).T[::-1])
    rad_oval = np.linalg.norm(oval - centre, axis=1)
    ang = np.arctan2(*(grid - centre).T[::-1])
    nearest = np.abs(np.angle(np.exp(1j * (ang[:, None] - ang_oval[None, :])))).argmin(1)
    rel = np.linalg.norm(grid - centre, axis=1) / rad_oval[nearest]
    border = (grid[:, 0] <= wx0) | (grid[:, 1] <= wy0) | (grid[:, 0] >= wx1) | (grid[:, 1] >= wy1)
    grid = np.concatenate([grid[((rel > RING_SCALES[-1] + 0.35) & ~_inside(grid, frame, -step / 2)) | border],
                           *cuts])
    # The rendered frame's own border is pinned too, so its edges never move.
    grid = np.concatenate([grid, _edge(frame, step)])
    pts.append(grid)
    rings.append(np.full(len(grid), len(RING_SCALES)))
    oval_of.append(np.zeros(len(grid), dtype=int))
    return np.concatenate(pts), np.concatenate(rings), np.concatenate(oval_of)


def _limit_slope(vertices: np.ndarray, outline: np.ndarray, slope: float) -> np.ndarray:
    """Each vertex's depth, capped to rise at most ``slope`` per pixel of distance from the ``outline`` points.

    Where the depth jumps faster than that across the picture (a nose or a far cheek seen edge-on), a
    20 deg turn would slide the near part over its neighbours faster than they move apart and fold the
    picture; gentler relief (a frontal nose, the cheeks) is kept as it is.
    """
    xy, z = vertices[:, :2], vertices[:, 2]
    dist = np.sqrt(((xy[:, None] - outline[None, :, :2]) ** 2).sum(-1))
    return np.minimum(z, (outline[None, :, 2] + slope * dist).min(axis=1))


def _seen_depth(face: np.ndarray, forward: np.ndarray, slope: float) -> np.ndarray:
    """Depth of the surface the picture shows at each face landmark (x, y down, depth toward camera).

    FaceMesh places every landmark, also those on the far side of a turned face, which the picture
    does not show: at their place on the picture it shows the cheek or the nose in front of them. Such
    a landmark is found by its surface facing away from the camera (the normal of a plane through it
    and its nearest landmarks, turned to the face's ``forward`` side), and brought forward until it lies
    at most ``slope`` per pixel behind every landmark that faces the camera. Returns a new array.
    """
    # A plane through few neighbours: on edge-on or strongly curved patches (the lips) the call is
    # loose, but such a landmark lies next to its neighbours' depth and is hardly moved.
    from scipy.spatial import cKDTree  # here, as Delaunay below: only building a rig needs scipy.spatial

    _, near = cKDTree(face).query(face, SURFACE_NEIGHBOURS)
    rel = face[near] - face[near].mean(1, keepdims=True)
    normal = np.linalg.svd(rel)[2][:, -1]  # (N, 3): the direction of least spread
    hidden = normal[:, 2] * np.sign(normal @ forward) < 0
    z = face[:, 2].copy()
    if not hidden.any() or hidden.all():  # nothing hidden, or nothing seen to bring it to
        return z
    dist = np.sqrt(((face[hidden, None, :2] - face[None, ~hidden, :2]) ** 2).sum(-1))
    front = (z[None, ~hidden] - slope * dist).max(1)
    z[hidden] = np.maximum(z[hidden], front)
    return z


def build_rig(landmarks: np.ndarray, width: int, height: int,
              whole: tuple[float, float, float, float] | None = None) -> Rig:
    """The rig of a portrait of ``width`` x ``height`` pixels from its (478, 3) landmarks.

    ``landmarks`` are in pixels: x, y (down) and mediapipe's depth z, in pixels as x is. ``whole``: when the
    portrait was cut from a larger picture, that picture (x0, y0, x1, y1) in the portrait's pixels; the
    background's anchors are then those the whole picture would have had.
    """
    lm = np.asarray(landmarks, dtype=np.float64).copy()
    lm[:, 2] *= -1  # depth toward the camera
    origin, axes, scale = face_frame(lm)
    centre = lm[list(ft.FACE_OVAL), :2].mean(0)
    x0, y0, side = framing(landmarks, width, height)
    frame = (x0, y0, x0 + side, y0 + side)
    anchor2, ring_of, oval_of = _anchors(lm[:, :2], centre, width, height, scale, frame,
                                         whole or (0, 0, width, height))
    # Each ring point starts at the depth of the face beside it on the picture (a smooth average over
    # about a third of F), so the hair or background next to a nose seen in profile moves with that nose
    # instead of tearing from it, and neighbouring ring points never jump in depth.
    near = np.exp(-((anchor2[:, None] - lm[None, : ft.NUM_FACE_LANDMARKS, :2]) ** 2).sum(-1) / (2 * (0.3 * scale) ** 2))
    near = near + 1e-12 * (oval_of[:, None] == np.arange(ft.NUM_FACE_LANDMARKS)[None])  # never all zero
    near /= near.sum(1, keepdims=True)
    # The picture moves with the surface it shows, and the expressions are designed on the face's own
    # depth, hidden parts included.
    seen = lm.copy()
    seen[: ft.NUM_FACE_LANDMARKS, 2] = _seen_depth(lm[: ft.NUM_FACE_LANDMARKS], _camera(axes[2]), PARALLAX_SLOPE)
    is_ring = ring_of < len(RING_SCALES)
    oval_depth = near @ seen[: ft.NUM_FACE_LANDMARKS, 2]
    depth = np.where(is_ring, oval_depth - np.array(RING_DEPTHS + (1.0,))[ring_of] * scale, lm[:, 2].min() - scale)
    vertices = np.concatenate([seen, np.column_stack([anchor2, depth])])
    # Each ring point is designed at the depth of the face beside it: skin under the chin follows the
    # jaw as the chin does, scaled by its jaw weight, whereas designed at its own depth behind the chin
    # it would swing about the hinge on an arc of its own.
    design_depth = np.where(is_ring, near @ lm[: ft.NUM_FACE_LANDMARKS, 2], depth)
    true_depth = np.concatenate([lm, np.column_stack([anchor2, design_depth])])
    moving = np.r_[np.ones(len(lm), bool), is_ring]
    vertices[moving, 2] = _limit_slope(vertices[moving], vertices[moving], PARALLAX_SLOPE)
    n_lm = len(lm)
    is_landmark = np.arange(len(vertices)) < ft.NUM_FACE_LANDMARKS
    ring_all = np.concatenate([np.full(n_lm, -1), ring_of])

    def to_face(p: np.ndarray) -> np.ndarray:
        return (_camera(p) - origin) @ axes.T / scale

    c = to_face(true_depth)
    designer = _Designer(c, is_landmark, ring_all)
    designer.mouth()
    designer.eyes()
    designer.cheeks_and_nose()
    basis = np.zeros((len(ARKIT_BLENDSHAPES), len(vertices), 3))
    for name, disp in designer.out.items():
        basis[BLENDSHAPE_INDEX[name]] = _camera(disp @ axes * scale)

    below_chin = _smoothstep((c[ft.CHIN, 1] + 0.1 - c[:, 1]) / 0.6)
    ring_w = np.where(ring_all >= 0, np.array(RING_HEAD_WEIGHTS + (0.0,))[ring_all], 1.0)
    # Fade to nothing toward the frame's pinned edges, over about one F.
    x, y = vertices[:, 0], vertices[:, 1]
    to_edge = np.minimum(np.minimum(x - frame[0], frame[2] - x), np.minimum(y - frame[1], frame[3] - y))
    near_edge = np.clip(to_edge / scale, 0, 1)
    head_weight = np.where(ring_all >= 0, ring_w * (1 - 0.7 * below_chin) * near_edge, 1.0)

    keep = np.r_[np.arange(ft.NUM_FACE_LANDMARKS), np.arange(n_lm, len(vertices))]
    from scipy.spatial import Delaunay  # here: importing scipy.spatial delays every command's start by 0.4 s

    tri = Delaunay(vertices[keep, :2]).simplices
    pivot = _camera(origin + NECK_PIVOT @ axes * scale)
    face_axes = _camera(axes)  # rows are directions: flipping y of each is the same map
    return Rig(vertices=vertices.astype(np.float32), triangles=keep[tri].astype(np.int32),
               basis=basis.astype(np.float32), head_weight=head_weight.astype(np.float32),
               pivot=pivot.astype(np.float32), axes=face_axes.astype(np.float32), face_scale=scale)
