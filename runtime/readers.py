"""Read a motion track back from a file: the JSON and npz that ``facecast motion`` writes, and CSV in the
Live Link Face layout (``facecast motion -o x.csv``, or a take laid out as Epic's Live Link Face app
writes it), so that motion edited in another tool, or captured from a performer, can be rendered.
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from facecast.errors import FacecastError, not_a_file
from facecast.motion_frame import (
    ARKIT_BLENDSHAPES,
    BOUNDS,
    FIELDS,
    FRAME_SIZE,
    FRAME_VERSION,
    VISEMES,
    WEIGHTS,
    MotionTrack,
    clamp_weights,
    first_impossible,
    neutral_frames,
)
from facecast.writers import (
    JSON_UNITS,
    LLF_COLUMN,
    LLF_POSE_COLUMNS,
    LLF_SIGN,
    check_fps,
    check_times_advance,
    drops_most,
)

# The npz's named arrays are copies of parts of ``frames``, there for reading; ``frames`` is what is read.
_NPZ_COPIES = {"time": "time", "blendshapes": "blendshapes", "visemes": "visemes", "head_rotation": "headRotation",
               "head_translation": "headTranslation", "gaze": "gaze", "voice_activity": "voiceActivity"}
_DAY = 86400
_STANDARD_RATES = (24, 25, 30, 48, 50, 60, 72, 90, 100, 120, 144, 240)


#: The most of a motion file's ``lipModel`` a video's metadata repeats.
MAX_PROVENANCE_CHARS = 255


_SOUND_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aiff", ".aif", ".wma")


def same_rate(a: float, b: float) -> bool:
    """Two frame rates that are one: 29.97 as a user gives it, 30000/1001 as a file's timecodes tell it."""
    return abs(a - b) <= 1e-4 * b


