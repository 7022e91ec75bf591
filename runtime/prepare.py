"""Portrait -> avatar pack: read the picture, find the face with mediapipe FaceMesh, build the rig.

Needs the ``portrait`` extra (mediapipe); everything downstream of the pack does not.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from facecast import face_topology as ft
from facecast.avatar import PACK_SUFFIX, AvatarError, AvatarPack, is_pack
from facecast.errors import not_a_file
from facecast.logs import native_stderr_caught
from facecast.rig import build_rig, framing

if TYPE_CHECKING:
    from PIL import Image

MAX_PIXELS = 40_000_000
# mediapipe's image transforms (OpenCV's remap, which needs sides below SHRT_MAX) abort the whole process,
# with no message, on a picture with a side of 32,767 px or more; 32,766 (a 20000x320 panorama) reads.
MAX_SIDE = 32_767
MIN_FACE_PX = 64  # face width below which the landmarks are too coarse to animate
# How far a face may lean from upright. Beyond it the face lies sideways (a photo whose EXIF rotation was
# lost, most often): the video would come out sideways and the head would nod along the wrong axis.
MAX_LEAN_DEG = 60
MAX_FACES = 8  # faces FaceMesh reads in its pass over the whole picture; the detector's windows find more


def _eight_bit(im: Image.Image, source: Image.Image, path: Path) -> Image.Image:
    """A greyscale picture of 10 to 16 bits (scans, editors' exports) or of floats as 8-bit greyscale;
    ``source`` is the picture as opened from ``path`` (``im`` may be it turned upright), with its tags.

    Pillow's own conversion to RGB clips such values at 255: a 16-bit portrait came out all but white.
    Pillow reads 16-bit colour PNGs and TIFFs as 8-bit already.
    """
    from PIL import Image

    if im.mode not in ("I", "F") and not im.mode.startswith("I;16"):
        return im
    values = np.asarray(im, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    # White is what the file says it is (a TIFF's MaxSampleValue; a PNG's sBIT), else the top of the bit
    # depth the values fill: 10- and 12-bit scans are stored in 16 bits, and a portrait is not that dark.
    declared = _declared_white(source, path, values, top) if im.mode != "F" else None
    full = declared if declared is not None else 1.0 if im.mode == "F" and top <= 1.0 else 255.0 if top <= 255 \
        else 2.0 ** np.ceil(np.log2(top + 1)) - 1
    return Image.fromarray(np.clip(np.round(values * (255 / full)), 0, 255).astype(np.uint8), "L")


def _declared_white(im: Image.Image, path: Path, values: np.ndarray, top: float) -> float | None:
    """The white level an integer greyscale TIFF or PNG of more than 8 bits declares, if the values
    agree with it.

    A TIFF may give its MaxSampleValue (a tag below the values is wrong, and is not believed). A PNG's
    sBIT gives the bits that are significant; the PNG standard has the values scaled up to the full 16
    bits then (12-bit values become multiples of 16), but some writers store them as they are (0-4095 for
    12 bits): values that all fit below the significant bits, and are not all such multiples, are read so.
    ``top`` is the largest of ``values``.
    """
    if im.format == "TIFF":
        maximum = getattr(im, "tag_v2", {}).get(281)  # MaxSampleValue, one value or one per sample
        maximum = maximum[0] if isinstance(maximum, tuple) and maximum else maximum
        return float(maximum) if isinstance(maximum, int) and maximum >= max(top, 1) else None
    if im.format != "PNG":
        return None
    bits = _png_significant_bits(path)
    if bits is None or not 1 <= bits <= 16:
        return None
    scaled = bits == 16 or not np.any(np.mod(values, 2 ** (16 - bits)))  # as the standard stores them
    return 65535.0 if scaled or top >= 2**bits else 2.0**bits - 1


def _png_significant_bits(path: Path) -> int | None:
    """The grey sample's significant bits in a PNG's sBIT chunk (before its image data), or None."""
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while len(head := f.read(8)) == 8:
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind in (b"IDAT", b"IEND"):
                return None
            if kind == b"sBIT":
                data = f.read(length)
                return data[0] if data else None
            f.seek(length + 4, 1)  # the chunk's data and CRC
    return None


class Picture(NamedTuple):
    """A portrait as read: what the pack is made of, and what to tell the user about it."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, upright
    original: bytes | None  # the file's own JPEG bytes, metadata removed, when they decode to ``image``
    jpeg: bool  # the picture is a JPEG: a pack stores it as one (when ``original`` is None, encoded again)
    alpha: np.ndarray | None  # (H, W) uint8 of a picture with transparency, before it was put over white
    notes: list[str]
    orientation: int = 1  # the EXIF orientation tag that turned the file's pixels upright (1: none did)


def read_portrait(path: Path) -> Picture:
    """The picture, upright, as RGB; see ``Picture``.

    EXIF orientation is applied; transparency is composited over white; greyscale (8 or 16 bits) and
    palette pictures become RGB; an animated picture gives its first frame. The file's bytes are kept only
    for an upright JPEG (which then decodes to the same pixels), without its metadata: a pack is made to
    be shared, and a photo's EXIF can hold where it was taken and with which camera.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise AvatarError(not_a_file(path, "a picture"))
    if path.suffix.lower() == PACK_SUFFIX:
        # (which also keeps the default output, the picture's name with that suffix, from overwriting it)
        raise AvatarError(f"{path}: named as an avatar pack: a pack renders as it is (facecast render --portrait "
                          f"{path}); a picture keeps its own suffix (.jpg, .png...)")
    if is_pack(path):
        raise AvatarError(f"{path}: an avatar pack, not a picture: a pack renders as it is (facecast render "
                          f"--portrait {path})")
    limit = f"at most {MAX_PIXELS // 1_000_000} megapixels; scale it down first"
    try:
        with warnings.catch_warnings():
            # Pillow's own guard against decompression bombs (a warning past 89 megapixels, an error past
            # 179) would speak before the MAX_PIXELS check below, and in its own words.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        size = f" of {int(pixels.group(1)) / 1e6:.3g} megapixels" if pixels else ""
        raise AvatarError(f"{path}: picture{size} is too large ({limit})") from None
    except UnidentifiedImageError:
        raise AvatarError(f"{path}: not a picture facecast can read (JPEG, PNG, WebP, BMP, TIFF, GIF...)") from None
    except OSError as e:
        raise _unreadable(path, e) from None
    notes = []
    try:
        with im:
            if im.width * im.height > MAX_PIXELS:
                raise AvatarError(f"{path}: picture of {im.width}x{im.height} ({im.width * im.height / 1e6:.3g} "
                                  f"megapixels) is too large ({limit})")
            if max(im.size) >= MAX_SIDE:
                raise AvatarError(f"{path}: picture of {im.width}x{im.height} is too long (sides below {MAX_SIDE} "
                                  "px); crop it about the face or scale it down first")
            if min(im.size) < MIN_FACE_PX:
                raise AvatarError(f"{path}: picture of {im.width}x{im.height} is too small for a face (both sides "
                                  f"at least {MIN_FACE_PX} px)")
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":  # a camera's MPO is a JPEG with a preview or a stereo pair
                notes.append(f"{path}: {frames} frames (an animation or a multi-page file); using the first")
            orientation = im.getexif().get(0x0112, 1)
            orientation = orientation if orientation in range(2, 9) else 1  # 0 and junk turn nothing
            upright = _eight_bit(ImageOps.exif_transpose(im), im, path)
            fmt, alpha = im.format, None
            if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
                rgba = upright.convert("RGBA")
                alpha = np.asarray(rgba.getchannel("A")).copy()
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(white, rgba).convert("RGB")
            else:
                rgb = upright.convert("RGB")
            image = np.asarray(rgb, dtype=np.uint8).copy()
    except (OSError, SyntaxError) as e:
        raise _unreadable(path, e) from None
    # Loading a pack converts its JPEG to RGB as it was converted here: the same pixels. A JPEG turned
    # upright, or the first of a camera's MPO pictures, is encoded again (``prepare_portrait``): as a PNG a
    # 12 MP phone photo took 5 times the bytes and 10 times as long.
    original = without_metadata(path.read_bytes()) if fmt == "JPEG" and orientation == 1 else None
    return Picture(image, original, fmt in ("JPEG", "MPO"), alpha, notes, orientation)


def _why_turned(orientation: int) -> str:
    """Why a picture may show its face turned, for the messages that say which way to turn it: a photo's
    EXIF rotation lost (most often), or, where the file has an orientation tag, that tag wrong."""
    if orientation in (1, 2):  # 2 mirrors the picture, and turns nothing
        return "its EXIF rotation may have been lost"
    return (f"the file's EXIF orientation tag ({orientation}) turned it so, and may be wrong: save the picture "
            "upright without that tag")


def _unreadable(path: Path, e: Exception) -> AvatarError:
    """The error for a picture Pillow could not read: said in words where the file ends before the picture
    does ("truncated" is Pillow's word for it; of a WebP cut short it says only that no decoder could be
    made, and the file's own header tells)."""
    if "truncated" in str(e).lower() or _webp_cut_short(path):
        return AvatarError(f"{path}: the file ends before the picture does (an interrupted download or copy?); "
                           "save or copy it again")
    return AvatarError(f"{path}: cannot read the picture ({e.__class__.__name__}: {e})")


def _webp_cut_short(path: Path) -> bool:
    """Whether ``path`` is a WebP file shorter than its RIFF header says it is."""
    with open(path, "rb") as f:
        head = f.read(12)
    return (len(head) == 12 and head[:4] == b"RIFF" and head[8:] == b"WEBP"
            and path.stat().st_size < int.from_bytes(head[4:8], "little") + 8)


# JPEG markers kept by ``without_metadata``: JFIF (APP0), the ICC profile (APP2) and Adobe's colour
# transform flag (APP14) say how to decode the pixels; EXIF and XMP (APP1), IPTC (APP13), other
# applications' blocks and comments do not.
_KEPT_APP_MARKERS = (0xE0, 0xE2, 0xEE)


def without_metadata(jpeg: bytes) -> bytes | None:
    """A JPEG's bytes with its metadata segments (EXIF, XMP, IPTC, comments) left out, and whatever
    follows its end (a phone's motion-photo video, depth maps): losslessly, the compressed picture is
    untouched. None for bytes that do not parse as a JPEG's segments."""
    if jpeg[:2] != b"\xff\xd8":
        return None
    kept, i, n = [jpeg[:2]], 2, len(jpeg)
    while i + 1 < n:
        if jpeg[i] != 0xFF:
            return None
        marker = jpeg[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:  # end of image
            return b"".join(kept) + jpeg[i:i + 2]
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            kept.append(jpeg[i:i + 2])
            i += 2
            continue
        if i + 4 > n:
            return None
        end = i + 2 + int.from_bytes(jpeg[i + 2:i + 4], "big")
        if not ((0xE0 <= marker <= 0xEF and marker not in _KEPT_APP_MARKERS) or marker == 0xFE):
            kept.append(jpeg[i:end])
        i = end
        if marker == 0xDA:  # a scan's compressed data runs to the next marker: FF not followed by 00 or RSTn
            j = i
            while True:
                j = jpeg.find(b"\xff", j)
                if j < 0 or j + 1 >= n:
                    return None
                follows = jpeg[j + 1]
                if follows == 0x00 or 0xD0 <= follows <= 0xD7:
                    j += 2
                elif follows == 0xFF:  # fill bytes before the marker
                    j += 1
                else:
                    break
            kept.append(jpeg[i:j])
            i = j
    return None


def detect_faces(image: np.ndarray) -> list[np.ndarray]:
    """All faces found, largest first, each (478, 3): x, y in pixels, z mediapipe's depth in pixels as x is.

    FaceMesh alone only finds faces that fill a good part of the picture (its detector is the short-range
    one, made for selfies). So the full-range detector also looks over the picture and over overlapping
    windows down to ``_SMALLEST_WINDOW`` pixels, and FaceMesh is run again on the surroundings of each
    face found that way: a face in a wide shot, a large photo or a group is found as long as it is wide
    enough to animate.
    """
    try:
        from mediapipe.python.solutions import face_detection, face_mesh
    except ImportError:
        raise AvatarError("a picture needs mediapipe to become an avatar pack: pip install mediapipe==0.10.21 "
                          "(not where the export extra is: its protobuf breaks onnx); or run facecast prepare "
                          "NAME.jpg where it is installed, and render the NAME.facecast it writes anywhere") from None
    # mediapipe's C++ graphs write their start-up notes (TFLite delegates, absl warnings) straight to the
    # stderr file, which a user would take for problems: caught, and dropped. facecast's own notes are
    # returned and printed later, and an exception is reported after the stream is back.
    with native_stderr_caught(), face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                                 max_num_faces=MAX_FACES, min_detection_confidence=0.5) as mesh:
        faces = _mesh_faces(mesh, image, 0, 0)
        h, w = image.shape[:2]
        with face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector:
            boxes = _face_boxes(detector, image)
        confirmed = [any(_inside(f, x, y) for x, y, _ in boxes) for f in faces]
        if any(confirmed):
            # FaceMesh's own detector, made for selfies, sees faces in a dress or a shoulder (a painting
            # leaning 20-30 degrees); the full-range detector does not. A face only FaceMesh sees is left
            # out when a larger one is confirmed; a close-up the full-range detector misses stays.
            largest = max(_face_width(f) for f, sure in zip(faces, confirmed, strict=True) if sure)
            faces = [f for f, sure in zip(faces, confirmed, strict=True) if sure or _face_width(f) > largest]
        for x, y, size in boxes:
            if any(_inside(face, x, y) for face in faces):
                continue
            # FaceMesh again on the face's surroundings, where the face is large enough for it.
            x0, y0 = max(int(x - 1.5 * size), 0), max(int(y - 1.5 * size), 0)
            x1, y1 = min(int(x + 1.5 * size), w), min(int(y + 1.5 * size), h)
            near = [f for f in _mesh_faces(mesh, image[y0:y1, x0:x1], x0, y0) if _inside(f, x, y)]
            faces += near[:1]
    return sorted(faces, key=lambda f: -_face_width(f))


_SMALLEST_WINDOW = 6 * MIN_FACE_PX  # a face MIN_FACE_PX wide fills a sixth of it, enough for the detector


def _mesh_faces(mesh, image: np.ndarray, x0: int, y0: int) -> list[np.ndarray]:
    """FaceMesh's faces in ``image``, a part of the picture whose top left corner is at (x0, y0)."""
    h, w = image.shape[:2]
    result = mesh.process(np.ascontiguousarray(image))
    return [np.array([[x0 + p.x * w, y0 + p.y * h, p.z * w] for p in face.landmark], dtype=np.float32)
            for face in result.multi_face_landmarks or []]


def _face_boxes(detector, image: np.ndarray) -> list[tuple[float, float, float]]:
    """Faces the full-range detector finds in the picture or in any of its overlapping square windows
    (each scale half the last, down to ``_SMALLEST_WINDOW``), as (centre x, centre y, width) in pixels,
    most confident first, each face once."""
    h, w = image.shape[:2]
    found = []
    side = max(h, w)
    while True:
        step = side // 2
        for y0 in range(0, max(h - side, 0) + step, step):
            for x0 in range(0, max(w - side, 0) + step, step):
                window = image[y0:y0 + side, x0:x0 + side]
                wh, ww = window.shape[:2]
                if min(wh, ww) < side // 2 and (wh, ww) != (h, w):
                    continue  # a band far thinner than the window: the smaller windows that follow fit it
                for d in detector.process(np.ascontiguousarray(window)).detections or []:
                    box = d.location_data.relative_bounding_box
                    found.append((d.score[0], x0 + (box.xmin + box.width / 2) * ww,
                                  y0 + (box.ymin + box.height / 2) * wh, box.width * ww))
        side //= 2
        if side < _SMALLEST_WINDOW:
            break
    kept: list[tuple[float, float, float]] = []
    for _, x, y, size in sorted(found, reverse=True):
        if all(abs(x - kx) > ks / 2 or abs(y - ky) > ks / 2 for kx, ky, ks in kept):
            kept.append((x, y, size))
    return kept


def _inside(face: np.ndarray, x: float, y: float) -> bool:
    """Whether (x, y) lies within the box of the face's landmarks."""
    lo, hi = face[:, :2].min(0), face[:, :2].max(0)
    return bool(lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1])


def _face_width(landmarks: np.ndarray) -> float:
    oval = landmarks[list(ft.FACE_OVAL), :2]
    return float(oval[:, 0].max() - oval[:, 0].min())


def prepare_portrait(path: Path, face: int | None = None) -> tuple[AvatarPack, list[str]]:
    """Build the avatar pack of the portrait at ``path``; also returns notes worth telling the user.

    ``face`` picks one of several faces, 1 being the largest; by default the largest is used.
    """
    path = Path(path)
    image, original, jpeg, alpha, notes, orientation = read_portrait(path)
    why = _why_turned(orientation)
    seen = image  # what the detectors look at
    faces = detect_faces(image)
    if not faces and _colours(image[::4, ::4]) <= _DITHERED_COLOURS:
        # A dithered picture (a 1-bit scan, a fax) is dots to FaceMesh; its face shows once they are
        # blurred together, and the landmarks found there fit the picture itself. Only such a picture:
        # blurred, others showed faces that are not there (in Grant's portrait turned a quarter, say).
        from PIL import Image, ImageFilter

        seen = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(_DOTS_BLUR)))
        faces = detect_faces(seen)
        if faces:
            notes.append(f"{path}: a face was found only with the picture's dots smoothed (a dithered picture); "
                         "its landmarks may be less exact than a photograph's")
    if not faces:
        turn = _quarter_turns_to_upright(seen)
        # Said only where FaceMesh finds the face in the turned picture too: half a face cut by the edge
        # (the Pearl Earring's left 200 px) scored as a face turned a quarter, and turned so, none was found.
        hint = (f" (turned {_TURN_WORDS[turn]}, it shows one: {why})"
                if turn and detect_faces(np.ascontiguousarray(np.rot90(seen, turn))) else "")
        raise AvatarError(f"{path}: no face found{hint}; use a picture where one face is clearly visible, whole "
                          "and upright")
    listed = "; ".join(f"{i}: {_face_width(f):.0f} px wide at x {c[0]:.0f}, y {c[1]:.0f}"
                       for i, f in enumerate(faces[:_FACES_LISTED], 1)
                       for c in [f[:, :2].mean(0)])
    listed += f"; and {len(faces) - _FACES_LISTED} more" if len(faces) > _FACES_LISTED else ""
    if face is None:
        chosen = 0
        if len(faces) > 1:
            notes.append(f"{path}: {len(faces)} faces found; using the largest (choose another with --face N): "
                         f"{listed}")
    else:
        if not 1 <= face <= len(faces):
            found = "1 face was found: leave --face out" if len(faces) == 1 else \
                f"{len(faces)} faces were found: choose --face 1 to {len(faces)} ({listed})"
            raise AvatarError(f"{path}: no face {face}; {found}")
        chosen = face - 1
    landmarks = faces[chosen]
    width = _face_width(landmarks)
    if width < MIN_FACE_PX:
        raise AvatarError(f"{path}: the face is too small ({width:.0f} px wide; at least {MIN_FACE_PX} px "
                          f"needed): use a larger or closer picture")
    _check_face_fits(path, landmarks, seen, why)
    if alpha is not None:
        xy = np.clip(np.round(landmarks[:, :2]).astype(int), 0, [image.shape[1] - 1, image.shape[0] - 1])
        cover = float(alpha[xy[:, 1], xy[:, 0]].mean()) / 255
        clear = float((alpha < 128).mean())
        if cover < _OPAQUE:
            notes.append(f"{path}: the face is partly transparent ({cover:.0%} opaque on average); it was put "
                         "over white, which shows in every frame")
        elif clear >= _CUT_OUT:
            notes.append(f"{path}: {clear:.0%} of the picture is transparent (a cut-out); it was put over white, as "
                         "facecast's videos have no transparency: put it over the background you want first")
    meta = {"source": path.name, "faces_found": len(faces), "face": chosen + 1, "face_width_px": round(width, 1),
            "detector": "mediapipe FaceMesh 478 (refine_landmarks)"}
    kept = _around_the_head(landmarks, image.shape[1], image.shape[0])
    whole = None
    if kept is not None:
        x0, y0, x1, y1 = kept
        # The picture's size before, and where the kept part's top left corner was in it (upright pixels).
        meta["cropped_from"] = {"size": [image.shape[1], image.shape[0]], "offset": [x0, y0]}
        whole = (-x0, -y0, image.shape[1] - x0, image.shape[0] - y0)
        image, landmarks = image[y0:y1, x0:x1].copy(), landmarks - np.float32([x0, y0, 0])
        original = None  # the file's bytes hold the whole picture
    if jpeg and original is None:  # a JPEG cropped, turned upright or from an MPO: encoded once, as JPEG
        image, original = _as_jpeg(image)
    rig = build_rig(landmarks, image.shape[1], image.shape[0], whole)
    pack = AvatarPack(image=image, landmarks=landmarks, rig=rig, meta=meta, image_bytes=original,
                      image_format="jpeg" if original is not None else "png")
    return pack, notes


