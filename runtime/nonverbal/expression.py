"""Brows, cheeks, nose and mouth corners: emotion offsets and the upper face's response to speech.

Brows rise on emphasised syllables and at the start of phrases (Cavé et al. 1996; Flecha-García 2010);
an angry face lowers them instead. Cheeks and lower lids squint with a smile, the nose wrinkles a
little with an upper-lip raise, and the mouth corners are never perfectly still.

The lip network owns the mouth. Closure-critical shapes (``CLOSURE_CRITICAL``) are never written;
offsets on shapes that part the lips (``LIP_OPENING``) fade out while the lips are closed for a
bilabial, so a smile or a snarl never stops a /p/, /b/ or /m/ from closing.
"""

from __future__ import annotations

import numpy as np

from facecast.motion_frame import BLENDSHAPE_INDEX, VISEME_INDEX
from facecast.nonverbal.prosody import ProsodyFrames
from facecast.nonverbal.signals import Follower, NoiseBank, bump
from facecast.nonverbal.style import COL

CLOSURE_CRITICAL: tuple[str, ...] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthPressLeft", "mouthPressRight",
    "mouthRollLower", "mouthRollUpper",
)  # fmt: skip
LIP_OPENING: tuple[str, ...] = (
    "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthStretchLeft", "mouthStretchRight",
)  # fmt: skip
#: Mouth shapes that take emotion offsets (added to the lip network's value, then clipped to 0..1).
MOUTH_OFFSET: tuple[str, ...] = (
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthShrugLower", *LIP_OPENING,
)  # fmt: skip
EMPHASIS = 0.1  # an accent must exceed the running typical accent by this much to lift the brows
BROW_GAIN = 0.8  # brow raise per unit of accent strength above that
ONSET_RAISE = 0.3  # brow raise at the start of a phrase, as an accent strength
THINK_BROW = 0.12  # inner-brow lift while looking away to think
MICRO = 0.02  # spread of the small always-on motion of brows, nose and mouth corners

_I = BLENDSHAPE_INDEX


class ExpressionGenerator:
    """Writes brows, cheeks, nose, eye squint and the mouth's emotion offsets, frame chunk by chunk."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._noise = NoiseBank(np.random.default_rng(seed), (1.5, 1.5, 1.0, 1.0, 2.0))
        self._brows, self._brows_gain = bump(9.0, 1)
        self._typical = 0.6  # running accent strength
        self._slow = Follower(5.0, 6)  # the thinking flag and the micro-motion noise, smoothed together
        self._gate_cols = [_I[name] for name in LIP_OPENING]
        self._mouth_cols = [_I[name] for name in MOUTH_OFFSET]

    def render(self, shapes: np.ndarray, visemes: np.ndarray, style: np.ndarray, prosody: ProsodyFrames,
               thinking: np.ndarray) -> None:
        """Update ``shapes`` ``(n, 52)`` in place; its lip channels hold the lip network's output."""
        n = len(prosody)
        motion = style[:, COL["motion"]]
        offsets = style[:, : shapes.shape[1]]
        slow = self._slow(np.hstack([thinking[:, None], self._noise.take(n)]))
        micro = slow[:, 1:] * (MICRO * motion)[:, None]

        emphasis = ONSET_RAISE * prosody.onset
        for i in np.flatnonzero(prosody.accent):
            # Only accents that stand out from the recent ones lift the brows.
            strength = float(prosody.accent[i])
            emphasis[i] += max(0.0, strength - self._typical - EMPHASIS)
            self._typical += 0.15 * (strength - self._typical)
        brow = self._brows(emphasis[:, None] * self._brows_gain)[:, 0] * BROW_GAIN * motion
        think = slow[:, 0] * THINK_BROW * motion
        raise_ = brow * style[:, COL["brow_raise"]]
        lower = brow * style[:, COL["brow_lower"]]

        closed = np.maximum.reduce([visemes[:, VISEME_INDEX["PP"]], shapes[:, _I["mouthClose"]],
                                    0.5 * (shapes[:, _I["mouthPressLeft"]] + shapes[:, _I["mouthPressRight"]])])
        gate = 1.0 - np.clip(1.5 * closed, 0.0, 1.0)
        add = offsets[:, self._mouth_cols].copy()
        add[:, len(MOUTH_OFFSET) - len(LIP_OPENING) :] *= gate[:, None]
        add[:, 0:2] += micro[:, 2:4]  # mouth corners: smile left, right
        shapes[:, self._mouth_cols] = np.clip(shapes[:, self._mouth_cols] + add, 0.0, 1.0)

        smile = 0.5 * (shapes[:, _I["mouthSmileLeft"]] + shapes[:, _I["mouthSmileRight"]])
        upper = 0.5 * (shapes[:, _I["mouthUpperUpLeft"]] + shapes[:, _I["mouthUpperUpRight"]])
        for side, sign in (("Left", 1.0), ("Right", -1.0)):
            col = _I["browOuterUp" + side]
            shapes[:, col] = np.clip(offsets[:, col] + 0.8 * raise_ + 0.5 * micro[:, 0] + sign * micro[:, 1], 0, 1)
            col = _I["browDown" + side]
            shapes[:, col] = np.clip(offsets[:, col] + lower, 0, 1)
            col = _I["cheekSquint" + side]
            shapes[:, col] = np.clip(offsets[:, col] + 0.4 * smile, 0, 1)
            col = _I["eyeSquint" + side]
            shapes[:, col] = np.clip(offsets[:, col] + 0.3 * smile, 0, 1)
            col = _I["noseSneer" + side]
            shapes[:, col] = np.clip(offsets[:, col] + 0.2 * upper + micro[:, 4], 0, 1)
            col = _I["mouthDimple" + side]
            shapes[:, col] = np.clip(shapes[:, col] + 0.15 * smile, 0, 1)
        col = _I["browInnerUp"]
        shapes[:, col] = np.clip(offsets[:, col] + raise_ + think + micro[:, 0], 0, 1)
