"""The non-verbal generator: every channel of the motion frame that the lip network does not drive.

It runs beside the lip stream at 100 Hz. Push it the same audio samples, in the same order, and hand
it the lip stream's frames; it fills head pose, gaze, eyelids, brows, cheeks and nose, and adds the
emotion's offsets to the mouth shapes the lips allow. Frame ``k`` uses audio only up to
``(k + 5) / 100`` s, the lip model's own lookahead, so it never delays the stream.

Chunking never changes the result: with the same seed, audio and controls, a stream cut into any
chunks gives exactly the frames of the whole file.
"""

from __future__ import annotations

import numpy as np

from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, FRAME_DTYPE, MotionTrack
from facecast.nonverbal.blinks import BlinkGenerator, eyelids
from facecast.nonverbal.controls import MotionControls
from facecast.nonverbal.expression import ExpressionGenerator
from facecast.nonverbal.gaze import GazeGenerator
from facecast.nonverbal.head import HeadMotion
from facecast.nonverbal.prosody import LOOKAHEAD_FRAMES, ProsodyTracker
from facecast.nonverbal.signals import FPS
from facecast.nonverbal.style import COL, StyleBlender

EYE_YAW_RANGE = 35.0  # degrees the eyes can turn in the head
EYE_PITCH_RANGE = 30.0
#: Eye rotation (deg) at which an ARKit eyeLook weight reaches 1.
LOOK_SIDE_DEG, LOOK_UP_DEG, LOOK_DOWN_DEG = 30.0, 25.0, 30.0

_I = BLENDSHAPE_INDEX
_BS = FIELDS["blendshapes"].slice


class NonverbalGenerator:
    """Streaming non-verbal motion at 100 Hz.

    Args:
        controls: emotion, gaze target, head and motion intensity, head distance and seed.

    Use::

        gen = NonverbalGenerator(controls)
        for chunk in audio_chunks:
            frames = lip_stream.push(chunk)
            gen.push_audio(chunk)
            track = frames.to_track()
            gen.apply(track)  # fills the non-lip channels in place
    """

    lookahead_frames: int = LOOKAHEAD_FRAMES

    def __init__(self, controls: MotionControls) -> None:
        self._controls = controls
        head, gaze, blinks, expression = np.random.SeedSequence(controls.seed).spawn(4)
        self._prosody = ProsodyTracker()
        self._style = StyleBlender(controls)
        self._head = HeadMotion(head)
        self._gaze = GazeGenerator(gaze)
        self._blinks = BlinkGenerator(blinks)
        self._expression = ExpressionGenerator(expression)
        self._next = 0

    @property
    def controls(self) -> MotionControls:
        return self._controls

    @property
    def next_frame(self) -> int:
        """Index of the frame the next ``apply`` must start with."""
        return self._next

    def push_audio(self, samples16k: np.ndarray) -> None:
        """Feed 16 kHz mono samples, the same ones given to the lip stream, in order."""
        self._prosody.push(samples16k)

    def set_controls(self, controls: MotionControls) -> None:
        """Change the controls from the next frame on; the face blends to them over 0.4 s.

        The seed is fixed for the life of the stream, so ``controls.seed`` must not change.
        """
        if controls.seed != self._controls.seed:
            raise ValueError(f"the seed cannot change mid-stream ({self._controls.seed} -> {controls.seed}); "
                             "start a new generator for a new seed")
        self._controls = controls
        self._style.set(controls)

    def apply(self, track: MotionTrack) -> None:
        """Fill, in place, the non-lip channels of these consecutive 100 Hz frames.

        The frames must continue from the previous call (``track.frame_index[0] == next_frame``).
        Audio up to ``(last frame + 5) / 100`` s should have been pushed; audio not pushed yet counts
        as silence, as at the end of a stream.
        """
        if track.fps != FPS:
            raise ValueError(f"the non-verbal generator works at {FPS:g} fps, got a {track.fps:g} fps track")
        n = len(track)
        if n == 0:
            return
        first = int(track.frame_index[0])
        if first != self._next or not np.array_equal(track.frame_index, np.arange(first, first + n)):
            raise ValueError(f"frames must continue the stream: expected frames from {self._next}, "
                             f"got {first}..{int(track.frame_index[-1])}")
        prosody = self._prosody.analyze(n)
        style = self._style.take(n)
        world, thinking, saccades = self._gaze.render(prosody, style)
        rotation, translation = self._head.render(prosody, style, world)
        closure = self._blinks.render(prosody, style, saccades)

        # The eyes keep looking where the gaze points while the head moves (vestibulo-ocular reflex).
        eye_yaw = np.clip(world[:, 0] - rotation[:, 1], -EYE_YAW_RANGE, EYE_YAW_RANGE)
        eye_pitch = np.clip(world[:, 1] + rotation[:, 0], -EYE_PITCH_RANGE, EYE_PITCH_RANGE)

        shapes = track.data[:, _BS].astype(np.float64)
        self._expression.render(shapes, track.visemes, style, prosody, thinking)
        look_up = np.clip(eye_pitch / LOOK_UP_DEG, 0.0, 1.0)
        look_down = np.clip(-eye_pitch / LOOK_DOWN_DEG, 0.0, 1.0)
        look_left = np.clip(eye_yaw / LOOK_SIDE_DEG, 0.0, 1.0)
        look_right = np.clip(-eye_yaw / LOOK_SIDE_DEG, 0.0, 1.0)
        droop = style[:, COL["lid_droop"]]
        for side, outward, inward in (("Left", look_left, look_right), ("Right", look_right, look_left)):
            blink, wide = eyelids(closure, eye_pitch, droop, style[:, _I["eyeWide" + side]])
            shapes[:, _I["eyeBlink" + side]] = blink
            shapes[:, _I["eyeWide" + side]] = wide
            shapes[:, _I["eyeLookUp" + side]] = look_up
            shapes[:, _I["eyeLookDown" + side]] = look_down
            shapes[:, _I["eyeLookOut" + side]] = outward
            shapes[:, _I["eyeLookIn" + side]] = inward

        track.data[:, _BS] = shapes.astype(FRAME_DTYPE)
        track.head_rotation[:] = rotation
        track.head_translation[:] = translation
        track.gaze[:] = np.stack([eye_yaw, eye_pitch, eye_yaw, eye_pitch], axis=1)
        self._next += n


def animate(track100: MotionTrack, audio16k: np.ndarray, controls: MotionControls) -> MotionTrack:
    """Whole-file helper: a copy of a 100 Hz lip track (from frame 0) with every non-lip channel filled."""
    out = MotionTrack(track100.data.copy(), track100.fps)
    generator = NonverbalGenerator(controls)
    generator.push_audio(audio16k)
    generator.apply(out)
    return out