_FACES_LISTED = 12  # faces a note lists by number, size and place
_DOTS_BLUR = 1.5  # px: blurs a dithered picture's dots into tones (0.8 to 3 px found the astronaut's and Grant's)
_DITHERED_COLOURS = 16  # a picture of at most this many colours (in every 4th pixel) is taken to be dithered
_OPAQUE = 0.98  # mean opacity under the face's landmarks below which the user is told
_CUT_OUT = 0.2  # share of a picture's pixels under half opaque from which it is told that they became white
# np.rot90's quarter turns (counter-clockwise as the picture is shown), in words
_TURN_WORDS = {1: "90° counter-clockwise", 2: "upside down", 3: "90° clockwise"}
_UPRIGHT_SCORE = 0.6  # the full-range detector's score that makes a turned picture's face certain ...
# ... while it scores the picture as it is no more than this: an upright face can score 0.7 turned upside
# down too (the Pearl Earring's surroundings), but then it scores more as it is.
_NOT_UPRIGHT_SCORE = 0.1
_CLEARER = 0.2  # how much higher a turned picture's face scores than the picture as it is, judged whole
EDGE_MARGIN = 0.15  # eye widths the mouth and the eyes must keep from the picture's edge


def _colours(image: np.ndarray) -> int:
    """How many colours an (H, W, 3) uint8 picture holds."""
    rgb = image.reshape(-1, 3).astype(np.uint32)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))


