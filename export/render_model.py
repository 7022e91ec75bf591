"""The render network: avatar tensors + motion frames -> RGB frames, as a PyTorch module exported to ONNX.

Nothing in it is learned: it is a fixed, differentiable graph (so that a learned refinement can be
trained through it later), built from the avatar's rig (see ``facecast.rig``) and from the tensor
building blocks in ``facecast.export.render_ops``:

1. Motion to geometry: blendshape weights times the rig's per-vertex basis (plus the lips' closure, which
   shuts the portrait's own lip gap as mouthClose catches up with jawOpen or the lips pucker or press, and
   tucks the lower lip under the upper teeth for an /f v/), then a 3D head rotation and translation about
   the neck pivot, blended per vertex by how much each follows the head, seen in perspective from a camera
   CAMERA_DISTANCE in front of the face.
2. A dense backward warp: the vertex displacements are interpolated over the mesh once per 4x4 pixels
   (per-pixel triangle and barycentric weights are avatar inputs, so the graph only gathers), smoothed
   beyond the face landmarks, and the inverse map is found by fixed-point iteration.
3. Layers in each feature's local frame (the mouth between its corners, each eye between its corners),
   worked out only in the cells about the feature:
   the mouth interior (dark cavity, upper teeth fixed to the head, lower teeth, gum and tongue on the jaw,
   each tooth shaded on its own) where the deformed inner lips part beyond the portrait's own opening,
   and the eyeball (the portrait's own eye, turned, tilted and grown as the head moves it, its iris moved
   by the gaze, the eye white it uncovers copied from beyond the iris's old rim) between the deformed
   eyelids. Where parted lips close over the portrait's own mouth opening, the warp's fold would show
   that opening between them; there the portrait's sealed picture is used, its opening filled by lips.
4. One gather per output pixel, from the portrait or its sealed picture (sampled at half-pixel
   precision), blended with the layers across their edges in the one box that holds them.

Inputs (A avatars, B frames, V vertices, S output size, G = S / CELL):
texture (A,2,2S-1,2S-1,3) uint8, two pictures at every half pixel: the framed portrait, and the same
with its own mouth opening filled by its lips (``facecast.render.sealed_image``); vertices (A,V,3) and
pivot (A,3) in output pixels (x, y down, depth toward camera); basis (A,52,V,3); head_weight (A,V); axes (A,3,3)
face axes; face_scale (A,) pixels between the outer eye corners; tri_index (A,3,G,G) int64 and
tri_weight (A,3,G,G); colours (A,3,3) cavity, teeth, tongue in 0..1; own_teeth (A,) pixels of the
portrait's own upper teeth below its upper lip (0 for a closed mouth); motion (B,80) motion frames;
avatar (B,) int64, the avatar of each frame.
Output: frames (B,S,S,3) uint8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facecast import face_topology as ft
from facecast.export.render_ops import (
    CELL,
    Frame,
    Planes,
    between,
    bilinear,
    box,
    entry,
    lookup,
    paste,
    ramp,
    span,
    square_mean,
    tabulate_pair,
    unsqueeze,
)
from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS

OUTPUT_NAMES = ("frames",)

FIXED_POINT_STEPS = 5
OUTSIDE_SMOOTHING = 0.04  # of the frame's side: the square the warp beyond the face landmarks is averaged over
EDGE_PIXELS = 2.0  # output pixels over which a synthetic layer's edge blends into the picture
LID_MARGIN_PX = 0.75  # how far beyond the portrait's eye opening a lid pixel squeezed over it is taken from
METRES_PER_F = 0.09  # typical distance between the outer eye corners
CAMERA_DISTANCE = 0.6  # metres from camera to face, a webcam's distance: sets the perspective of head motion
DEG = math.pi / 180
EYEBALL_PER_IRIS = 2.1  # eyeball radius / iris radius (12 mm / 5.8 mm)
LIMBUS = 0.2  # iris radii of dark rim beyond FaceMesh's iris radius, which moves with the iris
SCLERA_GAP = 0.15  # iris radii beyond that rim to the eye white that an uncovered one copies

# Tooth sizes in F: the part of the upper incisors below the upper lip line, of the lower ones above
# the lower lip line, a lower incisor's crown, and the tongue's reach above the lower lip line.
UPPER_TEETH = 0.08
LOWER_TEETH = 0.045
LOWER_CROWN = 0.1  # tip to gum, 9 mm
GUM = 1.8  # the gum below the lower teeth: the tongue's colour, this much lighter
TONGUE = 0.1
LIP_SHADOW = 0.05  # F: how far inside the lips their shadow reaches
# Where neighbouring front teeth meet, along the mouth (u, corners at +-1, a mouth about 50 mm wide): the
# k-th edge from the middle lies where |u| (TEETH_LINEAR + TEETH_SQUARE |u|) = k, at |u| = 0, 0.34, 0.56,
# 0.74, 0.9: central incisors 8.5 mm wide, then narrower teeth as the arch turns away from the camera.
TEETH_LINEAR = 2.03
TEETH_SQUARE = 2.69
TOOTH_SEAM = 0.3  # how much darker a tooth is at its edges than across its middle

JAW_SHAPES = tuple(BLENDSHAPE_INDEX[n] for n in ("jawOpen", "jawForward", "jawLeft", "jawRight"))
JAW_OPEN, MOUTH_CLOSE = BLENDSHAPE_INDEX["jawOpen"], BLENDSHAPE_INDEX["mouthClose"]
MOUTH_PUCKER = BLENDSHAPE_INDEX["mouthPucker"]
MOUTH_PRESS = (BLENDSHAPE_INDEX["mouthPressLeft"], BLENDSHAPE_INDEX["mouthPressRight"])
ROLL_LOWER = BLENDSHAPE_INDEX["mouthRollLower"]
TUCK_PER_ROLL = 2.0  # the lower lip is all the way up under the upper teeth at mouthRollLower 0.5 (an /f/ is 0.45)
TUCK_JAW = (0.15, 0.3)  # jawOpen over which the tuck fades out (an /f/ is 0.10)
TUCK_REACH = 0.07  # F: the most a lower lip rises above where the jaw puts it (an /f/ needs up to 0.07 F)
SEAL_FLOOR = 0.05  # jawOpen below this counts as this much when sealing, so a neutral frame stays neutral
# Sealing the lips, per unit of each inner-lip pair's rest gap: how far each inner lip moves (a little past
# half: lips that only just meet leave a seam, which the warp smooths over a cell; the Pearl Earring's
# re-detected gap is 0.022 at half and 0.010 at 0.6), and how far the outer lip line follows (the lips
# thicken a little as they press rather than stretch thin).
SEAL_INNER = 0.6
SEAL_OUTER = 0.15
# Pixels by which the sealed picture's mask reaches past the opening's edge when the lips are sealed (in
# proportion to the seal: none on a neutral frame, which must pick the portrait itself).
COVER_MARGIN = 1.5
BS = FIELDS["blendshapes"].slice
ROT = FIELDS["headRotation"].slice
TRANS = FIELDS["headTranslation"].slice
GAZE = FIELDS["gaze"].slice


def seal_amount(shapes: torch.Tensor) -> torch.Tensor:
    """(B,) how far the lips are sealed, 0..1: mouthClose as a share of jawOpen (ARKit closes the lips in
    proportion to the jaw's opening), plus mouthPucker and the mean of mouthPressLeft and mouthPressRight
    (lips that pucker or press are together: the portrait's own opening closes, and only what the jaw
    opens stays open); jawOpen counts as at least SEAL_FLOOR, so a neutral frame is 0."""
    close = shapes[:, MOUTH_CLOSE] / shapes[:, JAW_OPEN].clamp_min(SEAL_FLOOR)
    press = 0.5 * (shapes[:, MOUTH_PRESS[0]] + shapes[:, MOUTH_PRESS[1]])
    return (close + shapes[:, MOUTH_PUCKER] + press).clamp(0, 1)


def tuck_amount(shapes: torch.Tensor) -> torch.Tensor:
    """(B,) how far the lower lip tucks up under the upper teeth, 0..1: TUCK_PER_ROLL times mouthRollLower,
    fading out as jawOpen goes from TUCK_JAW[0] to TUCK_JAW[1] (a lip reaches the upper teeth over a jaw
    that is nearly shut, as in every /f v/; pulled up over a wide-open jaw it smeared over the mouth)."""
    jaw = ((TUCK_JAW[1] - shapes[:, JAW_OPEN]) / (TUCK_JAW[1] - TUCK_JAW[0])).clamp(0, 1)
    return (TUCK_PER_ROLL * shapes[:, ROLL_LOWER]).clamp(0, 1) * jaw


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,3,3) rotation in image coordinates (x right, y down, depth toward camera) from degrees.

    Built in a right-handed y-up frame as yaw @ pitch @ roll: + yaw turns the face to its left (image
    right), + pitch looks down, + roll tilts the head toward its left shoulder; then conjugated by the
    y flip.
    """
    p, y, r = (a * DEG for a in (pitch, yaw, roll))
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    cy, sy, cp, sp, cr, sr = torch.cos(y), torch.sin(y), torch.cos(p), torch.sin(p), torch.cos(-r), torch.sin(-r)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).view(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).view(-1, 3, 3)
    flip = torch.tensor([1.0, -1.0, 1.0])
    return (ry @ rx @ rz) * flip[None, :, None] * flip[None, None, :]


