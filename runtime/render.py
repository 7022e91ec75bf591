"""Run the render network (``models/render.onnx``) on avatar packs with onnxruntime.

``Renderer().avatar(pack, size)`` turns a pack into the network's avatar tensors for one output size
(crop, mesh rasterisation, layer colours: done once); ``Renderer.render`` and ``Renderer.frames`` turn
motion frames into RGB frames, in batches, for one avatar, and ``Renderer.run`` for several at once
(their inputs stacked by ``stack_avatars``). On CUDA the same frames come from
``models/render_gpu.onnx``, replayed as CUDA graphs (``facecast.cuda_graphs``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from facecast import face_topology as ft
from facecast.avatar import AvatarPack
from facecast.device import CPU, CUDA, last_line, open_session, providers
from facecast.errors import FacecastError, ModelError
from facecast.motion_frame import BOUNDS, FRAME_SIZE, WEIGHTS, MotionTrack, clamp_weights, first_impossible
from facecast.rig import framing

CELL = 4  # the network computes geometry once per CELL x CELL pixels (export/render_model.py)
#: The render network's inputs, in the order of ``RenderNet.forward`` (export/render_model.py).
INPUT_NAMES = ("texture", "vertices", "basis", "head_weight", "pivot", "axes", "face_scale", "tri_index", "tri_weight",
               "colours", "own_teeth", "motion", "avatar")
FRAME_INPUTS = INPUT_NAMES[-2:]  # the motion and each frame's avatar: given every call, unlike the avatars'
#: The numpy type of each type the render network's inputs have, as onnxruntime names them.
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8}
MIN_OPENING = 2.0  # pixels between the inner lips below which a mouth counts as closed (sealed_image)
log = logging.getLogger("facecast.render")


def default_model_path(whole_frame: bool = False) -> Path:
    """The shipped render network; ``whole_frame``: its variant for CUDA graphs (see ``CudaGraphs``)."""
    name = "render_gpu.onnx" if whole_frame else "render.onnx"
    return Path(str(resources.files("facecast") / "models" / name))


@dataclass
class Avatar:
    """One avatar's render-network inputs at one output size (see ``export/render_model.py``)."""

    tensors: dict[str, np.ndarray]
    crop: tuple[float, float, float]  # x0, y0, side of the square crop in the portrait's pixels
    reference: np.ndarray  # (S, S, 3) uint8: the portrait as framed, which a neutral frame reproduces
    source: str = ""  # the file name of the picture the pack was prepared from, for a video's metadata

    @property
    def size(self) -> int:
        return self.reference.shape[0]


def _crop_image(pack: AvatarPack, box: tuple[float, float, float], size: int) -> np.ndarray:
    from PIL import Image

    x0, y0, side = box
    im = Image.fromarray(pack.image).resize((size, size), Image.Resampling.LANCZOS,
                                            box=(x0, y0, x0 + side, y0 + side))
    return np.asarray(im, dtype=np.uint8)


#: Cells of triangles' boxes tested in one go by ``rasterise`` (about 170 bytes each while tested).
RASTER_CELLS = 1 << 18