def _quarter_turns_to_upright(image: np.ndarray, landmarks: np.ndarray | None = None,
                              sideways: bool = True) -> int:
    """How many quarter turns (``np.rot90``'s k) make the face at ``landmarks`` (or, for None, a face
    anywhere in the picture) upright, by the full-range face detector: 0 unless it finds the face with
    certainty in a turned picture and barely or not at all in the picture as it is. ``sideways``: whether
    the landmarks lean as a face lying sideways does; if not, a quarter turn found about them is not
    believed, and the whole picture decides.

    FaceMesh fits an upright face to whatever it is given: in a picture upside down it put the mouth on
    the forehead, and the lean check (which reads the landmarks) could not see it. The detector, trained
    on upright faces, finds none there (0 of the four test portraits turned upside down, at any score).
    """
    if landmarks is None:
        return _turns(_detector_scores(image))
    h, w = image.shape[:2]
    (x0, y0), (x1, y1) = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    # A face's width on every side: FaceMesh's landmarks on an upside-down face cover only part of it.
    pad = max(x1 - x0, y1 - y0)
    about = _detector_scores(image[max(int(y0 - pad), 0):min(int(y1 + pad), h),
                                   max(int(x0 - pad), 0):min(int(x1 + pad), w)])
    turns = _turns(about)
    if max(about) > _NOT_UPRIGHT_SCORE and (turns in (0, 2) or sideways):
        return turns
    # No face about the landmarks, whichever way up: FaceMesh fitted them to part of a face upside down (the
    # Pearl Earring turned and saved as a JPEG, where the detector scored the picture as it is 0.61, turned
    # 0.87). Or a face found there a quarter turn away while the landmarks stand upright: part of a face
    # upside down again (the Pearl Earring from a JPEG at quality 75 or 92, turned: 0.63 and 0.60 a quarter
    # turned about her landmarks, 0.87 upside down in the whole picture). The whole picture decides, where
    # its face scores clearly higher turned.
    whole = _detector_scores(image)
    best = int(np.argmax(whole))
    return best if best and whole[best] >= max(_UPRIGHT_SCORE, whole[0] + _CLEARER) else 0


