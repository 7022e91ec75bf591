"""The non-verbal generator: every channel of the motion frame that the lip network does not drive.

It runs beside the lip stream at 100 Hz. Push it the same audio samples, in the same order, and hand
it the lip stream's frames; it fills head pose, gaze, eyelids, brows, cheeks and nose, and adds the
emotion's offsets to the mouth shapes the lips allow. Frame ``k`` uses audio only up to
``(k + lookahead) / 100`` s, the lip model's own lookahead, so it never delays the stream.

Chunking never changes the result: with the same seed, audio and controls, a stream cut into any
chunks gives exactly the frames of the whole file.
"""

from __future__ import annotations

import numpy as np

from facecast.audio import mono_float32
from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, MotionTrack
from facecast.nonverbal.blinks import BlinkGenerator, eyelid_row, eyelids
from facecast.nonverbal.controls import MotionControls, check_controls
from facecast.nonverbal.expression import ExpressionGenerator
from facecast.nonverbal.gaze import GazeGenerator
from facecast.nonverbal.head import HeadMotion
from facecast.nonverbal.prosody import DEFAULT_LOOKAHEAD, ProsodyTracker
from facecast.nonverbal.signals import FPS, SHORT
from facecast.nonverbal.style import COL, StyleBlender

EYE_YAW_RANGE = 35.0  # degrees the eyes can turn in the head
EYE_PITCH_RANGE = 30.0
#: Eye rotation (deg) at which an ARKit eyeLook weight reaches 1.
LOOK_SIDE_DEG, LOOK_UP_DEG, LOOK_DOWN_DEG = 30.0, 25.0, 30.0

_I = BLENDSHAPE_INDEX
_BS = FIELDS["blendshapes"].slice
_VIS = FIELDS["visemes"].slice
_INDEX = FIELDS["frameIndex"].offset
_DROOP = COL["lid_droop"]
_WIDE = [_I["eyeWideLeft"], _I["eyeWideRight"]]
#: The eye blendshapes and, for each, its column in the ``eyes`` block that ``apply`` builds:
#: 0 blink, 1-2 wide left/right, 3 look up, 4 look down, 5 look to its left, 6 look to its right.
_EYE_SHAPES = [_I[name] for name in (
    "eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft", "eyeWideRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookInLeft", "eyeLookInRight",
)]  # fmt: skip
_EYE_SOURCE = [0, 0, 1, 2, 3, 3, 4, 4, 5, 6, 6, 5]
_LID_COLUMNS = [_DROOP, *_WIDE]
#: Head rotation, head translation and gaze lie side by side in the frame: one block to write.
_POSE = slice(FIELDS["headRotation"].offset, FIELDS["gaze"].offset + FIELDS["gaze"].count)


