"""Blinks: when they happen, how they move, and how the eyelids follow vertical gaze.

Timing. Spontaneous blinks come from a hazard that is zero just after a blink and recovers over about
a second, which gives the skewed inter-blink intervals seen in people. The spontaneous rates are set
from Bentivoglio et al. (1997): about 17 blinks/min at rest (used while listening) and 26/min in
conversation, of which part comes from the extra blinks at pauses and gaze shifts below, so the
spontaneous talking rate is set lower (11/min) and the total comes to about 26/min in speech with a
phrase boundary every few seconds. Blinks cluster at phrase ends (Cummins 2012; Hömke et al.
2017): a phrase boundary triggers a blink with high probability, sometimes a long one; large gaze shifts
bring a blink with them (Evinger et al. 1994); a few blinks come in pairs.

Shape. The lid closes in 60-85 ms, may stay shut a few tens of ms, and reopens more slowly, in about
100-160 ms (Stern et al. 1984; closing is 40-47 % faster than opening, Sforza et al. 2008). Some
spontaneous blinks do not close fully.
"""

from __future__ import annotations

import math

import numpy as np

from facecast.nonverbal.prosody import ProsodyFrames
from facecast.nonverbal.signals import DT, UniformBank, smoothstep
from facecast.nonverbal.style import COL

TALK_SPONTANEOUS_PER_MIN = 11.0
LISTEN_SPONTANEOUS_PER_MIN = 15.0
REFRACTORY_S = 0.3  # no spontaneous blink this soon after the previous one ...
RECOVERY_S = 0.6  # ... and the hazard recovers with this time constant
MIN_GAP_FRAMES = 20  # no blink of any kind within 200 ms of the previous onset (except the pair of a double)
SERVED_FRAMES = 40  # a triggered blink is dropped if one started less than 400 ms before its trigger
PAUSE_BLINK_PROBABILITY = 0.8
PAUSE_DELAY_FRAMES = (3, 25)
LONG_BLINK_PROBABILITY = 0.12  # of pause blinks
DOUBLE_PROBABILITY = {False: 0.04, True: 0.1}  # spontaneous / at a pause
PENDING_TIMEOUT_FRAMES = 50
LID_FOLLOW_DOWN = 0.35  # eyeBlink added when the eyes look fully down (30 deg)
LID_FOLLOW_UP = 0.25  # eyeWide added when the eyes look fully up (25 deg)


def hazard_scale(rate_per_min: float) -> float:
    """The asymptotic hazard (per s) that yields ``rate_per_min`` with the refractory recovery above.

    The mean interval of this renewal process is close to REFRACTORY + RECOVERY + 1 / hazard.
    """
    return 1.0 / (60.0 / rate_per_min - REFRACTORY_S - RECOVERY_S)


