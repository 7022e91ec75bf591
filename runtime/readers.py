"""Read a motion track back from a file: the JSON and npz that ``facecast motion`` writes, and CSV in the
Live Link Face layout (``facecast motion -o x.csv``, or a take laid out as Epic's Live Link Face app
writes it), so that motion edited in another tool, or captured from a performer, can be rendered.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np

from facecast.errors import FacecastError
from facecast.motion_frame import (
    ARKIT_BLENDSHAPES,
    FIELDS,
    FRAME_SIZE,
    FRAME_VERSION,
    VISEMES,
    MotionTrack,
    neutral_frames,
)

READ_FORMATS = (".csv", ".json", ".npz")
MAX_FPS = 240.0


def read_motion(path: str | Path) -> MotionTrack:
    """The motion track in ``path`` (.json, .npz or Live Link Face .csv), at the file's own frame rate.

    Raises ``FacecastError`` with a one-line reason for a missing, unreadable or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise FacecastError(f"{path}: no such file")
    readers = {".json": _read_json, ".npz": _read_npz, ".csv": _read_csv}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise FacecastError(f"{path}: unknown motion format {path.suffix!r}; use .csv, .json or .npz")
    try:
        track = reader(path)
    except FacecastError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise FacecastError(f"{path}: not a facecast motion file ({e.__class__.__name__}: {e})") from None
    if len(track) == 0:
        raise FacecastError(f"{path}: holds no frames")
    if not np.isfinite(track.data).all():
        raise FacecastError(f"{path}: holds values that are not numbers (NaN or infinite)")
    return track


def _check_fps(path: Path, fps: float) -> float:
    fps = float(fps)
    if not 0 < fps <= MAX_FPS:
        raise FacecastError(f"{path}: frame rate {fps:g} is out of range (above 0, at most {MAX_FPS:g})")
    return fps


def _read_json(path: Path) -> MotionTrack:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != "facecast.motion":
        raise FacecastError(f"{path}: not a facecast motion JSON (its \"format\" is not \"facecast.motion\")")
    if doc.get("version") != FRAME_VERSION:
        raise FacecastError(f"{path}: motion layout version {doc.get('version')}, this facecast reads "
                            f"{FRAME_VERSION}")
    # Columns are matched by name, so a file whose lists were reordered by hand still reads right.
    shapes = [ARKIT_BLENDSHAPES.index(n) for n in doc["blendshapeNames"]]
    visemes = [VISEMES.index(n) for n in doc["visemeNames"]]
    frames = doc["frames"]
    data = neutral_frames(len(frames))
    f = FIELDS
    for i, frame in enumerate(frames):
        row = data[i]
        row[f["frameIndex"].offset] = frame.get("index", i)
        row[f["time"].offset] = frame["time"]
        row[f["blendshapes"].offset + np.array(shapes, dtype=int)] = frame["blendshapes"]
        row[f["visemes"].offset + np.array(visemes, dtype=int)] = frame["visemes"]
        for name in ("headRotation", "headTranslation", "gaze"):
            row[f[name].slice] = frame[name]
        row[f["voiceActivity"].offset] = frame.get("voiceActivity", 0.0)
    return MotionTrack(data, _check_fps(path, doc["fps"]))


def _read_npz(path: Path) -> MotionTrack:
    with np.load(path, allow_pickle=False) as npz:
        if "frames" not in npz.files or "fps" not in npz.files:
            raise FacecastError(f"{path}: not a facecast motion npz (no 'frames' and 'fps' arrays)")
        version = int(npz["layout_version"]) if "layout_version" in npz.files else FRAME_VERSION
        if version != FRAME_VERSION:
            raise FacecastError(f"{path}: motion layout version {version}, this facecast reads {FRAME_VERSION}")
        frames = np.asarray(npz["frames"], dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE:
            raise FacecastError(f"{path}: 'frames' has shape {frames.shape}, not (n, {FRAME_SIZE})")
        return MotionTrack(frames.copy(), _check_fps(path, npz["fps"]))


def _timecode(text: str) -> tuple[int, float]:
    """'HH:MM:SS:FF.mmm' -> (whole seconds, frame within the second, with its fraction)."""
    h, m, s, ff = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + int(s), float(ff)


def _read_csv(path: Path) -> MotionTrack:
    """Live Link Face CSV: its timecodes give the frame rate (FF counts frames within each second), and its
    rows are put on an even grid at that rate, so a recording that dropped frames stays in time with its
    sound. Head and eye angles are read as radians, as ARKit reports them and ``facecast motion`` writes
    them. A blendshape column a file lacks stays at 0."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    header = [name.strip() for name in rows[0]] if rows else []
    if "Timecode" not in header:
        raise FacecastError(f"{path}: not a Live Link Face CSV (no 'Timecode' column in its first row)")
    columns = {n: n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPES}
    present = [n for n in ARKIT_BLENDSHAPES if columns[n] in header]
    if len(present) < len(ARKIT_BLENDSHAPES) // 2:
        raise FacecastError(f"{path}: has columns for only {len(present)} of the 52 ARKit blendshapes")
    body = rows[1:]
    if not body:
        raise FacecastError(f"{path}: holds no frames")
    stamp = header.index("Timecode")
    stamps = [_timecode(r[stamp]) for r in body]
    seconds = np.array([s for s, _ in stamps], dtype=np.float64)
    frame_in_second = np.array([ff for _, ff in stamps], dtype=np.float64)
    if seconds.max() == seconds.min():
        raise FacecastError(f"{path}: shorter than a second, so its frame rate cannot be told from its "
                            "timecodes (FF counts frames within each second)")
    fps = _check_fps(path, np.floor(frame_in_second.max()) + 1)
    times = seconds - seconds[0] + (frame_in_second - frame_in_second[0]) / fps
    if (np.diff(times) < 0).any():
        raise FacecastError(f"{path}: its timecodes go backwards (row {int(np.argmax(np.diff(times) < 0)) + 3})")
    numeric = [i for i, name in enumerate(header) if name != "Timecode"]
    table = np.array([[float(r[i]) for i in numeric] for r in body])
    # The row nearest each tick of an even clock at the file's rate.
    grid = np.arange(int(round(times[-1] * fps)) + 1) / fps
    after = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
    pick = np.where(grid - times[after - 1] <= times[after] - grid, after - 1, after)
    values = {header[i]: table[pick, k] for k, i in enumerate(numeric)}

    data = neutral_frames(len(grid))
    f = FIELDS
    data[:, f["frameIndex"].offset] = np.arange(len(grid))
    data[:, f["time"].offset] = grid
    for name in present:
        data[:, f["blendshapes"].offset + ARKIT_BLENDSHAPES.index(name)] = values[columns[name]]

    def degrees(name: str) -> np.ndarray:  # an angle column a file lacks stays 0
        return np.degrees(values[name]) if name in values else np.zeros(len(grid))

    rot, gaze = f["headRotation"].offset, f["gaze"].offset
    data[:, rot], data[:, rot + 1], data[:, rot + 2] = degrees("HeadPitch"), degrees("HeadYaw"), degrees("HeadRoll")
    for k, name in enumerate(("LeftEyeYaw", "LeftEyePitch", "RightEyeYaw", "RightEyePitch")):
        data[:, gaze + k] = degrees(name)
    return MotionTrack(data, fps)  # a CSV has no visemes or voice activity: they stay at silence
