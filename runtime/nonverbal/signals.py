"""Streaming signal building blocks shared by the motion generators.

Everything here keeps its state between calls so that processing a stream in chunks of any size gives
exactly the result of processing it whole: filters carry their ``lfilter`` state, and random streams are
drawn ahead in fixed blocks, so how the frames are split never changes which numbers a frame gets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.signal import lfilter

FPS = 100.0
DT = 1.0 / FPS
BLOCK = 1024  # frames of random numbers drawn at a time


class Follower:
    """A critically damped smoother: ``order`` identical one-pole low-passes in cascade.

    Order 3 makes position, velocity and acceleration continuous even for a step input, so the jerk of
    the output stays bounded; ``omega`` (rad/s) sets how quickly it follows (settles in about 6/omega s).
    """

    def __init__(self, omega: float, channels: int, order: int = 3) -> None:
        pole = math.exp(-omega / FPS)
        self._b = np.array([(1.0 - pole) ** order])
        self._a = np.poly([pole] * order)
        self._zi = np.zeros((order, channels))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter ``(n, channels)`` samples, continuing from the previous call."""
        y, self._zi = lfilter(self._b, self._a, x, axis=0, zi=self._zi)
        return y


def bump(omega: float, channels: int, order: int = 4) -> tuple[Follower, float]:
    """A follower used as a smooth bump kernel, and the input gain that makes its peak 1 per impulse."""
    probe = Follower(omega, 1, order)(np.eye(1, 400).T)
    return Follower(omega, channels, order), 1.0 / float(probe.max())


class NoiseBank:
    """Independent Ornstein-Uhlenbeck processes of unit variance, one per time constant.

    OU noise is aperiodic by construction (its spectrum has no peak), which is what keeps idle motion
    from ever looping. Processes start at 0 so a stream begins from rest.
    """

    def __init__(self, rng: np.random.Generator, taus: Sequence[float]) -> None:
        self._rng = rng
        phis = np.exp(-DT / np.asarray(taus, dtype=np.float64))
        self._filters = [(np.array([math.sqrt(1.0 - p * p)]), np.array([1.0, -p])) for p in phis]
        self._zi = [np.zeros(1) for _ in phis]
        self._buf = np.zeros((0, len(phis)))

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` frames of every process, shape ``(n, len(taus))``."""
        while self._buf.shape[0] < n:
            white = self._rng.standard_normal((BLOCK, len(self._filters)))
            block = np.empty_like(white)
            for c, (b, a) in enumerate(self._filters):
                block[:, c], self._zi[c] = lfilter(b, a, white[:, c], zi=self._zi[c])
            self._buf = np.concatenate([self._buf, block])
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


class UniformBank:
    """Per-frame uniform numbers in [0, 1), ``columns`` per frame, for hazard-driven events."""

    def __init__(self, rng: np.random.Generator, columns: int) -> None:
        self._rng = rng
        self._columns = columns
        self._buf = np.zeros((0, columns))

    def take(self, n: int) -> np.ndarray:
        while self._buf.shape[0] < n:
            self._buf = np.concatenate([self._buf, self._rng.random((BLOCK, self._columns))])
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def smoothstep(u: np.ndarray | float) -> np.ndarray | float:
    """0 to 1 with zero slope at both ends, for ``u`` clipped to [0, 1]."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def minimum_jerk(u: float) -> float:
    """The minimum-jerk profile 0 to 1 (the shape of a saccade or a reaching movement)."""
    u = min(max(u, 0.0), 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def soft_limit(x: np.ndarray, limit: float) -> np.ndarray:
    """Squash ``x`` into (-limit, limit); linear near 0, never steeper than the input."""
    return limit * np.tanh(x / limit)