def _detector_scores(image: np.ndarray) -> list[float]:
    """The full-range face detector's best score in ``image`` turned by 0 to 3 quarters (0 for no face)."""
    from mediapipe.python.solutions import face_detection

    with native_stderr_caught(), face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.1) as det:
        return [max((d.score[0] for d in det.process(np.ascontiguousarray(np.rot90(image, k))).detections or []),
                    default=0.0) for k in range(4)]


def _turns(scores: list[float]) -> int:
    best = int(np.argmax(scores))
    return best if best and scores[best] >= _UPRIGHT_SCORE and scores[0] <= _NOT_UPRIGHT_SCORE else 0


def _check_face_fits(path: Path, landmarks: np.ndarray, image: np.ndarray, why: str) -> None:
    """Refuse a face the renderer cannot animate: its mouth or an eye beyond the picture's edge (FaceMesh
    places them there, guessing; the mouth's own opening cannot be found there), or a face lying sideways
    or upside down (a photo whose EXIF rotation was lost, most often)."""
    height, width = image.shape[:2]
    parts = (("mouth is", ft.LIPS_UPPER_OUTER + ft.LIPS_LOWER_OUTER),
             ("eyes are", ft.RIGHT_EYE_UPPER + ft.RIGHT_EYE_LOWER + ft.LEFT_EYE_UPPER + ft.LEFT_EYE_LOWER))
    # FaceMesh keeps an eye cut off by a few pixels inside the picture, squeezed against its edge (the Pearl
    # Earring cropped 11 px into her near eye: its corner 3 px from the edge), so the mouth and eyes must
    # keep a margin from it.
    eye_width = (np.linalg.norm(landmarks[ft.RIGHT_EYE_OUTER, :2] - landmarks[ft.RIGHT_EYE_INNER, :2])
                 + np.linalg.norm(landmarks[ft.LEFT_EYE_OUTER, :2] - landmarks[ft.LEFT_EYE_INNER, :2])) / 2
    margin = max(1.0, EDGE_MARGIN * float(eye_width))
    for part, points in parts:
        xy = landmarks[list(points), :2]
        if (xy < margin).any() or (xy[:, 0] > width - margin).any() or (xy[:, 1] > height - margin).any():
            raise AvatarError(f"{path}: the face's {part} cut off by the picture's edge, or against it; use a "
                              "picture that shows the whole mouth and both eyes")
    eyes = (landmarks[ft.LEFT_EYE_OUTER, :2] + landmarks[ft.RIGHT_EYE_OUTER, :2]) / 2
    up = eyes - landmarks[list(ft.MOUTH_CORNERS), :2].mean(0)
    lean = float(np.degrees(np.arctan2(up[0], -up[1])))  # 0: the eyes straight above the mouth; > 0: to its right
    # One upside down has FaceMesh's landmarks upright on it, so only the detector can tell. It also tells
    # which way a face lying sideways is turned, where the landmarks may not: on the Pearl Earring turned
    # 120° counter-clockwise they leaned 62° the other way. (A face leaning 50°, which is taken, can score
    # higher turned a quarter, so a quarter turn counts only for a face the landmarks find sideways.)
    turns = _quarter_turns_to_upright(image, landmarks, sideways=abs(lean) > MAX_LEAN_DEG)
    if turns == 2 or abs(lean) >= 135:
        raise AvatarError(f"{path}: the face is upside down in the picture: turn the picture upright first ({why})")
    if abs(lean) > MAX_LEAN_DEG:
        counter = turns == 1 if turns else lean > 0  # np.rot90 turns counter-clockwise
        raise AvatarError(f"{path}: the face lies sideways in the picture: turn the picture "
                          f"{'counter-clockwise' if counter else 'clockwise'} until the face is upright ({why})")