def rasterise(vertices: np.ndarray, triangles: np.ndarray, size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangle vertex indices and barycentric weights of each cell centre of a ``cells``^2 grid over the frame.

    Cells outside every triangle get zero weights (no displacement); a cell inside several (on an edge they
    share) takes the last of them. The triangles' bounding boxes are tested together, in runs of about
    ``RASTER_CELLS`` cells (a mesh of many long slivers cannot take the memory): a texture session opening
    an avatar at a new size waits for this.
    """
    step = size / cells
    centres = (np.arange(cells) + 0.5) * step - 0.5
    index = np.zeros((cells, cells, 3), dtype=np.int64)
    weight = np.zeros((cells, cells, 3), dtype=np.float32)
    tri = vertices[triangles, :2].astype(np.float64)  # (T, 3, 2)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    lo = np.floor((np.minimum(np.minimum(a, b), c) + 0.5) / step - 0.5).astype(int)
    hi = np.ceil((np.maximum(np.maximum(a, b), c) + 0.5) / step - 0.5).astype(int)
    lo, hi = np.clip(lo, 0, cells - 1), np.clip(hi, 0, cells - 1)
    det = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    drawn = np.flatnonzero((hi >= lo).all(1) & (np.abs(det) >= 1e-9))  # not flat
    box_cells = (hi[drawn] - lo[drawn] + 1).prod(1)
    ends = np.cumsum(box_cells)
    start = 0
    while start < len(drawn):  # runs in triangle order: a later run overwrites, as a later triangle does
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - box_cells[start] + RASTER_CELLS, "right")))
        t, counts = drawn[start:stop], box_cells[start:stop]
        start = stop
        width = hi[t, 0] - lo[t, 0] + 1
        t = np.repeat(t, counts)  # one entry per cell of each triangle's box
        local = np.arange(t.size) - np.repeat(np.cumsum(counts) - counts, counts)
        row_width = np.repeat(width, counts)
        ix, iy = lo[t, 0] + local % row_width, lo[t, 1] + local // row_width
        px, py, ta, tb, tc, td = centres[ix], centres[iy], a[t], b[t], c[t], det[t]
        l1 = ((tb[:, 1] - tc[:, 1]) * (px - tc[:, 0]) + (tc[:, 0] - tb[:, 0]) * (py - tc[:, 1])) / td
        l2 = ((tc[:, 1] - ta[:, 1]) * (px - tc[:, 0]) + (ta[:, 0] - tc[:, 0]) * (py - tc[:, 1])) / td
        l3 = 1 - l1 - l2
        inside = np.flatnonzero((l1 >= -1e-6) & (l2 >= -1e-6) & (l3 >= -1e-6))
        cell = (iy * cells + ix)[inside]
        last = inside[::-1][np.unique(cell[::-1], return_index=True)[1]]  # each cell's last triangle
        index[iy[last], ix[last]] = triangles[t[last]]
        weight[iy[last], ix[last]] = np.stack([l1[last], l2[last], l3[last]], -1)
    return index, weight


def _colours(pack: AvatarPack, teeth: np.ndarray | None) -> np.ndarray:
    """Cavity, teeth and tongue colours (3, 3) in 0..1, matched to the portrait's light and palette.

    ``teeth``: the bright pixels (N,3) of the portrait's own upper teeth, whose colour new teeth take, when
    it shows them (``_own_teeth`` > 0); else None.
    """
    lm = pack.landmarks
    h, w = pack.image.shape[:2]

    def at(points: np.ndarray) -> np.ndarray:
        xy = np.clip(np.round(points - 0.5).astype(int), 0, [w - 1, h - 1])
        return pack.image[xy[:, 1], xy[:, 0]].astype(np.float32) / 255

    # Skin light and tint are read above the nose tip: a beard, a moustache or the jaw's shadow darkens
    # the lower face, and teeth lit like a beard turn a bearded mouth into a grey smudge.
    face = lm[: ft.NUM_FACE_LANDMARKS, :2]
    skin = at(face[face[:, 1] < lm[ft.NOSE_TIP, 1]])
    skin_lum = float(np.median(skin @ np.array([0.299, 0.587, 0.114])))
    light = float(np.clip(skin_lum / 0.55, 0.45, 1.0))
    chroma = float(np.median(skin.max(1) - skin.min(1)))
    saturation = float(np.clip(chroma / 0.15, 0, 1))  # greyscale photographs get grey teeth and tongue
    base = np.array([[0.2, 0.06, 0.06], [0.92, 0.89, 0.8], [0.38, 0.17, 0.19]]) * light
    # Teeth take half the skin's tint: the light and the varnish of a painting fall on both. Half, as the
    # whites a portrait shows have it: the astronaut's own teeth (G/R, B/R) 0.86 / 0.80 and eye whites
    # 0.91 / 0.83 under skin of 0.82 / 0.69, the Pearl Earring's eye whites 0.86 / 0.77 under 0.78 / 0.61.
    skin_tint = np.median(skin, axis=0) / max(float(np.median(skin, axis=0).max()), 1e-3)
    base[1] *= 0.5 + 0.5 * skin_tint
    grey = base @ np.array([0.299, 0.587, 0.114])
    base = grey[:, None] + saturation * (base - grey[:, None])
    if teeth is not None:
        # The middle of the bright half of the teeth pixels in the opening: the lips' edges, their shadow
        # and the gap fall below it. (Sampled at a few points near the lips' edge, the bundled astronaut's
        # came out a shade of lip, 0.87 / 0.75 / 0.69; this gives 0.96 / 0.85 / 0.79.)
        if len(teeth):
            lum = teeth @ np.array([0.299, 0.587, 0.114])
            base[1] = np.median(teeth[lum >= np.median(lum)], axis=0)
    return np.clip(base, 0, 1).astype(np.float32)


def _inner_lip_lines(pack: AvatarPack, pairs: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each inner-lip pair (index along the mouth), the portrait's pixels (N,3) in 0..1 from the upper to
    the lower inner lip, one per pixel of their distance, and whether each is as bright as teeth: far
    brighter than the face's median skin."""
    lm = pack.landmarks
    h, w = pack.image.shape[:2]
    skin = pack.image[np.clip(lm[: ft.NUM_FACE_LANDMARKS, 1].astype(int), 0, h - 1),
                      np.clip(lm[: ft.NUM_FACE_LANDMARKS, 0].astype(int), 0, w - 1)]
    skin_lum = float(np.median(skin.astype(np.float32) @ np.array([0.299, 0.587, 0.114]) / 255))
    lines = []
    for i in pairs:
        top, bottom = lm[ft.LIPS_UPPER_INNER[i], :2], lm[ft.LIPS_LOWER_INNER[i], :2]
        steps = max(int(np.linalg.norm(bottom - top)), 2)
        line = top[None] + np.linspace(0, 1, steps)[:, None] * (bottom - top)[None]
        xy = np.clip(np.round(line - 0.5).astype(int), 0, [w - 1, h - 1])
        pixels = pack.image[xy[:, 1], xy[:, 0]].astype(np.float32) / 255
        lines.append((pixels, pixels @ np.array([0.299, 0.587, 0.114]) > skin_lum + 0.3 * (1 - skin_lum)))
    return lines


def _own_teeth(pack: AvatarPack, bright: np.ndarray) -> float:
    """How far (portrait pixels) the portrait's own upper teeth reach below its upper inner lip.

    ``bright``: which pixels of the mouth's centre line (inner-lip pair 5, from ``_inner_lip_lines``)
    are as bright as teeth. The run of bright pixels from the top is teeth; whatever lies below them
    (lower lip, dark gap) moves with the jaw.
    """
    lm = pack.landmarks
    gap = float(np.linalg.norm(lm[ft.LIPS_LOWER_INNER[5], :2] - lm[ft.LIPS_UPPER_INNER[5], :2]))
    if gap < 2:
        return 0.0
    steps = len(bright)
    # The first pixels under the lip may be its shadow; upper teeth start within the top half.
    if not bright[: max(steps // 2, 1)].any():
        return 0.0
    run = int(np.argmax(bright))
    while run < steps and bright[run]:
        run += 1
    return gap * run / steps


def sealed_image(image: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """The framed portrait with its own mouth opening filled by its lips, for lips that close over it.

    When parted lips come together (a /p b m/, a press) the warp folds, and between the meeting lips it
    also finds the portrait's mouth interior; the network samples this picture there instead. Each half
    of the opening takes its own lip: its edge at the opening's edge, reaching into the lip's inner
    half at the opening's middle, where the two lips meet. ``vertices`` are the landmarks in the
    image's pixels (centres at integers). A closed mouth (lips nowhere MIN_OPENING pixels apart) comes back
    unchanged.
    """
    up = vertices[list(ft.LIPS_UPPER_INNER), :2].astype(np.float64)
    lo = vertices[list(ft.LIPS_LOWER_INNER), :2].astype(np.float64)
    up_out = vertices[list(ft.LIPS_UPPER_OUTER), :2].astype(np.float64)
    lo_out = vertices[list(ft.LIPS_LOWER_OUTER), :2].astype(np.float64)
    origin = (up[0] + up[-1]) / 2
    half = np.linalg.norm(up[-1] - up[0]) / 2
    if half < 1:
        return image
    ex = (up[-1] - up[0]) / (2 * half)
    ey = np.array([-ex[1], ex[0]])  # down the face, as image y runs

    def curve(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = points - origin
        u, v = rel @ ex / half, rel @ ey
        order = np.argsort(u)
        return u[order], v[order]

    (u_up, v_up), (u_lo, v_lo) = curve(up), curve(lo)
    (u_uo, v_uo), (u_lo_out, v_lo_out) = curve(up_out), curve(lo_out)
    h, w = image.shape[:2]
    box = np.concatenate([up, lo])
    x0, y0 = np.clip(np.floor(box.min(0)).astype(int) - 1, 0, None)
    x1, y1 = np.minimum(np.ceil(box.max(0)).astype(int) + 2, [w, h])
    if x0 >= x1 or y0 >= y1:
        return image  # the mouth lies beyond the picture (a pack made before prepare refused such faces)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    rel = np.stack([xs, ys], -1) - origin
    u, v = rel @ ex / half, rel @ ey
    top, bottom = np.interp(u, u_up, v_up), np.interp(u, u_lo, v_lo)
    if (bottom - top).max() < MIN_OPENING:
        return image  # lips that touch: nothing of the mouth to hide
    # A pixel's margin each side: the landmarks often sit a little inside the teeth.
    gap = (np.abs(u) < 1) & (v > top - 1) & (v < bottom + 1)
    mid = (top + bottom) / 2
    frac = np.clip(np.where(v < mid, (v - top) / (mid - top + 1e-6), (bottom - v) / (bottom - mid + 1e-6)), 0, 1)
    upper_lip = np.maximum(top - np.interp(u, u_uo, v_uo), 3.0)  # each lip's thickness, in pixels
    lower_lip = np.maximum(np.interp(u, u_lo_out, v_lo_out) - bottom, 3.0)
    source_v = np.where(v < mid, top - 2 - frac * 0.5 * (upper_lip - 2), bottom + 2 + frac * 0.5 * (lower_lip - 2))
    src = origin + (u * half)[..., None] * ex + source_v[..., None] * ey
    sx, sy = np.clip(src[..., 0], 0, w - 1.001), np.clip(src[..., 1], 0, h - 1.001)
    ix, iy = sx.astype(int), sy.astype(int)
    fx, fy = (sx - ix)[..., None], (sy - iy)[..., None]
    img = image.astype(np.float32)
    fill = ((img[iy, ix] * (1 - fx) + img[iy, ix + 1] * fx) * (1 - fy)
            + (img[iy + 1, ix] * (1 - fx) + img[iy + 1, ix + 1] * fx) * fy)
    out = image.copy()
    region = out[y0:y1, x0:x1]
    region[gap] = np.round(fill[gap]).astype(np.uint8)
    return out


def half_pixel_texture(image: np.ndarray) -> np.ndarray:
    """(2H-1, 2W-1, 3) uint8: the image's own pixels at even positions, bilinear midpoints between."""
    img = image.astype(np.uint16)
    h, w = image.shape[:2]
    out = np.empty((2 * h - 1, 2 * w - 1, 3), dtype=np.uint8)
    out[::2, ::2] = image
    across = img[:, :-1] + img[:, 1:]  # neighbours in a row summed once, for the midpoints and the centres
    out[::2, 1::2] = (across + 1) >> 1
    out[1::2, ::2] = (img[:-1] + img[1:] + 1) >> 1
    out[1::2, 1::2] = (across[:-1] + across[1:] + 2) >> 2
    return out


def avatar_tensors(pack: AvatarPack, size: int) -> Avatar:
    """The render network's avatar inputs for ``pack`` at ``size`` x ``size`` output (a multiple of 4)."""
    if not isinstance(pack, AvatarPack):
        raise TypeError(f"an avatar is made from an AvatarPack (facecast.avatar.load_pack reads a .facecast "
                        f"file), got {type(pack).__name__}")
    if isinstance(size, (float, np.floating)) and float(size).is_integer():
        size = int(size)  # 256.0, as arithmetic on sizes gives
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f"the render size is a whole number of pixels, got {size!r}")
    if size < 64 or size % CELL:
        raise FacecastError(f"render size must be a multiple of {CELL} pixels, at least 64 (got {size})")
    box = framing(pack.landmarks, *pack.size)
    x0, y0, side = box
    k = size / side
    rig = pack.rig

    def to_output(points: np.ndarray) -> np.ndarray:
        out = np.asarray(points, dtype=np.float64) * k
        out[..., 0] -= x0 * k + 0.5
        out[..., 1] -= y0 * k + 0.5
        return out

    vertices = to_output(rig.vertices)
    crop = _crop_image(pack, box, size)
    index, weight = rasterise(vertices, rig.triangles, size, size // CELL)
    # The middle of the mouth opening, where a portrait's front teeth show (inner-lip pairs 2-8; 5 its centre).
    mouth = _inner_lip_lines(pack, range(2, 9))
    own_teeth = _own_teeth(pack, mouth[5 - 2][1])
    teeth = np.concatenate([pixels[bright] for pixels, bright in mouth]) if own_teeth > 0 else None
    tensors = {
        # The portrait, and the portrait with its lips closed over its own mouth opening.
        "texture": np.stack([half_pixel_texture(crop), half_pixel_texture(sealed_image(crop, vertices))])[None],
        "vertices": vertices[None].astype(np.float32),
        "basis": (rig.basis * k)[None].astype(np.float32),
        "head_weight": rig.head_weight[None].astype(np.float32),
        "pivot": to_output(rig.pivot)[None].astype(np.float32),
        "axes": rig.axes[None].astype(np.float32),
        "face_scale": np.array([rig.face_scale * k], dtype=np.float32),
        "tri_index": index.transpose(2, 0, 1)[None].copy(),  # (1, 3, G, G): one plane per triangle corner
        "tri_weight": weight.transpose(2, 0, 1)[None].copy(),
        "colours": _colours(pack, teeth)[None],
        "own_teeth": np.array([own_teeth * k], dtype=np.float32),
    }
    return Avatar(tensors=_read_only(tensors), crop=box, reference=crop, source=str(pack.meta.get("source", "")))


#: The avatar inputs with a vertex axis, and which axis: avatars of different meshes are padded along it.
VERTEX_AXES = {"vertices": 1, "head_weight": 1, "basis": 2}


def _check_motion_shape(motion: np.ndarray) -> None:
    """Refuse motion that is not (n, FRAME_SIZE) frames, saying how to give a single frame."""
    if motion.ndim != 2 or motion.shape[1] != FRAME_SIZE:
        one = f"; one frame of shape ({FRAME_SIZE},) is motion[None]" if motion.shape == (FRAME_SIZE,) else ""
        raise FacecastError(f"motion must have shape (n, {FRAME_SIZE}), got {motion.shape}{one}")


def pad_vertices(name: str, value: np.ndarray, vertices: int) -> np.ndarray:
    """Avatar input ``name`` padded to ``vertices`` with zeros, which no triangle uses (no frame changes)."""
    axis = VERTEX_AXES.get(name)
    if axis is None or value.shape[axis] >= vertices:
        return value
    widths = [(0, 0)] * value.ndim
    widths[axis] = (0, vertices - value.shape[axis])
    return np.pad(value, widths)


def _read_only(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # Read-only arrays that own their data (no writeable base to edit them through), so that a renderer
    # may keep them where it runs (CUDA graphs upload an avatar once) and an edit cannot go unseen there:
    # an avatar is changed by giving it a new array.
    out = {}
    for name, value in tensors.items():
        out[name] = value if value.flags.owndata else value.copy()
        out[name].setflags(write=False)
    return out


def stack_avatars(avatars: Sequence[Avatar]) -> dict[str, np.ndarray]:
    """Concatenate avatars of one size into one batch of avatar inputs (vertex counts padded)."""
    single = isinstance(avatars, (Avatar, Mapping))  # one avatar, or one's tensors, not a list of them
    wrong = avatars if single else next((a for a in avatars if not isinstance(a, Avatar)), None)
    if wrong is not None:
        raise TypeError(f"stack_avatars takes a list of Avatar (Renderer.avatar makes one), got {type(wrong).__name__}")
    if not len(avatars):
        raise ValueError("stack_avatars needs at least one avatar")
    sizes = {a.size for a in avatars}
    if len(sizes) != 1:
        raise FacecastError(f"avatars rendered together must share one size, got {sorted(sizes)}")
    n_vert = max(a.tensors["vertices"].shape[1] for a in avatars)
    stacked = {name: np.concatenate([pad_vertices(name, a.tensors[name], n_vert) for a in avatars])
               for name in avatars[0].tensors}
    return _read_only(stacked)


class Renderer:
    """The render network in an onnxruntime session; frames are (n, S, S, 3) uint8 RGB.

    Args:
        model_path: a render network exported with ``facecast export render``; default: the shipped one
            (on CUDA, its variant for CUDA graphs).
        device: ``"cpu"`` (the default), ``"cuda"`` (onnxruntime-gpu; an error where CUDA cannot run) or
            ``"auto"`` (CUDA where it runs, else the CPU, with a warning on the ``facecast`` logger).
        threads: onnxruntime's threads on the CPU; default: the machine's cores, at most 8.
        spin: whether those threads spin while they wait for work (onnxruntime's default). A renderer
            that shares the cores with other busy threads (a server's loop) should not: there the spinning
            takes the time the other threads need.
    """

    def __init__(self, model_path: Path | None = None, device: str = "cpu", threads: int | None = None,
                 spin: bool = True) -> None:
        import onnxruntime as ort

        from facecast.cuda_graphs import CudaGraphs

        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                    or threads < 1):
            raise ValueError(f"threads must be a whole number of at least 1 (None: the machine's cores, at most 8), "
                             f"got {threads!r}")
        # On CUDA the shipped network replays CUDA graphs (facecast.cuda_graphs), which need its variant
        # without boxes; on the CPU the boxes save 3-4 times their cost. A model_path given runs as it is.
        whole_frame = model_path is None and CUDA in providers(device)
        self.path = Path(model_path) if model_path else default_model_path(whole_frame)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: render model missing; run python -m facecast.export render")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Errors only: onnxruntime's warnings (shape nodes kept on the CPU beside CUDA) are expected here,
        # and its own plain lines would break `facecast serve`'s JSON log.
        options.log_severity_level = 3
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            # "auto" where CUDA cannot run: the CPU runs the network with boxes
            self.session = open_session(self.path, options, device,
                                        cpu_path=default_model_path() if whole_frame else None)
        except ModelError:
            raise
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.path}: cannot load the render model ({e})") from None
        inputs = [arg.name for arg in self.session.get_inputs()]
        if set(inputs) != set(INPUT_NAMES):  # another network (the lip model, say) loads as well as this one
            raise ModelError(f"{self.path}: not a render network (its inputs are {', '.join(inputs)}); make one "
                             "with python -m facecast.export render")
        self.providers: list[str] = self.session.get_providers()
        on_cuda = self.providers[0] == CUDA
        if whole_frame and not on_cuda:
            self.path = default_model_path()
        #: Where the frames come from on CUDA; None on the CPU, or once graphs failed (then: the session).
        self.graphs = CudaGraphs(self.path) if whole_frame and on_cuda else None
        self._dropping = threading.Lock()
        self._avatar_inputs = {arg.name: (ONNX_TYPES[arg.type], len(arg.shape)) for arg in self.session.get_inputs()
                               if arg.name not in FRAME_INPUTS}

    def avatar(self, pack: AvatarPack, size: int = 512) -> Avatar:
        """The network's inputs for ``pack`` at ``size`` px: worked out once, reused for every frame."""
        return avatar_tensors(pack, size)

    def run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray,
            stand_in: Renderer | None = None) -> np.ndarray:
        """One network call: motion (B, 80) on stacked avatar inputs, frame b on avatar avatar_index[b].

        ``stand_in``: a renderer on the CPU that renders a call which would otherwise wait for a CUDA
        graph's capture (0.5-1.3 s on an H100, once per padded shape), and every call while one runs, so
        that a server's sessions never wait for it (``facecast.cuda_graphs``). Its frames are the CPU's,
        within a few levels of the GPU's. Nothing else in the process may use CUDA meanwhile: onnxruntime
        captures in CUDA's global mode, which fails the capture, or the other call.
        """
        if isinstance(inputs, Avatar):
            raise TypeError("run takes avatar inputs: avatar.tensors for one Avatar, stack_avatars([...]) for "
                            "several (render and frames take an Avatar itself)")
        motion = np.ascontiguousarray(motion, dtype=np.float32)
        _check_motion_shape(motion)
        # Checked here, as onnxruntime's own errors name a gather deep in the network.
        if not np.isfinite(motion).all():
            raise FacecastError("motion holds values that are not numbers (NaN or infinite)")
        impossible = first_impossible(motion)
        if impossible is not None:  # motion in other units (percent, radians) would tear the face
            part, name, frame, value = impossible
            bound = "0 to 1" if part in WEIGHTS else f"within ±{BOUNDS[part][1]:g}{BOUNDS[part][2]}"
            raise FacecastError(f"motion frame {frame}: {name} is {value:g}, and {part} run {bound}")
        motion = clamp_weights(motion)  # as read_motion does: a curve editor's overshoot is its end
        self._check_avatar_inputs(inputs)
        avatar_index = np.asarray(avatar_index)
        avatars = len(inputs["vertices"])
        if not len(motion) and avatar_index.shape == (0,):
            avatar_index = avatar_index.astype(np.int64)  # [] is float64 to numpy: no frame, nothing to pick
        if avatar_index.shape != (len(motion),) or not np.issubdtype(avatar_index.dtype, np.integer):
            raise FacecastError(f"avatar_index must hold one integer per motion frame ({len(motion)}), "
                                f"got {avatar_index.dtype} of shape {avatar_index.shape}")
        if len(avatar_index) and not 0 <= avatar_index.min() <= avatar_index.max() < avatars:
            raise FacecastError(f"avatar_index must be within 0..{avatars - 1} (the avatars stacked)")
        avatar_index = avatar_index.astype(np.int64, copy=False)
        if not len(motion):
            size = inputs["tri_index"].shape[-1] * CELL
            return np.zeros((0, size, size, 3), np.uint8)
        if stand_in is not None and stand_in.providers[0] != CPU:
            raise ValueError(f"stand_in must render on the CPU (it runs while a CUDA graph is captured, when no "
                             f"other thread may use CUDA), not on {stand_in.providers[0]}")
        graphs = self.graphs
        if graphs is None:
            return self._run_session(inputs, motion, avatar_index)
        try:
            frames = graphs.run(inputs, motion, avatar_index, wait_for_capture=stand_in is None)
            if frames is not None:
                return frames
        except Exception as e:  # onnxruntime's own types: a release that cannot capture, the GPU's memory full
            # (the stand-in, on the CPU, whatever another thread's capture may be doing; a fault of both raises
            # here, graphs kept)
            frames = (stand_in or self)._run_session(inputs, motion, avatar_index)
            with self._dropping:
                if self.graphs is graphs:  # this thread's call dropped them; others' calls only fell back
                    self.graphs = None
                    log.warning("CUDA graphs cannot run (%s); rendering without them, several times slower at "
                                "one frame a call", last_line(e),
                                extra={"event": "cuda_graphs_dropped", "fields": {"reason": last_line(e)}})
                    graphs.close()
            return frames
        # A capture runs (frames is None only with a stand-in); the inputs are checked already.
        return stand_in._run_session(inputs, motion, avatar_index)

    def _check_avatar_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        # The plain session and the graphs (which copy bytes into buffers) must be given the same inputs
        # and refuse the same mistakes, in words that name them.
        expected = set(self._avatar_inputs)
        if set(inputs) != expected:
            missing, extra = sorted(expected - set(inputs)), sorted(set(inputs) - expected)
            raise FacecastError(f"avatar inputs: {', '.join(missing) or 'none'} missing, "
                                f"{', '.join(extra) or 'none'} unknown")
        for name, (dtype, rank) in self._avatar_inputs.items():
            value = inputs[name]
            if value.dtype != dtype or value.ndim != rank or len(value) != len(inputs["vertices"]):
                raise FacecastError(f"avatar input {name}: {value.dtype} of shape {value.shape}, the network "
                                    f"takes {np.dtype(dtype)} of {rank} dimensions, one row per avatar stacked")
        vertices = {inputs[name].shape[axis] for name, axis in VERTEX_AXES.items()}
        cells = {inputs["tri_index"].shape[2:], inputs["tri_weight"].shape[2:]}
        side = inputs["texture"].shape[2:4]
        if len(vertices) > 1 or len(cells) > 1 or side != (2 * CELL * inputs["tri_index"].shape[2] - 1,) * 2:
            raise FacecastError("avatar inputs of different avatars or sizes: make them with avatar_tensors, "
                                "and stack them with stack_avatars")

    def _run_session(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray) -> np.ndarray:
        return self.session.run(None, {**inputs, "motion": motion, "avatar": avatar_index})[0]

    def frames(self, avatar: Avatar, motion: np.ndarray | MotionTrack, batch: int = 4) -> Iterator[np.ndarray]:
        """Render motion frames (n, 80), or a ``MotionTrack``, on one avatar, yielding batches of frames."""
        if not isinstance(avatar, Avatar):
            raise TypeError(f"frames and render take an Avatar (Renderer.avatar(pack, size) makes one), "
                            f"got {type(avatar).__name__}")
        if isinstance(motion, MotionTrack):
            motion = motion.data
        motion = np.asarray(motion)
        _check_motion_shape(motion)  # the whole array's shape, before a batch's
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        return self._batches(avatar, motion, batch)  # checked above at the call, not at the first batch

    def _batches(self, avatar: Avatar, motion: np.ndarray, batch: int) -> Iterator[np.ndarray]:
        for start in range(0, len(motion), batch):
            chunk = motion[start:start + batch]
            yield self.run(avatar.tensors, chunk, np.zeros(len(chunk), dtype=np.int64))

    def render(self, avatar: Avatar, motion: np.ndarray | MotionTrack, batch: int = 4) -> np.ndarray:
        """All frames at once: (n, S, S, 3) uint8, for motion frames (n, 80) or a ``MotionTrack``."""
        parts = list(self.frames(avatar, motion, batch))
        if not parts:
            return np.zeros((0, avatar.size, avatar.size, 3), dtype=np.uint8)
        return np.concatenate(parts)
