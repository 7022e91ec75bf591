"""Audio augmentation for the training corpus, reproducible from a random generator.

Tempo, pitch, spectral tilt, reverberation, telephone band, coloured noise at several SNRs and gain.

Tempo changes move the phones in time, so ``augment`` returns the time scale the caller must apply to
the segment boundaries. Tempo and pitch go through sox (WSOLA tempo, pitch shift without tempo change);
everything else is numpy.

The pitch change moves only the voice's fundamental: the spectral envelope (the formants, which carry
the vowel and so the mouth shape) is put back after sox's shift, which moves both. Formant scaling is a
separate augmentation, the vocal tract length warp applied per crop in training.
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


def _envelope(log_mag: np.ndarray, lifter: int) -> np.ndarray:
    """Smooth log spectra (frames x bins) by keeping their first cepstral coefficients."""
    cep = np.fft.irfft(log_mag, axis=1)
    cep[:, lifter : cep.shape[1] - lifter + 1] = 0.0
    return np.fft.rfft(cep, axis=1).real


def shift_f0(audio: np.ndarray, cents: float, n_fft: int = 512, hop: int = 128, lifter: int = 30) -> np.ndarray:
    """Shift the fundamental by ``cents`` and keep the formants where they were.

    sox's ``pitch`` scales the whole spectrum. Each frame of its output is divided by its own smoothed
    spectral envelope and multiplied by the original's at the same time (sox keeps the timing), which
    leaves the shifted harmonics under the original vocal tract. The lifter keeps quefrencies below
    ``lifter`` samples (1.9 ms at 16 kHz), under the harmonic ripple of any voice below 500 Hz.
    """
    audio = audio.astype(np.float32)
    shifted = _sox(audio, ["pitch", f"{cents:.0f}"])
    shifted = np.pad(shifted, (0, max(0, audio.size - shifted.size)))[: audio.size]
    window = np.hanning(n_fft + 1)[:n_fft].astype(np.float32)
    pad = n_fft // 2

    def frames(x: np.ndarray) -> np.ndarray:
        x = np.pad(x, (pad, pad + hop))
        idx = np.arange(n_fft)[None, :] + hop * np.arange((x.size - n_fft) // hop + 1)[:, None]
        return np.fft.rfft(x[idx] * window, axis=1)

    orig, shift = frames(audio), frames(shifted)
    floor = 1e-5
    gain = _envelope(np.log(np.abs(orig) + floor), lifter) - _envelope(np.log(np.abs(shift) + floor), lifter)
    # Limit the correction (about 26 dB) so a silent frame cannot blow up its noise.
    spec = shift * np.exp(np.clip(gain, -3.0, 3.0))
    chunks = np.fft.irfft(spec, n_fft, axis=1) * window
    out = np.zeros(hop * (len(chunks) - 1) + n_fft, dtype=np.float64)
    norm = np.zeros_like(out)
    for i, chunk in enumerate(chunks):
        out[i * hop : i * hop + n_fft] += chunk
        norm[i * hop : i * hop + n_fft] += window**2
    out = out / np.maximum(norm, 1e-3)
    return out[pad : pad + audio.size].astype(np.float32)


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


def augment(audio: np.ndarray, rng: np.random.Generator, keep_formants: bool = True) -> AugmentResult:
    """One random chain of the augmentations. ``keep_formants=False`` shifts pitch the plain way (sox
    alone, formants moving with it, by at most 4 semitones)."""
    out, scale, applied = audio.astype(np.float32), 1.0, []
    effects = []
    if rng.random() < 0.5:
        tempo = float(rng.uniform(0.8, 1.25))
        effects += ["tempo", "-s", f"{tempo:.3f}"]
        applied.append(f"tempo{tempo:.2f}")
    if effects:
        n_in = out.size
        out = _sox(out, effects)
        scale = out.size / n_in
    if rng.random() < 0.5:
        if keep_formants:
            # Skewed upwards: most training voices are men, and women's and children's voices sit higher.
            cents = float(rng.uniform(-400, 900))
            out = shift_f0(out, cents)
            applied.append(f"f0{cents:+.0f}")
        else:
            cents = float(rng.uniform(-400, 400))
            out = _sox(out, ["pitch", f"{cents:.0f}"])[: out.size]
            applied.append(f"pitch{cents:+.0f}")
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