# Of the frame's side, kept on each side of it. The renderer never looks beyond the frame; the room keeps
# the mesh's triangles about the frame's edge, and the resampling of the frame, as they were.
HEAD_ROOM = 0.5
JPEG_QUALITY = 95  # a kept part of a JPEG is stored as a JPEG again: as a PNG it took 4-6 times the bytes


def _as_jpeg(image: np.ndarray) -> tuple[np.ndarray, bytes]:
    """``image`` stored as a JPEG, and what that decodes to: the pack's picture is what it stores."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), buf.getvalue()


def _around_the_head(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The part of the picture (x0, y0, x1, y1) a pack needs when the face fills a small part of it: the
    frame the renderer shows and HEAD_ROOM around it. The rest is never seen, but its mesh points would be
    moved for every frame (a 91 px face in a 2000x1500 photo: 4,001 points, 18 % slower at 512 px).
    None when that part is over half the picture: then the whole picture is kept, as it was."""
    x, y, side = framing(landmarks, width, height)
    x0, y0 = max(int(x - HEAD_ROOM * side), 0), max(int(y - HEAD_ROOM * side), 0)
    x1, y1 = min(int(np.ceil(x + (1 + HEAD_ROOM) * side)), width), min(int(np.ceil(y + (1 + HEAD_ROOM) * side)), height)
    return (x0, y0, x1, y1) if (x1 - x0) * (y1 - y0) <= 0.5 * width * height else None
