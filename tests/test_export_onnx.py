"""The shipped ONNX models are the committed checkpoints: onnxruntime and PyTorch agree. Exporting a
checkpoint checks it and its outputs first and writes the model and its description together."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facecast.errors import FacecastError, ModelError
from facecast.export import checkpoint_path, shipped_checkpoints
from facecast.export.__main__ import main as export_main
from facecast.export.onnx_export import TOLERANCE, load_checkpoint
from facecast.lipsync import HOP, MODEL_FORMAT, LipSyncModel, shipped_models

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


# Exporting a checkpoint (tiny ones made here, no training needed)


def tiny_checkpoint(path, **changes):
    """A checkpoint as `export train --config smoke` saves it, with the held-out history going on past the
    step it holds."""
    from facecast.export.model import LipSyncNet, NetConfig
    from facecast.lip_channels import LIP_CHANNELS
    from facecast.motion_frame import VISEMES

    cfg = NetConfig(n_mels=32, conv_channels=16, hidden=16, gru_layers=1)
    net = LipSyncNet(cfg)
    ckpt = {"net": cfg.to_dict(), "state_dict": net.state_dict(),
            "history": [{"loss": 1.0, "step": 3}, {"loss": 2.0, "step": 6}], "channels": list(LIP_CHANNELS),
            "visemes": list(VISEMES), "step": 3, "config": "smoke", **changes}
    torch.save(ckpt, path)
    return path


def test_the_description_gives_the_scores_of_the_step_exported(tmp_path):
    from facecast.export.onnx_export import export_onnx

    export_onnx(tiny_checkpoint(tmp_path / "smoke.pt"), tmp_path / "m.onnx")
    for info in (json.loads((tmp_path / "m.json").read_text()), LipSyncModel(tmp_path / "m.onnx", device="cpu").info):
        assert info["train_step"] == 3 and info["val"] == {"loss": 1.0, "step": 3}


@pytest.mark.parametrize("lookahead_ms", LOOKAHEADS)
def test_the_shipped_description_gives_the_scores_of_the_shipped_step(lookahead_ms):
    model = LipSyncModel(device="cpu", lookahead_ms=lookahead_ms)
    written = json.loads(model.path.with_suffix(".json").read_text())
    for info in (model.info, written):
        assert info["val"]["step"] == info["train_step"]
    _, ckpt = load_checkpoint(checkpoint_path(lookahead_ms))
    assert written["val"] == next(h for h in ckpt["history"] if h["step"] == ckpt["step"])


@pytest.mark.parametrize("change", ["no n_ceps", "other channels"])
def test_a_checkpoint_of_another_version_is_one_line(tmp_path, capsys, change):
    ckpt = tmp_path / "old.pt"
    if change == "no n_ceps":  # as before cepstral features (16567e4): its weights have no "dct" either
        from facecast.export.model import LipSyncNet, NetConfig

        cfg = NetConfig(n_mels=32, n_ceps=0, conv_channels=16, hidden=16, gru_layers=1)
        net_dict = {k: v for k, v in cfg.to_dict().items() if k != "n_ceps"}
        tiny_checkpoint(ckpt, state_dict=LipSyncNet(cfg).state_dict())
        torch.save({**torch.load(ckpt, weights_only=False), "net": net_dict}, ckpt)
    else:
        tiny_checkpoint(ckpt, channels=["jawOpen"])
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert "a checkpoint from another facecast version" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [ckpt]


def test_both_outputs_are_checked_before_the_export(tmp_path):
    from facecast.export.onnx_export import export_onnx

    (tmp_path / "z.json").mkdir()
    with pytest.raises(FacecastError, match="z.json: is a folder"):
        export_onnx(tiny_checkpoint(tmp_path / "smoke.pt"), tmp_path / "z.onnx")
    assert not (tmp_path / "z.onnx").exists()
    with pytest.raises(FacecastError, match="does not exist"):
        export_onnx(tmp_path / "smoke.pt", tmp_path / "missing" / "m.onnx")
    assert not (tmp_path / "missing").exists()


def test_a_network_that_gives_nan_fails_verification_and_writes_nothing(tmp_path):
    """NaN compares false with the tolerance: such a model passed its check, was written, and made NaN
    motion (and, trained with the full configuration, would have replaced the shipped model)."""
    from facecast.export.model import LipSyncNet, NetConfig
    from facecast.export.onnx_export import export_onnx

    state = LipSyncNet(NetConfig(n_mels=32, conv_channels=16, hidden=16, gru_layers=1)).state_dict()
    state = {name: torch.full_like(value, float("nan")) if value.is_floating_point() else value
             for name, value in state.items()}
    with pytest.raises(FacecastError, match="failed verification .*the network gives NaN.*nothing was written"):
        export_onnx(tiny_checkpoint(tmp_path / "nan.pt", state_dict=state), tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.pt"]


def test_a_failed_write_changes_neither_the_model_nor_its_description(tmp_path, monkeypatch):
    from facecast.export.onnx_export import export_onnx

    ckpt = tiny_checkpoint(tmp_path / "smoke.pt")
    model, description = tmp_path / "m.onnx", tmp_path / "m.json"
    model.write_bytes(b"old model")
    old_description = json.dumps({"format": MODEL_FORMAT, "lookahead": 3})  # an earlier export's
    description.write_text(old_description)
    real_write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if "m.json" in self.name:
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises((FacecastError, OSError)):
        export_onnx(ckpt, model)
    assert model.read_bytes() == b"old model" and description.read_text() == old_description
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.onnx", "smoke.pt"]


@pytest.mark.parametrize("beside", ['{"generator": "facecast 0.1.0", "frames": []}', "not json", "[1, 2]"])
def test_an_export_never_writes_over_a_json_file_of_the_users(tmp_path, capsys, beside):
    """The model's description goes beside it as NAME.json: `--out take.onnx` replaced a motion file take.json."""
    ckpt = tiny_checkpoint(tmp_path / "smoke.pt")
    (tmp_path / "take.json").write_text(beside)
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(tmp_path / "take.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert "take.json: exists and is not a facecast model's description" in err and len(err.splitlines()) == 1
    assert (tmp_path / "take.json").read_text() == beside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smoke.pt", "take.json"]


@pytest.mark.parametrize("kind", ["smoke", "older, small network"])
def test_a_smoke_checkpoint_does_not_replace_the_shipped_model(tmp_path, monkeypatch, capsys, kind):
    from facecast.export import onnx_export

    shipped = tmp_path / "shipped" / "lipsync_lookahead30.onnx"
    shipped.parent.mkdir()
    monkeypatch.setattr(onnx_export, "model_file", lambda ms: shipped)  # never the real one, whatever happens
    ckpt = tiny_checkpoint(tmp_path / "smoke.pt")
    if kind != "smoke":  # saved before checkpoints named their configuration
        torch.save({k: v for k, v in torch.load(ckpt, weights_only=False).items() if k != "config"}, ckpt)
    assert export_main(["onnx", "--checkpoint", str(ckpt)]) == 1
    assert "--out" in capsys.readouterr().err
    assert list(shipped.parent.iterdir()) == []
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(tmp_path / "mine.onnx")]) == 0


def test_the_committed_checkpoints_are_of_the_full_configuration():
    from facecast.export.onnx_export import checkpoint_config

    for path in shipped_checkpoints():
        assert checkpoint_config(load_checkpoint(path)[1]) == "full"
