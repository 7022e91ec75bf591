"""Gaze: fixations and saccades, mutual gaze and aversion, as a speaker's and a listener's eyes move.

The eyes alternate between the gaze target (the camera, a chosen direction, or a wandering point) and
brief aversions. For a chosen direction and for "free" gaze the state durations are those Lee, Badler
and Badler (2002, "Eyes Alive") measured in conversation: while talking, mutual gaze lasts about 3.1 s
and aversions about 0.9 s; while listening, 7.9 s and 0.4 s. With ``gaze="camera"`` the lens stands
for the partner's eyes, and the face looks into it about as much as people look at their partner:
about 41 % of the time while talking and 75 % while listening (Argyle and Cook 1976). Speakers look
away as they start an utterance and back at the listener as they end it (Kendon 1967: over 70 % of
long utterances each way; Ho, Foulsham and Kingstone 2015: speakers end their turn looking at the
listener, who starts the next turn looking away), so in camera mode a phrase that starts after a
pause often starts with an aversion, and an averted speaker usually looks back as a phrase ends.
Speakers also look away while planning (Kendon 1967; Argyle and Cook 1976), so a phrase boundary
often starts a longer "thinking" aversion, up and to the side, that ends shortly after speech resumes.
Within a fixation the eyes make small re-fixations and drift slightly. Each gaze shift is a saccade
whose duration follows the main sequence (about 21 ms + 2.2 ms per degree) with a minimum-jerk profile.

Angles are degrees: yaw + is the face's left, pitch + is up (the motion-frame gaze convention).
"""

from __future__ import annotations

import math

import numpy as np

from facecast.nonverbal.prosody import ProsodyFrames
from facecast.nonverbal.signals import DT, FPS, SHORT, NoiseBank, UniformBank, minimum_jerk
from facecast.nonverbal.style import COL

MUTUAL_S = {True: 3.13, False: 7.92}  # mean mutual-gaze duration, talking / listening (Lee et al. 2002)
AVERTED_S = {True: 0.93, False: 0.43}  # mean aversion duration
#: With ``gaze="camera"`` the face treats the lens as its partner's eyes: the durations are set so that
#: the time spent looking into it comes out near Argyle and Cook's 41 % talking and 75 % listening.
CAMERA_MUTUAL_S = {True: 0.9, False: 2.5}
CAMERA_AVERTED_S = {True: 3.3, False: 1.1}
ONSET_AVERT_PROBABILITY = 0.6  # camera: a phrase that starts after a pause starts with a look away
END_LOOK_PROBABILITY = 0.7  # camera: an averted speaker looks back into the lens as the phrase ends
ONSET_THINK_FRAMES = {False: (20, 80), True: (40, 150)}  # a thinking aversion outlasts the onset this long
THINK_PROBABILITY = 0.45  # chance that a phrase boundary starts a thinking aversion
THINK_MAX_FRAMES = 300
REFIX_S = 0.8  # mean time between small re-fixations
MIN_FIXATION_FRAMES = 15  # no saccade within 150 ms of the previous one
SCAN_DEG = 2.0  # radius of small re-fixations around the fixation point
FREE_DEG = (9.0, 4.0)  # spread of fixation points in "free" gaze, yaw and pitch
DRIFT_DEG = 0.12


#: The style columns ``render`` reads, in this order.
_COLUMNS = [COL[name] for name in ("gaze_yaw", "gaze_pitch", "gaze_pitch_bias", "gaze_free", "aversion", "gaze_camera",
                                    "motion")]


def saccade_frames(amplitude_deg: float) -> float:
    """Duration of a saccade in frames, from the main sequence."""
    return (0.021 + 0.0022 * amplitude_deg) * FPS


