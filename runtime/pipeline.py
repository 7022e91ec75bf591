"""Speech to motion frames: the one object every front end (CLI, renderer, bridge) uses.

Data flows one way: 16 kHz audio -> lip network (100 Hz) -> motion frames, whose non-verbal channels
(head, gaze, blinks, brows, emotion) the generator fills -> resampled to the output frame rate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from numbers import Real
from pathlib import Path

import numpy as np

from facecast.audio import QUIET_DBFS, SAMPLE_RATE, check_not_silent, float_samples, load_audio
from facecast.errors import AudioError
from facecast.lipsync import LipFrames, LipSyncModel, LipSyncStream, to_tracks
from facecast.motion_frame import MAX_FPS, MIN_FPS, MotionTrack
from facecast.nonverbal import MotionControls, NonverbalGenerator
from facecast.nonverbal.controls import check_controls
from facecast.nonverbal.prosody import pitch_of
from facecast.retime import Retimer

log = logging.getLogger(__name__)

LONG_AUDIO_S = 20.0  # progress bars only for clips long enough to make a person wait
CHUNK_S = 5.0  # whole clips are fed in chunks of this length: bounded memory, progress to report
#: Seconds within which a frame's instant counts as on the end of the audio (the bridge counts frames with it).
END_SLACK_S = 1e-9


class MotionPipeline:
    """Turns speech into a ``MotionTrack`` at ``fps`` frames per second.

    Args:
        model: a loaded ``LipSyncModel``; default: the model shipped in the package, on ``device``.
        fps: output frame rate; 1 to 240 (``MIN_FPS``..``MAX_FPS``), 24/25/30/50/60 the ones tested.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` when no model is passed.
        controls: emotion, gaze, head intensity and distance, motion intensity and seed of the
            non-verbal motion; the same audio, controls and seed always give the same frames.
    """

    def __init__(self, model: LipSyncModel | None = None, fps: float = 60.0, device: str = "auto",
                 controls: MotionControls | None = None) -> None:
        if isinstance(fps, bool) or not isinstance(fps, Real) or not MIN_FPS <= fps <= MAX_FPS:
            raise ValueError(f"fps must be a number between {MIN_FPS:g} and {MAX_FPS:g}, got {fps!r}")
        if model is not None and not isinstance(model, LipSyncModel):
            hint = f" (LipSyncModel({str(model)!r}) loads that file)" if isinstance(model, (str, Path)) else ""
            raise TypeError(f"model must be a facecast.lipsync.LipSyncModel, got {type(model).__name__}{hint}")
        self.model = model or LipSyncModel(device=device)
        self.fps = float(fps)
        self.controls = MotionControls() if controls is None else check_controls(controls)

    def stream(self, controls: MotionControls | None = None) -> MotionStream:
        """A streaming session: push audio as it arrives, get motion frames at ``fps`` as they are final."""
        return MotionStream(self, self.controls if controls is None else check_controls(controls))

    def process(self, audio: np.ndarray, progress: bool = False) -> MotionTrack:
        """Whole-clip motion for 16 kHz mono audio, float in [-1, 1] or int16 (the same frames streaming
        would give). A clip that is empty or silent is refused (``AudioError``): there is no speech in it;
        a stream takes silence, as live input has it between lines."""
        if isinstance(audio, (str, Path)):
            raise TypeError(f"process takes samples; process_file({str(audio)!r}) reads a file")
        audio = float_samples(audio)
        check_not_silent(audio)
        stream = self.stream()
        step = int(CHUNK_S * SAMPLE_RATE)
        chunks = range(0, audio.size, step)
        if progress and audio.size > LONG_AUDIO_S * SAMPLE_RATE:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc="motion", unit="chunk", leave=False, disable=None)  # None: terminals only
        parts = [stream.push(audio[i : i + step]) for i in chunks]
        parts.append(stream.flush())
        return MotionTrack(np.concatenate([p.data for p in parts]), self.fps)

    def process_file(self, path: str | Path, progress: bool = False) -> MotionTrack:
        """Motion for a speech file (any format ``facecast.audio.load_audio`` reads; any rate and channels)."""
        return self.process(load_speech(path), progress=progress)


def load_speech(path: str | Path) -> np.ndarray:
    """``facecast.audio.load_audio``, refusing a silent file by its name: there is no speech to animate."""
    audio = load_audio(path)
    try:
        loudest = check_not_silent(audio)
    except AudioError as exc:
        raise AudioError(f"{path}: {exc}") from None
    if loudest <= QUIET_DBFS:
        log.warning("%s: the speech is very quiet (its loudest 10 ms at %.0f dBFS): below about %.0f dBFS the lips "
                    "barely move; raise its level (normalise it)", path, loudest, QUIET_DBFS)
    return audio


class MotionStream:
    """One streaming session of a ``MotionPipeline`` (an utterance, or a whole live stream). It keeps the
    state of one stream: feed it from one thread at a time (a pipeline may make streams for several).

    ``push``/``flush`` run the lip network themselves. A server batching many sessions uses the two
    halves instead: ``take`` (audio in, network-ready hops out) and ``advance`` (network output and the
    hops it ran on in, motion frames out), with ``facecast.lipsync.step_batch`` in between and
    ``advance_batch`` for all the sessions at once.
    """

    def __init__(self, pipeline: MotionPipeline, controls: MotionControls) -> None:
        self.pipeline = pipeline
        self.lips: LipSyncStream = pipeline.model.stream()
        self.nonverbal = NonverbalGenerator(controls, pipeline.model.lookahead)
        self._retimer = Retimer(pipeline.fps)

    def set_controls(self, controls: MotionControls) -> None:
        """Change emotion, gaze or intensities mid-stream; the face blends to them smoothly."""
        self.nonverbal.set_controls(controls)

    def push(self, audio: np.ndarray) -> MotionTrack:
        """Feed 16 kHz mono samples (float in [-1, 1], or int16); returns the motion frames now final."""
        hops = self.take(audio)
        return self.advance(self.lips.run(hops), hops)

    def flush(self) -> MotionTrack:
        """End of speech: returns the remaining frames, each starting before the end of the audio pushed (a clip
        as long as N frames gets N)."""
        tail = self.lips.pending
        return self.advance(self.lips.flush(), tail, final=True)

    def take(self, audio: np.ndarray) -> np.ndarray:
        """Buffer 16 kHz samples; returns the whole hops ready for the lip network."""
        return self.lips.take(audio)

    def advance(self, lips: LipFrames, audio: np.ndarray, final: bool = False) -> MotionTrack:
        """Turn the lip network's new 100 Hz frames into motion frames at the output rate.

        ``audio`` is what the network just ran on; the non-verbal generator hears exactly that, so audio
        dropped before it reached the network (an interrupted line) moves nothing else either.
        """
        self.nonverbal.push_audio(audio)
        return self._finish(lips.to_track(), None, final)

    def _finish(self, track100: MotionTrack, pitch: np.ndarray | None, final: bool) -> MotionTrack:
        self.nonverbal.apply(track100, pitch)
        head = self._retimer.push(track100.data)
        if not final:
            return head
        tail = self._retimer.flush()
        track = MotionTrack(np.concatenate([head.data, tail.data]), self.pipeline.fps)
        # A frame shows the 1/fps from its instant, so none starts at the very end of the audio: a clip of a
        # whole number of 10 ms hops has a last lip frame there, and made 301 frames of a 10 s clip at 30 fps,
        # one past the sound in a video editor's timeline.
        kept = track.frame_index / track.fps < self.lips.samples / SAMPLE_RATE - END_SLACK_S
        return track if kept.all() else MotionTrack(track.data[kept], track.fps)


def advance_batch(streams: list[MotionStream], lips: list[LipFrames], audio: list[np.ndarray]) -> Iterator[MotionTrack]:
    """``MotionStream.advance`` for several streams (after ``facecast.lipsync.step_batch``), with the pitch of
    all their new frames analysed in one call, and their lip frames made motion frames in one pass: for a
    live chunk these calls' cost is mostly fixed, so a server with many sessions pays it once a round
    instead of once a session.

    Yields each stream's frames, in order, as soon as they are made, so a server can send the first
    session's before it works out the next one's; every stream gets exactly the frames its own
    ``advance`` would give. Consume it to the end: each stream has heard its audio once the first
    frames are out.
    """
    if not streams:
        return
    windows = []
    for stream, frames, samples in zip(streams, lips, audio, strict=True):
        stream.nonverbal.push_audio(samples)
        windows.append(stream.nonverbal.pitch_windows(len(frames)))
    pitch = np.split(pitch_of(np.concatenate(windows)), np.cumsum([len(w) for w in windows[:-1]]))
    for stream, track100, f0 in zip(streams, to_tracks(lips), pitch, strict=True):
        yield stream._finish(track100, f0, False)
