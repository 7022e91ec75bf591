"""The training loss asks every /p b m/ to shut the lips on at least one frame, and only inside it."""

from dataclasses import replace

import numpy as np
import torch

from facecast.export.train_lipsync import CONFIGS, Loss
from facecast.lip_channels import LIP_CHANNEL_INDEX, LIP_CHANNELS
from facecast.motion_frame import VISEME_INDEX, VISEMES

N_V, N_P = len(VISEMES), len(LIP_CHANNELS)
JAW, CLOSE = N_V + LIP_CHANNEL_INDEX["jawOpen"], N_V + LIP_CHANNEL_INDEX["mouthClose"]
PP, AA = VISEME_INDEX["PP"], VISEME_INDEX["aa"]


def _loss():
    return Loss(replace(CONFIGS["full"], segment_close_weight=1.0, segment_pp_weight=1.0), np.ones(N_V))


def _open_mouth_outputs(frames: int) -> torch.Tensor:
    out = torch.zeros(1, frames, N_V + N_P + 1)
    out[..., AA] = 5.0  # sure of an open vowel
    out[..., JAW], out[..., CLOSE] = 2.0, -4.0  # jaw well open, lips apart
    return out


def _labels(frames: int, bilabial: slice):
    viseme = torch.full((1, frames), AA)
    viseme[0, bilabial] = PP
    return viseme, torch.zeros(1, frames, N_P), torch.ones(1, frames), torch.ones(1, frames)


def test_a_bilabial_the_lips_never_shut_on_is_penalised():
    out = _open_mouth_outputs(12)
    _, parts = _loss()(out, *_labels(12, slice(4, 8)))
    assert parts["shut"] > 0.1
    assert parts["sure"] > 5.0


def test_one_shut_and_confident_frame_satisfies_the_segment():
    out = _open_mouth_outputs(12)
    out[0, 6, JAW], out[0, 6, CLOSE] = -6.0, -6.0  # aperture 0 on one frame of the segment
    out[0, 6, PP] = 12.0
    _, parts = _loss()(out, *_labels(12, slice(4, 8)))
    assert parts["shut"] == 0.0
    assert parts["sure"] < 1e-3


def test_a_shut_frame_outside_the_segment_does_not_count():
    out = _open_mouth_outputs(12)
    out[0, 10, JAW], out[0, 10, CLOSE] = -6.0, -6.0
    out[0, 10, PP] = 12.0
    _, parts = _loss()(out, *_labels(12, slice(4, 8)))
    assert parts["shut"] > 0.1
    assert parts["sure"] > 5.0


def test_each_segment_is_scored_on_its_own():
    out = _open_mouth_outputs(20)
    out[0, 3, JAW], out[0, 3, CLOSE] = -6.0, -6.0  # the first /p/ shuts, the second does not
    viseme, pose, vad, mask = _labels(20, slice(2, 5))
    viseme[0, 12:15] = PP
    _, parts = _loss()(out, viseme, pose, vad, mask)
    _, both_open = _loss()(_open_mouth_outputs(20), viseme, pose, vad, mask)
    assert 0 < parts["shut"] < both_open["shut"]
