"""The user's controls over non-verbal motion, and the parsers for their command-line spellings.

Angles follow the motion-frame conventions (``facecast.motion_frame``): gaze yaw + is the face's own
left, gaze pitch + is up; head limits are symmetric magnitudes in degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")
GAZE_MODES: tuple[str, ...] = ("camera", "free")

#: How far a fixed gaze direction may point away from the camera (degrees); past this the eyes alone
#: cannot reach it and the face would look strained.
MAX_GAZE_YAW = 30.0
MAX_GAZE_PITCH = 25.0
MAX_INTENSITY = 2.0
MAX_HEAD_DISTANCE = 0.3  # metres either way; further than this the head leaves a portrait framing
MAX_HEAD_LIMIT = 45.0

GazeTarget = str | tuple[float, float]


@dataclass(frozen=True)
class HeadLimits:
    """Largest head rotation the generator may produce, in degrees either side of straight ahead."""

    yaw: float = 20.0
    pitch: float = 15.0
    roll: float = 10.0

    def __post_init__(self) -> None:
        for name in ("yaw", "pitch", "roll"):
            value = getattr(self, name)
            if not (_is_number(value) and 0.0 < value <= MAX_HEAD_LIMIT):
                raise ValueError(f"head {name} limit must be in (0, {MAX_HEAD_LIMIT:g}] degrees, got {value!r}")
            object.__setattr__(self, name, float(value))  # a numpy scalar is kept as the float it is


@dataclass(frozen=True)
class MotionControls:
    """What the user steers: emotion, gaze, how much the head moves, where it sits, and the seed.

    Attributes:
        emotion: one of ``EMOTIONS``.
        emotion_intensity: 0 (no trace of the emotion) to 1 (full).
        gaze: ``"camera"`` (look into the lens, with natural aversions), ``"free"`` (wander), or a
            ``(yaw, pitch)`` direction in degrees (+ yaw the face's left, + pitch up), which may also be
            given as the command line spells it, ``"10,-5"``.
        head_intensity: scale of head motion, 0 (still) to 2; 1 is the natural amount. Where head x motion
            intensity is below 1, the emotion's head posture (sad looks down) is scaled by it too: at 0 the
            head is held at rest.
        head_distance: metres toward (+) or away from (-) the camera, at most 0.3 either way.
        motion_intensity: global scale of all generated motion (head, eyes, brows), 0 to 2; below 1 it
            also scales the emotion's head posture (see head_intensity).
        seed: the random seed; the same seed, audio and controls give the same motion.
        limits: largest head rotation the generator may produce.
    """

    emotion: str = "neutral"
    emotion_intensity: float = 1.0
    gaze: GazeTarget = "camera"
    head_intensity: float = 1.0
    head_distance: float = 0.0
    motion_intensity: float = 1.0
    seed: int = 0
    limits: HeadLimits = field(default_factory=HeadLimits)

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {self.emotion!r}; choose one of {', '.join(EMOTIONS)}")
        _check_range("emotion intensity", self.emotion_intensity, 0.0, 1.0)
        if isinstance(self.gaze, str):  # "camera", "free", or "YAW,PITCH" as the command line spells it
            object.__setattr__(self, "gaze", parse_gaze(self.gaze))
        else:
            try:
                yaw, pitch = (float(v) for v in self.gaze)
            except (TypeError, ValueError):
                raise ValueError(f"gaze direction must be a (yaw, pitch) pair of degrees, got {self.gaze!r}") from None
            _check_range("gaze yaw", yaw, -MAX_GAZE_YAW, MAX_GAZE_YAW)
            _check_range("gaze pitch", pitch, -MAX_GAZE_PITCH, MAX_GAZE_PITCH)
            object.__setattr__(self, "gaze", (yaw, pitch))
        _check_range("head intensity", self.head_intensity, 0.0, MAX_INTENSITY)
        _check_range("head distance", self.head_distance, -MAX_HEAD_DISTANCE, MAX_HEAD_DISTANCE)
        _check_range("motion intensity", self.motion_intensity, 0.0, MAX_INTENSITY)
        if not isinstance(self.limits, HeadLimits):
            raise ValueError(f"limits must be a HeadLimits, got {self.limits!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, Integral) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        # Numpy scalars are numbers too: kept as the Python numbers they are.
        for name in ("emotion_intensity", "head_intensity", "head_distance", "motion_intensity"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "seed", int(self.seed))

    @classmethod
    def from_strings(
        cls,
        emotion: str = "neutral",
        gaze: str = "camera",
        head_intensity: float = 1.0,
        head_distance: float = 0.0,
        motion_intensity: float = 1.0,
        seed: int = 0,
    ) -> MotionControls:
        """Controls from command-line spellings: ``--emotion happy:0.6 --gaze camera|free|YAW,PITCH``."""
        name, intensity = parse_emotion(emotion)
        return cls(emotion=name, emotion_intensity=intensity, gaze=parse_gaze(gaze),
                   head_intensity=head_intensity, head_distance=head_distance,
                   motion_intensity=motion_intensity, seed=seed)


def parse_emotion(text: str) -> tuple[str, float]:
    """``"happy:0.6"`` -> ``("happy", 0.6)``; a bare name means full intensity."""
    name, sep, value = text.strip().partition(":")
    name = name.strip().lower()
    if name not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r} in {text!r}; choose one of {', '.join(EMOTIONS)} "
                         "(optionally NAME:INTENSITY with intensity 0-1, e.g. happy:0.6)")
    if not sep:
        return name, 1.0
    try:
        intensity = float(value)
    except ValueError:
        raise ValueError(f"emotion intensity in {text!r} is not a number; "
                         "write NAME:INTENSITY, e.g. happy:0.6") from None
    _check_range("emotion intensity", intensity, 0.0, 1.0)
    return name, intensity


def parse_gaze(text: str) -> GazeTarget:
    """``"camera"``, ``"free"`` or ``"YAW,PITCH"`` in degrees (+ yaw the face's left, + pitch up)."""
    word = text.strip().lower()
    if word in GAZE_MODES:
        return word
    parts = word.split(",")
    if len(parts) != 2:
        raise ValueError(f"gaze {text!r} is not camera, free or YAW,PITCH (degrees, e.g. 10,-5)")
    try:
        yaw, pitch = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"gaze direction {text!r} must be two numbers YAW,PITCH in degrees, e.g. 10,-5") from None
    _check_range("gaze yaw", yaw, -MAX_GAZE_YAW, MAX_GAZE_YAW)
    _check_range("gaze pitch", pitch, -MAX_GAZE_PITCH, MAX_GAZE_PITCH)
    return (yaw, pitch)


def check_controls(controls: object) -> MotionControls:
    """``controls`` if it is a ``MotionControls``; a ``TypeError`` that says how to make one otherwise."""
    if not isinstance(controls, MotionControls):
        hint = " (MotionControls(**that_dict) makes one from a dict)" if isinstance(controls, dict) else ""
        raise TypeError(f"controls must be a facecast.nonverbal.MotionControls, got {type(controls).__name__}{hint}")
    return controls


def _is_number(value: object) -> bool:
    """A real number, numpy's scalars included, and not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
