"""Avatar packs: one portrait prepared once for the renderer, in one versioned ``.facecast`` file.

A pack is a zip archive holding ``meta.json`` (format, version, source file name, size, detection
notes, and ``cropped_from`` when only the part of a large picture about the head was kept), the portrait
(``image.jpg`` when the source was a JPEG: its own bytes, without its metadata, when it was upright
and whole, else the kept part or the upright picture encoded again; ``image.png`` for any other source)
and ``arrays.npz``: the 478 FaceMesh landmarks and the rig built from them (see ``facecast.rig``): mesh
vertices and triangles, the per-vertex blendshape basis, head weights and pivot, the face frame, and
the eye and mouth contours with the portrait's own mouth opening. Loading needs numpy and Pillow only,
never mediapipe.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from facecast import __version__
from facecast import face_topology as ft
from facecast.errors import FacecastError, not_a_file
from facecast.motion_frame import ARKIT_BLENDSHAPES
from facecast.rig import Rig
from facecast.writers import replaced_atomically

PACK_FORMAT = "facecast-avatar"
PACK_VERSION = 1
PACK_SUFFIX = ".facecast"
DEFAULT_PACK = "default_portrait.facecast"  # in the package's data: the bundled portrait
_ARRAYS = ("landmarks", "vertices", "triangles", "basis", "head_weight", "pivot", "axes")


class AvatarError(FacecastError):
    """A portrait or an avatar pack cannot be used."""


@dataclass
class AvatarPack:
    """A prepared portrait: the picture, its landmarks and its rig."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels, z mediapipe's depth, in pixels as x is
    rig: Rig
    meta: dict = field(default_factory=dict)
    image_bytes: bytes | None = None  # the encoded picture as stored, kept to save it again losslessly
    image_format: str = "png"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]

    def mouth_opening(self) -> float:
        """The portrait's own inner-lip gap at the mouth centre, in units of the eye-corner distance."""
        gap = self.landmarks[ft.LIPS_LOWER_INNER[5], :2] - self.landmarks[ft.LIPS_UPPER_INNER[5], :2]
        return float(np.linalg.norm(gap) / self.rig.face_scale)

    def save(self, path: Path) -> Path:
        """Write the pack atomically (temporary file beside ``path``, then rename)."""
        path = Path(path)
        if self.image_bytes is None:
            self.image_bytes, self.image_format = encode_png(self.image), "png"
        arrays = {"landmarks": self.landmarks.astype(np.float32), "vertices": self.rig.vertices,
                  "triangles": self.rig.triangles, "basis": self.rig.basis, "head_weight": self.rig.head_weight,
                  "pivot": self.rig.pivot, "axes": self.rig.axes,
                  "mouth_inner": self.landmarks[list(ft.LIPS_UPPER_INNER + ft.LIPS_LOWER_INNER), :2],
                  "eyes": self.landmarks[list(ft.RIGHT_EYE_UPPER + ft.RIGHT_EYE_LOWER + ft.LEFT_EYE_UPPER
                                              + ft.LEFT_EYE_LOWER), :2],
                  "irises": self.landmarks[list(ft.RIGHT_IRIS + ft.LEFT_IRIS), :2]}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        meta = {**self.meta, "format": PACK_FORMAT, "version": PACK_VERSION, "facecast": __version__,
                "width": self.size[0], "height": self.size[1], "face_scale": self.rig.face_scale,
                "image": f"image.{'jpg' if self.image_format == 'jpeg' else 'png'}",
                "mouth_opening": round(self.mouth_opening(), 4)}
        with replaced_atomically(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("meta.json", json.dumps(meta, indent=2))
            z.writestr(meta["image"], self.image_bytes, compress_type=zipfile.ZIP_STORED)
            z.writestr("arrays.npz", buf.getvalue())
        self.meta = meta
        return path


def encode_png(image: np.ndarray) -> bytes:
    """The picture as a PNG, at zlib's default level: ``optimize`` saved a few percent and took 28 s on
    a 12 MP photo."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def is_pack(path: Path) -> bool:
    """Whether ``path`` holds an avatar pack, whatever its name ends with (a pack renamed, or saved by a
    browser without its extension)."""
    try:
        with zipfile.ZipFile(path) as z:
            return {"meta.json", "arrays.npz"} <= set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def default_pack_path() -> Path:
    """The bundled portrait's avatar pack: the astronaut ``facecast demo`` renders, and ``facecast render``
    without ``--portrait``."""
    return Path(str(resources.files("facecast") / "data" / DEFAULT_PACK))


def load_pack(path: Path) -> AvatarPack:
    """Read a ``.facecast`` pack; raises ``AvatarError`` with one clear line if it cannot be used.

    Packs are shared between people, so what the renderer indexes with is checked here: a pack damaged
    in transit or edited by hand is refused in words, not met later as an error deep in the network.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise AvatarError(not_a_file(path, "an avatar pack", missing="no such avatar pack"))
    damaged = f"{path}: damaged avatar pack ({{}}); make it again with facecast prepare"
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("meta.json"))
            if not isinstance(meta, dict) or meta.get("format") != PACK_FORMAT:
                raise AvatarError(f"{path}: not a facecast avatar pack")
            version = meta.get("version")
            if version != PACK_VERSION:
                newer = isinstance(version, int) and not isinstance(version, bool) and version > PACK_VERSION
                remedy = (f"it was made by a newer facecast ({meta.get('facecast', 'unknown version')}): upgrade "
                          "facecast, or prepare the portrait again with this one" if newer
                          else "prepare the portrait again")
                raise AvatarError(f"{path}: avatar pack version {version} is not supported (this facecast "
                                  f"{__version__} reads version {PACK_VERSION}); {remedy}")
            image_bytes = z.read(meta["image"])
            with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in _ARRAYS}
        # A damaged picture is an OSError to Pillow (UnidentifiedImageError, "image file is truncated").
        image = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB"))
        size, face_scale = (int(meta["width"]), int(meta["height"])), float(meta["face_scale"])
    except zipfile.BadZipFile as e:
        if str(e) != "File is not a zip file":  # a damaged archive; its message may quote raw bytes
            raise AvatarError(damaged.format("its zip archive is damaged")) from None
        if _starts_as_zip(path):
            raise AvatarError(damaged.format("cut short: the zip archive it holds ends early")) from None
        if path.suffix.lower() == PACK_SUFFIX:
            raise AvatarError(damaged.format("not a zip archive, as a pack is")) from None
        raise AvatarError(f"{path}: not a facecast avatar pack (a pack is the zip archive that facecast prepare "
                          "writes)") from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError) as e:  # compressed data altered, a member cut
        # short, or flagged encrypted
        raise AvatarError(damaged.format(f"its contents do not decompress: {_short(e)}")) from None
    except (KeyError, ValueError, TypeError, OverflowError, OSError) as e:  # OverflowError: a size of 1e999
        reason = str(e.args[0]) if isinstance(e, KeyError) and e.args else f"{type(e).__name__}: {_short(e)}"
        raise AvatarError(damaged.format(reason)) from None
    if (image.shape[1], image.shape[0]) != size:
        raise AvatarError(damaged.format("picture size does not match"))
    problem = _rig_problem(arrays, face_scale)
    if problem:
        raise AvatarError(damaged.format(problem))
    rig = Rig(vertices=arrays["vertices"], triangles=arrays["triangles"], basis=arrays["basis"],
              head_weight=arrays["head_weight"], pivot=arrays["pivot"], axes=arrays["axes"], face_scale=face_scale)
    fmt = "jpeg" if meta["image"].endswith(".jpg") else "png"
    return AvatarPack(image=image, landmarks=arrays["landmarks"], rig=rig, meta=meta, image_bytes=image_bytes,
                      image_format=fmt)


