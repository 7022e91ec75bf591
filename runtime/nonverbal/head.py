"""Head pose from prosody: nods on accents, posture shifts at phrase boundaries, idle sway in silence.

The layers follow what studies of head motion in conversation report. Speakers' heads move almost
continuously, with quick, narrow movements in step with stressed syllables and wider, slower ones
around pauses (Hadar et al. 1983); head motion tracks the pitch contour (Yehia et al. 2002); listeners
and idle faces still sway. Each layer is smoothed by critically damped followers so velocity and
jerk stay bounded, the slow layers are Ornstein-Uhlenbeck noise so nothing ever loops, and the sum is
squashed softly into the configured limits.

Angles are degrees in the motion-frame convention: pitch + looks down, yaw + turns to its left, roll +
tilts to its left. Translation is metres: x + its left, y + up, z + toward the camera.
"""

from __future__ import annotations

import numpy as np

from facecast.nonverbal.prosody import ProsodyFrames
from facecast.nonverbal.signals import DT, Follower, NoiseBank, UniformBank, bump, soft_limit
from facecast.nonverbal.style import COL

NOD_DEG = 3.0  # pitch of a nod on an accent of strength 1
BOUNDARY_NOD = 0.6  # nod at a phrase boundary, as an accent strength per unit of boundary strength
NOD_SIDE = (0.35, 0.3)  # yaw and roll that accompany a nod, as a fraction of it (random sign)
WANDER_DEG = (2.0, 3.5, 1.5)  # pitch, yaw, roll spread of the slow sway
WANDER_TAU = (3.0, 4.0, 5.0)  # seconds
JITTER_DEG = 0.8  # small fast motion while speaking, scaled by loudness
POSTURE_DEG = (1.5, 4.0, 2.5)  # pitch, yaw, roll spread of the posture taken at a phrase boundary
LISTEN_POSTURE_RATE = 0.1  # posture shifts per second while not speaking
PITCH_PER_SEMITONE = 0.35  # degrees the head rises per semitone of pitch above the speaker's average
GAZE_FOLLOW = 0.3  # share of a gaze shift the head takes over
NECK_PIVOT = (0.08, 0.05, 0.02)  # metres: head-centre travel per radian of yaw (x), pitch (y, z)
SWAY_M = (0.006, 0.003, 0.006)  # metres, slow translation sway
LEAN_M = 0.004  # metres toward the camera at the peak of a nod


class HeadMotion:
    """Streaming head rotation and translation at 100 Hz."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        # Separate streams for each kind of event keep the draws in frame order whatever the chunking.
        noise, nods, postures, uniform = (np.random.default_rng(s) for s in seed.spawn(4))
        self._noise = NoiseBank(noise, (*WANDER_TAU, 0.35, 0.35, 0.35, 6.0, 6.0, 6.0))
        self._nod_rng = nods
        self._posture_rng = postures
        self._uniform = UniformBank(uniform, 1)
        self._nod_fast, self._nod_fast_gain = bump(22.0, 3)
        self._nod_slow, self._nod_slow_gain = bump(11.0, 3)
        self._nod_rest = Follower(1.5, 3, order=1)
        # Layers that share a follower are summed (or stacked) first: one filter call instead of several.
        self._motion = Follower(8.0, 3)  # sway, speech jitter and pitch-following rises
        self._slow = Follower(2.5, 6)  # posture (rotation) and translation sway
        self._bias = Follower(5.0, 3)  # emotion bias and the head's share of gaze shifts
        self._posture = np.zeros(3)

    def render(self, prosody: ProsodyFrames, style: np.ndarray,
               gaze_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotation ``(n, 3)`` (pitch, yaw, roll) and translation ``(n, 3)`` of the next frames.

        ``gaze_world`` is where the eyes look, ``(n, 2)`` yaw and pitch in degrees (+ up); the head
        takes over part of every gaze shift, lagging the eyes as in natural eye-head coordination.
        """
        n = len(prosody)
        noise = self._noise.take(n)
        listen_u = self._uniform.take(n)[:, 0]

        # Accent impulses: a downward nod with a little turn and tilt of random sign.
        impulses = np.zeros((n, 3))
        # Speakers also nod on the last syllable before a strong phrase boundary (Ishi et al. 2014).
        beats = prosody.accent + BOUNDARY_NOD * prosody.boundary
        for i in np.flatnonzero(beats):
            side = self._nod_rng.choice((-1.0, 1.0), size=2) * NOD_SIDE
            impulses[i] = beats[i] * style[i, COL["nod_gain"]] * np.array([1.0, side[0], side[1]])
        sharp = style[:, COL["head_sharp"], None]
        nods = NOD_DEG * (sharp * self._nod_fast(impulses * self._nod_fast_gain)
                          + (1.0 - sharp) * self._nod_slow(impulses * self._nod_slow_gain))
        # Nods are excursions that come back: without this, a run of accents would pile up into a
        # lowered head for the whole phrase.
        nods -= self._nod_rest(nods)

        # A new resting posture at each phrase boundary, and now and then while listening.
        strength = prosody.boundary.copy()
        strength[(strength == 0.0) & ~prosody.talking & (listen_u < LISTEN_POSTURE_RATE * DT)] = 0.5
        shifts = np.flatnonzero(strength)
        postures = np.vstack([self._posture] + [self._posture_rng.normal(0.0, POSTURE_DEG) * (0.5 + 0.5 * strength[i])
                                                for i in shifts])
        latest = np.zeros(n, dtype=np.intp)
        latest[shifts] = np.arange(1, len(shifts) + 1)
        slow = self._slow(np.hstack([postures[np.maximum.accumulate(latest)], noise[:, 6:9] * SWAY_M]))
        self._posture = postures[-1]

        fast_in = noise[:, 0:3] * WANDER_DEG + noise[:, 3:6] * (JITTER_DEG * prosody.loudness[:, None])
        fast_in[:, 0] -= PITCH_PER_SEMITONE * prosody.semitones
        motion = nods + slow[:, :3] + self._motion(fast_in)
        amount = style[:, COL["head_amp"]] * style[:, COL["head_intensity"]] * style[:, COL["motion"]]
        bias_in = np.stack([style[:, COL["head_pitch_bias"]] - GAZE_FOLLOW * gaze_world[:, 1],
                            GAZE_FOLLOW * gaze_world[:, 0], style[:, COL["head_roll_bias"]]], axis=1)
        pose = self._bias(bias_in) + amount[:, None] * motion
        limits = style[:, [COL["limit_pitch"], COL["limit_yaw"], COL["limit_roll"]]]
        rotation = soft_limit(pose, limits)

        rad = np.radians(rotation)
        sway = slow[:, 3:] * (style[:, COL["head_intensity"]] * style[:, COL["motion"]])[:, None]
        translation = np.stack([NECK_PIVOT[0] * np.sin(rad[:, 1]), -NECK_PIVOT[1] * np.sin(rad[:, 0]),
                                NECK_PIVOT[2] * np.sin(rad[:, 0]) + LEAN_M * nods[:, 0] / NOD_DEG * amount], axis=1)
        translation += sway
        translation[:, 2] += style[:, COL["head_distance"]]
        return rotation, translation
