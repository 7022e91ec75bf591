"""Phone timings to the per-frame training targets of the lip network.

Targets are sampled every 10 ms (frame k is at k * 10 ms):

- the viseme class of the phone under the frame (transparent phones such as /h/ take their neighbour's);
- the mouth/jaw pose, built with coarticulation: each phone's pose is weighted by a dominance function
  that peaks over the phone and fades into its neighbours (Cohen & Massaro 1993), so an /u/ rounds the
  /s/ before it while a /p/ still closes the lips however short it is;
- voice activity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecast.export.phonetics import (
    CLOSED_POSE,
    CMU_TO_IPA,
    SILENCE,
    phone_class,
    pose_vector,
    sampa_to_ipa,
    split_ipa,
    viseme_index,
)
from facecast.lip_channels import LIP_CHANNELS

HOP_S = 0.01
_FADE_S = 0.035  # how far (s, Gaussian sigma) a phone's shape reaches past its own edges
_CLOSURE_SHARE = 0.6  # middle share of a /p b m/ held fully closed


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    symbol: str  # an IPA base symbol from phonetics, or SILENCE


@dataclass
class FrameTargets:
    viseme: np.ndarray  # (n,) int64 viseme class
    pose: np.ndarray  # (n, len(LIP_CHANNELS)) float32
    vad: np.ndarray  # (n,) float32

    def __len__(self) -> int:
        return len(self.viseme)


def segments_from_ipa(phones: list[tuple[float, float, str]]) -> list[Segment]:
    """(start, end, IPA text) triples to segments; multi-symbol phones (diphthongs) are split in time."""
    segments: list[Segment] = []
    for start, end, text in phones:
        if end <= start:
            continue
        symbols = [SILENCE] if text in ("", SILENCE) else split_ipa(text)
        if not symbols:
            symbols = [SILENCE] if not segments else [segments[-1].symbol]
        # The first part of a diphthong is its nucleus and lasts longer than the glide.
        weights = np.array([1.5] + [1.0] * (len(symbols) - 1))
        bounds = start + (end - start) * np.concatenate([[0], np.cumsum(weights) / weights.sum()])
        for sym, a, b in zip(symbols, bounds[:-1], bounds[1:], strict=True):
            segments.append(Segment(float(a), float(b), sym))
    return segments


def segments_from_cmu(phones: list[tuple[float, float, str]]) -> list[Segment]:
    """Flite/festival phones (CMU names) to segments."""
    ipa = []
    for start, end, name in phones:
        key = name.lower().rstrip("012")
        if key not in CMU_TO_IPA:
            raise ValueError(f"unknown CMU phone {name!r}")
        ipa.append((start, end, CMU_TO_IPA[key]))
    return segments_from_ipa(ipa)


def segments_from_sampa(phones: list[tuple[float, float, str]], voice: str = "") -> list[Segment]:
    """Festival phones in a SAMPA-style set (its non-English voices) to segments."""
    try:
        return segments_from_ipa([(a, b, sampa_to_ipa(name, voice)) for a, b, name in phones])
    except KeyError as exc:
        raise ValueError(str(exc)) from None


def frame_count(duration_s: float) -> int:
    return int(np.floor(duration_s / HOP_S + 1e-6)) + 1  # epsilon: 16000 samples is 100 hops, not 99.999


def build_targets(segments: list[Segment], n_frames: int) -> FrameTargets:
    """Per-frame viseme, coarticulated pose and voice activity for ``n_frames`` frames."""
    times = np.arange(n_frames) * HOP_S
    n_ch = len(LIP_CHANNELS)
    viseme = np.zeros(n_frames, dtype=np.int64)
    vad = np.zeros(n_frames, dtype=np.float32)
    num = np.zeros((n_frames, n_ch), dtype=np.float64)
    den = np.full(n_frames, 1e-6)
    # Rest pose outside any segment (leading/trailing silence).
    rest = np.zeros(n_ch)

    resolved = _resolve_transparent(segments)
    for seg, shape_symbol in zip(segments, resolved, strict=True):
        a, b = np.searchsorted(times, [seg.start, seg.end])
        viseme[a:b] = viseme_index(shape_symbol)
        if seg.symbol != SILENCE:
            vad[a:b] = 1.0
        # Dominance: a plateau over the phone's middle, Gaussian fall-off outside it.
        mid, half = 0.5 * (seg.start + seg.end), 0.5 * (seg.end - seg.start)
        dist = np.maximum(np.abs(times - mid) - 0.6 * half, 0.0)
        dom = phone_class(seg.symbol).dominance * np.exp(-0.5 * (dist / _FADE_S) ** 2)
        num += dom[:, None] * pose_vector(shape_symbol)[None, :]
        den += dom
    pose = num / den[:, None]
    uncovered = den < 1e-3
    pose[uncovered] = rest

    # Light smoothing: real lips do not jump between frames.
    kernel = np.exp(-0.5 * (np.arange(-3, 4) / 1.0) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(pose, ((3, 3), (0, 0)), mode="edge")
    pose = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(n_ch)], axis=1)

    # Bilabials always close the lips: hold the middle of every /p b m/ at the closed pose, at least
    # the frame nearest its centre, after smoothing so nothing can reopen it.
    for seg in segments:
        if not phone_class(seg.symbol).bilabial_stop:
            continue
        mid, half = 0.5 * (seg.start + seg.end), 0.5 * (seg.end - seg.start) * _CLOSURE_SHARE
        a, b = np.searchsorted(times, [mid - half, mid + half])
        centre = min(int(round(mid / HOP_S)), n_frames - 1)
        idx = np.union1d(np.arange(a, b), [centre])
        pose[idx] = CLOSED_POSE
    return FrameTargets(viseme, pose.astype(np.float32), vad)


def _resolve_transparent(segments: list[Segment]) -> list[str]:
    """Symbol whose shape each segment shows: transparent phones borrow the next (else previous) phone's."""
    out = [s.symbol for s in segments]
    for i, seg in enumerate(segments):
        if not phone_class(seg.symbol).transparent:
            continue
        neighbour = None
        for j in list(range(i + 1, len(segments))) + list(range(i - 1, -1, -1)):
            cand = segments[j].symbol
            if cand != SILENCE and not phone_class(cand).transparent:
                neighbour = cand
                break
        out[i] = neighbour or SILENCE
    return out
