"""Offline speech synthesis with exact phone timing: flite, festival and espeak-ng.

Each engine returns 16 kHz mono audio and the segments (start, end, IPA symbol) the synthesizer itself
placed, so the training targets are exact rather than forced-aligned guesses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import pickle
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from facecast.audio import SAMPLE_RATE, resample
from facecast.export.targets import Segment, segments_from_cmu, segments_from_ipa, segments_from_sampa


@dataclass(frozen=True)
class Voice:
    engine: str  # "flite", "festival" or "espeak"
    name: str  # engine's voice name
    language: str
    rate: float = 1.0  # speaking-rate multiplier (espeak words per minute scale)
    pitch: int = 50  # espeak pitch 0-99
    phoneset: str = "cmu"  # festival voices: "cmu" (English radio set) or "sampa" (the other languages)

    @property
    def id(self) -> str:
        extra = f"-r{self.rate:g}-p{self.pitch}" if self.engine == "espeak" else ""
        return f"{self.engine}:{self.name}{extra}"


@dataclass
class Utterance:
    audio: np.ndarray  # 16 kHz mono float32
    segments: list[Segment]
    voice: str
    text: str


class SynthesisError(RuntimeError):
    pass


def synthesize(voice: Voice, text: str) -> Utterance:
    if voice.engine == "flite":
        return _flite(voice, text)
    if voice.engine == "festival":
        return _festival(voice, text)
    if voice.engine == "espeak":
        return _Espeak.get().synth(voice, text)
    raise ValueError(f"unknown engine {voice.engine}")


def _read_wav(path: str) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, SAMPLE_RATE)


def _ends_to_phones(ends: list[tuple[float, str]]) -> list[tuple[float, float, str]]:
    phones, prev = [], 0.0
    for end, name in ends:
        phones.append((prev, end, name))
        prev = end
    return phones


def _flite(voice: Voice, text: str) -> Utterance:
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "x.wav")
        proc = subprocess.run(
            ["flite", "-voice", voice.name, "-psdur", "-t", text, "-o", wav],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SynthesisError(f"flite failed: {proc.stderr.strip()}")
        ends = []
        for item in proc.stdout.split():
            name, _, end = item.rpartition(":")
            ends.append((float(end), name))
        audio = _read_wav(wav)
    return Utterance(audio, segments_from_cmu(_ends_to_phones(ends)), voice.id, text)


def _festival(voice: Voice, text: str) -> Utterance:
    with tempfile.TemporaryDirectory() as tmp:
        wav, segs, scm = (os.path.join(tmp, n) for n in ("x.wav", "x.segs", "x.scm"))
        quoted = text.replace("\\", " ").replace('"', " ")  # festival reads bytes: texts here are ASCII
        Path(scm).write_text(
            f"(voice_{voice.name})\n"
            f'(set! utt1 (Utterance Text "{quoted}"))\n'
            "(utt.synth utt1)\n"
            f'(utt.save.wave utt1 "{wav}" \'riff)\n'
            f'(utt.save.segs utt1 "{segs}")\n'
        )
        proc = subprocess.run(["festival", "--batch", scm], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not os.path.exists(wav):
            raise SynthesisError(f"festival failed: {proc.stderr.strip()[-300:]}")
        ends = []
        for line in Path(segs).read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] != "#":
                ends.append((float(parts[0]), parts[2]))
        audio = _read_wav(wav)
    phones = _ends_to_phones(ends)
    segments = segments_from_sampa(phones, voice.name) if voice.phoneset == "sampa" else segments_from_cmu(phones)
    return Utterance(audio, segments, voice.id, text)


class _EspeakEvent(ctypes.Structure):
    class _Id(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 0x0001, 0x0002
_PARAM_RATE, _PARAM_PITCH = 1, 3


class _Espeak:
    """espeak-ng through its C library: the only interface that reports phoneme start samples."""

    _instance: _Espeak | None = None

    @classmethod
    def get(cls) -> _Espeak:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        self.lib = ctypes.CDLL(path)
        self.rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA
        )
        if self.rate <= 0:
            raise SynthesisError("espeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept referenced: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n: int, events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((ev.sample, ev.id.string.decode("utf-8", "replace")))
            i += 1
        return 0

    def synth(self, voice: Voice, text: str) -> Utterance:
        """Synthesize in a forked child, so every utterance starts from the same freshly initialised state.

        espeak-ng carries state from one utterance to the next (the same text comes out a few samples
        longer or shorter depending on what was said before), which would make the corpus depend on the
        order in which worker processes happen to receive their jobs. Its breath noise (the voice
        variants') also draws on the C library's ``rand``, whose state a process inherits with
        everything else: the child seeds it from the voice and the text, or the same corpus came out
        different after a test run had moved that state.
        """
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: synthesize, send the result back, exit without running any cleanup
            # No garbage collection in the child: it would finalize the parent's objects, and an
            # onnxruntime session's destructor waits for thread-pool threads that fork did not copy (a
            # full test run hung there, its child asleep in pthread_cond_destroy).
            gc.disable()
            try:
                # Its copy of the read end closed, a write to a parent that has gone fails at once; kept
                # open, a write past the pipe's 64 KiB waited forever (a stopped corpus left such children).
                os.close(read_fd)
                try:
                    payload = pickle.dumps(self._synth_here(voice, text))
                except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
                    payload = pickle.dumps(SynthesisError(f"espeak-ng failed: {exc}"))
                with os.fdopen(write_fd, "wb") as fh:
                    fh.write(payload)
            finally:  # whatever happens, the child never returns into its parent's code
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as fh:
            data = fh.read()
        os.waitpid(pid, 0)
        result = pickle.loads(data) if data else SynthesisError("espeak-ng child died")
        if isinstance(result, BaseException):
            raise result
        return result

    def _synth_here(self, voice: Voice, text: str) -> Utterance:
        ctypes.CDLL(None).srand(zlib.crc32(f"{voice.id}|{text}".encode()))
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise SynthesisError(f"espeak-ng has no voice {voice.name!r}")
        self.lib.espeak_SetParameter(_PARAM_RATE, int(175 * voice.rate), 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, int(voice.pitch), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        self.lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        if not self._chunks:
            raise SynthesisError(f"espeak-ng produced no audio for {text!r}")
        raw = np.concatenate(self._chunks)
        duration = raw.size / self.rate
        starts = [(s / self.rate, name) for s, name in self._events]
        phones = []
        for (start, name), nxt in zip(starts, starts[1:] + [(duration, "")], strict=True):
            phones.append((start, max(nxt[0], start), name))
        if starts and starts[0][0] > 0:
            phones.insert(0, (0.0, starts[0][0], ""))
        return Utterance(resample(raw, self.rate, SAMPLE_RATE), segments_from_ipa(phones), voice.id, text)
