"""Audio in: any file or array to the 16 kHz mono float32 the networks take.

Every check that can fail on a user's file lives here and raises ``AudioError`` with one line a person
can act on; the CLI prints that line and exits non-zero.
"""

from __future__ import annotations

import logging
import struct
import subprocess
import tempfile
from fractions import Fraction
from functools import lru_cache
from math import gcd
from numbers import Integral
from pathlib import Path

import numpy as np
import soundfile as sf

from facecast.errors import AudioError, not_a_file

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 384000
MAX_CHANNELS = 64
SILENCE_DBFS = -70.0  # a file whose loudest 10 ms stays below this is treated as silent
# ... and at or below this, speech barely moves the lips: the shipped lip model's jawOpen (95th percentile)
# on a flite sentence held 0.35-0.46 with its loudest 10 ms from -4 to -44 dBFS, 0.14 at -49 and 0.07 at -54.
QUIET_DBFS = -45.0
# 12 dB past full scale. Float audio overshoots 1 a little after resampling or mixing, never by this much:
# louder floats are another scale (int16 values as floats, most likely), which would clip to a square wave.
FLOAT_PEAK_LIMIT = 4.0


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited polyphase resampling of a mono signal."""
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # here: scipy.signal takes a second to import, and every command
    #                                          (even --version) imports this module through its parser

    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


def integer_samples_as_float(samples: np.ndarray) -> np.ndarray:
    """Integer samples as float64 in [-1, 1), as sound files store them: full scale is 2**(bits - 1), and
    unsigned samples (8-bit wav) sit around its middle."""
    full = 2.0 ** (np.iinfo(samples.dtype).bits - 1)
    return (samples.astype(np.float64) - (full if samples.dtype.kind == "u" else 0.0)) / full


def to_mono_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Validate an array of samples ``(n,)`` or ``(n, channels)`` and convert it to 16 kHz mono float32."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise AudioError(f"audio must be 1-D or (samples, channels), got shape {audio.shape}")
    if audio.dtype.kind in "iu":
        audio = integer_samples_as_float(audio)
    if audio.size == 0:
        raise AudioError("the audio is empty (0 samples)")
    if audio.ndim == 2:
        if audio.shape[1] > MAX_CHANNELS:
            raise AudioError(f"{audio.shape[1]} channels is more than the {MAX_CHANNELS} supported")
        audio = _mixdown(audio.astype(np.float64))
    problem = float_problem(audio)
    if problem:
        raise AudioError(problem)
    out = resample(audio.astype(np.float32), sample_rate)
    if out.size < SAMPLE_RATE // 100:
        raise AudioError("the audio is shorter than 10 ms")
    return np.clip(out, -1.0, 1.0)


def _mixdown(channels: np.ndarray) -> np.ndarray:
    """(n, channels) -> (n,): their mean; but where channels in opposite phase cancel in it (a miswired
    microphone, a stereo widener), the loudest channel alone, which still carries the speech."""
    mixed = channels.mean(axis=1)
    power = (channels**2).mean(axis=0)
    if power.max() > 0 and (mixed**2).mean() < 1e-4 * power.max():  # 40 dB below the loudest channel
        return channels[:, int(power.argmax())]
    return mixed


def float_samples(audio: np.ndarray) -> np.ndarray:
    """Mono samples as float32 in [-1, 1]: int16 (pcm16, as a microphone or wav reader hands it over) is
    scaled by 1/32768 and float data kept; other types, several channels, NaN and floats far past 1 are
    refused rather than read as noise, as one signal twice as long, as motion gone NaN from there on, or
    as a square wave."""
    audio = np.asarray(audio)
    if audio.ndim > 1 and audio.size != audio.shape[0]:
        raise AudioError(f"audio of shape {audio.shape}: give mono samples (facecast.audio.to_mono_16k mixes "
                         "channels down and resamples)")
    if audio.dtype == np.int16:
        return audio.reshape(-1).astype(np.float32) / 32768.0
    if audio.dtype.kind != "f":
        raise AudioError(f"audio samples must be float (in [-1, 1]) or int16, not {audio.dtype}")
    audio = audio.astype(np.float32, copy=False).reshape(-1)
    problem = float_problem(audio)
    if problem:
        raise AudioError(problem)
    return audio


def mono_float32(audio: np.ndarray) -> np.ndarray:
    """``float_samples`` for a stream's chunks: a mono float32 array, what facecast's own stages pass on
    after the lip stream has checked it, is taken as it is; anything else is checked."""
    if isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 1:
        return audio
    return float_samples(audio)


def float_problem(audio: np.ndarray) -> str | None:
    """Why float samples are not audio in [-1, 1] (NaN or infinite samples, or samples past
    ``FLOAT_PEAK_LIMIT``), or None; each caller raises it as its own kind of error."""
    if not np.isfinite(audio).all():
        return "the audio contains NaN or infinite samples"
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak <= FLOAT_PEAK_LIMIT:
        return None
    return (f"float samples reach {peak:.5g}, and float audio runs within [-1, 1] (int16 values given as "
            "floats? divide them by 32768)")


def check_not_silent(audio: np.ndarray) -> float:
    """Raise if 16 kHz audio holds no sound at all (digital silence or near it), or no samples; else return
    the level of its loudest 10 ms (RMS, dBFS)."""
    if audio.size == 0:
        raise AudioError("the audio is empty (0 samples)")
    hop = SAMPLE_RATE // 100
    n = audio.size // hop * hop
    frames = audio[:n].reshape(-1, hop) if n else audio.reshape(1, -1)
    loudest = float(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)).max())
    if loudest == 0.0:
        raise AudioError("the audio is silent (digital silence)")
    if loudest <= 10 ** (SILENCE_DBFS / 20):
        raise AudioError(f"the audio is silent (loudest 10 ms at {20 * np.log10(loudest):.0f} dBFS)")
    return float(20 * np.log10(loudest))


def load_audio(path: str | Path) -> np.ndarray:
    """Read a speech file as 16 kHz mono float32 in [-1, 1].

    wav, flac, ogg and mp3 are read directly; anything else ffmpeg decodes (m4a, aac, opus, the sound of
    an mp4, mov or webm video) is decoded by ffmpeg first, from the PATH or the imageio-ffmpeg wheel.
    """
    path = Path(path)
    if not path.exists() or path.is_dir():
        raise AudioError(not_a_file(path, "an audio file"))
    audio = _decoded(path)
    _tell_if_cut_short(path, len(audio) / SAMPLE_RATE)
    return audio


def _decoded(path: Path) -> np.ndarray:
    try:
        sound = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        return _load_with_ffmpeg(path, _reason(exc))
    with sound:
        try:
            return _load_with_soundfile(sound, path)
        except _Undecodable as exc:
            failed = exc
    # libsndfile gives up on some damaged streams (a FLAC cut off mid-frame "loses sync") where ffmpeg
    # decodes what is there, as libsndfile itself does for a cut-off wav, mp3 or ogg.
    try:
        return _load_with_ffmpeg(path, str(failed))
    except AudioError:
        raise failed from None


def _tell_if_cut_short(path: Path, seconds: float) -> None:
    """Warn when a WAV file holds less sound than its header says: an interrupted download or copy, which
    libsndfile and ffmpeg read as far as it goes without a word (the video would end early)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return  # not a WAV, or an RF64 one, which keeps its sizes elsewhere
    at, byte_rate, declared = 12, 0, None
    while at + 8 <= len(head):
        chunk, size = head[at:at + 4], struct.unpack_from("<I", head, at + 4)[0]
        if chunk == b"fmt " and at + 20 <= len(head):
            byte_rate = struct.unpack_from("<I", head, at + 16)[0]
        if chunk == b"data":
            declared = size
            break
        at += 8 + size + (size & 1)
    # 0, 0xFFFFFFFF (ffmpeg) and 0x7FFFF000 (sox): a writer that did not know the length (writing to a pipe)
    if not byte_rate or declared is None or not 0 < declared < 0x7FFFF000 or seconds >= declared / byte_rate - 0.01:
        return
    log.warning("%s: the file ends after %.2f s, but its header says %.2f s: it may have been cut short (an "
                "interrupted download or copy); using the %.2f s there", path, seconds, declared / byte_rate,
                seconds)


