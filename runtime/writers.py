"""Write a motion track as Live Link Face CSV, JSON or npz, atomically.

A file is written to a temporary name beside the target and renamed into place, so a failure or an
interrupt never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from facecast import __version__
from facecast.errors import FacecastError
from facecast.motion_frame import (
    ARKIT_BLENDSHAPES,
    BLENDSHAPE_INDEX,
    FRAME_SIZE,
    FRAME_VERSION,
    LAYOUT,
    MAX_FPS,
    MIN_FPS,
    VISEMES,
    MotionTrack,
)

FORMATS = (".csv", ".json", ".npz")

# Live Link Face writes its columns in ARKit's order except that it swaps the left/right pairs of
# jawLeft/jawRight and mouthLeft/mouthRight; importers match by name, but the order is kept anyway.
_LLF_ORDER = list(ARKIT_BLENDSHAPES)
for _a, _b in (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")):
    _i, _j = _LLF_ORDER.index(_a), _LLF_ORDER.index(_b)
    _LLF_ORDER[_i], _LLF_ORDER[_j] = _LLF_ORDER[_j], _LLF_ORDER[_i]
LLF_COLUMN: dict[str, str] = {n: n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPES}  # Live Link Face's names
LLF_BLENDSHAPE_COLUMNS = [LLF_COLUMN[n] for n in _LLF_ORDER]
LLF_POSE_COLUMNS = ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                    "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]  # fmt: skip
# The sign of each angle column against the motion frame's angle (which turns + to the character's
# left, + pitch down for the head and up for the eyes). Live Link Face's own takes turn an eye + to the
# face's right and + down: its EyeLookDown shapes come with + eye pitch, its EyeLookInLeft and
# EyeLookOutRight with + eye yaw (takes recorded with the app, in alexdjulin/LiveLinkFace-CSV-Retarget-
# For-Motionbuilder). Its head angles are taken to follow the eyes' convention (the app's takes read
# there hold the head still): yaw flipped, pitch kept; roll, which the eyes lack, kept (+ toward the left
# shoulder). The reader applies the same signs, so a file facecast writes reads back as it was.
LLF_SIGN = {"HeadYaw": -1.0, "HeadPitch": 1.0, "HeadRoll": 1.0, "LeftEyeYaw": -1.0, "LeftEyePitch": -1.0,
            "RightEyeYaw": -1.0, "RightEyePitch": -1.0}


def check_output_path(path: Path) -> None:
    """Fail before any work if ``path`` has an unknown extension or cannot be written."""
    if path.is_dir():
        raise FacecastError(f"{path}: is a folder; name the output file, e.g. {path / 'motion.csv'}")
    if path.suffix.lower() not in FORMATS:
        what = f"unknown output format {path.suffix!r}" if path.suffix else "no file extension to tell the format"
        # "take.v2" is a name with a dot in it more likely than a format: kept whole in the example.
        example = path.with_suffix(".csv").name if path.suffix[1:].isalpha() else path.name + ".csv"
        raise FacecastError(f"{path}: {what}; use .csv, .json or .npz (e.g. {example})")
    check_writable(path)


def temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A private temporary file in ``path``'s folder, so that ``os.replace`` puts it in place at once, as
    (descriptor, name). A folder that refuses it (its permissions, a read-only or virtual file system)
    is one clear error."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise FacecastError(f"{path}: cannot write there: {exc.strerror or exc}") from None


def check_writable(path: Path) -> None:
    """Fail if ``path``'s folder is missing, ``path`` is a folder, or it cannot be written."""
    parent = path.parent
    if not parent.is_dir():
        blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise FacecastError(f"{path}: {blocker} is a file, not a folder")
        raise FacecastError(f"{path}: folder {parent} does not exist")
    if path.is_dir():
        raise FacecastError(f"{path}: is a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise FacecastError(f"{path}: not writable")


def timecode(frame: int, fps: float) -> str:
    """Live Link Face timecode HH:MM:SS:FF.mmm: the whole seconds of the frame's time, then the frames
    since that second began, counted at the frame rate. At a rate that is not a whole number (29.97) a
    second does not begin on a frame, so FF.mmm carries the fraction of a frame and FF stays below the
    rate; at a whole rate .mmm is .000."""
    whole = int(math.floor(frame / fps + 1e-9))
    thousandths = max(round((frame - whole * fps) * 1000), 0)
    ff, mmm = divmod(thousandths, 1000)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{mmm:03d}"


def _csv_bytes(track: MotionTrack) -> bytes:
    buf = io.StringIO()
    buf.write(",".join(["Timecode", "BlendShapeCount", *LLF_BLENDSHAPE_COLUMNS, *LLF_POSE_COLUMNS]) + "\n")
    order = [BLENDSHAPE_INDEX[n] for n in _LLF_ORDER]
    bs = track.blendshapes[:, order]
    pitch, yaw, roll = (np.radians(track.head_rotation[:, i]) for i in range(3))
    gaze = np.radians(track.gaze)
    angles = {"HeadYaw": yaw, "HeadPitch": pitch, "HeadRoll": roll, "LeftEyeYaw": gaze[:, 0],
              "LeftEyePitch": gaze[:, 1], "RightEyeYaw": gaze[:, 2], "RightEyePitch": gaze[:, 3]}
    zeros = np.zeros(len(track))  # eye roll: the motion frame has none
    pose = np.stack([LLF_SIGN[name] * angles[name] if name in angles else zeros for name in LLF_POSE_COLUMNS],
                    axis=1)
    count = len(ARKIT_BLENDSHAPES) + len(LLF_POSE_COLUMNS)
    for i in range(len(track)):
        values = ",".join(f"{v:.6f}" for v in np.concatenate([bs[i], pose[i]]))
        buf.write(f"{timecode(i, track.fps)},{count},{values}\n")
    return buf.getvalue().encode()


#: The units of a motion JSON's fields, as facecast writes them (and reads them where a file gives none).
JSON_UNITS = {"time": "s", "headRotation": "deg", "headTranslation": "m", "gaze": "deg"}


def motion_json(track: MotionTrack, source: str | None = None, lip_model: str | None = None) -> dict:
    """The JSON document (schema: facecast/data/motion.schema.json); ``lip_model``: what made the lips
    (``LipSyncModel.provenance``)."""
    return {
        "format": "facecast.motion",
        "version": FRAME_VERSION,
        "generator": f"facecast {__version__}",
        "source": source,
        "lipModel": lip_model,
        "fps": track.fps,
        "frameCount": len(track),
        "units": dict(JSON_UNITS),
        "blendshapeNames": list(ARKIT_BLENDSHAPES),
        "visemeNames": list(VISEMES),
        "layout": [{"name": f.name, "offset": f.offset, "count": f.count, "unit": f.unit} for f in LAYOUT],
        "frames": [
            {
                "index": int(track.frame_index[i]),
                "time": round(float(track.time[i]), 6),
                "blendshapes": [round(float(v), 5) for v in track.blendshapes[i]],
                "visemes": [round(float(v), 5) for v in track.visemes[i]],
                "headRotation": [round(float(v), 4) for v in track.head_rotation[i]],
                "headTranslation": [round(float(v), 5) for v in track.head_translation[i]],
                "gaze": [round(float(v), 4) for v in track.gaze[i]],
                "voiceActivity": round(float(track.voice_activity[i]), 4),
            }
            for i in range(len(track))
        ],
    }


def _npz_bytes(track: MotionTrack, source: str | None, lip_model: str | None) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        frames=track.data,
        fps=np.float64(track.fps),  # 29.97 read back as 29.97, not 29.969999313354492
        layout_version=np.int32(FRAME_VERSION),
        time=track.time,
        blendshapes=track.blendshapes,
        visemes=track.visemes,
        head_rotation=track.head_rotation,
        head_translation=track.head_translation,
        gaze=track.gaze,
        voice_activity=track.voice_activity,
        blendshape_names=np.array(ARKIT_BLENDSHAPES),
        viseme_names=np.array(VISEMES),
        source=np.array(source or ""),
        lip_model=np.array(lip_model or ""),
    )
    return buf.getvalue()


