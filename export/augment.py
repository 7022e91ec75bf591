"""Audio augmentation for the training corpus, reproducible from a random generator.

Tempo, pitch, spectral tilt, reverberation, telephone band, coloured noise at several SNRs and gain.

Tempo changes move the phones in time, so ``augment`` returns the time scale the caller must apply to
the segment boundaries. Tempo and pitch go through sox (WSOLA tempo, pitch shift without tempo change);
everything else is numpy.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from facecast.audio import SAMPLE_RATE, resample


@dataclass
class AugmentResult:
    audio: np.ndarray
    time_scale: float  # new duration / old duration
    applied: list[str] = field(default_factory=list)


def _sox(audio: np.ndarray, effects: list[str]) -> np.ndarray:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = ["-t", "raw", "-r", str(SAMPLE_RATE), "-e", "signed", "-b", "16", "-c", "1"]
    # -R -D: repeatable, no dither (dither adds fresh random noise on every run).
    cmd = ["sox", "-R", "-D", *fmt, "-", *fmt, "-", *effects]
    proc = subprocess.run(cmd, input=pcm, capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32767.0


def _coloured_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White, pink or brown noise: real rooms and microphones are rarely white."""
    white = rng.standard_normal(n)
    kind = rng.integers(3)
    if kind == 0:
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    spectrum /= freqs ** (0.5 if kind == 1 else 1.0)
    noise = np.fft.irfft(spectrum, n)
    return noise / (noise.std() + 1e-9)


def _room_impulse(rng: np.random.Generator) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.7)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / rng.uniform(0.3, 1.0)  # direct path relative to the diffuse tail
    return rir / np.sqrt((rir**2).sum())


def augment(audio: np.ndarray, rng: np.random.Generator) -> AugmentResult:
    out, scale, applied = audio.astype(np.float32), 1.0, []
    effects = []
    if rng.random() < 0.5:
        tempo = float(rng.uniform(0.8, 1.25))
        effects += ["tempo", "-s", f"{tempo:.3f}"]
        applied.append(f"tempo{tempo:.2f}")
    if rng.random() < 0.5:
        cents = float(rng.uniform(-400, 400))
        effects += ["pitch", f"{cents:.0f}"]
        applied.append(f"pitch{cents:+.0f}")
    if effects:
        n_in = out.size
        out = _sox(out, effects)
        scale = out.size / n_in
    if rng.random() < 0.3:
        wet = fftconvolve(out, _room_impulse(rng))[: out.size]
        out = (wet / (np.abs(wet).max() + 1e-9) * np.abs(out).max()).astype(np.float32)
        applied.append("reverb")
    if rng.random() < 0.4:
        # Spectral tilt: voices, rooms and microphones differ most in how much treble they carry.
        cutoff = float(rng.uniform(500, 3000))
        sos = butter(1, cutoff, btype="highpass", fs=SAMPLE_RATE, output="sos")
        gain = float(rng.uniform(-0.7, 1.5))
        out = (out + gain * sosfilt(sos, out)).astype(np.float32)
        applied.append(f"tilt{gain:+.1f}@{cutoff:.0f}Hz")
    if rng.random() < 0.15:
        sos = butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        out = resample(resample(sosfilt(sos, out), SAMPLE_RATE, 8000), 8000, SAMPLE_RATE)[: out.size]
        applied.append("telephone")
    if rng.random() < 0.5:
        snr = float(rng.choice([30, 20, 15, 10, 5]))
        noise = _coloured_noise(rng, out.size)
        power = np.mean(out.astype(np.float64) ** 2) + 1e-12
        out = out + noise * np.sqrt(power / 10 ** (snr / 10))
        applied.append(f"noise{snr:.0f}dB")
    gain_db = float(rng.uniform(-24, 6))
    out = out * 10 ** (gain_db / 20)
    peak = np.abs(out).max()
    if peak > 0.99:
        out = out * (0.99 / peak)
    applied.append(f"gain{gain_db:+.0f}dB")
    return AugmentResult(out.astype(np.float32), scale, applied)