class _Undecodable(AudioError):
    """libsndfile read a file's header but not its samples."""


def _load_with_soundfile(sound: sf.SoundFile, named: Path) -> np.ndarray:
    """The whole of ``sound``, open in libsndfile, as 16 kHz mono; errors name ``named`` (the user's file).

    Opened once for its header and its samples: a decoder's own warnings (mpg123's about a damaged mp3)
    print once, not once per opening.
    """
    rate = sound.samplerate
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{named}: sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if sound.channels > MAX_CHANNELS:
        raise AudioError(f"{named}: {sound.channels} channels is more than the {MAX_CHANNELS} supported")
    try:
        if sound.seekable():
            data = sound.read(dtype="float32", always_2d=True)
        else:  # libsndfile opens some codecs (GSM 6.10 in a WAV) unseekable, and will not read them whole
            blocks = [np.zeros((0, sound.channels), np.float32)]
            while len(block := sound.read(1 << 16, dtype="float32", always_2d=True)):
                blocks.append(block)
            data = np.concatenate(blocks)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _Undecodable(f"{named}: could not decode the audio: {_reason(exc)}") from None
    try:
        return to_mono_16k(data, rate)
    except AudioError as exc:
        raise AudioError(f"{named}: {exc}") from None


def _load_with_ffmpeg(path: Path, reason: str) -> np.ndarray:
    """A file libsndfile cannot open, decoded by ffmpeg to a float wav at its own rate and channels, so
    that it is checked, mixed down and resampled exactly as the formats read directly are."""
    from facecast.errors import FacecastError
    from facecast.video import ffmpeg_exe

    unreadable = f"{path}: not a readable audio file (wav, flac, ogg, mp3, or anything ffmpeg decodes)"
    try:
        ffmpeg = ffmpeg_exe()
    except FacecastError:
        raise AudioError(f"{unreadable}: {reason}; ffmpeg, which reads other formats, is not installed") from None
    with tempfile.TemporaryDirectory(prefix="facecast-audio-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        # "file:" so that a name such as "pipe:1" or "x|y" is read as the file it is.
        run = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", f"file:{path}", "-map", "0:a:0", "-vn",
                              "-c:a", "pcm_f32le", "-f", "wav", str(wav)], capture_output=True, text=True)
        if run.returncode != 0 or not wav.exists():
            raise AudioError(f"{unreadable}: {_ffmpeg_reason(run.stderr, path)}")
        with sf.SoundFile(str(wav)) as sound:
            return _load_with_soundfile(sound, path)


