"""Streaming prosody: per-10-ms loudness and pitch, and the speech events the face reacts to.

Frame ``k`` (time ``k / 100`` s) may only use audio before ``(k + L) / 100`` s, where ``L`` is the lip
model's own lookahead in frames, so the non-verbal channels never wait for more audio than the mouth
does:

- loudness of frame ``m``: RMS over the 20 ms centred on it (needs audio to ``m`` + 10 ms), so
  frame ``k`` can use loudness up to frame ``k + L - 1``;
- pitch of frame ``m``: a YIN-style estimate over the 32 ms centred on it (to ``m`` + 16 ms), so
  frame ``k`` can use pitch up to frame ``k + L - 2``;
- an accent (a loudness peak on a voiced syllable, made stronger by a pitch excursion) is declared at
  frame ``k`` once the smoothed loudness has stopped rising for the ``L - 2`` frames after it;
- a phrase boundary is declared 100 ms into a pause; an onset when speech resumes after one.

Audio that has not been pushed when a frame is analysed counts as silence; the lip stream's ``flush``
pads the end of a stream with silence in the same way.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from facecast.audio import SAMPLE_RATE

HOP = SAMPLE_RATE // 100
DEFAULT_LOOKAHEAD = 3  # frames: the shipped lip model's; MotionPipeline passes its model's own
MIN_LOOKAHEAD = 2  # frames: pitch is read one frame behind the loudness, which reads one ahead
PITCH_HALF = 256  # half the pitch window, samples
YIN_THRESHOLD = 0.2
SILENT_DB = -100.0
FLOOR_FRAMES = 300  # the noise floor is the quietest 10 ms of the last 3 s
SPEECH_OVER_FLOOR_DB = 15.0
SPEECH_MIN_DB = -60.0
BRIDGE = 4  # frames looked back: with those looked ahead, gaps of 60-90 ms in speech (stop closures) stay speech
PEAK_BEFORE = 12  # an accent is the loudest point of the last 120 ms ...
ACCENT_GAP = 20  # ... at least 200 ms after the previous accent (about one stressed syllable)
ACCENT_OVER_LEVEL_DB = 4.0  # and this much louder than the running speech level
BOUNDARY_PAUSE = 10  # frames of silence (after bridging) that make a phrase boundary
MIN_PHRASE = 30  # frames of speech before a pause counts as ending a phrase
TALKING_HANGOVER = 200  # frames after the last speech that still count as the speaker's turn
HISTORY = FLOOR_FRAMES + PEAK_BEFORE + 2 * BRIDGE


@dataclass
class ProsodyFrames:
    """Per-frame prosody for frames ``start .. start + len - 1`` (100 Hz)."""

    start: int
    energy_db: np.ndarray  # RMS level, dBFS
    f0: np.ndarray  # Hz, 0 where unvoiced
    semitones: np.ndarray  # pitch relative to the speaker's running average, 0 where unvoiced
    loudness: np.ndarray  # 0..1 above the noise floor, 0 outside speech
    speech: np.ndarray  # bool: inside speech (short gaps bridged)
    talking: np.ndarray  # bool: the speaker's turn (speech within the last 2 s)
    accent: np.ndarray  # accent strength at the frame it is declared, else 0 (about 0.2..1.5)
    boundary: np.ndarray  # phrase-boundary strength (0.3..1) at the frame it is declared, else 0
    onset: np.ndarray  # bool: speech resumes after a pause of at least 200 ms

    def __len__(self) -> int:
        return len(self.energy_db)


class ProsodyTracker:
    """Streaming analysis: ``push`` samples as they arrive, ``analyze`` the next frames in order.

    Every per-frame feature (loudness, its smoothed value, the noise floor, the raw speech flag, pitch)
    is computed once, when the audio it needs is in, and kept for as long as later frames look back at
    it, so a call costs about the same whether it analyses one frame or a few.
    """

    def __init__(self, lookahead: int = DEFAULT_LOOKAHEAD) -> None:
        if lookahead < MIN_LOOKAHEAD:
            raise ValueError(f"prosody needs a lookahead of at least {MIN_LOOKAHEAD} frames, got {lookahead}")
        self._energy_ahead = lookahead - 1  # loudness frames usable beyond the current one
        self._pitch_ahead = lookahead - 2
        # Bridging looks back BRIDGE frames but only as far ahead as the loudness reaches.
        self._bridge_ahead = min(BRIDGE, self._energy_ahead)
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_start = 0  # absolute sample index of _audio[0]
        # Per-frame features of frames [_feat_start, _energy_end), as lists of floats; frames before the
        # stream are silent.
        pad = HISTORY
        self._feat_start = -pad
        self._energy = [SILENT_DB] * pad  # loudness, dB
        self._smooth = [_SILENT_SMOOTH] * pad  # 30 ms mean of loudness (known to _energy_end - 2)
        self._floor = [SILENT_DB] * pad  # quietest loudness of the last FLOOR_FRAMES frames
        self._raw = [False] * pad  # loud enough over the floor to be speech
        self._minima: deque[tuple[int, float]] = deque([(-1, SILENT_DB)])  # running minimum for the floor
        self._energy_end = 0
        self._f0 = np.zeros(0)  # pitch of frames [_next, _pitch_end)
        self._pitch_end = 0
        self._next = 0
        self._level = math.nan  # running loudness of speech, dB
        self._speech_frames = 0
        self._pitch_ref = math.nan  # running pitch of the voice, semitones re 1 Hz
        self._silent_run = 10**6  # the stream starts after a (long) pause
        self._phrase = 0
        self._since_speech = TALKING_HANGOVER
        self._since_accent = ACCENT_GAP

    def push(self, samples: np.ndarray) -> None:
        """Append 16 kHz mono samples."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._audio = np.concatenate((self._audio, samples)) if self._audio.size else samples.copy()

    def _pause_frame(self, i: int, boundary: np.ndarray) -> None:
        """One frame without speech: pause counters move, and a long enough pause ends the phrase."""
        self._silent_run += 1
        self._since_speech += 1
        if self._silent_run == BOUNDARY_PAUSE:
            if self._phrase >= MIN_PHRASE:
                boundary[i] = min(1.0, max(0.3, self._phrase / 300.0))
            self._phrase = 0

    def pitch_windows(self, n: int) -> np.ndarray:
        """The windows (rows of audio) whose pitch ``analyze(n)`` needs and has not worked out yet.

        A caller running many streams (the bridge) hands every stream's windows to one ``pitch_of`` call
        and each stream its rows back through ``analyze(n, pitch)``: a call's cost is mostly fixed, and a
        live chunk has only two or three windows.
        """
        start, end = self._pitch_end, self._next + n + self._pitch_ahead
        return self._windows(start, end) if end > start else np.zeros((0, 2 * PITCH_HALF))

    def analyze(self, n: int, pitch: np.ndarray | None = None) -> ProsodyFrames:
        """Prosody of the next ``n`` frames. ``pitch``: ``pitch_of(self.pitch_windows(n))``, when the
        caller has worked it out (with other streams' windows); else it is worked out here."""
        k0, k1 = self._next, self._next + n
        pitch_end = k1 + self._pitch_ahead
        needed = max(0, pitch_end - self._pitch_end)
        if pitch is not None and len(pitch) != needed:  # checked before any state moves
            raise ValueError(f"{len(pitch)} pitch values given for {needed} windows (see pitch_windows)")
        self._extend_energy(k1 + self._energy_ahead)
        self._extend_pitch(pitch_end, pitch)

        a = k0 - self._feat_start  # frame k0 in the feature lists
        b = a + n
        smooth, raw, floor = self._smooth, self._raw, self._floor
        e_l, smooth_l, raw_l = self._energy[a:b], smooth[a:b], raw[a:b]
        # Speech: raw speech anywhere from BRIDGE frames before to _bridge_ahead after (short gaps bridged).
        ahead = self._bridge_ahead + 1
        speech_l = [any(raw[j - BRIDGE : j + ahead]) for j in range(a, b)]
        f0 = self._f0[:n]
        rel_semis = np.zeros(n)
        accent = np.zeros(n)
        boundary = np.zeros(n)
        onset = np.zeros(n, dtype=bool)
        talking = np.zeros(n, dtype=bool)
        if not (any(speech_l) or any(raw_l)):
            # Silence: only the pause counters move.
            for i in range(n):
                self._since_accent += 1
                self._pause_frame(i, boundary)
                talking[i] = self._since_speech < TALKING_HANGOVER
            f0_out = np.zeros(n)
            loudness = np.zeros(n)
        else:
            # An accent candidate is the loudest point from PEAK_BEFORE frames before it to _pitch_ahead after.
            after = self._pitch_ahead + 1
            peak_l = [smooth[j] >= max(smooth[j - PEAK_BEFORE : j + after]) for j in range(a, b)]
            # Loudness over the floor, 0..1, inside speech.
            loud_l = [min(max((smooth[j] - floor[j] - SPEECH_OVER_FLOOR_DB) / 30.0, 0.0), 1.0) if speech_l[j - a]
                      else 0.0 for j in range(a, b)]
            voiced = f0 > 0
            semis = np.where(voiced, 12.0 * np.log2(np.where(voiced, f0, 1.0)), 0.0)
            voiced_l, semis_l = voiced.tolist(), semis.tolist()
            for i in range(n):
                if voiced_l[i] and raw_l[i]:
                    if math.isnan(self._pitch_ref):
                        self._pitch_ref = semis_l[i]
                    self._pitch_ref += 0.003 * max(-9.0, min(9.0, semis_l[i] - self._pitch_ref))  # ~3 s memory
                    deviation = semis_l[i] - self._pitch_ref
                    # Beyond 9 semitones is almost always an octave error of the tracker, not intonation.
                    rel_semis[i] = deviation if abs(deviation) <= 9.0 else 0.0
                if raw_l[i]:
                    # A running mean of speech loudness: plain average at first, then ~2 s memory.
                    self._speech_frames += 1
                    rate = max(0.005, 1.0 / self._speech_frames)
                    self._level = e_l[i] if math.isnan(self._level) else self._level + rate * (e_l[i] - self._level)
                self._since_accent += 1
                if speech_l[i]:
                    if self._silent_run >= 20 and self._phrase == 0:
                        onset[i] = True
                    self._silent_run = 0
                    self._phrase += 1
                    self._since_speech = 0
                    if (peak_l[i] and raw_l[i] and voiced_l[i] and self._since_accent >= ACCENT_GAP
                            and smooth_l[i] > self._level + ACCENT_OVER_LEVEL_DB):
                        strength = 0.2 + (smooth_l[i] - self._level) / 15.0 + min(4.0, max(0.0, rel_semis[i])) / 8.0
                        accent[i] = min(1.5, strength)
                        self._since_accent = 0
                else:
                    self._pause_frame(i, boundary)
                talking[i] = self._since_speech < TALKING_HANGOVER
            f0_out = np.where(raw_l, f0, 0.0)
            loudness = np.array(loud_l)

        self._next = k1
        self._f0 = self._f0[n:]
        self._trim()
        return ProsodyFrames(k0, np.array(e_l), f0_out, rel_semis, loudness, np.array(speech_l, dtype=bool), talking,
                             accent, boundary, onset)

    # -- features -------------------------------------------------------------------------------

    def _samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) by absolute index; before the stream or not yet pushed: silence."""
        out = np.zeros(stop - start, dtype=np.float64)
        lo, hi = max(start, self._audio_start), min(stop, self._audio_start + self._audio.size)
        if hi > lo:
            out[lo - start : hi - start] = self._audio[lo - self._audio_start : hi - self._audio_start]
        return out

    def _extend_energy(self, end: int) -> None:
        """Compute loudness, smoothed loudness, floor and raw speech of frames up to ``end``."""
        have = self._energy_end
        if end <= have:
            return
        x = self._samples((have - 1) * HOP, end * HOP).reshape(-1, HOP)
        hop_power = np.add.reduce(x * x, axis=1)
        power = (hop_power[:-1] + hop_power[1:]) / (2 * HOP)
        db = (10.0 * np.log10(np.maximum(power, _SILENT_POWER))).tolist()
        energy, minima, floor, raw = self._energy, self._minima, self._floor, self._raw
        for m, value in enumerate(db, have):
            # The noise floor of frame m is the quietest loudness of frames m - 299 .. m (a running minimum).
            while minima and minima[-1][1] >= value:
                minima.pop()
            minima.append((m, value))
            if minima[0][0] <= m - FLOOR_FRAMES:
                minima.popleft()
            low = minima[0][1]
            floor.append(low)
            raw.append(value > max(low + SPEECH_OVER_FLOOR_DB, SPEECH_MIN_DB) and value > SPEECH_MIN_DB)
        energy += db
        # Smoothed loudness of frame m (the mean of m - 1 .. m + 1) needs m + 1: frames have - 1 .. end - 2
        # are complete now; the last frame waits for the next one.
        w = _SMOOTH_WEIGHT
        a = have - self._feat_start
        smooth = self._smooth
        smooth[a - 1 :] = [0.0 + energy[j - 1] * w + energy[j] * w + energy[j + 1] * w
                           for j in range(a - 1, a - 1 + len(db))]
        smooth.append(_SILENT_SMOOTH)
        self._energy_end = end

    def _extend_pitch(self, end: int, f0: np.ndarray | None = None) -> None:
        start = self._pitch_end
        if end <= start:
            return
        if f0 is None:
            f0 = pitch_of(self._windows(start, end))
        self._f0 = np.concatenate((self._f0, f0)) if self._f0.size else f0
        self._pitch_end = end

    def _windows(self, start: int, end: int) -> np.ndarray:
        """The pitch windows of frames [start, end), one row each."""
        seg = self._samples(start * HOP - PITCH_HALF, (end - 1) * HOP + PITCH_HALF)
        count = end - start
        if count <= _FRAME_ROWS.shape[0]:
            return seg[_FRAME_ROWS[:count]]  # a copy of each window: cheaper than a strided view for a few
        return np.lib.stride_tricks.as_strided(seg, (count, 2 * PITCH_HALF), (HOP * seg.itemsize, seg.itemsize),
                                               writeable=False)

    def _trim(self) -> None:
        keep_from = self._next - HISTORY
        cut = keep_from - self._feat_start
        if cut > 256:  # trim now and then, not every call
            for features in (self._energy, self._smooth, self._floor, self._raw):
                del features[:cut]
            self._feat_start = keep_from
        need = min((self._energy_end - 1) * HOP, self._pitch_end * HOP - PITCH_HALF)
        if need > self._audio_start:
            self._audio = self._audio[need - self._audio_start :]
            self._audio_start = need


_SMOOTH_WEIGHT = 1.0 / 3.0
_FRAME_ROWS = np.arange(8)[:, None] * HOP + np.arange(2 * PITCH_HALF)  # sample indices of a few pitch windows
_SILENT_POWER = 10 ** (SILENT_DB / 10)
_SILENT_SMOOTH = 0.0 + SILENT_DB * _SMOOTH_WEIGHT + SILENT_DB * _SMOOTH_WEIGHT + SILENT_DB * _SMOOTH_WEIGHT


_YIN_RATE = SAMPLE_RATE / 2
_MIN_LAG, _MAX_LAG = int(_YIN_RATE / 400), int(_YIN_RATE / 70)
_YIN_WIDTH = PITCH_HALF - 1  # samples of a window after halving
_YIN_SPAN = _YIN_WIDTH - _MAX_LAG - 1  # samples compared at every lag (one spare for the parabola)
_YIN_FFT = 1 << int(np.ceil(np.log2(2 * _YIN_WIDTH)))
_YIN_LAGS = np.arange(1, _MAX_LAG + 2, dtype=np.float64)
_YIN_SEARCH = _MAX_LAG + 1 - _MIN_LAG
_YIN_AHEAD = np.arange(6)
_YIN_BLOCK = 512  # rows analysed at a time


def pitch_of(frames: np.ndarray) -> np.ndarray:
    """Pitch (Hz) of each row by YIN's cumulative-mean-normalised difference; 0 where aperiodic.

    Rows are independent: a row's pitch is the same whatever rows are analysed with it.

    Rows are 16 kHz; they are halved to 8 kHz first (voices stay far below 4 kHz), which quarters the
    cost, and the chosen lag is refined by a parabola through its neighbours.
    """
    n = frames.shape[0]
    if n > _YIN_BLOCK:
        # Rows are independent: a long file goes through in blocks, which keeps the work arrays small.
        return np.concatenate([pitch_of(frames[i : i + _YIN_BLOCK]) for i in range(0, n, _YIN_BLOCK)])
    f0 = np.zeros(n)
    loud = np.add.reduce(frames * frames, axis=1) / frames.shape[1] > 1e-6  # under -60 dBFS: no pitch
    if not loud.any():
        return f0
    if not loud.all():
        frames = frames[loud]
    m = frames.shape[0]
    # Low-pass and halve, straight into the two zero-padded FFT inputs: the compared span, the window.
    padded = np.zeros((2, m, _YIN_FFT))
    x = padded[1, :, :_YIN_WIDTH]
    np.add(0.25 * frames[:, 0:-2:2], 0.5 * frames[:, 1:-1:2], out=x)
    x += 0.25 * frames[:, 2::2]
    span, top = _YIN_SPAN, _MAX_LAG + 2
    padded[0, :, :span] = x[:, :span]
    spectra = np.fft.rfft(padded)
    corr = np.fft.irfft(np.conj(spectra[0]) * spectra[1], _YIN_FFT)[:, :top]
    cum = np.zeros((m, _YIN_WIDTH + 1))
    np.cumsum(x * x, axis=1, out=cum[:, 1:])
    # The difference function from lag 1 on (lag 0 is 0 and YIN's normalised value there is 1, unused).
    diff = np.maximum(cum[:, span : span + 1] + cum[:, span + 1 : span + top] - cum[:, 1:top] - 2.0 * corr[:, 1:], 0.0)
    cmnd = np.empty((m, top))
    cmnd[:, 0] = 1.0
    np.divide(diff * _YIN_LAGS, np.maximum(np.cumsum(diff, axis=1), 1e-12), out=cmnd[:, 1:])
    search = cmnd[:, _MIN_LAG : _MAX_LAG + 1]
    below = search < YIN_THRESHOLD
    first = below.argmax(axis=1)
    if m <= 8:
        # A few rows: the same steps on plain floats.
        out = []
        for row, start in zip(cmnd.tolist(), first.tolist(), strict=True):
            if not row[start + _MIN_LAG] < YIN_THRESHOLD:  # nothing under the threshold
                out.append(0.0)
                continue
            # Walk from the first lag under the threshold down to the bottom of that dip.
            ahead = [min(start + j, _YIN_SEARCH - 1) + _MIN_LAG for j in range(6)]
            values = [row[lag] for lag in ahead]
            lag = ahead[values.index(min(values))]
            left, mid, right = row[lag - 1], row[lag], row[lag + 1]
            curve = left - 2.0 * mid + right
            shift = 0.5 * (left - right) / max(curve, 1e-9) if curve > 1e-9 else 0.0
            out.append(_YIN_RATE / (lag + min(max(shift, -0.5), 0.5)))
        f0[loud] = out
        return f0
    found = below[np.arange(m), first]
    # Walk from the first lag under the threshold down to the bottom of that dip.
    ahead = np.minimum(first[:, None] + _YIN_AHEAD, _YIN_SEARCH - 1)
    rows = np.arange(m)
    best = ahead[rows, search[rows[:, None], ahead].argmin(axis=1)]
    lag = best + _MIN_LAG
    left, mid, right = cmnd[rows, lag - 1], cmnd[rows, lag], cmnd[rows, lag + 1]
    curve = left - 2.0 * mid + right
    shift = np.where(curve > 1e-9, 0.5 * (left - right) / np.maximum(curve, 1e-9), 0.0)
    f0[loud] = np.where(found, _YIN_RATE / (lag + np.minimum(np.maximum(shift, -0.5), 0.5)), 0.0)
    return f0
