"""Run the audio-to-motion network with onnxruntime, whole files or streamed in small chunks.

The ONNX graph is a streaming step (see ``facecast.export.model``): ``(audio chunk, state) -> (visemes,
pose, vad, next state)``. ``LipSyncStream`` keeps the state and the partial 10 ms hop between pushes,
hides the lookahead delay, and returns the 100 Hz frames that are final; whole-file inference is the
same stream fed in large chunks, so both give the same frames (to float rounding, 2e-6).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from facecast.audio import SAMPLE_RATE, float_samples
from facecast.device import open_session
from facecast.errors import ModelError, not_a_file
from facecast.lip_channels import LIP_CHANNELS, LIP_TO_BLENDSHAPES, close_for_bilabials
from facecast.motion_frame import FIELDS, VISEME_INDEX, VISEMES, MotionTrack, neutral_frames
from facecast.nonverbal.prosody import MIN_LOOKAHEAD

HOP = SAMPLE_RATE // 100
FRAME_RATE = 100.0
MODEL_FORMAT = 1


MODEL_PREFIX = "lipsync_lookahead"  # shipped models are named lipsync_lookahead<ms>.onnx


def _models_dir() -> Path:
    return Path(str(resources.files("facecast") / "models"))


def model_file(lookahead_ms: int) -> Path:
    """Where the package keeps (or ``facecast export`` writes) the model with this lookahead."""
    return _models_dir() / f"{MODEL_PREFIX}{lookahead_ms}.onnx"


def shipped_models() -> dict[int, Path]:
    """The lip-sync models shipped inside the package, by lookahead in milliseconds.

    They differ only in how far ahead they hear: more lookahead sees more of the coming sound (better
    anticipation of lip shapes), less lookahead answers sooner (live sessions).
    """
    models = {}
    for path in _models_dir().glob(f"{MODEL_PREFIX}*.onnx"):
        suffix = path.stem[len(MODEL_PREFIX) :]
        if suffix.isdigit():
            models[int(suffix)] = path
    return dict(sorted(models.items()))


def default_model_path(lookahead_ms: int | None = None) -> Path:
    """The shipped model with ``lookahead_ms`` of lookahead; by default the one with the most
    (files are analysed offline, where latency does not matter; the bridge asks for the least)."""
    models = shipped_models()
    if not models:
        raise ModelError("no lip-sync model found in the package (runtime/models); reinstall facecast")
    if lookahead_ms is None:
        return models[max(models)]
    if lookahead_ms not in models:
        choices = ", ".join(str(ms) for ms in models)
        raise ModelError(f"no lip-sync model with {lookahead_ms} ms lookahead; shipped: {choices} ms")
    return models[lookahead_ms]


#: Each lip channel's blendshape columns in the motion frame, and for each column its channel.
_LIP_TARGETS = [FIELDS["blendshapes"].offset + t for targets in LIP_TO_BLENDSHAPES for t in targets]
_LIP_SOURCES = [ch for ch, targets in enumerate(LIP_TO_BLENDSHAPES) for _ in targets]


@dataclass
class LipFrames:
    """100 Hz network output: frame ``start + i`` is at time ``(start + i) / 100`` s."""

    start: int
    visemes: np.ndarray  # (n, 15) probabilities
    pose: np.ndarray  # (n, len(LIP_CHANNELS)) 0..1
    vad: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.vad)

    @classmethod
    def empty(cls, start: int = 0) -> LipFrames:
        return cls(start, np.zeros((0, len(VISEMES)), np.float32), np.zeros((0, len(LIP_CHANNELS)), np.float32),
                   np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: list[LipFrames]) -> LipFrames:
        if not parts:
            return cls.empty()
        return cls(parts[0].start, np.concatenate([p.visemes for p in parts]),
                   np.concatenate([p.pose for p in parts]), np.concatenate([p.vad for p in parts]))

    def to_track(self) -> MotionTrack:
        """Motion frames at 100 Hz with the lip channels filled and everything else neutral.

        The mouth shuts wherever the network is confident of a bilabial (``close_for_bilabials``).
        """
        return to_tracks([self])[0]


def to_tracks(parts: Sequence[LipFrames]) -> list[MotionTrack]:
    """``LipFrames.to_track`` of several streams' frames, worked out together: the same numbers, for a
    server whose sessions bring a frame or two each a turn (one pass instead of one per session)."""
    if not parts:
        return []
    lengths = [len(p) for p in parts]
    joined = LipFrames.concat(list(parts)) if len(parts) > 1 else parts[0]  # its start is the first part's
    data = neutral_frames(len(joined))
    pose = close_for_bilabials(joined.pose, joined.visemes[:, VISEME_INDEX["PP"]])
    # Each row's frame index: its part's start plus its place in the part.
    firsts = np.cumsum([0, *lengths[:-1]])
    idx = np.arange(len(joined)) + np.repeat([p.start - first for p, first in zip(parts, firsts, strict=True)],
                                             lengths)
    data[:, FIELDS["frameIndex"].offset] = idx
    data[:, FIELDS["time"].offset] = idx / FRAME_RATE
    data[:, FIELDS["visemes"].slice] = joined.visemes
    data[:, _LIP_TARGETS] = pose[:, _LIP_SOURCES]
    data[:, FIELDS["voiceActivity"].offset] = joined.vad
    return [MotionTrack(rows, FRAME_RATE) for rows in np.split(data, firsts[1:])]


class LipSyncModel:
    """The streaming audio-to-motion network, loaded into onnxruntime.

    Args:
        path: an ONNX file exported by ``facecast export``; default: a model shipped in the package.
        device: ``"auto"`` (the CPU, which runs this small network faster than a GPU), ``"cpu"`` or
            ``"cuda"``.
        threads: intra-op threads; default 1, since one stream is too small to split across cores.
        lookahead_ms: which shipped model, when ``path`` is not given (see ``shipped_models``); default:
            the one with the most lookahead.
    """

    def __init__(self, path: str | Path | None = None, device: str = "auto", threads: int | None = 1,
                 lookahead_ms: int | None = None) -> None:
        self.path = Path(path) if path is not None else default_model_path(lookahead_ms)
        if not self.path.is_file():
            raise ModelError(not_a_file(self.path, "a lip-sync model (.onnx)", "lip-sync model not found"))
        # The two files a user has beside their model, easily given for it.
        if self.path.suffix.lower() == ".pt":
            raise ModelError(f"{self.path}: a PyTorch checkpoint, not a model facecast runs: export it with "
                             f"facecast export onnx --checkpoint {self.path.name} --out {self.path.stem}.onnx")
        if self.path.suffix.lower() == ".json" and self.path.with_suffix(".onnx").is_file():
            raise ModelError(f"{self.path}: the description of a model; the model is {self.path.with_suffix('.onnx')}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            # A 20 ms streaming step took 91 us on one CPU core against 481 us on an H200's CUDA provider,
            # and whole files ran 824x against 222x real time: launches and copies dominate a network this
            # small, so "auto" keeps it on the CPU.
            self.session = open_session(self.path, options, "cpu" if device == "auto" else device)
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            if "INVALID_PROTOBUF" in str(exc):  # a file of another kind (a wav, a checkpoint renamed), or cut short
                raise ModelError(f"{self.path}: not an ONNX model, or one cut short (a lip-sync model is the .onnx "
                                 "file 'facecast export onnx' writes)") from None
            raise ModelError(f"{self.path}: cannot load the lip-sync model: {exc}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            info = json.loads(meta["facecast"])
        except (KeyError, json.JSONDecodeError):
            raise ModelError(f"{self.path}: not a facecast lip-sync model (no facecast metadata)") from None
        if not isinstance(info, dict):
            raise ModelError(f"{self.path}: not a facecast lip-sync model (its facecast metadata is not a map)")
        if info.get("format") != MODEL_FORMAT:
            raise ModelError(f"{self.path}: model format {info.get('format')} is not {MODEL_FORMAT}")
        try:  # a user's file comes here as well as the shipped ones: a field missing or mistyped is its fault
            channels, visemes = tuple(info["channels"]), tuple(info["visemes"])
            self.lookahead: int = int(info["lookahead"])
            self.state_size: int = int(info["state_size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.path}: incomplete facecast metadata ({type(exc).__name__}: {exc}); export "
                             "it again with facecast export onnx") from None
        if channels != LIP_CHANNELS or visemes != VISEMES:
            raise ModelError(f"{self.path}: the model's output channels do not match this facecast version")
        if self.lookahead < MIN_LOOKAHEAD:  # the head's motion reads that far ahead of the lips' frame
            raise ModelError(f"{self.path}: the model hears {self.lookahead} frames ahead, and facecast's motion "
                             f"needs at least {MIN_LOOKAHEAD}: train it again with --lookahead {MIN_LOOKAHEAD} or more")
        self.info = info
        self.providers = self.session.get_providers()

    @property
    def provenance(self) -> str:
        """What made a motion, for the files and videos made from it: the model's file name, its lookahead and
        its training steps (``lipsync_lookahead30.onnx, 30 ms lookahead, 8500 training steps``)."""
        steps = self.info.get("train_step")
        return f"{self.path.name}, {self.lookahead * 10} ms lookahead" + (
            f", {steps} training steps" if isinstance(steps, int) else "")

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency of one frame before the chunk size: lookahead plus half the analysis window."""
        return self.lookahead * 10.0 + 10.0

    def initial_state(self, batch: int = 1) -> np.ndarray:
        """The network's state before any audio, for ``batch`` streams: (batch, state_size) float32 zeros."""
        return np.zeros((batch, self.state_size), dtype=np.float32)

    def step(self, audio: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One raw graph call: audio (B, k * 160) float32, k >= 1 hops of 10 ms, and state (B, S) float32
        -> visemes (B, k, 15), pose (B, k, C), voice activity (B, k) and the new state (B, S)."""
        if not (isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 2
                and audio.shape[1] and audio.shape[1] % HOP == 0):
            got = f"{audio.dtype} of shape {audio.shape}" if isinstance(audio, np.ndarray) else type(audio).__name__
            raise ValueError(f"audio must be float32 of shape (batch, k * {HOP}), k >= 1 whole 10 ms hops; got {got}")
        if not (isinstance(state, np.ndarray) and state.dtype == np.float32
                and state.shape == (len(audio), self.state_size)):
            got = f"{state.dtype} of shape {state.shape}" if isinstance(state, np.ndarray) else type(state).__name__
            raise ValueError(f"state must be float32 of shape ({len(audio)}, {self.state_size}), one row per audio "
                             f"row (initial_state(batch) makes the first); got {got}")
        return tuple(self.session.run(None, {"audio": audio, "state": state}))  # type: ignore[return-value]

    def stream(self) -> LipSyncStream:
        """A new streaming session of this model, from silence (one per live stream; not thread-safe)."""
        return LipSyncStream(self)

    def infer(self, audio: np.ndarray, chunk_seconds: float = 10.0) -> LipFrames:
        """Whole-file inference on 16 kHz mono audio: one frame per 10 ms, ``len(audio) // 160 + 1`` frames.

        The clip goes through the same stream as live audio, in chunks that bound memory, so the result
        is what streaming gives (to float rounding, 2e-6).
        """
        audio = float_samples(audio)
        step = int(chunk_seconds * SAMPLE_RATE) // HOP * HOP
        if step < HOP:
            raise ValueError(f"chunk_seconds must be at least {HOP / SAMPLE_RATE:g} (one 10 ms hop), "
                             f"got {chunk_seconds}")
        stream = self.stream()
        parts = [stream.push(audio[i : i + step]) for i in range(0, audio.size, step)]
        parts.append(stream.flush())
        return LipFrames.concat(parts)


class LipSyncStream:
    """Stateful streaming inference. Push any number of samples; get back the frames that are final."""

    def __init__(self, model: LipSyncModel) -> None:
        self.model = model
        self.state = model.initial_state(1)
        self._pending = np.zeros(0, dtype=np.float32)
        self._steps = 0  # graph steps run (10 ms each)
        self._samples = 0  # real samples pushed
        self._flushed = False

    @property
    def pending(self) -> np.ndarray:
        """Samples pushed but not yet a whole 10 ms hop (they go to the network with the next push or flush)."""
        return self._pending.copy()

    @property
    def frames_emitted(self) -> int:
        return max(0, self._steps - self.model.lookahead)

    @property
    def samples(self) -> int:
        """Samples pushed so far (16 kHz), silence added by ``flush`` aside."""
        return self._samples

    def push(self, audio: np.ndarray) -> LipFrames:
        """Feed 16 kHz mono samples (float in [-1, 1], or int16); returns the frames now complete."""
        return self.run(self.take(audio))

    def take(self, audio: np.ndarray) -> np.ndarray:
        """Buffer ``audio`` and return the whole 10 ms hops now ready for the network (for batching)."""
        if self._flushed:
            raise RuntimeError("stream already flushed; start a new one")
        audio = float_samples(audio)
        self._samples += audio.size
        buf = np.concatenate([self._pending, audio]) if self._pending.size else audio
        usable = buf.size // HOP * HOP
        self._pending = buf[usable:].copy()
        return buf[:usable]

    def flush(self) -> LipFrames:
        """End of speech: pad with silence so every frame up to the last sample comes out."""
        if self._flushed:
            return LipFrames.empty(self.frames_emitted)
        total_frames = self._samples // HOP + 1
        need_steps = total_frames + self.model.lookahead
        pad = np.zeros((need_steps - self._steps) * HOP - self._pending.size, dtype=np.float32)
        tail = np.concatenate([self._pending, pad])
        self._pending = np.zeros(0, dtype=np.float32)
        self._flushed = True
        return self.run(tail)

    def run(self, audio: np.ndarray) -> LipFrames:
        """Run the network on whole hops returned by ``take``."""
        if audio.size == 0:
            return LipFrames.empty(self.frames_emitted)
        visemes, pose, vad, state = self.model.step(audio[None], self.state)
        return self.accept(audio.size // HOP, visemes[0], pose[0], vad[0], state)

    def accept(self, steps: int, visemes: np.ndarray, pose: np.ndarray, vad: np.ndarray,
               state: np.ndarray) -> LipFrames:
        """Take the network's output for ``steps`` hops of this stream (from a single or batched call)."""
        first = self.frames_emitted
        self.state = state.reshape(1, -1)
        skip = max(0, self.model.lookahead - self._steps)  # outputs before frame 0 describe no audio
        self._steps += steps
        return LipFrames(first, visemes[skip:], pose[skip:], vad[skip:])


def step_batch(model: LipSyncModel, streams: list[LipSyncStream], hops: list[np.ndarray]) -> list[LipFrames]:
    """Run several streams' ready hops (from ``LipSyncStream.take``) in as few graph calls as possible.

    Streams with the same number of hops share one batched call; the result for each stream is exactly
    what its own ``push`` would have returned.
    """
    if len(streams) != len(hops):
        raise ValueError(f"one array of hops per stream: {len(streams)} streams, {len(hops)} arrays")
    results: list[LipFrames | None] = [None] * len(streams)
    groups: dict[int, list[int]] = {}
    for i, audio in enumerate(hops):
        if audio.size == 0:
            results[i] = LipFrames.empty(streams[i].frames_emitted)
        else:
            groups.setdefault(audio.size, []).append(i)
    for size, members in groups.items():
        audio = np.stack([hops[i] for i in members])
        state = np.concatenate([streams[i].state for i in members])
        visemes, pose, vad, new_state = model.step(audio, state)
        for row, i in enumerate(members):
            results[i] = streams[i].accept(size // HOP, visemes[row], pose[row], vad[row], new_state[row])
    return results  # type: ignore[return-value]