class NonverbalGenerator:
    """Streaming non-verbal motion at 100 Hz.

    Args:
        controls: emotion, gaze target, head and motion intensity, head distance and seed.
        lookahead_frames: the lip model's lookahead (10 ms frames): how far past a frame its analysis
            may hear.

    Use::

        gen = NonverbalGenerator(controls)
        for chunk in audio_chunks:
            frames = lip_stream.push(chunk)
            gen.push_audio(chunk)
            track = frames.to_track()
            gen.apply(track)  # fills the non-lip channels in place
    """

    def __init__(self, controls: MotionControls, lookahead_frames: int = DEFAULT_LOOKAHEAD) -> None:
        self.lookahead_frames = lookahead_frames
        self._controls = check_controls(controls)
        head, gaze, blinks, expression = np.random.SeedSequence(controls.seed).spawn(4)
        self._prosody = ProsodyTracker(lookahead_frames)
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
        """Feed 16 kHz mono samples (float in [-1, 1], or int16), the same ones given to the lip stream,
        in order."""
        self._prosody.push(mono_float32(samples16k))

    def set_controls(self, controls: MotionControls) -> None:
        """Change the controls from the next frame on; the face blends to them over 0.4 s.

        The seed is fixed for the life of the stream, so ``controls.seed`` must not change.
        """
        if check_controls(controls).seed != self._controls.seed:
            raise ValueError(f"the seed cannot change mid-stream ({self._controls.seed} -> {controls.seed}); "
                             "start a new generator for a new seed")
        self._controls = controls
        self._style.set(controls)

    def pitch_windows(self, n: int) -> np.ndarray:
        """The audio windows whose pitch the next ``apply`` of ``n`` frames needs (see ``apply``'s ``pitch``)."""
        return self._prosody.pitch_windows(n)

    def apply(self, track: MotionTrack, pitch: np.ndarray | None = None) -> None:
        """Fill, in place, the non-lip channels of these consecutive 100 Hz frames.

        The frames must continue from the previous call (``track.frame_index[0] == next_frame``).
        Audio up to ``(last frame + lookahead_frames) / 100`` s should have been pushed; audio not pushed yet counts
        as silence, as at the end of a stream. ``pitch``: ``facecast.nonverbal.prosody.pitch_of`` of
        ``pitch_windows(len(track))``, for a caller that analyses many streams' pitch in one call; the
        frames are the same either way.
        """
        if track.fps != FPS:
            raise ValueError(f"the non-verbal generator works at {FPS:g} fps, got a {track.fps:g} fps track")
        n = len(track)
        if n == 0:
            return
        data = track.data
        first = self._next
        index = data[:, _INDEX]
        if index[0] != first or index[-1] != first + n - 1 or (n > 2 and not np.array_equal(index, first + _arange(n))):
            raise ValueError(f"frames must continue the stream: expected frames from {self._next}, "
                             f"got {int(index[0])}..{int(index[-1])}")
        prosody = self._prosody.analyze(n, pitch)
        style = self._style.take(n)
        world, thinking, saccades = self._gaze.render(prosody, style)
        rotation, translation = self._head.render(prosody, style, world)
        closure = self._blinks.render(prosody, style, saccades)

        if n <= SHORT:
            # A few frames: the short paths read the weights as floats and write them back column by
            # column, rounding to float32 exactly as a float64 copy written back whole would.
            shapes = data[:, _BS]
            self._expression.render(shapes, data[:, _VIS], style, prosody, thinking)
            eyes, pose = self._eyes_short(world, rotation, translation, closure, style)
            shapes[:, _EYE_SHAPES] = eyes
        else:
            shapes = data[:, _BS].astype(np.float64)
            self._expression.render(shapes, data[:, _VIS], style, prosody, thinking)
            eyes, pose = self._eyes(world, rotation, translation, closure, style)
            shapes[:, _EYE_SHAPES] = eyes
            data[:, _BS] = shapes
        data[:, _POSE] = pose
        self._next += n

    @staticmethod
    def _eyes(world: np.ndarray, rotation: np.ndarray, translation: np.ndarray, closure: np.ndarray,
              style: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The eye blendshapes (``_EYE_SHAPES``) and the pose block (head rotation, translation, gaze)."""
        n = len(world)
        # The eyes keep looking where the gaze points while the head moves (vestibulo-ocular reflex).
        eye_yaw = np.minimum(np.maximum(world[:, 0] - rotation[:, 1], -EYE_YAW_RANGE), EYE_YAW_RANGE)
        eye_pitch = np.minimum(np.maximum(world[:, 1] + rotation[:, 0], -EYE_PITCH_RANGE), EYE_PITCH_RANGE)
        eyes = np.empty((n, 7))
        eyes[:, 3] = eye_pitch / LOOK_UP_DEG
        eyes[:, 4] = -eye_pitch / LOOK_DOWN_DEG
        eyes[:, 5] = eye_yaw / LOOK_SIDE_DEG
        eyes[:, 6] = -eye_yaw / LOOK_SIDE_DEG
        np.minimum(np.maximum(eyes[:, 3:], 0.0, out=eyes[:, 3:]), 1.0, out=eyes[:, 3:])
        # The upper lid rides on the eye (see ``eyelids``): the same blink for both eyes, each its own widening.
        eyes[:, 0], eyes[:, 1:3] = eyelids(closure, eyes[:, 3], eyes[:, 4], style[:, _DROOP], style[:, _WIDE])
        pose = np.empty((n, 10))
        pose[:, 0:3] = rotation
        pose[:, 3:6] = translation
        pose[:, 6::2] = eye_yaw[:, None]
        pose[:, 7::2] = eye_pitch[:, None]
        return eyes[:, _EYE_SOURCE], pose

    @staticmethod
    def _eyes_short(world: np.ndarray, rotation: np.ndarray, translation: np.ndarray, closure: np.ndarray,
                    style: np.ndarray) -> tuple[list[list[float]], list[list[float]]]:
        """``_eyes`` for a few frames (a live chunk): the same arithmetic, step for step, on floats."""
        eyes, pose = [], []
        for (world_yaw, world_pitch), rot, move, shut, (droop, wide_left, wide_right) in zip(
                world.tolist(), rotation.tolist(), translation.tolist(), closure.tolist(),
                style[:, _LID_COLUMNS].tolist(), strict=True):
            yaw = min(max(world_yaw - rot[1], -EYE_YAW_RANGE), EYE_YAW_RANGE)
            pitch = min(max(world_pitch + rot[0], -EYE_PITCH_RANGE), EYE_PITCH_RANGE)
            up = min(max(pitch / LOOK_UP_DEG, 0.0), 1.0)
            down = min(max(-pitch / LOOK_DOWN_DEG, 0.0), 1.0)
            left = min(max(yaw / LOOK_SIDE_DEG, 0.0), 1.0)
            right = min(max(-yaw / LOOK_SIDE_DEG, 0.0), 1.0)
            blink, widen_left, widen_right = eyelid_row(shut, up, down, droop, wide_left, wide_right)
            eyes.append([blink, blink, widen_left, widen_right, up, up, down, down, left, right, right, left])
            pose.append([*rot, *move, yaw, pitch, yaw, pitch])
        return eyes, pose


_ARANGE = np.arange(4096)


def _arange(n: int) -> np.ndarray:
    return _ARANGE[:n] if n <= _ARANGE.size else np.arange(n)


def animate(track100: MotionTrack, audio16k: np.ndarray, controls: MotionControls,
            lookahead_frames: int = DEFAULT_LOOKAHEAD) -> MotionTrack:
    """Whole-file helper: a copy of a 100 Hz lip track (from frame 0) with every non-lip channel filled."""
    out = MotionTrack(track100.data.copy(), track100.fps)
    generator = NonverbalGenerator(controls, lookahead_frames)
    generator.push_audio(audio16k)
    generator.apply(out)
    return out
