"""Brows, cheeks, nose and mouth corners: emotion offsets and the upper face's response to speech.

Brows rise on emphasised syllables and at the start of phrases (Cavé et al. 1996; Flecha-García 2010);
an angry face lowers them instead. Cheeks and lower lids squint with a smile, the nose wrinkles a
little with an upper-lip raise, and the mouth corners are never perfectly still.

The lip network owns the mouth. Closure-critical shapes (``CLOSURE_CRITICAL``) are never written;
offsets on shapes that part the lips (``LIP_OPENING``) fade out while the lips are closed for a
bilabial, so a smile or a snarl never stops a /p/, /b/ or /m/ from closing.
"""

from __future__ import annotations

import operator

import numpy as np

from facecast.motion_frame import BLENDSHAPE_INDEX, VISEME_INDEX
from facecast.nonverbal.prosody import ProsodyFrames
from facecast.nonverbal.signals import SHORT, Follower, NoiseBank, bump
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
_MOUTH = [_I[name] for name in MOUTH_OFFSET]
_GATED = len(MOUTH_OFFSET) - len(LIP_OPENING)  # mouth offsets from here on part the lips
_PP = VISEME_INDEX["PP"]
_MOTION, _BROW_RAISE, _BROW_LOWER = COL["motion"], COL["brow_raise"], COL["brow_lower"]
#: The upper-face shapes written from scratch each frame (emotion offset plus motion), left then right.
_UPPER = [_I[name] for name in (
    "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight", "cheekSquintLeft", "cheekSquintRight",
    "eyeSquintLeft", "eyeSquintRight", "noseSneerLeft", "noseSneerRight", "mouthDimpleLeft", "mouthDimpleRight",
    "browInnerUp",
)]  # fmt: skip
#: For each of ``_UPPER``, the motion term added first: 0 outer-brow raise, 1 brow lowering, 2-5 cheek,
#: eye-squint and dimple shares of the smile and nose share of the upper-lip raise, 6 inner-brow raise.
_UPPER_TERM = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
#: What the short path reads: style (three motion columns, then the offsets of the mouth and the upper
#: face) and shapes (the mouth, then the shapes that close the lips).
_SHORT_STYLE = [_MOTION, _BROW_RAISE, _BROW_LOWER, *_MOUTH, *_UPPER]
_SHORT_SHAPES = [*_MOUTH, _I["mouthClose"], _I["mouthPressLeft"], _I["mouthPressRight"]]
_SMILE = [MOUTH_OFFSET.index("mouthSmileLeft"), MOUTH_OFFSET.index("mouthSmileRight")]
_UPPER_UP = [MOUTH_OFFSET.index("mouthUpperUpLeft"), MOUTH_OFFSET.index("mouthUpperUpRight")]
_DIMPLE = [MOUTH_OFFSET.index("mouthDimpleLeft"), MOUTH_OFFSET.index("mouthDimpleRight")]