class GazeGenerator:
    """Streaming gaze direction in the world (before the head is taken out), at 100 Hz."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        noise, events, uniform = (np.random.default_rng(s) for s in seed.spawn(3))
        self._rng = events
        self._uniform = UniformBank(uniform, 3)
        self._drift = NoiseBank(noise, (0.6, 0.6))
        self._mutual = True
        self._thinking = False
        self._end = 0
        self._last_saccade = -MIN_FIXATION_FRAMES
        self._start = np.zeros(4)  # (offset yaw, pitch, free-point yaw, pitch) where the last saccade began
        self._goal = np.zeros(4)  # ... and where it lands
        self._saccade_len = 1.0
        self._frame = 0
        self._free_weight = 0.0  # how much of the free point shows now, for saccade sizes
        self._landed: list[float] | None = None  # offsets once the last saccade has landed

    def render(self, prosody: ProsodyFrames,
               style: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float]]]:
        """World gaze ``(n, 2)``, a 0/1 "thinking" flag per frame, and the saccades ``(frame, degrees)``.

        Saccade frames are stream frame indices.
        """
        n = len(prosody)
        u = self._uniform.take(n).tolist()
        st = style[:, _COLUMNS].tolist()
        talking, boundary, onset = prosody.talking.tolist(), prosody.boundary.tolist(), prosody.onset.tolist()
        offsets = []
        thinking = np.zeros(n)
        saccades: list[tuple[int, float]] = []
        for i in range(n):
            k = self._frame + i
            talk = talking[i]
            _, _, _, free_weight, aversion, camera, _ = st[i]
            self._free_weight = free_weight
            ready = k - self._last_saccade >= MIN_FIXATION_FRAMES
            camera = camera >= 0.5
            if self._mutual:
                if ready and talk and boundary[i] > 0.0 and u[i][0] < THINK_PROBABILITY * aversion:
                    saccades.append(self._avert(k, talk, thinking=True, camera=camera))
                elif (camera and ready and talk and onset[i]
                      and self._rng.random() < ONSET_AVERT_PROBABILITY * aversion):
                    # Speakers look away as they start a phrase (Kendon 1967; Ho et al. 2015).
                    saccades.append(self._avert(k, talk, thinking=False, camera=camera))
                elif ready and u[i][1] < aversion * DT / (CAMERA_MUTUAL_S if camera else MUTUAL_S)[talk]:
                    saccades.append(self._avert(k, talk, thinking=False, camera=camera))
                elif ready and u[i][2] < DT / REFIX_S:
                    saccades.append(self._refixate(k, self._scan_point(), free=self._rng.random() < 0.3))
            else:
                if self._thinking and onset[i]:
                    self._end = min(self._end, k + int(self._rng.integers(*ONSET_THINK_FRAMES[camera])))
                elif (camera and talk and boundary[i] > 0.0 and not self._thinking
                      and self._rng.random() < END_LOOK_PROBABILITY):
                    # ... and look back at their partner as it ends (Kendon 1967; Ho et al. 2015).
                    self._end = min(self._end, k + int(self._rng.integers(0, 20)))
                if k >= self._end and ready:
                    saccades.append(self._return(k))
                elif ready and not self._thinking and u[i][2] < DT / REFIX_S:
                    saccades.append(self._refixate(k, self._goal[:2] + self._scan_point() * 0.5, free=False))
            thinking[i] = 1.0 if self._thinking else 0.0
            progress = minimum_jerk((k - self._last_saccade) / self._saccade_len)
            if progress < 1.0 or self._landed is None:
                offset = (self._start + (self._goal - self._start) * progress).tolist()
                if progress >= 1.0:
                    self._landed = offset  # the same until the next saccade
            else:
                offset = self._landed
            offsets.append(offset)
        self._frame += n

        drift = self._drift.take(n) * DRIFT_DEG
        # The motion intensity scales what the eyes do on their own (saccades, scanning, drift), not where
        # they were told to look nor the emotion's downcast eyes.
        if n <= SHORT:
            world = []
            for (yaw, pitch, bias, free_weight, _, _, motion), offset, (drift_yaw, drift_pitch) in zip(
                    st, offsets, drift.tolist(), strict=True):
                world.append([yaw + motion * (offset[0] + free_weight * offset[2] + drift_yaw),
                              pitch + bias + motion * (offset[1] + free_weight * offset[3] + drift_pitch)])
            return np.array(world), thinking, saccades
        offset_a = np.array(offsets)
        free_w = style[:, COL["gaze_free"]]
        motion = style[:, COL["motion"]]
        world = np.empty((n, 2))
        world[:, 0] = style[:, COL["gaze_yaw"]] + motion * (offset_a[:, 0] + free_w * offset_a[:, 2] + drift[:, 0])
        world[:, 1] = (style[:, COL["gaze_pitch"]] + style[:, COL["gaze_pitch_bias"]]
                       + motion * (offset_a[:, 1] + free_w * offset_a[:, 3] + drift[:, 1]))
        return world, thinking, saccades

    # -- transitions: each sets a new goal and returns the saccade (frame, amplitude) -------------

    def _scan_point(self) -> np.ndarray:
        radius = SCAN_DEG * math.sqrt(self._rng.random())
        angle = self._rng.uniform(0.0, 2.0 * math.pi)
        return np.array([radius * math.cos(angle), radius * math.sin(angle)])

    def _avert(self, k: int, talking: bool, thinking: bool, camera: bool) -> tuple[int, float]:
        side = 1.0 if self._rng.random() < 0.5 else -1.0
        if thinking:
            amplitude = min(22.0, 6.0 + self._rng.exponential(5.0))
            up = self._rng.random() < 0.65
            angle = math.radians(self._rng.uniform(25.0, 65.0)) * (1.0 if up else -1.0)
            self._end = k + THINK_MAX_FRAMES
        else:
            amplitude = min(20.0, 3.0 + self._rng.exponential(6.0))
            angle = math.radians(self._rng.choice((0.0, -35.0, 30.0), p=(0.45, 0.3, 0.25)) + self._rng.normal(0, 10))
            mean = (CAMERA_AVERTED_S if camera else AVERTED_S)[talking]
            sigma = 0.5
            duration = self._rng.lognormal(math.log(mean) - sigma * sigma / 2, sigma)
            self._end = k + max(MIN_FIXATION_FRAMES, round(duration * FPS))
        self._mutual, self._thinking = False, thinking
        target = np.array([side * amplitude * math.cos(angle), amplitude * math.sin(angle)])
        return self._saccade(k, np.concatenate([target, self._goal[2:]]))

    def _return(self, k: int) -> tuple[int, float]:
        self._mutual, self._thinking = True, False
        free = np.array([self._rng.normal(0.0, FREE_DEG[0]), self._rng.normal(0.0, FREE_DEG[1])])
        return self._saccade(k, np.concatenate([self._scan_point() * 0.5, free]))

    def _refixate(self, k: int, point: np.ndarray, free: bool) -> tuple[int, float]:
        free_point = (np.array([self._rng.normal(0.0, FREE_DEG[0]), self._rng.normal(0.0, FREE_DEG[1])])
                      if free else self._goal[2:])
        return self._saccade(k, np.concatenate([point, free_point]))

    def _saccade(self, k: int, goal: np.ndarray) -> tuple[int, float]:
        progress = minimum_jerk((k - self._last_saccade) / self._saccade_len)
        self._start = self._start + (self._goal - self._start) * progress
        self._goal = goal
        step = goal - self._start
        amplitude = math.hypot(step[0] + self._free_weight * step[2], step[1] + self._free_weight * step[3])
        self._saccade_len = max(1.0, saccade_frames(amplitude))
        self._last_saccade = k
        self._landed = None
        return k, amplitude
