"""The whole training path runs: corpus synthesis, a few training steps, ONNX export, runtime load."""

import json

import numpy as np

from facecast.export.__main__ import main as export_main
from facecast.export.corpus import TRAIN_VOICES
from facecast.lipsync import LipSyncModel


def differing_utterances(first, second) -> list[str]:
    """The utterances (voice, augmentation, text) whose audio differs between two corpus splits."""
    a, b = np.load(first), np.load(second)
    assert np.array_equal(a["audio_offsets"], b["audio_offsets"])
    bounds = a["audio_offsets"]
    return [f"{a['voice'][i]} [{a['augmentation'][i]}] {a['text'][i]!r}: up to "
            f"{np.abs(a['audio'][lo:hi].astype(int) - b['audio'][lo:hi]).max()}"
            for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
            if not np.array_equal(a["audio"][lo:hi], b["audio"][lo:hi])]


def test_corpus_train_export_round_trip(tmp_path, speech_audio):
    corpus = tmp_path / "corpus"
    from facecast.export.corpus import build_corpus

    summary = build_corpus(corpus, hours=0.01, seed=5, workers=1, val_per_voice=1)
    assert summary["train"]["utterances"] >= 16
    # Every voice is in both splits: a voice without utterances stops the build.
    assert len(summary["train"]["voices"]) == len(summary["val"]["voices"]) == len(TRAIN_VOICES)
    assert len(summary["voices"]) == len(TRAIN_VOICES)
    assert set(summary["languages"]) == {"en", "es", "de", "fr", "ca", "it", "cs", "fi"}
    assert not any("slt" in voice for voice in summary["train"]["voices"])
    build_corpus(tmp_path / "again", hours=0.01, seed=5, workers=2, val_per_voice=1)
    assert differing_utterances(corpus / "train.npz", tmp_path / "again" / "train.npz") == []

    ckpt, onnx_path = tmp_path / "smoke.pt", tmp_path / "smoke.onnx"
    assert export_main(["train", "--corpus", str(corpus), "--out", str(ckpt), "--config", "smoke"]) == 0
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(onnx_path)]) == 0
    report = json.loads(onnx_path.with_suffix(".json").read_text())["verification"]
    assert report["torch_vs_onnx_max_abs"] < 1e-4 and report["stream_vs_whole_max_abs"] < 1e-4

    frames = LipSyncModel(onnx_path, device="cpu").infer(speech_audio)
    assert len(frames) == speech_audio.size // 160 + 1