def _rig_problem(arrays: dict[str, np.ndarray], face_scale: float) -> str | None:
    """What makes a pack's arrays unusable by the renderer (shapes, kinds, finite values, triangle indices
    within the mesh), or None."""
    n_face = ft.NUM_LANDMARKS
    vertices = arrays["vertices"]
    if vertices.ndim != 2 or vertices.shape[1] != 3 or vertices.shape[0] < n_face:
        return f"vertices of shape {vertices.shape}, not ({n_face} or more, 3)"
    n = vertices.shape[0]
    shapes = {"landmarks": (n_face, 3), "basis": (len(ARKIT_BLENDSHAPES), n, 3), "head_weight": (n,),
              "pivot": (3,), "axes": (3, 3)}
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            return f"{name} of shape {arrays[name].shape}, not {shape}"
    for name in (name for name in _ARRAYS if name != "triangles"):  # the rest are numbers, the triangles indices
        if arrays[name].dtype.kind != "f" or not np.isfinite(arrays[name]).all():
            return f"{name} not all finite numbers"
    triangles = arrays["triangles"]
    if triangles.dtype.kind not in "iu" or triangles.ndim != 2 or triangles.shape[1] != 3 or not len(triangles):
        return f"triangles of shape {triangles.shape} and type {triangles.dtype}, not (T, 3) integers"
    if triangles.min() < 0 or triangles.max() >= n:
        return f"triangles name vertices outside 0..{n - 1}"
    if not (np.isfinite(face_scale) and face_scale > 0):
        return f"face_scale {face_scale}, not a positive number"
    return None


def _short(e: BaseException, limit: int = 120) -> str:
    """An exception's message on one line, cut to ``limit`` characters (some quote raw bytes)."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _starts_as_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"
