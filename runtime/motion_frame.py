"""The motion frame: facecast's one per-frame record of facial motion.

Every producer (the lip network, the non-verbal generator) and every consumer (file writers, the
renderer, the engine bridge) uses this layout, so it is defined here and nowhere else.

A frame is a flat little-endian float32 vector of ``FRAME_SIZE`` values (``FRAME_BYTES`` bytes), so a
C#, C++ or GDScript client reads it with one copy. ``LAYOUT`` lists every field with its float offset;
the README prints the same table byte by byte. The layout is versioned by ``FRAME_VERSION``: fields
are only ever appended, and any change bumps the version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_VERSION = 1

# Frame rates facecast makes and reads, up to a 240 Hz display's; below 1 fps no speech motion is left.
MIN_FPS, MAX_FPS = 1.0, 240.0

#: The 52 ARKit blendshapes, under Apple's names and in Apple's order (ARFaceAnchor.BlendShapeLocation).
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip

#: The 15 Meta/Oculus visemes, in the Oculus Lipsync order.
VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)  # fmt: skip

HEAD_ROTATION: tuple[str, ...] = ("headPitch", "headYaw", "headRoll")
HEAD_TRANSLATION: tuple[str, ...] = ("headX", "headY", "headZ")
GAZE: tuple[str, ...] = ("leftEyeYaw", "leftEyePitch", "rightEyeYaw", "rightEyePitch")


@dataclass(frozen=True)
class Field:
    """One named run of floats in the frame vector."""

    name: str
    offset: int
    count: int
    unit: str
    doc: str

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.count)


def _build_layout() -> tuple[Field, ...]:
    spec = [
        ("frameIndex", 1, "frame", "index of the frame in its stream, counted from 0 (exact below 2**24)"),
        ("time", 1, "s", "time of the frame from its stream's start: in a file, the time in the speech it "
                         "shows; on the bridge, the session's clock (the utterance's sample is sample_pos)"),
        ("blendshapes", len(ARKIT_BLENDSHAPES), "0..1", "ARKit blendshape weights, Apple's order"),
        ("visemes", len(VISEMES), "0..1", "Oculus viseme probabilities, sum to 1"),
        ("headRotation", 3, "deg", "pitch (+ looks down), yaw (+ turns to its left), roll (+ tilts left)"),
        ("headTranslation", 3, "m", "x (+ its left), y (+ up), z (+ toward the camera) from rest"),
        ("gaze", 4, "deg", "left eye yaw, pitch; right eye yaw, pitch (+ yaw its left, + pitch up)"),
        ("voiceActivity", 1, "0..1", "probability that the frame is speech"),
    ]
    fields, offset = [], 0
    for name, count, unit, doc in spec:
        fields.append(Field(name, offset, count, unit, doc))
        offset += count
    return tuple(fields)


LAYOUT: tuple[Field, ...] = _build_layout()
FIELDS: dict[str, Field] = {f.name: f for f in LAYOUT}
FRAME_SIZE: int = LAYOUT[-1].offset + LAYOUT[-1].count
FRAME_BYTES: int = FRAME_SIZE * 4
FRAME_DTYPE = np.dtype("<f4")

BLENDSHAPE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_BLENDSHAPES)}
VISEME_INDEX: dict[str, int] = {n: i for i, n in enumerate(VISEMES)}


# What each part of a frame may hold. Weights run 0 to 1, and a curve editor's overshoot up to
# WEIGHT_OVERSHOOT past either end is taken; angles and translations stay within their bounds. Anything
# further is motion in other units (percent, radians for degrees): rendered, it would tear the face.
WEIGHT_OVERSHOOT = 0.1
WEIGHTS: dict[str, tuple[str, ...]] = {"blendshapes": ARKIT_BLENDSHAPES, "visemes": VISEMES,
                                       "voiceActivity": ("voiceActivity",)}
_WEIGHT_COLUMNS = np.concatenate([np.arange(FIELDS[part].offset, FIELDS[part].offset + FIELDS[part].count)
                                  for part in WEIGHTS])
BOUNDS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "headRotation": (HEAD_ROTATION, 90.0, "°"), "gaze": (GAZE, 90.0, "°"),
    "headTranslation": (HEAD_TRANSLATION, 1.0, " m")}


def ntsc_rate(fps: float, within: float) -> float | None:
    """The NTSC rate n / 1.001 (n a multiple of 6: 23.976, 29.97, 59.94...) within ``within`` of ``fps``; None if
    there is none."""
    n = round(fps * 1.001)
    return n / 1.001 if n % 6 == 0 and abs(fps - n / 1.001) < within else None


def first_impossible(data: np.ndarray) -> tuple[str, str, int, float] | None:
    """The first value no face can take in frames ``data`` (n, FRAME_SIZE), by part (``WEIGHTS``, then
    ``BOUNDS``): (part, channel name, frame, value); None when every value is one a face can take."""
    for part, names in WEIGHTS.items():
        values = data[:, FIELDS[part].slice]
        outside = (values < -WEIGHT_OVERSHOOT) | (values > 1 + WEIGHT_OVERSHOOT)
        if outside.any():
            frame, k = (int(i) for i in np.argwhere(outside)[0])
            return part, names[k], frame, float(values[frame, k])
    for part, (names, limit, _) in BOUNDS.items():
        values = data[:, FIELDS[part].slice]
        outside = np.abs(values) > limit
        if outside.any():
            frame, k = (int(i) for i in np.argwhere(outside)[0])
            return part, names[k], frame, float(values[frame, k])
    return None


def clamp_weights(data: np.ndarray) -> np.ndarray:
    """Frames ``data`` (n, FRAME_SIZE) with their weights clamped to 0..1: a curve editor's overshoot (up to
    WEIGHT_OVERSHOOT, which ``first_impossible`` lets through) taken as the end it overshot. ``data`` itself
    where no weight overshoots, else a clamped copy."""
    weights = data[:, _WEIGHT_COLUMNS]
    if weights.min(initial=0.0) >= 0 and weights.max(initial=1.0) <= 1:
        return data
    clamped = data.copy()
    clamped[:, _WEIGHT_COLUMNS] = np.clip(weights, 0.0, 1.0)
    return clamped


def neutral_frames(count: int) -> np.ndarray:
    """``count`` frames at rest: zero weights, silence viseme, head and eyes straight ahead."""
    frames = np.zeros((count, FRAME_SIZE), dtype=FRAME_DTYPE)
    frames[:, FIELDS["visemes"].offset + VISEME_INDEX["sil"]] = 1.0
    return frames


def frame_from(**values: float) -> np.ndarray:
    """One neutral frame with named channels set: ARKit blendshapes by name; ``pitch``, ``yaw``, ``roll``
    (head, degrees); ``gaze_yaw``, ``gaze_pitch`` (both eyes, degrees). For test poses and rig checks."""
    frame = neutral_frames(1)[0]
    head = ("pitch", "yaw", "roll")
    for name, value in values.items():
        if name in BLENDSHAPE_INDEX:
            frame[FIELDS["blendshapes"].offset + BLENDSHAPE_INDEX[name]] = value
        elif name in head:
            frame[FIELDS["headRotation"].offset + head.index(name)] = value
        elif name in ("gaze_yaw", "gaze_pitch"):
            k = FIELDS["gaze"].offset + (name == "gaze_pitch")
            frame[k] = frame[k + 2] = value
        else:
            raise KeyError(f"unknown channel {name!r}")
    return frame


class MotionTrack:
    """A sequence of motion frames at a fixed frame rate, with named accessors.

    ``data`` is the packed ``(n, FRAME_SIZE)`` float32 array; every accessor returns a view into it, so
    writing through an accessor changes the track.
    """

    def __init__(self, data: np.ndarray, fps: float) -> None:
        data = np.asarray(data, dtype=FRAME_DTYPE)
        if data.ndim != 2 or data.shape[1] != FRAME_SIZE:
            raise ValueError(f"motion data must have shape (n, {FRAME_SIZE}), got {data.shape}")
        if not fps > 0 or fps == float("inf"):  # NaN fails the first test
            raise ValueError(f"fps must be a positive number, got {fps}")
        self.data = data
        self.fps = float(fps)

    @classmethod
    def neutral(cls, count: int, fps: float) -> MotionTrack:
        """``count`` frames of a face at rest (the layout's rest values), numbered from 0, at ``fps``."""
        track = cls(neutral_frames(count), fps)
        track.frame_index[:] = np.arange(count)
        track.time[:] = np.arange(count) / fps
        return track

    def __len__(self) -> int:
        return self.data.shape[0]

    def _field(self, name: str) -> np.ndarray:
        return self.data[:, FIELDS[name].slice]

    @property
    def frame_index(self) -> np.ndarray:
        return self.data[:, FIELDS["frameIndex"].offset]

    @property
    def time(self) -> np.ndarray:
        return self.data[:, FIELDS["time"].offset]

    @property
    def blendshapes(self) -> np.ndarray:
        return self._field("blendshapes")

    @property
    def visemes(self) -> np.ndarray:
        return self._field("visemes")

    @property
    def head_rotation(self) -> np.ndarray:
        return self._field("headRotation")

    @property
    def head_translation(self) -> np.ndarray:
        return self._field("headTranslation")

    @property
    def gaze(self) -> np.ndarray:
        return self._field("gaze")

    @property
    def voice_activity(self) -> np.ndarray:
        return self.data[:, FIELDS["voiceActivity"].offset]

    def blendshape(self, name: str) -> np.ndarray:
        """The weight of one ARKit blendshape over time, by Apple's name."""
        try:
            return self.data[:, FIELDS["blendshapes"].offset + BLENDSHAPE_INDEX[name]]
        except KeyError:
            raise KeyError(f"unknown ARKit blendshape {name!r}") from None

    def viseme(self, name: str) -> np.ndarray:
        """The probability of viseme ``name`` (``sil``, ``PP``, ... ``ou``) in every frame, a view."""
        try:
            return self.data[:, FIELDS["visemes"].offset + VISEME_INDEX[name]]
        except KeyError:
            raise KeyError(f"unknown viseme {name!r}; visemes are {', '.join(VISEMES)}") from None

    def viseme_labels(self) -> list[str]:
        """The most likely viseme of each frame."""
        return [VISEMES[i] for i in self.visemes.argmax(axis=1)]

    def mouth_aperture(self) -> np.ndarray:
        """How far the lips are apart: jawOpen - mouthClose (ARKit's closed-lips-with-open-jaw shape)."""
        return self.blendshape("jawOpen") - self.blendshape("mouthClose")

    def to_bytes(self) -> bytes:
        """The frames packed back to back, little-endian float32, as the bridge sends them."""
        return np.ascontiguousarray(self.data, dtype=FRAME_DTYPE).tobytes()

    @classmethod
    def from_bytes(cls, payload: bytes, fps: float) -> MotionTrack:
        """Frames packed as the bridge sends them (``to_bytes``: little-endian float32, 320 bytes each)."""
        if len(payload) % FRAME_BYTES:
            raise ValueError(f"payload of {len(payload)} bytes is not a whole number of {FRAME_BYTES}-byte frames")
        return cls(np.frombuffer(payload, dtype=FRAME_DTYPE).reshape(-1, FRAME_SIZE).copy(), fps)
