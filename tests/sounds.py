"""Test signals made here: sounds whose pitch and formants are known exactly."""

import numpy as np


def vowel(f0: float, seconds: float = 1.0) -> np.ndarray:
    """A vowel-like sound at 16 kHz: harmonics of ``f0`` under fixed formants at 700, 1200 and 2600 Hz."""
    t = np.arange(int(16000 * seconds)) / 16000
    out = np.zeros_like(t)
    for k in range(1, int(7000 / f0)):
        f = k * f0
        gain = sum(1.0 / (1.0 + ((f - fc) / 90.0) ** 2) for fc in (700.0, 1200.0, 2600.0))
        out += gain * np.sin(2 * np.pi * f * t)
    return (0.2 * out / np.abs(out).max()).astype(np.float32)
