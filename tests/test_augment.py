"""The corpus augmentation that moves a voice's pitch and leaves its vowels where they were."""

import numpy as np
from sounds import vowel as make_vowel

from facecast.export.augment import _sox, augment, shift_f0
from facecast.export.model import mel_filterbank


def _f0(audio: np.ndarray) -> float:
    """The strongest autocorrelation lag between 60 and 500 Hz, over the middle of the sound."""
    frame = audio[4000:4000 + 1024] * np.hanning(1024)
    ac = np.correlate(frame, frame, "full")[1023:]
    lo, hi = 16000 // 500, 16000 // 60
    return 16000 / (lo + int(np.argmax(ac[lo:hi])))


def _log_mel(audio: np.ndarray) -> np.ndarray:
    frames = audio[2000:14000].reshape(-1, 400)[:, :320] * np.hanning(320)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.log(power @ mel_filterbank(64) + 1e-8).mean(0)


def test_a_pitch_shift_moves_the_fundamental_by_the_asked_interval():
    vowel = make_vowel(110.0)
    for cents in (-300, 500, 900):
        expected = 110.0 * 2 ** (cents / 1200)
        assert abs(_f0(shift_f0(vowel, cents)) / expected - 1) < 0.04


def test_a_pitch_shift_keeps_the_length_and_the_formants_that_a_plain_resampling_shift_moves():
    vowel = make_vowel(110.0)
    kept, moved = shift_f0(vowel, 700), _sox(vowel, ["pitch", "700"])
    assert kept.shape == vowel.shape and np.isfinite(kept).all()
    reference = _log_mel(vowel)

    def envelope_error(x: np.ndarray) -> float:
        diff = _log_mel(x) - reference
        return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))  # loudness aside

    assert envelope_error(kept) < 0.5 * envelope_error(moved)


def test_a_pitch_shift_of_silence_stays_silent():
    assert np.abs(shift_f0(np.zeros(8000, dtype=np.float32), 600)).max() < 1e-4


def test_the_augmentation_chain_shifts_pitch_the_chosen_way_and_reproducibly():
    vowel = make_vowel(110.0, seconds=0.5)
    labels = {True: set(), False: set()}
    for keep in (True, False):
        for seed in range(12):
            result = augment(vowel, np.random.default_rng(seed), keep_formants=keep)
            again = augment(vowel, np.random.default_rng(seed), keep_formants=keep)
            assert np.array_equal(result.audio, again.audio)
            labels[keep].update(a.split("+")[0].split("-")[0] for a in result.applied)
    assert "f0" in labels[True] and "pitch" not in labels[True]
    assert "pitch" in labels[False] and "f0" not in labels[False]
