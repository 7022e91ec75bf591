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
from facecast.nonverbal.signals import DT, SHORT, Follower, NoiseBank, UniformBank, bump, soft_limit
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
GAZE_FOLLOW = 0.3  # share of a gaze shift the head takes over, at head and motion intensity 1
NECK_PIVOT = (0.08, 0.05, 0.02)  # metres: head-centre travel per radian of yaw (x), pitch (y, z)
SWAY_M = (0.006, 0.003, 0.006)  # metres, slow translation sway
LEAN_M = 0.004  # metres toward the camera at the peak of a nod


_SHARP, _NOD_GAIN, _AMP = COL["head_sharp"], COL["nod_gain"], COL["head_amp"]
_INTENSITY, _MOTION, _DISTANCE = COL["head_intensity"], COL["motion"], COL["head_distance"]
_PITCH_BIAS, _ROLL_BIAS = COL["head_pitch_bias"], COL["head_roll_bias"]
_LIMITS = [COL["limit_pitch"], COL["limit_yaw"], COL["limit_roll"]]
_LISTEN_POSTURE_U = LISTEN_POSTURE_RATE * DT
#: The style columns the short path reads, in this order.
_COLUMNS = [_NOD_GAIN, _SHARP, _AMP, _INTENSITY, _MOTION, _PITCH_BIAS, _ROLL_BIAS, _DISTANCE]


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
        if n <= SHORT:
            return self._render_short(prosody, style, gaze_world)
        noise = self._noise.take(n)
        listen_u = self._uniform.take(n)[:, 0]

        # Accent impulses: a downward nod with a little turn and tilt of random sign.
        impulses = np.zeros((n, 3))
        # Speakers also nod on the last syllable before a strong phrase boundary (Ishi et al. 2014).
        beats = prosody.accent + BOUNDARY_NOD * prosody.boundary
        for i in np.flatnonzero(beats):
            side = self._nod_rng.choice((-1.0, 1.0), size=2) * NOD_SIDE
            impulses[i] = beats[i] * style[i, _NOD_GAIN] * np.array([1.0, side[0], side[1]])
        sharp = style[:, _SHARP, None]
        nods = NOD_DEG * (sharp * self._nod_fast(impulses * self._nod_fast_gain)
                          + (1.0 - sharp) * self._nod_slow(impulses * self._nod_slow_gain))
        # Nods are excursions that come back: without this, a run of accents would pile up into a
        # lowered head for the whole phrase.
        nods -= self._nod_rest(nods)

        # A new resting posture at each phrase boundary, and now and then while listening.
        slow_in = np.empty((n, 6))
        strength = prosody.boundary.copy()
        strength[(strength == 0.0) & ~prosody.talking & (listen_u < _LISTEN_POSTURE_U)] = 0.5
        shifts = np.flatnonzero(strength)
        if shifts.size:
            draws = [self._posture_rng.normal(0.0, POSTURE_DEG) * (0.5 + 0.5 * strength[i]) for i in shifts]
            postures = np.vstack([self._posture, *draws])
            latest = np.zeros(n, dtype=np.intp)
            latest[shifts] = np.arange(1, len(shifts) + 1)
            slow_in[:, :3] = postures[np.maximum.accumulate(latest)]
            self._posture = postures[-1]
        else:
            slow_in[:, :3] = self._posture
        slow_in[:, 3:] = noise[:, 6:9] * SWAY_M
        slow = self._slow(slow_in)

        fast_in = noise[:, 0:3] * WANDER_DEG + noise[:, 3:6] * (JITTER_DEG * prosody.loudness[:, None])
        fast_in[:, 0] -= PITCH_PER_SEMITONE * prosody.semitones
        motion = nods + slow[:, :3] + self._motion(fast_in)
        intensity = style[:, _INTENSITY] * style[:, _MOTION]
        amount = style[:, _AMP] * style[:, _INTENSITY] * style[:, _MOTION]
        bias_in = np.empty((n, 3))
        follow = GAZE_FOLLOW * intensity  # a still head (intensity 0) leaves every gaze shift to the eyes
        # An emotion's head posture (sad looks down 5 deg) is taken in full from head x motion intensity 1 up,
        # in part below, and not at 0: there the head holds still at rest, for a rig that takes its head elsewhere.
        posture = np.minimum(intensity, 1.0)
        bias_in[:, 0] = style[:, _PITCH_BIAS] * posture - follow * gaze_world[:, 1]
        bias_in[:, 1] = follow * gaze_world[:, 0]
        bias_in[:, 2] = style[:, _ROLL_BIAS] * posture
        pose = self._bias(bias_in) + amount[:, None] * motion
        rotation = soft_limit(pose, style[:, _LIMITS])

        rad = np.radians(rotation)
        sin_pitch = np.sin(rad[:, 0])
        translation = slow[:, 3:] * intensity[:, None]  # sway
        translation[:, 0] += NECK_PIVOT[0] * np.sin(rad[:, 1])
        translation[:, 1] += -NECK_PIVOT[1] * sin_pitch
        translation[:, 2] += NECK_PIVOT[2] * sin_pitch + LEAN_M * nods[:, 0] / NOD_DEG * amount
        translation[:, 2] += style[:, _DISTANCE]
        return rotation, translation

    def _render_short(self, prosody: ProsodyFrames, style: np.ndarray,
                      gaze_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``render`` for a few frames (a live chunk): the same arithmetic, step for step, on floats."""
        n = len(prosody)
        noise = self._noise.take(n).tolist()
        listen_u = self._uniform.take(n)[:, 0].tolist()
        accent, boundary = prosody.accent.tolist(), prosody.boundary.tolist()
        talking, loudness, semitones = prosody.talking.tolist(), prosody.loudness.tolist(), prosody.semitones.tolist()
        st = style[:, _COLUMNS].tolist()
        gaze = gaze_world.tolist()
        g_fast, g_slow = self._nod_fast_gain, self._nod_slow_gain
        fast_in, slow_in = [], []
        for i in range(n):
            beat = accent[i] + BOUNDARY_NOD * boundary[i]
            if beat:
                side = self._nod_rng.choice((-1.0, 1.0), size=2) * NOD_SIDE
                impulse = (beat * st[i][0] * np.array([1.0, side[0], side[1]])).tolist()
                fast_in.append([v * g_fast for v in impulse])
                slow_in.append([v * g_slow for v in impulse])
            else:
                fast_in.append([0.0, 0.0, 0.0])
                slow_in.append([0.0, 0.0, 0.0])
        fast = self._nod_fast.rows(fast_in)
        slow_nod = self._nod_slow.rows(slow_in)
        nods = []
        for i in range(n):
            sharp = st[i][1]
            soft = 1.0 - sharp
            nods.append([NOD_DEG * (sharp * f + soft * s) for f, s in zip(fast[i], slow_nod[i], strict=True)])
        rest = self._nod_rest.rows([list(row) for row in nods])
        nods = [[v - r for v, r in zip(row, back, strict=True)] for row, back in zip(nods, rest, strict=True)]

        posture_in, wander_in = [], []
        sway_x, sway_y, sway_z = SWAY_M
        for i in range(n):
            strength = boundary[i]
            if strength == 0.0 and not talking[i] and listen_u[i] < _LISTEN_POSTURE_U:
                strength = 0.5
            if strength:
                self._posture = self._posture_rng.normal(0.0, POSTURE_DEG) * (0.5 + 0.5 * strength)
            z = noise[i]
            posture_in.append([*self._posture.tolist(), z[6] * sway_x, z[7] * sway_y, z[8] * sway_z])
            jitter = JITTER_DEG * loudness[i]
            wander_in.append([z[0] * WANDER_DEG[0] + z[3] * jitter, z[1] * WANDER_DEG[1] + z[4] * jitter,
                              z[2] * WANDER_DEG[2] + z[5] * jitter])
            wander_in[i][0] -= PITCH_PER_SEMITONE * semitones[i]
        slow = self._slow.rows(posture_in)
        wander = self._motion.rows(wander_in)
        follow = [GAZE_FOLLOW * st[i][3] * st[i][4] for i in range(n)]  # as in ``render``
        posture = [min(st[i][3] * st[i][4], 1.0) for i in range(n)]  # as in ``render``
        bias_in = [[st[i][5] * posture[i] - follow[i] * gaze[i][1], follow[i] * gaze[i][0], st[i][6] * posture[i]]
                   for i in range(n)]
        bias = self._bias.rows(bias_in)
        pose, extra = [], []
        for i in range(n):
            amp, intensity, motion = st[i][2], st[i][3], st[i][4]
            amount = amp * intensity * motion
            pose.append([bias[i][c] + amount * (nods[i][c] + slow[i][c] + wander[i][c]) for c in range(3)])
            extra.append((intensity * motion, amount))
        rotation = soft_limit(np.array(pose), style[:, _LIMITS])
        sines = np.sin(np.radians(rotation)[:, :2]).tolist()
        translation = []
        for i in range(n):
            (intensity, amount), (sin_pitch, sin_yaw), row = extra[i], sines[i], slow[i]
            lean = LEAN_M * nods[i][0] / NOD_DEG * amount
            translation.append([row[3] * intensity + NECK_PIVOT[0] * sin_yaw,
                                row[4] * intensity + -NECK_PIVOT[1] * sin_pitch,
                                row[5] * intensity + (NECK_PIVOT[2] * sin_pitch + lean) + st[i][7]])
        return rotation, np.array(translation)