def read_motion(path: str | Path, fps: float | None = None, untold_fps: float | None = None) -> MotionTrack:
    """The motion track in ``path`` (.json, .npz or Live Link Face .csv), at the file's own frame rate.

    ``fps``: the frame rate of a CSV, which only its timecodes otherwise tell: needed for one shorter than
    a second, and checked against them in a longer one. A .json or .npz states its own rate.
    ``untold_fps``: the rate of a CSV too short for its timecodes to tell it, where any file may be given
    (a longer CSV, a .json or an .npz keeps its own).
    Raises ``FacecastError`` with a one-line reason for a missing, unreadable or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise FacecastError(not_a_file(path, "a motion file"))
    readers = {".json": ("facecast motion JSON", _read_json), ".npz": ("facecast motion npz", _read_npz),
               ".csv": ("Live Link Face CSV", _read_csv)}
    if path.suffix.lower() in _SOUND_SUFFIXES:
        raise FacecastError(f"{path}: a sound, not motion (.csv, .json or .npz); speech is given as audio "
                            "(facecast render --audio)")
    if path.suffix.lower() not in readers:
        raise FacecastError(f"{path}: unknown motion format {path.suffix!r}; use .csv, .json or .npz")
    kind, reader = readers[path.suffix.lower()]
    if fps is not None and untold_fps is not None:
        raise ValueError("give fps or untold_fps, not both")
    if untold_fps is not None and reader is _read_csv:
        fps = check_fps(path, untold_fps)
    elif fps is not None:
        if reader is not _read_csv:
            raise FacecastError(f"{path}: a {kind} states its own frame rate; a rate is given only for a CSV")
        fps = check_fps(path, fps)
    try:
        track = _read_csv(path, fps, checked=untold_fps is None) if fps is not None else reader(path)
    except FacecastError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, zipfile.BadZipFile,
            UnicodeDecodeError) as e:
        raise FacecastError(f"{path}: cannot be read as a {kind} ({e.__class__.__name__}: {e})") from None
    if len(track) == 0:
        raise FacecastError(f"{path}: holds no frames")
    if not np.isfinite(track.data).all():
        raise FacecastError(f"{path}: holds values that are not numbers (NaN or infinite)")
    _check_ranges(path, track)
    return track


def motion_lip_model(path: str | Path) -> str | None:
    """The lip model a motion file says made it (a facecast JSON's ``lipModel``, an npz's ``lip_model``), for
    a video's metadata; None for a CSV, a file that does not say, or one that cannot be read."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            said = json.loads(path.read_text(encoding="utf-8")).get("lipModel")
        elif path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                said = str(npz["lip_model"]) if "lip_model" in npz.files else None
        else:
            return None
    except (OSError, ValueError, AttributeError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    if not isinstance(said, str):
        return None
    # Shown in one line of metadata: a hand-edited value is cut to a line of a sane length.
    return " ".join(said.split())[:MAX_PROVENANCE_CHARS] or None


def _check_ranges(path: Path, track: MotionTrack) -> None:
    """Refuse values no face can take (naming the first), and clamp weights that overshoot a little."""
    found = first_impossible(track.data)
    if found is not None:
        part, name, frame, value = found
        if part in WEIGHTS:
            hint = " (a file in percent? divide by 100)" if value > 1 else ""
            raise FacecastError(f"{path}: {name} is {value:g} at frame {frame}; {part} run 0 to 1{hint}")
        _, limit, unit = BOUNDS[part]
        units = ("angles are radians in a Live Link Face CSV" if path.suffix.lower() == ".csv" and unit == "°"
                 else f"facecast's {part} is in {'degrees' if unit == '°' else 'metres'}")
        raise FacecastError(f"{path}: {name} is {value:g}{unit} at frame {frame}, beyond ±{limit:g}{unit}; {units}")
    track.data[:] = clamp_weights(track.data)


def _positions(path: Path, names: list, known: tuple[str, ...], what: str) -> np.ndarray:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FacecastError(f"{path}: unknown {what} {unknown[0]!r}")
    twice = [n for k, n in enumerate(names) if n in names[:k]]
    if twice:  # two columns would write one weight, and the name left out would stay at rest
        raise FacecastError(f"{path}: {what} {twice[0]!r} is listed twice in its {what} names")
    return np.array([known.index(n) for n in names], dtype=int)


def _read_json(path: Path) -> MotionTrack:
    """Columns are matched by name, so a file whose lists were reordered by hand still reads right. The
    document needs ``format``, ``version``, ``fps`` and ``frames``, the name lists default to the
    standard order, and each frame needs its ``blendshapes``; its other entries, when missing, are at rest.
    A frame's ``time`` (else its ``index`` / fps, else its place in the list / fps) spaces it from the first
    frame, which is shown first: frames off an even clock at ``fps`` (some deleted by hand) are put on one
    from the first frame's time, each tick showing the frame nearest it, so that they stay in time with
    their sound. ``units``, when given, may give angles in radians, translation in cm or mm and time in ms."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != "facecast.motion":
        raise FacecastError(f"{path}: not a facecast motion JSON (its \"format\" is not \"facecast.motion\")")
    version = doc.get("version")
    if isinstance(version, bool) or version != FRAME_VERSION:  # true == 1 in Python
        raise FacecastError(f"{path}: motion layout version {version!r}, this facecast reads {FRAME_VERSION}")
    missing = [key for key in ("fps", "frames") if key not in doc]
    if missing:
        raise FacecastError(f"{path}: a facecast motion JSON needs {' and '.join(repr(k) for k in missing)}")
    fps = check_fps(path, doc["fps"])
    scale = _json_units(path, doc.get("units", {}))
    shapes = _positions(path, doc.get("blendshapeNames", list(ARKIT_BLENDSHAPES)), ARKIT_BLENDSHAPES, "blendshape")
    visemes = _positions(path, doc.get("visemeNames", list(VISEMES)), VISEMES, "viseme")
    frames = doc["frames"]
    if not isinstance(frames, list):
        raise FacecastError(f"{path}: \"frames\" must be a list of frames")
    if not frames:
        return MotionTrack(neutral_frames(0), fps)  # read_motion says it holds no frames
    data = neutral_frames(len(frames))
    times = np.arange(len(frames)) / fps
    f = FIELDS
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise FacecastError(f"{path}: frame {i} is not an object")
        if "blendshapes" not in frame:
            raise FacecastError(f"{path}: frame {i} has no \"blendshapes\" (a frame needs its 52 weights)")
        row = data[i]
        try:
            if "time" in frame:
                times[i] = _number(path, i, "time", frame["time"]) * scale["time"]
            elif "index" in frame:
                times[i] = _number(path, i, "index", frame["index"]) / fps
            for name, names in (("blendshapes", shapes), ("visemes", visemes)):
                if name in frame:
                    values = np.asarray(frame[name], dtype=np.float64)
                    if values.shape != (len(names),):
                        raise FacecastError(f"{path}: frame {i} has {values.size} {name}, not {len(names)} (one "
                                            f"per name in {name[:-1]}Names)")
                    row[f[name].slice] = 0.0
                    row[f[name].offset + names] = values
            for name in ("headRotation", "headTranslation", "gaze"):
                if name in frame:
                    values = np.asarray(frame[name], dtype=np.float64)
                    if values.shape != (f[name].count,):
                        raise FacecastError(f"{path}: frame {i} has {values.size} {name} values, not {f[name].count}")
                    row[f[name].slice] = values * scale[name]
            row[f["voiceActivity"].offset] = frame.get("voiceActivity", 0.0)
        except (ValueError, TypeError) as e:
            raise FacecastError(f"{path}: frame {i} cannot be read ({e.__class__.__name__}: {e})") from None
    check_times_advance(path, times, "its frames' times")
    start = times[0]
    if np.abs(times - start - np.arange(len(frames)) / fps).max() > 0.25 / fps:
        grid, pick = _even_clock(path, times - start, fps, "its frames' times")
        data = data[pick]
        times = start + grid
    # The file's own clock is kept: the bridge's frames, say, count from the start of their session.
    first = round(start * fps)
    data[:, f["frameIndex"].offset] = first + np.arange(len(data))
    data[:, f["time"].offset] = times
    return MotionTrack(data, fps)


def _number(path: Path, frame: int, name: str, value: object) -> float:
    """A frame's ``time`` or ``index``: a finite number (not a string, not true or false)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FacecastError(f"{path}: frame {frame}'s {name} is {value!r}, not a number")
    return float(value)


#: The other units a motion JSON may give for its fields ("units"), as factors to facecast's own (JSON_UNITS).
_OTHER_UNITS = {"time": {"ms": 1e-3}, "headRotation": {"rad": 180 / math.pi},
                "headTranslation": {"cm": 0.01, "mm": 0.001}, "gaze": {"rad": 180 / math.pi}}


def _json_units(path: Path, units: object) -> dict[str, float]:
    """Each field's factor to facecast's units, from a motion JSON's ``units`` (facecast's own when absent)."""
    if not isinstance(units, dict):
        raise FacecastError(f"{path}: \"units\" must be an object, such as {{\"headRotation\": \"deg\"}}")
    unknown = sorted(set(units) - set(JSON_UNITS))
    if unknown:  # a misspelt field would leave its values read in facecast's units
        raise FacecastError(f"{path}: \"units\" names {', '.join(map(repr, unknown))}; it gives units for "
                            f"{', '.join(JSON_UNITS)}")
    scale = {}
    for name, own in JSON_UNITS.items():
        known = {own: 1.0, **_OTHER_UNITS[name]}
        unit = units.get(name, own)
        if not isinstance(unit, str) or unit not in known:
            raise FacecastError(f"{path}: \"units\" gives {name} in {unit!r}; facecast reads "
                                f"{' or '.join(repr(u) for u in known)}")
        scale[name] = known[unit]
    return scale


def _read_npz(path: Path) -> MotionTrack:
    if not zipfile.is_zipfile(path):  # np.load would take it for a pickle, and say so
        raise FacecastError(f"{path}: not an npz archive (numpy's zip of arrays)")
    with np.load(path, allow_pickle=False) as npz:
        if "frames" not in npz.files or "fps" not in npz.files:
            raise FacecastError(f"{path}: not a facecast motion npz (no 'frames' and 'fps' arrays)")
        version = _npz_number(path, npz, "layout_version") if "layout_version" in npz.files else FRAME_VERSION
        if version != FRAME_VERSION:
            raise FacecastError(f"{path}: motion layout version {version}, this facecast reads {FRAME_VERSION}")
        frames = np.asarray(npz["frames"], dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE:
            raise FacecastError(f"{path}: 'frames' has shape {frames.shape}, not (n, {FRAME_SIZE})")
        for name, field in _NPZ_COPIES.items():
            if name not in npz.files:
                continue
            part, copy = frames[:, FIELDS[field].slice], np.asarray(npz[name], dtype=np.float32)
            if copy.size != part.size or not np.allclose(copy.reshape(part.shape), part, equal_nan=True):
                raise FacecastError(f"{path}: its '{name}' array differs from 'frames'. facecast reads 'frames' and "
                                    "the named arrays are copies of its parts, so it cannot tell which was edited: "
                                    "save the edited frames with 'fps' alone (np.savez(path, frames=..., fps=...))")
        return MotionTrack(frames.copy(), check_fps(path, _npz_number(path, npz, "fps")))


def _npz_number(path: Path, npz, name: str) -> float:
    """An npz's one number: a scalar array, or an array holding one number (np.array([30.0]))."""
    value = np.asarray(npz[name])
    if value.size != 1 or value.dtype.kind not in "iuf":
        raise FacecastError(f"{path}: its {name!r} array is not one number (dtype {value.dtype}, shape {value.shape})")
    return value.reshape(()).item()


def _timecode(text: str) -> tuple[int, float]:
    """'HH:MM:SS:FF.mmm' -> (whole seconds, frame within the second, with its fraction)."""
    h, m, s, ff = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + int(s), float(ff)


def _csv_rate(seconds: np.ndarray, frame_in_second: np.ndarray) -> float:
    """The frame rate of a CSV's rows, from their timecodes (whole seconds, and FF.mmm within each)."""
    # Two counts that fall short of the rate only where frames were dropped: the highest FF seen, and the
    # rows within one second. A short take may have dropped the frames that would tell, so a count a few
    # frames short of a standard rate is taken as that rate, unless a whole second of the file says the
    # count is the rate: a second the take ran past that holds one row for each FF from 0 to seen - 1 (58
    # at 58 fps, as facecast writes it). The take's last second is no evidence: it may have stopped at FF 57.
    # A take at 60 reads as 58 only if no second reached FF 58 and a whole second ended at FF 57.
    starts, counts = np.unique(seconds, return_counts=True)
    seen = max(np.floor(frame_in_second.max()) + 1, counts.max())
    whole = any(np.array_equal(np.sort(np.floor(frame_in_second[seconds == s])), np.arange(seen))
                for s in starts[:-1][counts[:-1] == seen])
    rate = seen if whole else min((r for r in _STANDARD_RATES if seen <= r <= seen * 1.05), default=seen)
    # At a rate that is not a whole number (29.97, as facecast writes it) a second begins between two
    # frames, and FF.mmm says where: across a second, from FF.mmm = a to b, one frame is 1 + a - b frames
    # less the frames dropped there. Its fraction, which drops cannot change, says the rate: seen (the
    # counts above) less a part of a frame. Only where FF counts at the rows' own rate (a take whose FF
    # counts at 30 with 60 rows a second is read as above), and a whole rate stays counted as above.
    across = np.flatnonzero(np.diff(seconds) == 1)
    if len(across) and np.floor(frame_in_second.max()) + 1 == seen:
        spans = 1 + frame_in_second[across] - frame_in_second[across + 1]
        part = float(np.median(np.mod(spans - seen + 0.5, 1) - 0.5))  # in [-0.5, 0.5): the rate's fraction
        if abs(part) > 0.01:
            measured = seen + part if part < 0 else seen - 1 + part
            ntsc = [r * 1000 / 1001 for r in _STANDARD_RATES]
            nearest = min(ntsc, key=lambda r: abs(r - measured))
            rate = nearest if abs(nearest - measured) < 0.01 else round(measured, 3)
    return float(rate)


def _even_clock(path: Path, times: np.ndarray, fps: float, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The ticks of an even clock at ``fps`` from 0 to the last of ``times`` (seconds from the first row,
    never falling), and the row nearest each, the earlier on a tie: a take that dropped or repeated frames
    stays in time with its sound.

    Gaps are filled by holding frames, up to three times as many frames as the file holds and a minute
    more: beyond that the times (``what``, in the message) are taken for a mistake (a last time of 99 s in
    a 2 s take would hold one frame for 97 s, and a time of years would fill the memory). So are times
    that would keep fewer than half the frames (``facecast.writers.drops_most``)."""
    ticks = int(round(times[-1] * fps)) + 1
    if ticks > 4 * len(times) + 60 * fps:
        raise FacecastError(f"{path}: {what} span {times[-1]:g} s, {ticks} frames at {fps:g} fps for the "
                            f"{len(times)} it holds; check them")
    if drops_most(float(times[-1]), len(times), fps):  # a mistake too, not a take's dropped frames
        raise FacecastError(f"{path}: {what} span only {times[-1]:g} s, {ticks} frame{'s' * (ticks > 1)} at "
                            f"{fps:g} fps for the {len(times)} it holds, which would drop the rest; check them")
    at = times * fps  # in ticks, where a tie is exact enough to be seen as one
    k = np.arange(ticks)
    if len(times) == 1:
        return k / fps, np.zeros(ticks, dtype=int)
    after = np.clip(np.searchsorted(at, k), 1, len(times) - 1)
    return k / fps, np.where(k - at[after - 1] <= at[after] - k + 1e-6, after - 1, after)


def _read_csv(path: Path, fps: float | None = None, checked: bool = True) -> MotionTrack:
    """Live Link Face CSV: its timecodes give the frame rate (FF counts frames within each second; ``fps``
    gives it for a file too short for them to tell, and must agree with them otherwise, if ``checked``),
    and its rows are put on an even clock at that rate, so a recording that dropped frames stays in time
    with its sound. Head and eye angles are read as radians with the app's signs (``LLF_SIGN``), as ``facecast
    motion`` writes them. A blendshape column a file lacks stays at 0; columns facecast does not use are not read."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [(n + 1, r) for n, r in enumerate(csv.reader(fh)) if any(cell.strip() for cell in r)]
    header = [name.strip() for name in rows[0][1]] if rows else []
    if "Timecode" not in header:
        raise FacecastError(f"{path}: not a Live Link Face CSV (no 'Timecode' column in its first row)")
    present = [n for n in ARKIT_BLENDSHAPES if LLF_COLUMN[n] in header]
    if len(present) < len(ARKIT_BLENDSHAPES) // 2:
        raise FacecastError(f"{path}: has columns for only {len(present)} of the 52 ARKit blendshapes")
    used = [LLF_COLUMN[n] for n in present] + [n for n in LLF_POSE_COLUMNS if n in header]
    index = [header.index(name) for name in used]
    stamp = header.index("Timecode")
    body = rows[1:]
    if not body:
        raise FacecastError(f"{path}: holds no frames")
    stamps, table = [], []
    for line, r in body:
        try:
            stamps.append(_timecode(r[stamp]))
            table.append([float(r[i]) for i in index])
        except (IndexError, ValueError) as e:
            raise FacecastError(f"{path}: line {line} is not a frame ({e.__class__.__name__}: {e})") from None
    seconds = np.array([s for s, _ in stamps], dtype=np.float64)
    seconds += _DAY * np.cumsum(np.diff(seconds, prepend=seconds[0]) < -_DAY / 2)  # a take across midnight
    frame_in_second = np.array([ff for _, ff in stamps], dtype=np.float64)
    if seconds.max() == seconds.min():
        if fps is None:
            raise FacecastError(f"{path}: shorter than a second, so its frame rate cannot be told from its "
                                "timecodes (FF counts frames within each second): give it (--fps in "
                                "'facecast render', fps= to read_motion), or keep short motion as .json or .npz")
        if frame_in_second.max() >= math.ceil(fps):  # FF.mmm stays below 30 at 29.97 fps
            raise FacecastError(f"{path}: its timecodes count frame {int(frame_in_second.max())} within a second, "
                                f"past the {fps:g} fps given" + ("" if checked else
                                " (taken as its rate, as a CSV under a second cannot tell its own; leave --fps "
                                "out, or give the rate it was recorded at, or keep short motion as .json or "
                                ".npz)"))
    else:
        told = check_fps(path, _csv_rate(seconds, frame_in_second))
        if fps is not None and checked and not same_rate(fps, told):
            raise FacecastError(f"{path}: its timecodes say {told:g} fps, not the {fps:g} given")
        fps = told
    times = seconds - seconds[0] + (frame_in_second - frame_in_second[0]) / fps
    back = np.flatnonzero(np.diff(times) < 0)
    if len(back):
        raise FacecastError(f"{path}: its timecodes go backwards at line {body[back[0] + 1][0]}")
    grid, pick = _even_clock(path, times, fps, "its timecodes")
    values = dict(zip(used, np.array(table)[pick].T, strict=True))

    data = neutral_frames(len(grid))
    f = FIELDS
    data[:, f["frameIndex"].offset] = np.arange(len(grid))
    data[:, f["time"].offset] = grid
    for name in present:
        data[:, f["blendshapes"].offset + ARKIT_BLENDSHAPES.index(name)] = values[LLF_COLUMN[name]]

    def degrees(name: str) -> np.ndarray:  # an angle column a file lacks stays 0; signs as the app's
        return LLF_SIGN[name] * np.degrees(values[name]) if name in values else np.zeros(len(grid))

    rot, gaze = f["headRotation"].offset, f["gaze"].offset
    data[:, rot], data[:, rot + 1], data[:, rot + 2] = degrees("HeadPitch"), degrees("HeadYaw"), degrees("HeadRoll")
    for k, name in enumerate(("LeftEyeYaw", "LeftEyePitch", "RightEyeYaw", "RightEyePitch")):
        data[:, gaze + k] = degrees(name)
    return MotionTrack(data, fps)  # a CSV has no visemes or voice activity: they stay at silence
