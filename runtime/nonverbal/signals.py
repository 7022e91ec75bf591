"""Streaming signal building blocks shared by the motion generators.

Everything here keeps its state between calls so that processing a stream in chunks of any size gives
exactly the result of processing it whole: filters carry their ``lfilter`` state, and random streams are
drawn ahead in fixed blocks, so how the frames are split never changes which numbers a frame gets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FPS = 100.0
DT = 1.0 / FPS
BLOCK = 1024  # frames of random numbers drawn at a time
SHORT = 8  # calls of up to this many frames filter in plain Python


class Follower:
    """A critically damped smoother: ``order`` identical one-pole low-passes in cascade.

    Order 3 makes position, velocity and acceleration continuous even for a step input, so the jerk of
    the output stays bounded; ``omega`` (rad/s) sets how quickly it follows (settles in about 6/omega s).

    Long inputs go through ``lfilter``; a few frames (a live stream's chunk) run the same transposed
    direct form II recursion in plain Python, operation for operation as ``lfilter`` does it (the
    zero-padded numerator terms included), so both give the same numbers and a call costs microseconds.
    """

    def __init__(self, omega: float, channels: int, order: int = 3) -> None:
        pole = math.exp(-omega / FPS)
        self._b = np.array([(1.0 - pole) ** order])
        self._a = np.poly([pole] * order)
        self._b0 = float(self._b[0])
        self._a_list = [float(v) for v in self._a[1:]]
        self._z = [[0.0] * order for _ in range(channels)]  # filter state, per channel
        self._step = {1: self._step1, 3: self._step3, 4: self._step4}.get(order)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter ``(n, channels)`` samples, continuing from the previous call."""
        if x.shape[0] > SHORT or self._step is None:
            from scipy.signal import lfilter  # here: scipy.signal takes a second to import, and the command
            #                                   line's parser reads the motion controls from this package

            y, zf = lfilter(self._b, self._a, x, axis=0, zi=np.array(self._z).T)
            self._z = zf.T.tolist()
            return y
        rows = x.tolist()
        self._step(rows)
        return np.array(rows)

    def rows(self, rows: list[list[float]]) -> list[list[float]]:
        """Filter samples given as lists, one per frame, in place; the same numbers as ``__call__``."""
        if len(rows) > SHORT or self._step is None:
            rows[:] = self(np.array(rows, dtype=np.float64)).tolist()
        else:
            self._step(rows)
        return rows

    def _step1(self, rows: list[list[float]]) -> None:
        b0, (a1,) = self._b0, self._a_list
        for c, z in enumerate(self._z):
            z0 = z[0]
            for row in rows:
                xi = row[c]
                y = z0 + b0 * xi
                z0 = xi * 0.0 - y * a1
                row[c] = y
            z[0] = z0

    def _step3(self, rows: list[list[float]]) -> None:
        b0, (a1, a2, a3) = self._b0, self._a_list
        for c, z in enumerate(self._z):
            z0, z1, z2 = z
            for row in rows:
                xi = row[c]
                y = z0 + b0 * xi
                nil = xi * 0.0  # the zero-padded numerator's terms
                z0 = z1 + nil - y * a1
                z1 = z2 + nil - y * a2
                z2 = nil - y * a3
                row[c] = y
            z[0], z[1], z[2] = z0, z1, z2

    def _step4(self, rows: list[list[float]]) -> None:
        b0, (a1, a2, a3, a4) = self._b0, self._a_list
        for c, z in enumerate(self._z):
            z0, z1, z2, z3 = z
            for row in rows:
                xi = row[c]
                y = z0 + b0 * xi
                nil = xi * 0.0  # the zero-padded numerator's terms
                z0 = z1 + nil - y * a1
                z1 = z2 + nil - y * a2
                z2 = z3 + nil - y * a3
                z3 = nil - y * a4
                row[c] = y
            z[0], z[1], z[2], z[3] = z0, z1, z2, z3


def bump(omega: float, channels: int, order: int = 4) -> tuple[Follower, float]:
    """A follower used as a smooth bump kernel, and the input gain that makes its peak 1 per impulse."""
    probe = Follower(omega, 1, order)(np.eye(1, 400).T)
    return Follower(omega, channels, order), 1.0 / float(probe.max())


class _BlockBuffer:
    """Hands out rows of a stream generated BLOCK rows at a time, so a call costs a slice, not a draw."""

    def __init__(self, width: int) -> None:
        self._buf = np.zeros((0, width))
        self._pos = 0  # rows of _buf already handed out

    def _block(self) -> np.ndarray:
        raise NotImplementedError

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` rows, shape ``(n, width)``."""
        pos = self._pos
        if pos + n > self._buf.shape[0]:
            parts = [self._buf[pos:]]
            left = self._buf.shape[0] - pos
            while left < n:
                parts.append(self._block())
                left += BLOCK
            self._buf, pos = np.concatenate(parts), 0
        self._pos = pos + n
        return self._buf[pos : pos + n]


class NoiseBank(_BlockBuffer):
    """Independent Ornstein-Uhlenbeck processes of unit variance, one per time constant.

    OU noise is aperiodic by construction (its spectrum has no peak), which is what keeps idle motion
    from ever looping. Processes start at 0 so a stream begins from rest.
    """

    def __init__(self, rng: np.random.Generator, taus: Sequence[float]) -> None:
        self._rng = rng
        phis = np.exp(-DT / np.asarray(taus, dtype=np.float64))
        self._filters = [(np.array([math.sqrt(1.0 - p * p)]), np.array([1.0, -p])) for p in phis]
        self._zi = [np.zeros(1) for _ in phis]
        super().__init__(len(phis))

    def _block(self) -> np.ndarray:
        from scipy.signal import lfilter  # here, as in Follower.__call__

        white = self._rng.standard_normal((BLOCK, len(self._filters)))
        block = np.empty_like(white)
        for c, (b, a) in enumerate(self._filters):
            block[:, c], self._zi[c] = lfilter(b, a, white[:, c], zi=self._zi[c])
        return block


class UniformBank(_BlockBuffer):
    """Per-frame uniform numbers in [0, 1), ``columns`` per frame, for hazard-driven events."""

    def __init__(self, rng: np.random.Generator, columns: int) -> None:
        self._rng = rng
        self._columns = columns
        super().__init__(columns)

    def _block(self) -> np.ndarray:
        return self._rng.random((BLOCK, self._columns))


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
