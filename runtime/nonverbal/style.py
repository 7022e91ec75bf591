"""Controls to per-frame style: blendshape offsets and motion statistics, blended smoothly on change.

An emotion acts twice: as blendshape offsets (a smile, lowered brows) and as changes in how the face
moves. Busso et al. (2007) measured that emotional speech differs from neutral speech in head-motion
activation, range and velocity, and that sadness is the least active; the multipliers below follow
those directions (sad: small, slow, head lowered; angry: large, sharp; happy: large; surprised: head
back, eyes wide, fewer blinks).
"""

from __future__ import annotations

import numpy as np

from facecast.motion_frame import ARKIT_BLENDSHAPES, BLENDSHAPE_INDEX
from facecast.nonverbal.controls import MotionControls
from facecast.nonverbal.signals import smoothstep

#: Blendshape offsets of each emotion at intensity 1. Closure-critical lip shapes (jawOpen,
#: mouthClose, mouthPress*, mouthRoll*, mouthFunnel, mouthPucker) never appear here.
EMOTION_SHAPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"mouthSmileLeft": 0.45, "mouthSmileRight": 0.45, "cheekSquintLeft": 0.25, "cheekSquintRight": 0.25,
              "eyeSquintLeft": 0.2, "eyeSquintRight": 0.2, "mouthDimpleLeft": 0.1, "mouthDimpleRight": 0.1},
    "sad": {"browInnerUp": 0.45, "browDownLeft": 0.1, "browDownRight": 0.1, "mouthFrownLeft": 0.35,
            "mouthFrownRight": 0.35, "mouthShrugLower": 0.15, "eyeSquintLeft": 0.1, "eyeSquintRight": 0.1},
    "angry": {"browDownLeft": 0.55, "browDownRight": 0.55, "eyeSquintLeft": 0.3, "eyeSquintRight": 0.3,
              "noseSneerLeft": 0.3, "noseSneerRight": 0.3, "mouthFrownLeft": 0.15, "mouthFrownRight": 0.15,
              "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1},
    "surprised": {"browInnerUp": 0.55, "browOuterUpLeft": 0.55, "browOuterUpRight": 0.55, "eyeWideLeft": 0.45,
                  "eyeWideRight": 0.45, "mouthLowerDownLeft": 0.1, "mouthLowerDownRight": 0.1},
}

#: Motion statistics: the neutral value of each parameter, and each emotion's value at intensity 1.
MOTION_PARAMS: dict[str, float] = {
    "head_amp": 1.0,  # scale of head motion
    "head_sharp": 0.5,  # 0 = slow, rounded nods; 1 = quick, sharp ones
    "head_pitch_bias": 0.0,  # degrees, + looks down
    "head_roll_bias": 0.0,  # degrees, + tilts to its left
    "nod_gain": 1.0,  # head response to accents
    "blink_rate": 1.0,
    "blink_slow": 1.0,  # scale of blink durations
    "aversion": 1.0,  # how readily the eyes leave the gaze target
    "gaze_pitch_bias": 0.0,  # degrees, + up
    "brow_raise": 1.0,  # brow raises on emphasis
    "brow_lower": 0.0,  # brow lowering on emphasis (anger frowns rather than lifts)
    "lid_droop": 0.0,  # resting upper-lid lowering, 0..1
}
EMOTION_MOTION: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"head_amp": 1.25, "head_sharp": 0.6, "head_pitch_bias": -1.5, "head_roll_bias": 1.5, "nod_gain": 1.2,
              "aversion": 0.9, "brow_raise": 1.2},
    "sad": {"head_amp": 0.55, "head_sharp": 0.1, "head_pitch_bias": 5.0, "nod_gain": 0.6, "blink_rate": 1.15,
            "blink_slow": 1.25, "aversion": 1.5, "gaze_pitch_bias": -6.0, "brow_raise": 0.5, "lid_droop": 0.15},
    "angry": {"head_amp": 1.3, "head_sharp": 0.95, "head_pitch_bias": 2.5, "nod_gain": 1.5, "blink_rate": 0.75,
              "aversion": 0.5, "brow_raise": 0.0, "brow_lower": 1.2},
    "surprised": {"head_amp": 1.1, "head_sharp": 0.8, "head_pitch_bias": -3.5, "blink_rate": 0.6, "aversion": 0.8,
                  "gaze_pitch_bias": 2.0, "brow_raise": 1.6},
}
#: Straight from the controls (not scaled by emotion intensity).
CONTROL_PARAMS: tuple[str, ...] = (
    "motion", "head_intensity", "head_distance", "gaze_yaw", "gaze_pitch", "gaze_free", "gaze_camera",
    "limit_yaw", "limit_pitch", "limit_roll",
)  # fmt: skip