def _ffmpeg_reason(stderr: str, path: Path) -> str:
    """ffmpeg's complaint in a few words: its last line, without the file name it starts with."""
    if "matches no streams" in stderr:
        return "it holds no audio"
    lines = stderr.strip().splitlines()
    line = lines[-1] if lines else "ffmpeg could not decode it"
    return line.removeprefix(f"file:{path}: ")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


# Largest term of a stream's resampling ratio. The usual rates reduce far below it (44.1 kHz to 16 kHz is
# 160/441); an odd one such as 191,999 Hz would need a 3.8-million-tap filter (0.7 s to design, 31 MB) and
# is resampled by the nearest ratio within it instead: up to 0.05 % off (176,089 Hz; 5 parts per million
# at 191,999 Hz). ``StreamResampler.up`` and ``down`` state the ratio used: positions convert back by it.
MAX_RATIO_TERM = 1000
_BLOCK = 4096  # output samples worked out at once: a 10 s chunk at 192 kHz took 2 GB as one block


@lru_cache(maxsize=16)
def _kaiser_taps(up: int, down: int) -> np.ndarray:
    """``scipy.signal.resample_poly``'s filter for the ratio up/down, designed once per ratio (a stream's
    every utterance, and every stream at the same rate, share it)."""
    from scipy.signal import firwin

    half = 10 * max(up, down)
    taps = (firwin(2 * half + 1, 1.0 / max(up, down), window=("kaiser", 5.0)) * up).astype(np.float64)
    taps.flags.writeable = False
    return taps


