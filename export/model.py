"""The audio-to-motion network: 16 kHz audio in, every 10 ms visemes, mouth/jaw pose and voice activity.

The same module is trained on whole crops and exported to the streaming ONNX graph, so feature
extraction (a windowed DFT written as a matrix product, a mel matrix and a log) is one piece of code in
training and at run time. Streaming follows silero-vad: the graph takes an audio chunk (a multiple of
10 ms) and one flat state tensor and returns the outputs and the next state, so a caller feeding 10-20 ms
chunks recomputes nothing and gets exactly what whole-file inference gives.

The network is causal. Lookahead is an output delay: the output computed after audio up to frame t
describes frame t - lookahead, so the model has heard ``lookahead`` frames of the future of the frame it
describes (coarticulation: lips move before the sound).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from facecast.audio import SAMPLE_RATE
from facecast.lip_channels import LIP_CHANNELS
from facecast.motion_frame import VISEMES

HOP = SAMPLE_RATE // 100  # 10 ms
WINDOW = 2 * HOP  # 20 ms analysis window centred on the frame time


@dataclass
class NetConfig:
    n_mels: int = 64
    # The network hears the first n_ceps cepstral coefficients of the log-mel bands: the spectral
    # envelope without most of the voice's harmonics, so the pitch of a voice matters less (it lifted
    # every accuracy figure on the unseen slt voice over the bands themselves). 0: the bands.
    n_ceps: int = 12
    conv_channels: int = 128
    hidden: int = 192
    gru_layers: int = 1
    lookahead: int = 3  # frames of 10 ms: 40 ms of algorithmic latency with the analysis window

    @property
    def state_size(self) -> int:
        return HOP + 2 * self.n_features + 2 * self.conv_channels + self.gru_layers * self.hidden

    @property
    def n_features(self) -> int:
        return self.n_ceps or self.n_mels

    def to_dict(self) -> dict:
        return asdict(self)


def vtlp_warp(freqs: np.ndarray, alpha: float, sr: int = SAMPLE_RATE, f_hi: float = 6800.0) -> np.ndarray:
    """Piecewise-linear vocal tract length warp (Jaitly & Hinton 2013; Kaldi's VTLN): ``f -> alpha f``
    up to a boundary, then a straight line that keeps the Nyquist frequency where it is."""
    nyq = sr / 2
    boundary = f_hi * min(alpha, 1.0) / alpha
    upper = nyq - (nyq - f_hi * min(alpha, 1.0)) / (nyq - boundary) * (nyq - freqs)
    return np.where(freqs <= boundary, freqs * alpha, upper)


def mel_filterbank(n_mels: int, n_fft: int = WINDOW, sr: int = SAMPLE_RATE, fmin: float = 60.0,
                   fmax: float = 7600.0, warp: float = 1.0) -> np.ndarray:
    """Slaney-style triangular mel filters, (n_fft // 2 + 1, n_mels).

    ``warp`` != 1 reads the spectrum through a vocal tract length warp: formants and harmonics land
    ``warp`` times higher, as from a shorter (``warp`` > 1) or longer vocal tract. Training draws a
    warp per crop so that the few synthetic voices here stand for the whole range of adult voices.
    """

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    if warp != 1.0:
        freqs = vtlp_warp(freqs, warp, sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((freqs.size, n_mels))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        fb[:, i] = np.maximum(0, np.minimum(rising, falling)) * 2.0 / (hi - lo)
    return fb.astype(np.float32)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix (n_in, n_out): log-mel bands to cepstral coefficients."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[:, 0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def dft_matrix(n_fft: int = WINDOW) -> np.ndarray:
    """Hann-windowed real DFT as a matrix: (n_fft, 2 * (n_fft // 2 + 1)), cos columns then sin."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * k * n / n_fft
    kernel = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window], axis=0)
    return kernel.T.astype(np.float32)


class LipSyncNet(nn.Module):
    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or NetConfig()
        self.register_buffer("dft", torch.from_numpy(dft_matrix()))
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(c.n_mels)))
        if c.n_ceps:
            self.register_buffer("dct", torch.from_numpy(dct_matrix(c.n_mels, c.n_ceps)))
        self.register_buffer("feat_mean", torch.zeros(c.n_features))
        self.register_buffer("feat_std", torch.ones(c.n_features))
        self.conv1 = nn.Conv1d(c.n_features, c.conv_channels, 3)
        self.conv2 = nn.Conv1d(c.conv_channels, c.conv_channels, 3)
        self.gru = nn.GRU(c.conv_channels, c.hidden, c.gru_layers, batch_first=True)
        self.head = nn.Linear(c.hidden, len(VISEMES) + len(LIP_CHANNELS) + 1)
        n_bins = WINDOW // 2 + 1
        self._n_bins = n_bins
        # Offsets of the parts of the flat state.
        self._s_audio = (0, HOP)
        self._s_feat = (HOP, HOP + 2 * c.n_features)
        self._s_conv = (self._s_feat[1], self._s_feat[1] + 2 * c.conv_channels)
        self._s_gru = (self._s_conv[1], c.state_size)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, self.config.state_size)

    def features(self, audio: torch.Tensor, audio_ctx: torch.Tensor, mel: torch.Tensor | None = None
                ) -> torch.Tensor:
        """(B, N) audio with (B, HOP) context before it -> (B, N // HOP, n_features) normalised features:
        log-mel bands, or their first ``n_ceps`` cepstral coefficients.

        ``mel`` replaces the filterbank in training, with one (bins, n_mels) matrix per crop (B, bins,
        n_mels): the vocal tract length augmentation. The exported graph always uses the plain one.
        """
        x = torch.cat([audio_ctx, audio], dim=1)
        b = x.shape[0]
        # Frame t is the 20 ms window [t * HOP - HOP, t * HOP + HOP): two consecutive hops side by side.
        # A MatMul with the DFT matrix runs faster in onnxruntime than the equivalent strided Conv.
        frames = torch.cat([x[:, :-HOP].reshape(b, -1, HOP), x[:, HOP:].reshape(b, -1, HOP)], dim=2)
        spec = torch.matmul(frames, self.dft)  # (B, T, 2 * bins)
        re, im = spec[..., : self._n_bins], spec[..., self._n_bins :]
        feats = torch.log(torch.matmul(re * re + im * im, self.mel if mel is None else mel) + 1e-6)
        if self.config.n_ceps:
            feats = torch.matmul(feats, self.dct)
        return (feats - self.feat_mean) / self.feat_std

    def forward_logits(self, audio: torch.Tensor, state: torch.Tensor, mel: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw head outputs (B, T, 31) for ``audio`` (B, T * HOP), and the next state."""
        c = self.config
        b = audio.shape[0]
        s = self._s_audio
        audio_ctx = state[:, s[0] : s[1]]
        feats = self.features(audio, audio_ctx, mel).transpose(1, 2)  # (B, features, T)
        s = self._s_feat
        feat_ctx = state[:, s[0] : s[1]].reshape(b, c.n_features, 2)
        f = torch.cat([feat_ctx, feats], dim=2)
        h1 = torch.relu(self.conv1(f))  # (B, conv, T)
        s = self._s_conv
        conv_ctx = state[:, s[0] : s[1]].reshape(b, c.conv_channels, 2)
        h1c = torch.cat([conv_ctx, h1], dim=2)
        h2 = torch.relu(self.conv2(h1c)).transpose(1, 2)  # (B, T, conv)
        s = self._s_gru
        h0 = state[:, s[0] : s[1]].reshape(b, c.gru_layers, c.hidden).transpose(0, 1).contiguous()
        y, hn = self.gru(h2, h0)
        out = self.head(y)
        new_state = torch.cat(
            [
                torch.cat([audio_ctx, audio], dim=1)[:, -HOP:],
                f[:, :, -2:].reshape(b, -1),
                h1c[:, :, -2:].reshape(b, -1),
                hn.transpose(0, 1).reshape(b, -1),
            ],
            dim=1,
        )
        return out, new_state

    def forward(self, audio: torch.Tensor, state: torch.Tensor):
        """Streaming step: (visemes (B,T,15) probabilities, pose (B,T,15) in 0..1, vad (B,T), next state)."""
        out, new_state = self.forward_logits(audio, state)
        n_v, n_p = len(VISEMES), len(LIP_CHANNELS)
        visemes = torch.softmax(out[..., :n_v], dim=-1)
        pose = torch.sigmoid(out[..., n_v : n_v + n_p])
        vad = torch.sigmoid(out[..., n_v + n_p])
        return visemes, pose, vad, new_state