class ExpressionGenerator:
    """Writes brows, cheeks, nose, eye squint and the mouth's emotion offsets, frame chunk by chunk."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._noise = NoiseBank(np.random.default_rng(seed), (1.5, 1.5, 1.0, 1.0, 2.0))
        self._brows, self._brows_gain = bump(9.0, 1)
        self._typical = 0.6  # running accent strength
        self._slow = Follower(5.0, 6)  # the thinking flag and the micro-motion noise, smoothed together

    def render(self, shapes: np.ndarray, visemes: np.ndarray, style: np.ndarray, prosody: ProsodyFrames,
               thinking: np.ndarray) -> None:
        """Update ``shapes`` ``(n, 52)`` in place; its lip channels hold the lip network's output.

        ``shapes`` may be float64 or, for a few frames, the track's own float32 weights.
        """
        n = len(prosody)
        if n <= SHORT:
            self._render_short(shapes, visemes, style, prosody, thinking)
            return
        motion = style[:, _MOTION]
        slow_in = np.empty((n, 6))
        slow_in[:, 0] = thinking
        slow_in[:, 1:] = self._noise.take(n)
        slow = self._slow(slow_in)
        micro = slow[:, 1:] * (MICRO * motion)[:, None]

        emphasis = ONSET_RAISE * prosody.onset
        for i in np.flatnonzero(prosody.accent):
            # Only accents that stand out from the recent ones lift the brows.
            strength = float(prosody.accent[i])
            emphasis[i] += max(0.0, strength - self._typical - EMPHASIS)
            self._typical += 0.15 * (strength - self._typical)
        brow = self._brows(emphasis[:, None] * self._brows_gain)[:, 0] * BROW_GAIN * motion
        think = slow[:, 0] * THINK_BROW * motion
        raise_ = brow * style[:, _BROW_RAISE]

        closed = np.maximum(np.maximum(visemes[:, _PP], shapes[:, _I["mouthClose"]]),
                            0.5 * (shapes[:, _I["mouthPressLeft"]] + shapes[:, _I["mouthPressRight"]]))
        gate = 1.0 - np.minimum(np.maximum(1.5 * closed, 0.0), 1.0)
        add = style[:, _MOUTH]
        add[:, _GATED:] *= gate[:, None]
        add[:, 0:2] += micro[:, 2:4]  # mouth corners: smile left, right
        shapes[:, _MOUTH] = np.minimum(np.maximum(shapes[:, _MOUTH] + add, 0.0), 1.0)

        smile = 0.5 * (shapes[:, _I["mouthSmileLeft"]] + shapes[:, _I["mouthSmileRight"]])
        upper = 0.5 * (shapes[:, _I["mouthUpperUpLeft"]] + shapes[:, _I["mouthUpperUpRight"]])
        terms = np.empty((n, 7))
        terms[:, 0] = 0.8 * raise_
        terms[:, 1] = brow * style[:, _BROW_LOWER]
        terms[:, 2] = 0.4 * smile
        terms[:, 3] = 0.3 * smile
        terms[:, 4] = 0.2 * upper
        terms[:, 5] = 0.15 * smile
        terms[:, 6] = raise_
        # Emotion offset (the lip network's value for the dimples) + the main term + the smaller ones.
        face = style[:, _UPPER]
        face[:, 10:12] = shapes[:, _UPPER[10:12]]
        face += terms[:, _UPPER_TERM]
        face[:, 0:2] += (0.5 * micro[:, 0])[:, None]  # outer brows: shared micro-motion ...
        face[:, 0] += micro[:, 1]  # ... and a little asymmetry
        face[:, 1] -= micro[:, 1]
        face[:, 8:10] += micro[:, 4:5]  # nose
        face[:, 12] += think
        face[:, 12] += micro[:, 0]
        shapes[:, _UPPER] = np.minimum(np.maximum(face, 0.0), 1.0)

    def _render_short(self, shapes: np.ndarray, visemes: np.ndarray, style: np.ndarray, prosody: ProsodyFrames,
                      thinking: np.ndarray) -> None:
        """``render`` for a few frames (a live chunk): the same arithmetic, step for step, on floats."""
        n = len(prosody)
        noise = self._noise.take(n).tolist()
        st = style[:, _SHORT_STYLE].tolist()
        lips = shapes[:, _SHORT_SHAPES].tolist()
        pp = visemes[:, _PP].tolist()
        slow = self._slow.rows([[think, *z] for think, z in zip(thinking.tolist(), noise, strict=True)])
        emphasis = (ONSET_RAISE * prosody.onset).tolist() if prosody.onset.any() else [0.0] * n
        if prosody.accent.any():
            for i, strength in enumerate(prosody.accent.tolist()):
                if strength:
                    emphasis[i] += max(0.0, strength - self._typical - EMPHASIS)
                    self._typical += 0.15 * (strength - self._typical)
        gain = self._brows_gain
        brows = self._brows.rows([[v * gain] for v in emphasis])
        count, gated = len(MOUTH_OFFSET), _GATED
        upper_out, mouth = [], []
        for i in range(n):
            row = st[i]  # motion, brow raise, brow lower, then the mouth's and upper face's emotion offsets
            motion = row[0]
            scale = MICRO * motion
            micro = [v * scale for v in slow[i][1:]]
            brow = brows[i][0] * BROW_GAIN * motion
            think = slow[i][0] * THINK_BROW * motion
            raise_ = brow * row[1]
            lip = lips[i]  # the mouth, then mouthClose, mouthPressLeft, mouthPressRight
            closed = max(max(pp[i], lip[count]), 0.5 * (lip[count + 1] + lip[count + 2]))
            gate = 1.0 - min(max(1.5 * closed, 0.0), 1.0)
            add = row[3 : 3 + count]
            add[0] += micro[2]  # mouth corners: smile left, right
            add[1] += micro[3]
            for j in range(gated, count):
                add[j] *= gate
            # Clipped to 0..1 (written out: the same as min(max(v, 0.0), 1.0), NaN included, but quicker).
            shut = [0.0 if v < 0.0 else 1.0 if v > 1.0 else v for v in map(operator.add, lip[:count], add)]
            mouth.append(shut)
            smile = 0.5 * (shut[_SMILE[0]] + shut[_SMILE[1]])
            upper = 0.5 * (shut[_UPPER_UP[0]] + shut[_UPPER_UP[1]])
            up = row[3 + count :]
            up[10], up[11] = shut[_DIMPLE[0]], shut[_DIMPLE[1]]
            terms = (0.8 * raise_, brow * row[2], 0.4 * smile, 0.3 * smile, 0.2 * upper, 0.15 * smile, raise_)
            face = [up[j] + terms[t] for j, t in enumerate(_UPPER_TERM)]
            shared = 0.5 * micro[0]
            face[0] = face[0] + shared + micro[1]
            face[1] = face[1] + shared - micro[1]
            face[8] += micro[4]
            face[9] += micro[4]
            face[12] = face[12] + think + micro[0]
            upper_out.append([0.0 if v < 0.0 else 1.0 if v > 1.0 else v for v in face])
        shapes[:, _MOUTH] = mouth
        shapes[:, _UPPER] = upper_out  # the dimples again, with their share of the smile