class StreamResampler:
    """Polyphase resampling of a live stream, chunk by chunk, to 16 kHz.

    It uses the same Kaiser-windowed filter as ``scipy.signal.resample_poly`` and emits each output
    sample as soon as the input under the filter has arrived, so a stream costs only the filter's
    half-length in latency (under 1 ms) and chunk boundaries leave no clicks.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        for rate in (rate_in, rate_out):
            whole = isinstance(rate, Integral) and not isinstance(rate, bool)
            if not whole or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                raise AudioError(f"sample rate {rate!r}: a whole number of Hz, {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE}")
        ratio = Fraction(int(rate_out), int(rate_in))
        if ratio.denominator > MAX_RATIO_TERM:
            ratio = ratio.limit_denominator(MAX_RATIO_TERM)
        if ratio.numerator > MAX_RATIO_TERM:  # upsampling: bound the other term
            ratio = 1 / (1 / ratio).limit_denominator(MAX_RATIO_TERM)
        #: ``up`` output samples for every ``down`` input samples: the rates' own ratio unless it was
        #: approximated; convert positions by it.
        self.up, self.down = ratio.numerator, ratio.denominator
        self.taps = _kaiser_taps(self.up, self.down) if self.up != self.down else np.ones(1)
        self.half = self.taps.size // 2
        self._x = np.zeros(0, dtype=np.float64)
        self._x_start = 0  # input index of _x[0]
        self._n_in = 0
        self._next = 0  # next output index

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Add mono input samples (float in [-1, 1], or int16, as ``float_samples`` takes them); returns
        the output samples that are now complete."""
        audio = mono_float32(audio)
        if self.up == self.down:
            return np.asarray(audio, dtype=np.float32)
        self._x = np.concatenate([self._x, np.asarray(audio, dtype=np.float64)])
        self._n_in += len(audio)
        # Output n needs inputs up to floor((n * down + half) / up).
        last = (self._n_in * self.up - 1 - self.half) // self.down
        return self._emit(last + 1)

    def flush(self) -> np.ndarray:
        """The remaining output, as if the input continued with silence."""
        if self.up == self.down:
            return np.zeros(0, dtype=np.float32)
        total = -(-self._n_in * self.up // self.down)
        self._x = np.concatenate([self._x, np.zeros(self.half // self.up + 2)])
        return self._emit(total)

    def _emit(self, until: int) -> np.ndarray:
        if until <= self._next:
            return np.zeros(0, dtype=np.float32)
        k = np.arange(0, (2 * self.half) // self.up + 1)
        blocks = []
        for start in range(self._next, until, _BLOCK):
            n = np.arange(start, min(start + _BLOCK, until))
            pos = n * self.down + self.half  # position in the upsampled signal under filter tap 0
            j = pos[:, None] // self.up - k[None, :]  # input indices
            tap = pos[:, None] - j * self.up
            valid = (tap >= 0) & (tap < self.taps.size) & (j >= 0)
            local = j - self._x_start
            valid &= (local >= 0) & (local < self._x.size)
            values = np.where(valid, self._x[np.clip(local, 0, self._x.size - 1)], 0.0)
            blocks.append((values * np.where(valid, self.taps[np.clip(tap, 0, self.taps.size - 1)], 0.0)).sum(axis=1))
        out = np.concatenate(blocks)
        self._next = until
        # Keep only the input the next outputs can still reach.
        keep = max(0, (self._next * self.down + self.half - (2 * self.half)) // self.up - 1 - self._x_start)
        self._x, self._x_start = self._x[keep:], self._x_start + keep
        return out.astype(np.float32)