@contextlib.contextmanager
def replaced_atomically(path: Path, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary name beside ``path`` to write a whole file to: leaving the block puts it in place at once
    with the usual permissions, or removes it if the block failed, so a reader never sees half a file. A
    write that fails (a full disk) is one ``FacecastError``."""
    fd, tmp = temp_beside(path, suffix)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise FacecastError(f"{path}: could not write: {exc.strerror or exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask: from /proc on Linux; elsewhere by setting it and setting it back, which another
    thread creating a file in between would see."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_fps(path: Path, fps: float) -> float:
    """``fps`` as a float, if it is a frame rate a motion file may have (``MIN_FPS`` to ``MAX_FPS``): the
    rule ``write_motion`` and ``read_motion`` share, so that what one writes the other reads."""
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise FacecastError(f"{path}: its frame rate is {fps!r}, not a number")
    fps = float(fps)
    if not MIN_FPS <= fps <= MAX_FPS:
        raise FacecastError(f"{path}: frame rate {fps:g} is out of range ({MIN_FPS:g} to {MAX_FPS:g})")
    return fps


def drops_most(span: float, frames: int, fps: float) -> bool:
    """Whether ``frames`` frames whose times span ``span`` seconds would keep fewer than half of them on an even
    clock at ``fps``: times never set (90 frames all at 0 s) or in other units (milliseconds as seconds).
    ``read_motion`` refuses such times and ``write_motion`` spaces such frames a frame period apart: the rule
    they share, so that what one writes the other reads."""
    return 2 * (int(round(span * fps)) + 1) < frames


def check_times_advance(path: Path, times: np.ndarray, what: str) -> None:
    """Refuse ``times`` (seconds) that go backwards, naming the first frame that does: ``what`` they are,
    in the message. ``read_motion`` and ``write_motion`` share it."""
    back = np.flatnonzero(np.diff(times) < 0)
    if len(back):
        raise FacecastError(f"{path}: {what} go backwards at frame {back[0] + 1} "
                            f"({times[back[0]]:g} s, then {times[back[0] + 1]:g} s)")


def _clocked(path: Path, track: MotionTrack) -> MotionTrack:
    """``track``, or a copy with its frames one frame period apart where their times would drop most of them
    (``drops_most``; read back, a JSON's frames are placed by their times). Times that go backwards are refused."""
    check_times_advance(path, track.time, "the motion's times")
    if len(track) < 2 or not drops_most(float(track.time[-1] - track.time[0]), len(track), track.fps):
        return track
    clocked = MotionTrack(track.data.copy(), track.fps)
    steps = np.arange(len(track))
    clocked.time[:] = track.time[0] + steps / track.fps
    if np.ptp(track.frame_index) == 0:
        clocked.frame_index[:] = track.frame_index[0] + steps
    return clocked


def write_motion(track: MotionTrack, path: str | Path, source: str | None = None,
                 lip_model: str | None = None) -> Path:
    """Write ``track`` in the format its extension names (.csv, .json, .npz); all or nothing. ``source`` (the
    speech's file name) and ``lip_model`` (what made the lips: ``LipSyncModel.provenance``) go into a JSON's
    and an npz's metadata; a CSV, in Live Link Face's layout, has none.

    Frames whose times were never set (all one time, as ``frame_from`` and ``neutral_frames`` leave them), or
    span too little to hold them (``drops_most``), are written one frame period apart, as a CSV's timecodes
    always are."""
    if not isinstance(track, MotionTrack):
        raise TypeError(f"write_motion takes a MotionTrack (MotionTrack(frames, fps) wraps an (n, {FRAME_SIZE}) "
                        f"array), got {type(track).__name__}")
    path = Path(path)
    check_output_path(path)
    if not len(track):
        raise FacecastError(f"{path}: the motion holds no frames")
    # What read_motion would refuse is not written: a file that cannot be read back helps no one.
    check_fps(path, track.fps)
    if not np.isfinite(track.data).all():
        raise FacecastError(f"{path}: the motion holds values that are not numbers (NaN or infinite)")
    track = _clocked(path, track)
    encoders: dict[str, Callable[[], bytes]] = {
        ".csv": lambda: _csv_bytes(track),
        ".json": lambda: json.dumps(motion_json(track, source, lip_model), separators=(",", ":")).encode(),
        ".npz": lambda: _npz_bytes(track, source, lip_model),
    }
    payload = encoders[path.suffix.lower()]()
    with replaced_atomically(path, ".part") as tmp:
        Path(tmp).write_bytes(payload)
    return path