def _tooth_seams(u: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Brightness (0..1 planes) of teeth at u along a mouth ``half`` (B,1,1) pixels wide each side: each tooth
    lit across its middle and shaded toward the lines where it meets its neighbours.

    The layer is sampled once per CELL pixels, so the shading fades out where a tooth is narrower than
    two cells (the side teeth, small faces) instead of aliasing into stripes that flicker as the head moves.
    """
    au = u.abs()
    slope = TEETH_LINEAR + 2 * TEETH_SQUARE * au  # teeth per unit of u
    tooth = au * (TEETH_LINEAR + TEETH_SQUARE * au)  # integers on the lines between teeth
    width = half / slope  # pixels
    depth = TOOTH_SEAM * ((width - 2 * CELL) * (1 / CELL)).clamp(0, 1)
    edge = 1 - 4 * (tooth - tooth.round()).square()  # 1 on a line, 0 across a tooth's middle
    return 1 - depth * edge.square()  # edge^2: about cos^2 of the phase across a tooth


def _margin_table(frame: Frame, upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """An opening's tabulated margins (B,4,N), to ``lookup`` at any u in ``frame``: its upper margin (v),
    that margin's coverage, its lower margin and that one's coverage, from the points (B,K,2) of its upper
    and lower edge (an eye's lids, or the inner lips)."""
    return torch.cat(tabulate_pair(unsqueeze(frame.points(upper)), unsqueeze(frame.points(lower))), 1)


def _per_eye(t: torch.Tensor) -> torch.Tensor:
    """(n, ...) -> (2n, ...): each frame's entry for both of its eyes, frame-major."""
    return t.repeat_interleave(2, 0)


def _eye_points(xy: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Points (n,V,>=2) at both eyes' landmark ``index`` (2,K) -> (2n,K,2), frame-major."""
    n = xy.shape[0]
    return xy[:, index.reshape(-1), :2].reshape(n * 2, *index.shape[1:], 2)


@dataclass
class EyeGeometry:
    """Both eyes of every frame, as a batch of 2n (frame-major: a frame's right eye, then its left), as the
    eyeball layer and the lid pass both use them."""

    frame: Frame  # between the eye's corners as the head alone moves them
    rest: Frame  # between the portrait's own corners
    margins: torch.Tensor  # (2n,4,N) the posed lids' ``_margin_table`` in ``frame``
    outline: torch.Tensor  # (n,4K,2) every posed lid point of a frame's two eyes, for ``box``

    def nearer_second(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(n,1,H,W) bool: whether the frame's second eye is nearer than its first, at points given as u, v
        (2n,H,W) in each eye's ``frame``."""
        near = (u.square() * self.frame.half[:, :, None].square() + v.square()).view(-1, 2, *u.shape[1:])
        return (near[:, 1] < near[:, 0])[:, None]


class RenderNet(nn.Module):
    """Renders motion frames on avatars; see the module docstring for inputs and outputs.

    ``whole_frame`` works the mouth and the eyes out over the whole frame instead of in the boxes about
    them (``box``, ``span``): the same frames, for CUDA. A box's corners are computed from the motion, so
    each must reach the CPU before the next operator can be sized, and no CUDA graph can hold such a
    network; without boxes every shape is known once the inputs' are, and one graph replays the whole call.
    """

    def __init__(self, whole_frame: bool = False) -> None:
        super().__init__()
        self.whole_frame = whole_frame
        idx = lambda seq: torch.tensor(seq, dtype=torch.long)  # noqa: E731
        self.register_buffer("lip_up", idx(ft.LIPS_UPPER_INNER), persistent=False)
        self.register_buffer("lip_lo", idx(ft.LIPS_LOWER_INNER), persistent=False)
        self.register_buffer("eyes_up", idx([ft.RIGHT_EYE_UPPER, ft.LEFT_EYE_UPPER]), persistent=False)
        self.register_buffer("eyes_lo", idx([ft.RIGHT_EYE_LOWER, ft.LEFT_EYE_LOWER]), persistent=False)
        self.register_buffer("irises", idx([ft.RIGHT_IRIS, ft.LEFT_IRIS]), persistent=False)
        jaw_mask = torch.zeros(len(BLENDSHAPE_INDEX))
        jaw_mask[list(JAW_SHAPES)] = 1.0
        self.register_buffer("jaw_mask", jaw_mask, persistent=False)
        # How each face landmark moves per unit of each inner-lip pair's rest gap (the upper and lower
        # point at the same place along the mouth) when the lips seal.
        seal = torch.zeros(ft.NUM_FACE_LANDMARKS, len(ft.LIPS_UPPER_INNER))
        pairs = zip(ft.LIPS_UPPER_INNER, ft.LIPS_LOWER_INNER, ft.LIPS_UPPER_OUTER, ft.LIPS_LOWER_OUTER, strict=True)
        for i, (upper_in, lower_in, upper_out, lower_out) in enumerate(pairs):
            seal[upper_in, i] += SEAL_INNER
            seal[lower_in, i] -= SEAL_INNER
            seal[upper_out, i] += SEAL_OUTER
            seal[lower_out, i] -= SEAL_OUTER
        self.register_buffer("seal_matrix", seal, persistent=False)
        # How each face landmark moves per pixel each inner lower-lip point rises to the upper teeth (an /f v/).
        tuck = torch.zeros_like(seal)
        for i, (lower_in, lower_out) in enumerate(zip(ft.LIPS_LOWER_INNER, ft.LIPS_LOWER_OUTER, strict=True)):
            tuck[lower_in, i] -= 1.0
            tuck[lower_out, i] -= SEAL_OUTER
        self.register_buffer("tuck_matrix", tuck, persistent=False)

    def _box(self, points: torch.Tensor, cells: int, spread: float = 0.1) -> tuple[torch.Tensor | int, ...]:
        return (0, cells, 0, cells) if self.whole_frame else box(points, cells, spread=spread)

    def _span(self, line: torch.Tensor, cells: int) -> tuple[torch.Tensor | int, ...]:
        return (0, cells) if self.whole_frame else span(line, cells)

    # -- geometry ---------------------------------------------------------------------------------
    def closure(self, verts: torch.Tensor, expression: torch.Tensor, shapes: torch.Tensor, own_teeth: torch.Tensor,
                face_scale: torch.Tensor, axes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Displacement (B,V,3) that closes the portrait's own lip gap as the motion closes the lips, and the
        seal (B,) (``seal_amount``), from the rest vertices (B,V,3), the blendshapes' ``expression``
        (B,V,3), the blendshape weights (B,52) and each frame's avatar's ``own_teeth``, ``face_scale`` (B,)
        and face ``axes`` (B,3,3).

        The blendshapes move the lips relative to the portrait, so on a portrait with parted lips or a
        smile that shows its teeth, lips closed over the jaw (mouthClose = jawOpen, as in every /p b m/)
        would stay as far apart as in the picture. ARKit's mouthClose brings the lips together in
        proportion to the jaw's opening, and lips that pucker or press are together (an "oo" on a smile
        that shows its teeth covers them); a neutral frame leaves the portrait as it is, and a closed-mouth
        portrait (no gap) is not moved by the seal at all.

        A lower lip that rolls in (an /f v/) rises to the upper teeth's edge from wherever the jaw put it
        (``tuck_amount``, less what the seal has already closed): a smile's own teeth end ``own_teeth``
        pixels below its upper lip, and a closed mouth's new teeth UPPER_TEETH F below it. Otherwise a
        smile's lower teeth stayed bare through an /f/; a lip already above that edge stays where it is,
        and none rises more than TUCK_REACH F.
        """
        seal = seal_amount(shapes)
        upper, lower = verts.index_select(1, self.lip_up), verts.index_select(1, self.lip_lo)  # (B,11,3), rest pose
        face = self.seal_matrix @ ((lower - upper) * seal[:, None, None])  # (B,468,3)
        down = -axes[:, 1]  # the face's own down, in the picture (the axes' y points to the forehead)
        reach = torch.where(own_teeth > 0, own_teeth, UPPER_TEETH * face_scale)
        edge = upper + down[:, None] * reach[:, None, None]
        below = ((lower + expression.index_select(1, self.lip_lo) - edge) * down[:, None]).sum(-1)
        below = torch.minimum(below.clamp_min(0), TUCK_REACH * face_scale[:, None])
        rise = below * (tuck_amount(shapes) * (1 - seal))[:, None]  # (B,11)
        face = face + self.tuck_matrix @ (down[:, None] * rise[..., None])
        return torch.cat([face, torch.zeros_like(verts[:, ft.NUM_FACE_LANDMARKS :])], 1), seal

    @staticmethod
    def camera(size: int | torch.Tensor, face_scale: torch.Tensor) -> tuple[float | torch.Tensor, torch.Tensor]:
        """Where the camera that sees the head looks (the middle of a ``size`` frame, in its pixels) and how
        far it is (B,), in pixels of faces ``face_scale`` (B,) pixels between the outer eye corners."""
        return size / 2 - 0.5, CAMERA_DISTANCE * face_scale / METRES_PER_F

    @staticmethod
    def _head(points: torch.Tensor, weight: torch.Tensor, rot: torch.Tensor, pivot: torch.Tensor,
              shift: torch.Tensor, centre: float | torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """Points (B,V,3) moved by the head pose, each by its head weight (B,V), as a camera ``distance``
        (B,) pixels in front of the picture's ``centre`` sees them.

        The portrait was taken through a lens, so what the head brings nearer the camera grows and what it
        takes away shrinks: a turned face's near cheek is wider than its far one, a head that looks down
        shows a larger forehead. Seen orthographically (every point keeping its size at any depth),
        mediapipe read the turns short.
        """
        moved = (points - pivot[:, None]) @ rot.transpose(1, 2) + pivot[:, None] + shift[:, None]
        moved = points + weight[..., None] * (moved - points)
        nearer = moved[..., 2] - points[..., 2]
        grow = distance[:, None, None] / (distance[:, None, None] - nearer[..., None])
        return torch.cat([centre + (moved[..., :2] - centre) * grow, moved[..., 2:]], -1)

    def forward(self, texture: torch.Tensor, vertices: torch.Tensor, basis: torch.Tensor, head_weight: torch.Tensor,
                pivot: torch.Tensor, axes: torch.Tensor, face_scale: torch.Tensor, tri_index: torch.Tensor,
                tri_weight: torch.Tensor, colours: torch.Tensor, own_teeth: torch.Tensor, motion: torch.Tensor,
                avatar: torch.Tensor) -> torch.Tensor:
        cells = tri_index.shape[2]
        size = cells * CELL
        n = motion.shape[0]
        verts = vertices.index_select(0, avatar)
        basis_b = basis.index_select(0, avatar)
        weight = head_weight.index_select(0, avatar)
        pivot_b = pivot.index_select(0, avatar)
        axes_b = axes.index_select(0, avatar)
        scale_px = face_scale.index_select(0, avatar)
        colours_b = colours.index_select(0, avatar)
        n_vert = verts.shape[1]

        shapes = motion[:, BS]
        rot_deg, trans, gaze = motion[:, ROT], motion[:, TRANS], motion[:, GAZE]
        rot = rotation_matrix(rot_deg[:, 0], rot_deg[:, 1], rot_deg[:, 2])
        px_per_m = scale_px / METRES_PER_F
        shift = torch.stack([trans[:, 0], -trans[:, 1], trans[:, 2].clamp(-0.3, 0.3)], -1) * px_per_m[:, None]
        centre, distance = self.camera(size, scale_px)
        flat_basis = basis_b.reshape(n, basis_b.shape[1], n_vert * 3)
        teeth_b = own_teeth.index_select(0, avatar)
        expression = (shapes[:, None] @ flat_basis).view(n, n_vert, 3)
        closing, seal = self.closure(verts, expression, shapes, teeth_b, scale_px, axes_b)
        expression = expression + closing
        jaw_only = ((shapes * self.jaw_mask)[:, None] @ flat_basis).view(n, n_vert, 3)

        posed = self._head(verts + expression, weight, rot, pivot_b, shift, centre, distance)
        head_only = self._head(verts, weight, rot, pivot_b, shift, centre, distance)
        on_jaw = self._head(verts + jaw_only, weight, rot, pivot_b, shift, centre, distance)

        # Dense displacement over the source picture, one value per CELL x CELL block of pixels: gather
        # the three vertices of each cell's triangle and blend by its barycentric weights.
        tri_i = tri_index.index_select(0, avatar).reshape(n, 3 * cells * cells)
        tri_w = tri_weight.index_select(0, avatar).reshape(n, 3, cells * cells)
        def interpolate(per_vertex: torch.Tensor) -> torch.Tensor:
            corner = per_vertex.gather(1, tri_i).view(n, 3, cells * cells) * tri_w
            return corner[:, 0] + corner[:, 1] + corner[:, 2]

        field = [interpolate(posed[..., c] - verts[..., c]) for c in range(2)]
        # Beyond the face landmarks the field is averaged over a square OUTSIDE_SMOOTHING of the frame wide
        # (5 cells at 512 px). There long triangles run from the face oval to sparse anchors, each bending
        # the field its own way, and a turned face's outline, where the field changes fastest, came out
        # notched (up to 5 px at 512 px, one notch per oval landmark). Inside the face the field stays sharp
        # for the lips and eyelids.
        is_face = (torch.ones_like(weight).cumsum(1) <= ft.NUM_FACE_LANDMARKS).to(weight.dtype)  # V is dynamic
        outside = (8 * (1 - interpolate(is_face))).clamp(0, 1)
        grid_side = torch.ones_like(tri_weight[0, 0, 0]).sum()  # ``cells`` as a tensor: the size is dynamic
        radius = (grid_side * (OUTSIDE_SMOOTHING / 2)).floor().to(torch.int64)
        smooth = square_mean(torch.stack(field, 1).view(n, 2, cells, cells), radius).view(n, 2, cells * cells)
        field = [f + outside * (smooth[:, c] - f) for c, f in enumerate(field)]
        follow = interpolate(weight).view(n, cells, cells)
        # The head's own motion (at the nose bridge), spread by the head weight: a start close to the
        # answer, so that the iteration only has to resolve parallax and expressions.
        head_shift = (head_only - verts)[:, ft.NOSE_BRIDGE, :2]

        coords = (torch.arange(cells, dtype=motion.dtype) + 0.5) * CELL - 0.5
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        gx, gy = gx[None].expand(n, -1, -1), gy[None].expand(n, -1, -1)  # output pixel of each cell
        # Backward warp: the source point q of output pixel p solves q + d(q) = p. After one plain step
        # the steps are halved: plain iteration oscillates (and averaging it ghosts) wherever the
        # picture stretches to more than twice its size, halved steps still converge there.
        sx = gx - follow * head_shift[:, 0, None, None]
        sy = gy - follow * head_shift[:, 1, None, None]
        for k in range(FIXED_POINT_STEPS):
            dx, dy = bilinear(field, cells, cells, (sx + 0.5) / CELL - 0.5, (sy + 0.5) / CELL - 0.5)
            if k == 0:
                sx, sy = gx - dx, gy - dy
            else:
                sx, sy = sx + 0.5 * (gx - dx - sx), sy + 0.5 * (gy - dy - sy)

        # The mouth's layers are worked out only in the cells about the lips, for the whole batch (see ``box``):
        # beyond them the picture is untouched and the layer, the sealed picture's mask and the jaw's motion
        # are zero. (The sealed picture's mask is where the warp takes a pixel from inside the portrait's own
        # opening; the opening's triangles are the inner lips', so the warp puts it between the posed lips.)
        # ``teeth_end`` is left 0 beyond them: it only counts where the jaw moves.
        lips = torch.cat([self.lip_up, self.lip_lo])
        y0, y1, x0, x1 = self._box(torch.cat([posed[:, lips, :2], head_only[:, lips, :2], on_jaw[:, lips, :2]], 1),
                                   cells)
        part = (slice(None), slice(y0, y1), slice(x0, x1))
        m_src, m_jaw, m_teeth, m_synth, m_covered = self._mouth(
            gx[part], gy[part], (sx[part], sy[part]), verts, posed, head_only, on_jaw, scale_px, colours_b,
            teeth_b, seal)
        zero = torch.zeros_like(gx)
        src = (paste(sx, m_src[0], y0, x0), paste(sy, m_src[1], y0, x0))
        jaw = (paste(zero, m_jaw[0], y0, x0), paste(zero, m_jaw[1], y0, x0))
        teeth_end = paste(zero, m_teeth, y0, x0)
        synth = [paste(zero, plane, y0, x0) for plane in m_synth]
        covered = paste(zero, m_covered, y0, x0)
        # The eyes leave ``jaw`` as it is: it is zero outside the mouth.
        eyes = self._eye_geometry(verts, posed, head_only)
        src, synth = self._eyes(gx, gy, src, synth, eyes, verts, gaze, axes_b, texture, avatar)
        offsets = self._lids(self._offsets(src, gx, gy), src, gx, gy, eyes, verts)
        return self._compose(texture, avatar, gx, offsets, jaw, teeth_end, synth, covered, size)

    @staticmethod
    def _offsets(src: Planes, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        """The source offsets (B,2,S,S) of every output pixel, in half pixels (the pictures' entries).

        The offset is zero at rest, so upsampling it (not the coordinates) keeps a neutral frame exact."""
        return F.interpolate(torch.stack([2 * (src[0] - gx), 2 * (src[1] - gy)], 1), scale_factor=float(CELL),
                             mode="bilinear", align_corners=False)

    def _compose(self, texture: torch.Tensor, avatar: torch.Tensor, gx: torch.Tensor, offsets: torch.Tensor,
                 jaw: Planes, teeth_end: torch.Tensor, synth: list[torch.Tensor], covered: torch.Tensor,
                 size: int) -> torch.Tensor:
        """Full-resolution frames: one gather per pixel from the portrait or its sealed picture, blended with
        the synthetic layer (premultiplied colour, alpha) across its edge.

        The pictures are stored at every half pixel, so the nearest entry is at most a quarter pixel from
        the exact source point, and a neutral frame picks every original pixel exactly. The sealed picture
        is used where the upsampled ``covered`` mask passes 1/2 (at that edge the two pictures agree). The
        layer's edge is blended over EDGE_PIXELS rather than cut where its alpha passes 1/2: a cut is a
        staircase, as the alpha is made per cell.

        Inside the mouth, below the line where the portrait's own upper teeth end (``teeth_end`` > 0,
        pixels), the source also moves by ``jaw``, the jaw's motion. That line is found per pixel from
        its upsampled distance: picked per cell, it was a staircase wherever the head tilted it.

        Only the source offsets are needed over the whole frame. The layer, the sealed picture's mask and
        the jaw are zero beyond the mouth and the eyes, so they are upsampled and blended in one box that
        holds every cell where any of them is not, for the whole batch (5-7 % of the frame for the bundled
        portrait's speech, four frames at a time; more where the irises move): outside it the frame is the
        portrait through the warp, exactly as if they had been upsampled there too.
        """
        n = gx.shape[0]
        cells = gx.shape[1]
        side = texture.shape[2]
        flat = texture.reshape(-1, 3)
        portrait = (avatar.to(torch.int32) * 2).view(n, 1, 1)  # the portrait's entries; the sealed picture's follow
        entries = torch.arange(size, dtype=gx.dtype) * 2 + 0.5
        pixel = entry(portrait, entries[None, None, :], entries[None, :, None], offsets[:, 0], offsets[:, 1], side)
        frames = flat.index_select(0, pixel.reshape(-1)).view(n, size, size, 3)

        active = ((synth[3] > 0) | (covered > 0) | (jaw[0] != 0) | (jaw[1] != 0)).to(gx.dtype).amax(0)
        y0, y1 = self._span(active.amax(1), cells)
        x0, x1 = self._span(active.amax(0), cells)
        # One upsampling of every per-cell plane, measured faster than one per plane. (Constants are added
        # per cell, before upsampling, where they cost a sixteenth as much.) The box's edge cells are zero
        # in the layer and the jaw, as are the cells beyond, so upsampled on its own the box comes out as
        # it would in the whole frame (``teeth_end`` differs there, but only counts where the jaw moves).
        planes = torch.stack(synth + [covered, 2 * jaw[0], 2 * jaw[1], teeth_end + 0.5], 1)[:, :, y0:y1, x0:x1]
        layer = F.interpolate(planes, scale_factor=float(CELL), mode="bilinear", align_corners=False)
        boxed = offsets[:, :, y0 * CELL : y1 * CELL, x0 * CELL : x1 * CELL]
        alpha, cover = layer[:, 3], layer[:, 4]
        on_jaw = layer[:, 7].clamp(0, 1)  # sharp: the teeth end there
        picture = portrait + (cover > 0.5).to(torch.int32)
        ys, xs = torch.arange(y0 * CELL, y1 * CELL), torch.arange(x0 * CELL, x1 * CELL)
        pixel = entry(picture, (xs * 2 + 0.5).to(gx.dtype)[None, None, :], (ys * 2 + 0.5).to(gx.dtype)[None, :, None],
                      boxed[:, 0] + on_jaw * layer[:, 5], boxed[:, 1] + on_jaw * layer[:, 6], side)
        warped = flat.index_select(0, pixel.reshape(-1)).view(*pixel.shape, 3)
        # Blended one colour plane at a time (onnxruntime broadcasts over a trailing axis of 3 slowly), with
        # the layer's colours bilinear between cell centres, so the mouth interior shades smoothly instead of
        # in blocks. The blend is exactly 0 away from the layer, so a neutral frame stays the portrait.
        warped = warped.permute(0, 3, 1, 2).to(gx.dtype)
        colour = layer[:, :3] * (255 / alpha.clamp(min=1e-3))[:, None]
        blend = (alpha * (CELL / EDGE_PIXELS) - (0.5 * CELL / EDGE_PIXELS - 0.5)).clamp(0, 1)[:, None]
        mixed = (warped + blend * (colour - warped) + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        # Into the frames, seen as rows of (x, colour) entries.
        rows = mixed.reshape(n, mixed.shape[1], -1)
        return paste(frames.view(n, size, 3 * size), rows, y0 * CELL, 3 * CELL * x0).view(n, size, size, 3)

    def _lids(self, offsets: torch.Tensor, src: Planes, gx: torch.Tensor, gy: torch.Tensor, eyes: EyeGeometry,
              verts: torch.Tensor) -> torch.Tensor:
        """The source offsets (B,2,S,S, half pixels) with no lid pixel taking the portrait's eye.

        The warp is a displacement per cell and cannot fold: where the lids close over the eye, it squeezes
        the opening into a band a cell or two tall and finds the portrait's eye there, a slit of iris and eye
        white in a full blink. So per pixel, about the eyes: a pixel outside the posed lids whose source
        falls inside the portrait's eye opening takes the portrait's lid margin instead, the upper one above
        the line where the posed lids meet and the lower one below it, just beyond the opening at the same
        place along the eye. Where the warp's source reaches the margin this changes nothing, so the band
        joins the lids it lies between; a neutral frame is untouched (no lid pixel's source is in the eye).

        The distances it tests are worked out per cell (from each cell's centre to the posed margins, and
        from its source to the portrait's), in one box that holds both eyes, both eyes at once (each cell
        then takes its nearer eye's), and upsampled: they are smooth, and per pixel only the tests remain,
        as for the line where a portrait's own teeth part.
        """
        n, size, cells = offsets.shape[0], offsets.shape[2], gx.shape[1]
        y0, y1, x0, x1 = self._box(eyes.outline, cells, spread=0.0)
        frame, rest = eyes.frame, eyes.rest
        u, v = frame.pixels(_per_eye(gx[:, y0:y1, x0:x1]), _per_eye(gy[:, y0:y1, x0:x1]))
        top, c_up, bottom, c_lo = lookup(eyes.margins, u)
        su, sv = rest.pixels(_per_eye(src[0][:, y0:y1, x0:x1]), _per_eye(src[1][:, y0:y1, x0:x1]))  # cells' sources
        r_top, r_cu, r_bottom, r_cl = lookup(_margin_table(rest, _eye_points(verts, self.eyes_up),
                                                           _eye_points(verts, self.eyes_lo)), su)
        ey = rest.ey[:, :, None, None].expand(-1, -1, *u.shape[1:])
        planes = torch.cat([torch.stack([v - top, bottom - v, c_up * c_lo, sv - r_top, r_bottom - sv, r_cu * r_cl], 1),
                            ey], 1).view(n, 2, 8, *u.shape[1:])
        planes = torch.where(eyes.nearer_second(u, v), planes[:, 1], planes[:, 0])
        d_top, d_bottom, cover, e_top, e_bottom, r_cover, ey_x, ey_y = F.interpolate(
            planes, scale_factor=float(CELL), mode="bilinear", align_corners=False).unbind(1)
        on_lid = (d_top <= 0) | (d_bottom <= 0) | (cover < 0.5)
        in_eye = (e_top > 0) & (e_bottom > 0) & (r_cover >= 0.5)
        # Above the meeting line up to the upper margin, below it down to the lower one (pixels).
        to = torch.where(d_top < d_bottom, -(e_top + LID_MARGIN_PX), e_bottom + LID_MARGIN_PX)
        moved = 2 * (on_lid & in_eye).to(offsets.dtype) * to  # half pixels
        part = offsets[:, :, y0 * CELL : y1 * CELL, x0 * CELL : x1 * CELL]
        fixed = part + moved[:, None] * torch.stack([ey_x, ey_y], 1)
        # Both planes in one paste.
        return paste(offsets.reshape(n * 2, size, size), fixed.reshape(n * 2, *fixed.shape[2:]), y0 * CELL, x0 * CELL
                     ).view(n, 2, size, size)

    # -- layers -----------------------------------------------------------------------------------
    def _mouth(self, gx: torch.Tensor, gy: torch.Tensor, src: Planes, verts: torch.Tensor, posed: torch.Tensor,
               head_only: torch.Tensor, on_jaw: torch.Tensor, scale_px: torch.Tensor, colours: torch.Tensor,
               own_teeth: torch.Tensor, seal: torch.Tensor
               ) -> tuple[Planes, Planes, torch.Tensor, list[torch.Tensor], torch.Tensor]:
        up, lo = self.lip_up, self.lip_lo
        # The frame runs between the posed corners, so that the lips span u = -1..1 however far the jaw
        # drags the corners (on a turned face they slide sideways with it).
        frame = Frame(posed[:, up[0], :2], posed[:, up[-1], :2])
        rest = Frame(verts[:, up[0], :2], verts[:, up[-1], :2])
        frame_head = Frame(head_only[:, up[0], :2], head_only[:, up[-1], :2])
        frame_jaw = Frame(on_jaw[:, lo[0], :2], on_jaw[:, lo[-1], :2])
        u_up, v_up = frame.points(posed[:, up, :2])
        u_lo, v_lo = frame.points(posed[:, lo, :2])
        u_tu, v_tu = frame.points(head_only[:, up, :2])
        u_tl, v_tl = frame.points(on_jaw[:, lo, :2])
        d_tu = (head_only - verts)[:, up, :2].permute(0, 2, 1)
        d_tl = (on_jaw - verts)[:, lo, :2].permute(0, 2, 1)
        # Where the upper lip folds, its lower edge hides the mouth; where the lower one does, its upper edge.
        t_up, t_lo = tabulate_pair((u_up, v_up[:, None]), (u_lo, v_lo[:, None]), fold=True)
        # The teeth hang from the lips as the head alone and the jaw alone move them. Those lips can end
        # short of the posed corners (on a turned face the jaw drags a corner sideways): beyond
        # them the teeth keep to the posed lips, and move as the lips' ends do.
        t_teeth_up, t_teeth_lo = tabulate_pair((u_tu, torch.cat([v_tu[:, None], d_tu], 1)),
                                               (u_tl, torch.cat([v_tl[:, None], d_tl], 1)), hold=True)
        u, v = frame.pixels(gx, gy)
        top, cov_up, bottom, cov_lo, tu, tu_x, tu_y, tu_cov, tl, tl_x, tl_y, tl_cov = lookup(
            torch.cat([t_up, t_lo, t_teeth_up, t_teeth_lo], 1), u)
        tu, tl = top + tu_cov * (tu - top), bottom + tl_cov * (tl - bottom)
        inside = between(v, top, bottom, cov_up * cov_lo)
        # Inside the mouth the portrait's own upper teeth (own_teeth pixels below the upper lip line)
        # stay with the head and everything below them goes with the jaw: a portrait's own teeth stay
        # its own.
        f = scale_px[:, None, None]
        teeth_end = v - (tu + own_teeth[:, None, None])
        on_jaw_band = (teeth_end + 0.5).clamp(0, 1)  # sharp: the teeth end there
        inner_x = gx - (tu_x + on_jaw_band * (tl_x - tu_x))
        inner_y = gy - (tu_y + on_jaw_band * (tl_y - tu_y))
        # Where that source point lies outside the portrait's own mouth opening, the mouth is newly open. (This
        # mask is per cell, as the layer is; the picture itself switches to the jaw per pixel, in ``_compose``.)
        rest_lips = _margin_table(rest, verts[:, up, :2], verts[:, lo, :2])
        ru, rv = rest.pixels(inner_x, inner_y)
        r_top, r_cu, r_bottom, r_cl = lookup(rest_lips, ru)
        was_open = between(rv, r_top, r_bottom, r_cu * r_cl)
        alpha = (inside - was_open).clamp(0, 1)
        # Where parted lips come together the warp folds, and between the meeting lips it also finds the
        # portrait's own mouth interior (a line of its teeth would show): outside the posed opening, that
        # interior is taken from the sealed picture, where the lips cover it.
        su, sv = rest.pixels(*src)
        s_top, s_cu, s_bottom, s_cl = lookup(rest_lips, su)
        # As the lips seal, the opening is widened by up to COVER_MARGIN, as the mask is made per cell: at its
        # edge, where the two pictures agree, the sealed one is safe.
        margin = COVER_MARGIN * seal[:, None, None]
        covered = (between(sv, s_top - margin, s_bottom + margin, s_cu * s_cl) - inside).clamp(0, 1)
        # The source inside the mouth as the head alone moves it; the jaw's share is added per pixel (``_compose``).
        src = (src[0] + inside * (gx - tu_x - src[0]), src[1] + inside * (gy - tu_y - src[1]))
        jaw = (inside * (tu_x - tl_x), inside * (tu_y - tl_y))

        # The layer is computed once per CELL pixels and interpolated between, so its shading stays
        # gentle: a little darker toward the middle of the mouth (the throat).
        au = u.abs()
        shade = 1.1 - 0.25 * (1 - au).clamp(0, 1)
        # The lips shade what lies just inside them, so teeth and tongue never meet a lip in full light; the
        # lower lip less, as the light comes from above.
        below_upper = ((v - top) / (LIP_SHADOW * f)).clamp(0, 1)
        above_lower = ((bottom - v) / (LIP_SHADOW * f)).clamp(0, 1)
        lit = 0.6 + 0.4 * below_upper * (0.75 + 0.25 * above_lower)
        tongue_m = ramp(v - (tl - TONGUE * f)) * (0.75 - au).mul(4).clamp(0, 1)
        lower_w = (0.8 - au).mul(5).clamp(0, 1)
        lower_m = ramp(v - (tl - LOWER_TEETH * f)) * lower_w
        # Below the lower teeth's crown, the gum: a lower lip dropped or funnelled further than that
        # (mouthLowerDown, mouthFunnel) uncovers it.
        gum_m = ramp(v - (tl + (LOWER_CROWN - LOWER_TEETH) * f)) * lower_w
        upper_m = ramp(tu + UPPER_TEETH * f - v) * (0.85 - au).mul(5).clamp(0, 1)
        # Separate teeth, not a white band: the seams stay on the head (upper teeth) or on the jaw (lower).
        upper_seam = _tooth_seams(frame.along(frame_head, u), frame_head.half[:, :, None])
        lower_seam = _tooth_seams(frame.along(frame_jaw, u), frame_jaw.half[:, :, None])
        # All three colour planes at once (B,3,h,w): the cavity's, the teeth's and the tongue's colour (B,3,1,1)
        # over each mask (B,1,h,w).
        cavity, teeth, tongue = (colours[:, k, :, None, None] for k in range(3))
        colour = cavity * shade[:, None]
        colour = colour + tongue_m[:, None] * (tongue - colour)
        colour = colour + lower_m[:, None] * (0.75 * teeth * lower_seam[:, None] - colour)  # in the upper teeth's shade
        colour = colour + gum_m[:, None] * (GUM * tongue - colour)
        colour = colour + upper_m[:, None] * (teeth * upper_seam[:, None] - colour)
        synth = list((colour * lit[:, None] * alpha[:, None]).unbind(1))
        return src, jaw, teeth_end, synth + [alpha], covered

    def _eye_geometry(self, verts: torch.Tensor, posed: torch.Tensor, head_only: torch.Tensor) -> EyeGeometry:
        """Both eyes' frames, posed lid tables and outline, from the rest, posed and head-only vertices."""
        up, lo = self.eyes_up, self.eyes_lo
        corners, own = _eye_points(head_only, up), _eye_points(verts, up)
        frame = Frame(corners[:, 0], corners[:, -1])
        margins = _margin_table(frame, _eye_points(posed, up), _eye_points(posed, lo))
        return EyeGeometry(frame, Frame(own[:, 0], own[:, -1]), margins,
                           torch.cat([posed[:, up.reshape(-1), :2], posed[:, lo.reshape(-1), :2]], 1))

    def _eyes(self, gx: torch.Tensor, gy: torch.Tensor, src: Planes, synth: list[torch.Tensor], eyes: EyeGeometry,
              verts: torch.Tensor, gaze: torch.Tensor, axes: torch.Tensor, texture: torch.Tensor,
              avatar: torch.Tensor) -> tuple[Planes, list[torch.Tensor]]:
        """The eyeballs between the posed lids: the source points and the layer (eye white uncovered by a
        moving iris), worked out in one box about both eyes for the whole batch (see ``box``), both eyes at
        once; each cell takes its nearer eye's (an eye changes nothing beyond its own lids)."""
        n, cells = gx.shape[0], gx.shape[1]
        side = texture.shape[2]
        portrait = texture.reshape(-1, 3)
        first = _per_eye((avatar.to(torch.int32) * (2 * side * side)).view(-1, 1, 1))  # the portrait's, not the sealed
        y0, y1, x0, x1 = self._box(eyes.outline, cells)

        def crop(plane: torch.Tensor) -> torch.Tensor:
            return _per_eye(plane[:, y0:y1, x0:x1])

        sx, sy = crop(src[0]), crop(src[1])
        layer = [crop(plane) for plane in synth]
        frame, rest = eyes.frame, eyes.rest
        u, v = frame.pixels(crop(gx), crop(gy))
        top, c_up, bottom, c_lo = lookup(eyes.margins, u)
        # The image's lower lid runs below its upper lid: v grows downward.
        inside = between(v, top, bottom, c_up * c_lo)
        # The eyeball moves with the head only: each point inside the lids comes from the portrait's eye
        # through the turn, tilt and growth the head gives the eye (the similarity that takes the eye's
        # corners to where the head puts them). Shifted only, a tilted head showed skin from beyond the
        # portrait's eye corners inside its own.
        along = u * rest.half[:, :, None]
        across = v * (rest.half / frame.half)[:, :, None]
        px = rest.origin[:, 0, None, None] + along * rest.ex[:, 0, None, None] + across * rest.ey[:, 0, None, None]
        py = rest.origin[:, 1, None, None] + along * rest.ex[:, 1, None, None] + across * rest.ey[:, 1, None, None]
        # In the portrait's frame the iris turns by the gaze along the face's own axes: the gaze is
        # relative to the head.
        iris = _eye_points(verts, self.irises)
        centre = iris[:, 0]
        radius = (iris[:, 1:] - centre[:, None]).norm(dim=-1).mean(1)
        turns = (gaze.view(n, 2, 2).flip(1).reshape(2 * n, 2) * DEG).sin()  # gaze lists the left eye first
        face = _per_eye(axes)
        turn = EYEBALL_PER_IRIS * radius[:, None] * (turns[:, :1] * face[:, 0, :2] + turns[:, 1:] * face[:, 1, :2])
        new = centre + turn
        r = radius[:, None, None]
        # The iris carries its dark rim (beyond FaceMesh's iris radius) with it, so none is left behind.
        rim = r * (1 + LIMBUS)
        dx, dy = px - centre[:, 0, None, None], py - centre[:, 1, None, None]
        iris_new = ramp(rim - ((px - new[:, 0, None, None]) ** 2 + (py - new[:, 1, None, None]) ** 2).sqrt())
        iris_old = ramp(rim - (dx.square() + dy.square()).sqrt())
        eye_x = px - iris_new * turn[:, 0, None, None]
        eye_y = py - iris_new * turn[:, 1, None, None]
        sx, sy = sx + inside * (eye_x - sx), sy + inside * (eye_y - sy)
        bare = (iris_old - iris_new).clamp(0, 1) * inside
        # Where the iris left, the eye white shows: the portrait's own, found by going back from each
        # point along the iris's motion until past its old rim. Along one direction that point moves
        # smoothly over the uncovered patch, so the copy has no seam.
        back = -turn / (turn.norm(dim=-1, keepdim=True) + 1e-6)
        bx, by = back[:, 0, None, None], back[:, 1, None, None]
        ahead = dx * bx + dy * by
        out = -ahead + (ahead.square() - dx.square() - dy.square() + rim.square()).clamp_min(0).sqrt()
        fill_x, fill_y = px + (out + SCLERA_GAP * r) * bx, py + (out + SCLERA_GAP * r) * by
        ix = torch.round(2 * fill_x).clamp(0, side - 1).to(torch.int32)
        iy = torch.round(2 * fill_y).clamp(0, side - 1).to(torch.int32)
        fill = portrait.index_select(0, (first + iy * side + ix).reshape(-1)).view(*ix.shape, 3).to(gx.dtype)
        keep = 1 - bare
        layer = [layer[c] * keep + fill[..., c] * (bare / 255) for c in range(3)] + [layer[3] * keep + bare]
        # The picture under the patch's soft edge is that eye white too, not the old iris.
        sx, sy = sx + bare * (fill_x - sx), sy + bare * (fill_y - sy)
        planes = torch.stack([sx, sy, *layer], 1).view(n, 2, 6, *u.shape[1:])
        planes = torch.where(eyes.nearer_second(u, v), planes[:, 1], planes[:, 0])
        # All six planes in one paste.
        whole = torch.stack([*src, *synth], 1).view(n * 6, cells, cells)
        whole = paste(whole, planes.reshape(n * 6, *u.shape[1:]), y0, x0).view(n, 6, cells, cells)
        sx, sy, *synth = whole.unbind(1)
        return (sx, sy), synth
