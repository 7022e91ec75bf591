"""Speech to motion frames: the one object every front end (CLI, renderer, bridge) uses.

Data flows one way: 16 kHz audio -> lip network (100 Hz) -> motion frames -> resampled to the
output frame rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facecast.audio import SAMPLE_RATE, check_not_silent, load_audio
from facecast.errors import AudioError
from facecast.lipsync import LipFrames, LipSyncModel
from facecast.motion_frame import MotionTrack
from facecast.retime import retime

SUPPORTED_FPS = (24, 25, 30, 50, 60)
LONG_AUDIO_S = 20.0  # progress bars only for clips long enough to make a person wait


class MotionPipeline:
    """Turns speech into a ``MotionTrack`` at ``fps`` frames per second.

    Args:
        model: a loaded ``LipSyncModel``; default: the model shipped in the package, on ``device``.
        fps: output frame rate; any positive rate works, 24/25/30/50/60 are the ones tested.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` when no model is passed.
    """

    def __init__(self, model: LipSyncModel | None = None, fps: float = 60.0, device: str = "auto") -> None:
        if not 1 <= fps <= 240:
            raise ValueError(f"fps must be between 1 and 240, got {fps}")
        self.model = model or LipSyncModel(device=device)
        self.fps = float(fps)

    def lip_frames(self, audio: np.ndarray, progress: bool = False) -> LipFrames:
        """The lip network's 100 Hz output for 16 kHz mono audio."""
        return self.model.infer(audio, progress=progress)

    def process(self, audio: np.ndarray, progress: bool = False) -> MotionTrack:
        """Whole-clip motion for 16 kHz mono float32 audio."""
        check_not_silent(audio)
        progress = progress and audio.size > LONG_AUDIO_S * SAMPLE_RATE
        track100 = self.lip_frames(audio, progress=progress).to_track()
        return retime(track100, self.fps)

    def process_file(self, path: str | Path, progress: bool = False) -> MotionTrack:
        """Motion for a speech file (wav, flac, ogg, mp3; any rate and channel count)."""
        audio = load_audio(path)
        try:
            check_not_silent(audio)
        except AudioError as exc:
            raise AudioError(f"{path}: {exc}") from None
        return self.process(audio, progress=progress)

