"""The vocal tract length warp that training hears every crop through, and the cepstral features."""

import numpy as np
import torch
from sounds import vowel

from facecast.export.model import LipSyncNet, NetConfig, mel_filterbank, vtlp_warp


def _peak_band(audio: np.ndarray, warp: float) -> int:
    net = LipSyncNet(NetConfig(n_ceps=0))  # the bands themselves, to find the tone
    mel = torch.from_numpy(mel_filterbank(net.config.n_mels, warp=warp))[None]
    feats = net.features(torch.from_numpy(audio)[None], torch.zeros(1, 160), mel)
    return int(feats[0].mean(0).argmax())


def test_a_warp_moves_a_tone_up_or_down_the_mel_bands_as_a_shorter_or_longer_vocal_tract_would():
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    tone_1200 = (0.3 * np.sin(2 * np.pi * 1200 * t)).astype(np.float32)
    plain, up, down = (_peak_band(tone, w) for w in (1.0, 1.2, 0.8))
    assert down < plain < up
    assert abs(up - _peak_band(tone_1200, 1.0)) <= 1  # 1000 Hz heard through 1.2 is where 1200 Hz is


def test_the_warp_keeps_zero_and_nyquist_and_never_folds():
    freqs = np.linspace(0, 8000, 161)
    for warp in (0.8, 0.9, 1.0, 1.1, 1.28):
        w = vtlp_warp(freqs, warp)
        assert w[0] == 0 and abs(w[-1] - 8000) < 1e-6
        assert np.all(np.diff(w) > 0)
    assert np.array_equal(mel_filterbank(64, warp=1.0), mel_filterbank(64))


def test_cepstral_features_hear_the_same_vowel_at_two_pitches_as_more_alike_than_the_bands_do():
    def spread(n_ceps: int) -> float:
        net = LipSyncNet(NetConfig(n_ceps=n_ceps))
        low, high = (net.features(torch.from_numpy(vowel(f0))[None], torch.zeros(1, 160))[0, 10:].mean(0)
                     for f0 in (110.0, 220.0))
        low, high = low - low.mean(), high - high.mean()  # loudness aside
        return float(torch.linalg.norm(low - high) / torch.linalg.norm(low))

    assert spread(16) < 0.5 * spread(0)
