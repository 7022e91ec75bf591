"""The shipped ONNX model is the committed checkpoint: onnxruntime and PyTorch agree."""

import numpy as np
import torch

from facecast.export import DEFAULT_CHECKPOINT
from facecast.export.onnx_export import TOLERANCE, load_checkpoint
from facecast.lipsync import HOP, LipSyncModel


def test_onnx_matches_pytorch_on_real_speech(speech_audio):
    net, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    model = LipSyncModel(device="cpu")
    audio = speech_audio[: speech_audio.size // HOP * HOP][None]
    state = np.zeros((1, model.state_size), dtype=np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in net(torch.from_numpy(audio), torch.from_numpy(state))]
    got = model.step(audio, state)
    for a, b in zip(got, ref, strict=True):
        assert np.abs(a - b).max() < TOLERANCE


def test_the_shipped_model_is_small_and_describes_itself():
    model = LipSyncModel(device="cpu")
    assert model.path.stat().st_size < 20e6
    assert model.lookahead * 10 <= 60
    assert model.info["net"]["lookahead"] == model.lookahead


def test_batched_sessions_match_single_sessions(speech_audio):
    model = LipSyncModel(device="cpu")
    a = speech_audio[: 100 * HOP]
    b = speech_audio[100 * HOP : 200 * HOP]
    batch = model.step(np.stack([a, b]), model.initial_state(2))
    single_b = model.step(b[None], model.initial_state(1))
    assert np.abs(batch[1][1] - single_b[1][0]).max() < 1e-5