N_SHAPES = len(ARKIT_BLENDSHAPES)
PARAM_NAMES: tuple[str, ...] = tuple(MOTION_PARAMS) + CONTROL_PARAMS
#: Column of each named parameter in a style row; blendshape offsets occupy columns 0..51.
COL: dict[str, int] = {name: N_SHAPES + i for i, name in enumerate(PARAM_NAMES)}
STYLE_SIZE = N_SHAPES + len(PARAM_NAMES)
BLEND_FRAMES = 40  # a control change takes 0.4 s to blend in


def style_vector(controls: MotionControls) -> np.ndarray:
    """The style row of one set of controls: 52 blendshape offsets then ``PARAM_NAMES``."""
    row = np.zeros(STYLE_SIZE)
    amount = controls.emotion_intensity
    for name, weight in EMOTION_SHAPES[controls.emotion].items():
        row[BLENDSHAPE_INDEX[name]] = amount * weight
    emotion = EMOTION_MOTION[controls.emotion]
    for name, neutral in MOTION_PARAMS.items():
        row[COL[name]] = neutral + amount * (emotion.get(name, neutral) - neutral)
    gaze = controls.gaze
    direction = gaze if isinstance(gaze, tuple) else (0.0, 0.0)
    values = {
        "motion": controls.motion_intensity, "head_intensity": controls.head_intensity,
        "head_distance": controls.head_distance, "gaze_yaw": direction[0], "gaze_pitch": direction[1],
        "gaze_free": 1.0 if gaze == "free" else 0.0, "gaze_camera": 1.0 if gaze == "camera" else 0.0,
        "limit_yaw": controls.limits.yaw,
        "limit_pitch": controls.limits.pitch, "limit_roll": controls.limits.roll,
    }  # fmt: skip
    for name, value in values.items():
        row[COL[name]] = value
    return row


class StyleBlender:
    """Per-frame style rows; a change of controls eases in over ``BLEND_FRAMES`` from where it was."""

    def __init__(self, controls: MotionControls) -> None:
        self._from = self._to = self._last = style_vector(controls)
        self._steady = np.broadcast_to(self._to, (_STEADY_ROWS, STYLE_SIZE))
        self._progress = 1.0

    def set(self, controls: MotionControls) -> None:
        """Blend toward new controls, starting from the style of the last frame produced."""
        self._from, self._to = self._last, style_vector(controls)
        self._steady = np.broadcast_to(self._to, (_STEADY_ROWS, STYLE_SIZE))
        self._progress = 0.0

    def take(self, n: int) -> np.ndarray:
        """Style rows of the next ``n`` frames, shape ``(n, STYLE_SIZE)`` (read-only)."""
        if self._progress >= 1.0:
            # Settled: every row is the target (a read-only view, no copy).
            rows = self._steady[:n] if n <= _STEADY_ROWS else np.broadcast_to(self._to, (n, STYLE_SIZE))
        else:
            u = self._progress + np.arange(1, n + 1) / BLEND_FRAMES
            rows = self._from + (self._to - self._from) * smoothstep(u)[:, None]
            self._progress = min(1.0, float(u[-1])) if n else self._progress
        if n:
            self._last = rows[-1]
        return rows


_STEADY_ROWS = 1024