class BlinkGenerator:
    """Streaming blink signal: 0 open, 1 closed, at 100 Hz."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        events, uniform = (np.random.default_rng(s) for s in seed.spawn(2))
        self._rng = events
        self._uniform = UniformBank(uniform, 1)
        self._frame = 0
        self._last_onset = -10**6
        # Blinks under way: onset (frames), close, hold, reopen (s), depth.
        self._active: list[tuple[float, float, float, float, float]] = []
        self._pending: list[tuple[int, int, bool]] = []  # (trigger frame, due frame, at a pause)
        self._talk_hazard = hazard_scale(TALK_SPONTANEOUS_PER_MIN)
        self._listen_hazard = hazard_scale(LISTEN_SPONTANEOUS_PER_MIN)

    def render(self, prosody: ProsodyFrames, style: np.ndarray, saccades: list[tuple[int, float]]) -> np.ndarray:
        """Lid closure ``(n,)`` of the next frames; ``saccades`` are this chunk's ``(frame, degrees)``."""
        n = len(prosody)
        u = self._uniform.take(n)[:, 0].tolist()
        rate = style[:, COL["blink_rate"]].tolist()
        slow = style[:, COL["blink_slow"]].tolist()
        talking, boundary = prosody.talking.tolist(), prosody.boundary.tolist()
        gaze_shifts = dict(saccades)
        out = np.zeros(n)
        for i in range(n):
            k = self._frame + i
            if talking[i] and boundary[i] > 0.0 and self._rng.random() < PAUSE_BLINK_PROBABILITY:
                self._pending.append((k, k + int(self._rng.integers(*PAUSE_DELAY_FRAMES)), True))
            if k in gaze_shifts and self._rng.random() < min(0.6, max(0.0, (gaze_shifts[k] - 8.0) / 25.0)):
                self._pending.append((k, k, False))
            since = k - self._last_onset
            if self._pending:
                # A trigger is served by any blink from shortly before it on; stale ones lapse.
                self._pending = [p for p in self._pending if k - p[1] < PENDING_TIMEOUT_FRAMES
                                 and self._last_onset < p[0] - SERVED_FRAMES]
            due = next((p for p in self._pending if p[1] <= k), None)
            if since >= MIN_GAP_FRAMES:
                if due is not None:
                    self._pending.remove(due)
                    self._start(k, slow[i], at_pause=due[2])
                else:
                    t = since * DT - REFRACTORY_S
                    base = self._talk_hazard if talking[i] else self._listen_hazard
                    if t > 0.0 and u[i] < base * rate[i] * (1.0 - math.exp(-t / RECOVERY_S)) * DT:
                        self._start(k, slow[i], at_pause=False)
            if self._active:
                out[i] = self._closure(k)
        self._frame += n
        return out

    def _start(self, k: int, slow: float, at_pause: bool) -> None:
        rng = self._rng
        close = rng.uniform(0.06, 0.085) * slow
        hold = rng.lognormal(math.log(0.025), 0.5) * slow
        if at_pause and rng.random() < LONG_BLINK_PROBABILITY:
            hold = rng.uniform(0.15, 0.35)
        reopen = rng.uniform(0.10, 0.16) * slow
        depth = 1.0 if rng.random() < 0.8 else rng.uniform(0.75, 0.95)
        onset = k + rng.random()  # blinks start between frames as often as on them
        self._active.append((onset, close, hold, reopen, depth))
        self._last_onset = k
        if rng.random() < DOUBLE_PROBABILITY[at_pause]:
            # The second blink of a pair starts as the lid is still reopening from the first.
            gap = (close + hold + 0.6 * reopen) / DT
            self._active.append(self._pair(onset + gap, slow, depth))

    def _pair(self, onset: float, slow: float, depth: float) -> tuple[float, float, float, float, float]:
        rng = self._rng
        return (onset, rng.uniform(0.06, 0.085) * slow, rng.lognormal(math.log(0.02), 0.4) * slow,
                rng.uniform(0.10, 0.16) * slow, depth * 0.9)

    def _closure(self, k: int) -> float:
        """Lid closure at frame ``k``; forgets blinks that have ended."""
        value = 0.0
        ended = False
        for onset, close, hold, reopen, depth in self._active:
            t = (k - onset) * DT
            if t <= 0.0:
                continue
            if t < close:
                v = depth * float(smoothstep(t / close))
            elif t < close + hold:
                v = depth
            elif t < close + hold + reopen:
                rest = 1.0 - (t - close - hold) / reopen
                v = depth * rest * rest
            else:
                ended = True
                continue
            value = max(value, v)
        if ended:
            self._active = [b for b in self._active if (k - b[0]) * DT < b[1] + b[2] + b[3]]
        return value


def eyelids(closure: np.ndarray, look_up: np.ndarray, look_down: np.ndarray, droop: np.ndarray,
            wide: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """eyeBlink and eyeWide weights from the blink closure, how far the eyes look up and down and style.

    ``look_up`` and ``look_down`` are the eyes' pitch over 25 deg up and 30 deg down, clipped to 0..1
    (the eyeLookUp and eyeLookDown weights); ``wide`` may hold one column per eye, ``(n, 2)``. The upper
    lid rides on the eye: looking down lowers it (more eyeBlink), looking up raises it (more eyeWide);
    a blink closes whatever opening is left.
    """
    rest = np.minimum(np.maximum(droop + LID_FOLLOW_DOWN * look_down, 0.0), 0.6)
    open_ = 1.0 - closure
    blink = rest + (1.0 - rest) * closure
    lift = LID_FOLLOW_UP * look_up
    if wide.ndim == 2:
        open_, lift = open_[:, None], lift[:, None]
    widen = np.minimum(np.maximum(wide + lift, 0.0), 1.0) * open_
    return blink, widen


def eyelid_row(closure: float, look_up: float, look_down: float, droop: float, wide_left: float,
               wide_right: float) -> tuple[float, float, float]:
    """``eyelids`` for one frame, on floats: eyeBlink (both eyes), eyeWideLeft, eyeWideRight."""
    rest = min(max(droop + LID_FOLLOW_DOWN * look_down, 0.0), 0.6)
    open_ = 1.0 - closure
    lift = LID_FOLLOW_UP * look_up
    return (rest + (1.0 - rest) * closure, min(max(wide_left + lift, 0.0), 1.0) * open_,
            min(max(wide_right + lift, 0.0), 1.0) * open_)
