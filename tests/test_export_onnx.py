"""The shipped ONNX models are the committed checkpoints: onnxruntime and PyTorch agree."""

import numpy as np
import pytest
import torch

from facecast.errors import ModelError
from facecast.export import checkpoint_path, shipped_checkpoints
from facecast.export.onnx_export import TOLERANCE, load_checkpoint
from facecast.lipsync import HOP, LipSyncModel, shipped_models

LOOKAHEADS = sorted(shipped_models())


def test_every_shipped_model_has_its_committed_checkpoint():
    assert LOOKAHEADS, "no lip-sync model in the package"
    assert [checkpoint_path(ms) for ms in LOOKAHEADS] == shipped_checkpoints()


@pytest.mark.parametrize("lookahead_ms", LOOKAHEADS)
def test_onnx_matches_pytorch_on_real_speech(speech_audio, lookahead_ms):
    net, _ = load_checkpoint(checkpoint_path(lookahead_ms))
    model = LipSyncModel(device="cpu", lookahead_ms=lookahead_ms)
    audio = speech_audio[: speech_audio.size // HOP * HOP][None]
    state = np.zeros((1, model.state_size), dtype=np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in net(torch.from_numpy(audio), torch.from_numpy(state))]
    got = model.step(audio, state)
    for a, b in zip(got, ref, strict=True):
        assert np.abs(a - b).max() < TOLERANCE


@pytest.mark.parametrize("lookahead_ms", LOOKAHEADS)
def test_the_shipped_models_are_small_and_describe_themselves(lookahead_ms):
    model = LipSyncModel(device="cpu", lookahead_ms=lookahead_ms)
    assert model.path.stat().st_size < 20e6
    assert model.lookahead * 10 == lookahead_ms <= 60
    assert model.info["net"]["lookahead"] == model.lookahead


def test_the_default_model_hears_furthest_ahead_and_unknown_lookaheads_are_refused():
    assert LipSyncModel(device="cpu").lookahead * 10 == max(LOOKAHEADS)
    with pytest.raises(ModelError, match="no lip-sync model with 70 ms lookahead"):
        LipSyncModel(device="cpu", lookahead_ms=70)


def test_batched_sessions_match_single_sessions(speech_audio):
    model = LipSyncModel(device="cpu")
    a = speech_audio[: 100 * HOP]
    b = speech_audio[100 * HOP : 200 * HOP]
    batch = model.step(np.stack([a, b]), model.initial_state(2))
    single_b = model.step(b[None], model.initial_state(1))
    assert np.abs(batch[1][1] - single_b[1][0]).max() < 1e-5
