"""Streaming prosody: per-10-ms loudness and pitch, and the speech events the face reacts to.

Frame ``k`` (time ``k / 100`` s) may only use audio before ``(k + 5) / 100`` s, the lip model's own
lookahead, so the non-verbal channels never wait for more audio than the mouth does:

- loudness of frame ``m``: RMS over the 20 ms centred on it (needs audio to ``m`` + 10 ms), so
  frame ``k`` can use loudness up to frame ``k + 4``;
- pitch of frame ``m``: a YIN-style estimate over the 32 ms centred on it (to ``m`` + 16 ms), so
  frame ``k`` can use pitch up to frame ``k + 3``;
- an accent (a loudness peak on a voiced syllable, made stronger by a pitch excursion) is declared at
  frame ``k`` once the smoothed loudness has fallen for 30 ms after it (frame ``k + 3``);
- a phrase boundary is declared 100 ms into a pause; an onset when speech resumes after one.

Audio that has not been pushed when a frame is analysed counts as silence; the lip stream's ``flush``
pads the end of a stream with silence in the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from facecast.audio import SAMPLE_RATE

HOP = SAMPLE_RATE // 100
LOOKAHEAD_FRAMES = 5  # the lip model's lookahead: frame k sees audio before (k + 5) / 100 s
ENERGY_AHEAD = 4  # loudness frames usable beyond the current one
PITCH_AHEAD = 3
PITCH_HALF = 256  # half the pitch window, samples
YIN_THRESHOLD = 0.2
SILENT_DB = -100.0
FLOOR_FRAMES = 300  # the noise floor is the quietest 10 ms of the last 3 s
SPEECH_OVER_FLOOR_DB = 15.0
SPEECH_MIN_DB = -60.0
BRIDGE = 4  # frames: gaps shorter than ~90 ms inside speech (stop closures) are still speech
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
    """Streaming analysis: ``push`` samples as they arrive, ``analyze`` the next frames in order."""

    def __init__(self) -> None:
        self._audio = np.zeros(0, dtype=np.float32)
        self._audio_start = 0  # absolute sample index of _audio[0]
        self._energy = np.zeros(0)  # loudness of frames [_energy_start, _energy_end)
        self._energy_start = 0
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

    @property
    def next_frame(self) -> int:
        return self._next

    def push(self, samples: np.ndarray) -> None:
        """Append 16 kHz mono samples."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._audio = np.concatenate([self._audio, samples])

    def analyze(self, n: int) -> ProsodyFrames:
        """Prosody of the next ``n`` frames."""
        k0, k1 = self._next, self._next + n
        self._extend_energy(k1 + ENERGY_AHEAD)
        self._extend_pitch(k1 + PITCH_AHEAD)

        # Loudness history from k0 - HISTORY (padded with silence before the stream) to k1 + 4.
        lo = k0 - HISTORY
        e = self._energy_window(lo, k1 + ENERGY_AHEAD)
        smooth = np.convolve(e, np.ones(3) / 3.0, mode="same")
        floor = sliding_window_view(e, FLOOR_FRAMES).min(axis=1)
        floor = np.concatenate([np.full(FLOOR_FRAMES - 1, np.nan), floor])
        raw = (e > np.fmax(floor + SPEECH_OVER_FLOOR_DB, SPEECH_MIN_DB)) & (e > SPEECH_MIN_DB)
        at = slice(k0 - lo, k1 - lo)  # the requested frames inside the history arrays
        bridged = sliding_window_view(raw, 2 * BRIDGE + 1).any(axis=1)  # centred on index i + BRIDGE
        speech = bridged[k0 - lo - BRIDGE : k1 - lo - BRIDGE]
        win = sliding_window_view(smooth, PEAK_BEFORE + PITCH_AHEAD + 1).max(axis=1)
        peak = smooth[at] >= win[k0 - lo - PEAK_BEFORE : k1 - lo - PEAK_BEFORE]
        loud = np.clip((smooth[at] - np.nan_to_num(floor[at], nan=SILENT_DB) - SPEECH_OVER_FLOOR_DB) / 30.0, 0, 1)

        f0 = self._f0[:n]
        voiced = f0 > 0
        semis = np.where(voiced, 12.0 * np.log2(np.where(voiced, f0, 1.0)), 0.0)

        accent = np.zeros(n)
        boundary = np.zeros(n)
        onset = np.zeros(n, dtype=bool)
        talking = np.zeros(n, dtype=bool)
        rel_semis = np.zeros(n)
        raw_now, smooth_now, e_now = raw[at].tolist(), smooth[at].tolist(), e[at].tolist()
        speech_l, peak_l, voiced_l, semis_l = speech.tolist(), peak.tolist(), voiced.tolist(), semis.tolist()
        for i in range(n):
            if voiced_l[i] and raw_now[i]:
                if math.isnan(self._pitch_ref):
                    self._pitch_ref = semis_l[i]
                self._pitch_ref += 0.003 * max(-9.0, min(9.0, semis_l[i] - self._pitch_ref))  # ~3 s memory
                deviation = semis_l[i] - self._pitch_ref
                # Beyond 9 semitones is almost always an octave error of the tracker, not intonation.
                rel_semis[i] = deviation if abs(deviation) <= 9.0 else 0.0
            if raw_now[i]:
                # A running mean of speech loudness: plain average at first, then ~2 s memory.
                self._speech_frames += 1
                rate = max(0.005, 1.0 / self._speech_frames)
                self._level = e_now[i] if math.isnan(self._level) else self._level + rate * (e_now[i] - self._level)
            self._since_accent += 1
            if speech_l[i]:
                if self._silent_run >= 20 and self._phrase == 0:
                    onset[i] = True
                self._silent_run = 0
                self._phrase += 1
                self._since_speech = 0
                if (peak_l[i] and raw_now[i] and voiced_l[i] and self._since_accent >= ACCENT_GAP
                        and smooth_now[i] > self._level + ACCENT_OVER_LEVEL_DB):
                    strength = 0.2 + (smooth_now[i] - self._level) / 15.0 + min(4.0, max(0.0, rel_semis[i])) / 8.0
                    accent[i] = min(1.5, strength)
                    self._since_accent = 0
            else:
                self._silent_run += 1
                self._since_speech += 1
                if self._silent_run == BOUNDARY_PAUSE:
                    if self._phrase >= MIN_PHRASE:
                        boundary[i] = min(1.0, max(0.3, self._phrase / 300.0))
                    self._phrase = 0
            talking[i] = self._since_speech < TALKING_HANGOVER

        self._next = k1
        self._f0 = self._f0[n:]
        self._trim()
        return ProsodyFrames(k0, e[at].copy(), np.where(raw[at], f0, 0.0), rel_semis, np.where(speech, loud, 0.0),
                             speech, talking, accent, boundary, onset)

    # -- features -------------------------------------------------------------------------------

    def _samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) by absolute index; before the stream or not yet pushed: silence."""
        out = np.zeros(stop - start, dtype=np.float64)
        lo, hi = max(start, self._audio_start), min(stop, self._audio_start + self._audio.size)
        if hi > lo:
            out[lo - start : hi - start] = self._audio[lo - self._audio_start : hi - self._audio_start]
        return out

    def _extend_energy(self, end: int) -> None:
        have = self._energy_start + self._energy.size
        if end <= have:
            return
        x = self._samples((have - 1) * HOP, end * HOP).reshape(-1, HOP)
        hop_power = (x * x).sum(axis=1)
        power = (hop_power[:-1] + hop_power[1:]) / (2 * HOP)
        db = 10.0 * np.log10(np.maximum(power, 10 ** (SILENT_DB / 10)))
        self._energy = np.concatenate([self._energy, db])

    def _energy_window(self, lo: int, hi: int) -> np.ndarray:
        """Loudness of frames [lo, hi), silence before the stream began."""
        out = np.full(hi - lo, SILENT_DB)
        a = max(lo, self._energy_start)
        out[a - lo :] = self._energy[a - self._energy_start : hi - self._energy_start]
        return out

    def _extend_pitch(self, end: int) -> None:
        start = self._pitch_end
        if end <= start:
            return
        seg = self._samples(start * HOP - PITCH_HALF, (end - 1) * HOP + PITCH_HALF)
        self._f0 = np.concatenate([self._f0, _yin(sliding_window_view(seg, 2 * PITCH_HALF)[::HOP])])
        self._pitch_end = end

    def _trim(self) -> None:
        keep_from = self._next - HISTORY - 1
        if keep_from > self._energy_start:
            self._energy = self._energy[keep_from - self._energy_start :]
            self._energy_start = keep_from
        need = min((self._energy_start + self._energy.size - 1) * HOP, self._pitch_end * HOP - PITCH_HALF)
        if need > self._audio_start:
            self._audio = self._audio[need - self._audio_start :]
            self._audio_start = need


def _yin(frames: np.ndarray) -> np.ndarray:
    """Pitch (Hz) of each row by YIN's cumulative-mean-normalised difference; 0 where aperiodic.

    Rows are 16 kHz; they are halved to 8 kHz first (voices stay far below 4 kHz), which quarters the
    cost, and the chosen lag is refined by a parabola through its neighbours.
    """
    n = frames.shape[0]
    f0 = np.zeros(n)
    loud = (frames * frames).mean(axis=1) > 1e-6  # quieter than -60 dBFS: no pitch
    if not loud.any():
        return f0
    x = frames[loud]
    x = 0.25 * x[:, 0:-2:2] + 0.5 * x[:, 1:-1:2] + 0.25 * x[:, 2::2]  # low-pass and halve
    rate = SAMPLE_RATE / 2
    min_lag, max_lag = int(rate / 400), int(rate / 70)
    width = x.shape[1]
    span = width - max_lag - 1  # samples compared at every lag (one spare for the parabola)
    size = 1 << int(np.ceil(np.log2(2 * width)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(x[:, :span], size)) * np.fft.rfft(x, size), size)[:, : max_lag + 2]
    cum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x * x, axis=1)], axis=1)
    lags = np.arange(max_lag + 2)
    diff = np.maximum(cum[:, span : span + 1] + cum[:, lags + span] - cum[:, lags] - 2.0 * corr, 0.0)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    search = cmnd[:, min_lag : max_lag + 1]
    below = search < YIN_THRESHOLD
    found = below.any(axis=1)
    # Walk from the first lag under the threshold down to the bottom of that dip.
    ahead = np.minimum(below.argmax(axis=1)[:, None] + np.arange(6), search.shape[1] - 1)
    best = np.take_along_axis(ahead, np.take_along_axis(search, ahead, axis=1).argmin(axis=1)[:, None], axis=1)[:, 0]
    lag = best + min_lag
    rows = np.arange(len(lag))
    left, mid, right = cmnd[rows, lag - 1], cmnd[rows, lag], cmnd[rows, lag + 1]
    curve = left - 2.0 * mid + right
    shift = np.where(curve > 1e-9, 0.5 * (left - right) / np.maximum(curve, 1e-9), 0.0)
    f0[loud] = np.where(found, rate / (lag + np.clip(shift, -0.5, 0.5)), 0.0)
    return f0
