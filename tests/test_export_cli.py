"""The export commands (corpus, train, render) fail early and in one line, and leave no half-written files."""

import json
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facecast.errors import FacecastError
from facecast.export import corpus as corpus_module
from facecast.export import train_lipsync
from facecast.export.__main__ import main as export_main
from facecast.export.corpus import build_corpus, save_split
from facecast.export.targets import Segment
from facecast.export.text import sentence
from facecast.export.tts import Utterance, Voice

ENGLISH, SPANISH = Voice("espeak", "en-us+m3", "en"), Voice("espeak", "es+m2", "es")
FAKE_VOICES = ((ENGLISH, 0.5, 4.0), (SPANISH, 0.5, 4.0))


def fake_utterance(voice: Voice, text: str, seconds: float = 2.0, seed: int = 0) -> Utterance:
    """Noise with a /p/ in it: enough for the corpus and the training code, no synthesizer needed."""
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    third = seconds / 3
    segments = [Segment(0.0, third, "a"), Segment(third, 2 * third, "p"), Segment(2 * third, seconds, "a")]
    return Utterance(audio, segments, voice.id, text)


def fake_synthesize(voice: Voice, text: str) -> Utterance:
    return fake_utterance(voice, text)


def write_corpus(folder: Path) -> Path:
    """A small corpus as `export corpus` writes it (6 s of training speech, 2 held-out utterances)."""
    folder.mkdir()
    train = [(fake_utterance(ENGLISH, "a", 3.0, seed=i), []) for i in range(2)]
    val = [(fake_utterance(SPANISH, "b", 1.5, seed=10 + i), []) for i in range(2)]
    summary = {"train": save_split(folder / "train.npz", train), "val": save_split(folder / "val.npz", val)}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus")


def only_sox_on_path(tmp_path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sox").symlink_to(subprocess.check_output(["which", "sox"], text=True).strip())
    monkeypatch.setenv("PATH", str(bin_dir))


# Corpus


def test_missing_synthesizers_stop_the_corpus_before_any_work(tmp_path, monkeypatch):
    only_sox_on_path(tmp_path, monkeypatch)  # no flite, no festival (the reviewer's 17 of 27 voices)
    out = tmp_path / "corpus"
    with pytest.raises(FacecastError, match=r"needs flite, festival.*apt install flite festival"):
        build_corpus(out, hours=0.001, workers=1, val_per_voice=1)
    assert not out.exists()


def test_the_summary_lists_the_voices_and_languages_of_the_corpus(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", FAKE_VOICES)
    monkeypatch.setattr(corpus_module, "synthesize", fake_synthesize)
    summary = build_corpus(tmp_path / "whole", hours=0.002, workers=1, val_per_voice=1)
    assert summary["languages"] == ["en", "es"]
    assert [v["name"] for v in summary["voices"]] == ["en-us+m3", "es+m2"]



def test_a_voice_the_synthesizer_lacks_stops_the_corpus_before_any_work(tmp_path, monkeypatch):
    missing = Voice("espeak", "zz-nosuch+m9", "en")  # real espeak-ng, asked for a voice it does not have
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", ((ENGLISH, 0.5, 4.0), (missing, 0.5, 4.0)))
    monkeypatch.setattr(corpus_module, "synthesize_set", _no_synthesis)
    out = tmp_path / "corpus"
    with pytest.raises(FacecastError, match=r"voices not installed: espeak:zz-nosuch\+m9"):
        build_corpus(out, hours=0.002, workers=1, val_per_voice=1)
    assert not out.exists()


def _no_synthesis(*args, **kwargs):
    raise AssertionError("synthesis started before the output folder was checked")


@pytest.mark.parametrize("kind", ["file", "unwritable", "missing parent"])
def test_the_corpus_folder_is_checked_before_any_work(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.setattr(corpus_module, "synthesize_set", _no_synthesis)
    out = {"file": tmp_path / "a_file", "unwritable": Path("/proc"), "missing parent": tmp_path / "no" / "corpus"}[kind]
    if kind == "file":
        out.write_text("not a folder")
    assert export_main(["corpus", "--out", str(out), "--hours", "0.001"]) == 1
    err = capsys.readouterr().err
    expected = {"file": "is a file", "unwritable": "/proc: cannot write there", "missing parent": "does not exist"}
    assert expected[kind] in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists()


def test_an_interrupted_corpus_leaves_no_summary_and_no_half_split(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", FAKE_VOICES)
    monkeypatch.setattr(corpus_module, "synthesize", fake_synthesize)
    out = write_corpus(tmp_path / "corpus")
    before = (out / "train.npz").read_bytes()
    calls = []

    def interrupted_savez(file, **arrays):  # a write cut short half-way
        (open(file, "wb") if isinstance(file, str | Path) else file).write(b"PK half a zip")
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(corpus_module.np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(out, hours=0.002, workers=1, val_per_voice=1)
    assert calls
    assert (out / "train.npz").read_bytes() == before  # the old split, whole
    assert sorted(p.name for p in out.iterdir()) == ["train.npz", "val.npz"]  # no temporary file, no summary
    with pytest.raises(FacecastError, match="no summary.json.*rebuild with facecast export corpus"):
        train_lipsync.train(out, tmp_path / "x.pt", config="smoke")


def test_the_hours_help_says_the_held_out_sentences_change_with_hours(capsys):
    with pytest.raises(SystemExit):
        export_main(["corpus", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "fixed" not in text and "change with --hours" in text
    # ... as they do: the held-out sentences are numbered after the training ones.
    held_out = {hours: [sentence(corpus_module._job_rng(seed, split, index)[0], voice.language)
                        for voice, seed, index, split, _, _ in corpus_module.corpus_jobs(hours, 0, 8, True)[1]]
                for hours in (0.001, 1.0)}
    assert held_out[0.001] != held_out[1.0]


# Training


def test_training_without_a_finite_held_out_loss_saves_nothing(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(train_lipsync, "evaluate", lambda net, stream, loss_fn: {"loss": math.nan, "viseme_acc": 0.0})
    existing = tmp_path / "existing.pt"
    torch.save({"history": [{"step": 500, "loss": 0.3}], "step": 500}, existing)
    before = existing.read_bytes()
    with pytest.raises(FacecastError, match="no finite held-out loss.*nothing saved"):
        train_lipsync.train(corpus, existing, config="smoke")
    assert existing.read_bytes() == before
    missing = tmp_path / "new.pt"
    with pytest.raises(FacecastError, match="no finite held-out loss"):
        train_lipsync.train(corpus, missing, config="smoke")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "existing.pt"]


def test_the_checkpoint_holds_the_best_step_and_the_whole_history(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(train_lipsync.CONFIGS, "smoke", replace(train_lipsync.CONFIGS["smoke"], max_steps=6))
    losses, weights = iter([1.0, 2.0]), []

    def evaluate(net, stream, loss_fn):
        weights.append({k: v.clone() for k, v in net.state_dict().items()})
        return {"loss": next(losses), "viseme_acc": 0.5}

    monkeypatch.setattr(train_lipsync, "evaluate", evaluate)
    out = tmp_path / "smoke.pt"
    train_lipsync.train(corpus, out, config="smoke")
    ckpt = torch.load(out, weights_only=False)
    assert ckpt["step"] == 3 and [h["step"] for h in ckpt["history"]] == [3, 6]
    assert ckpt["config"] == "smoke"
    assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in weights[0].items())
    assert not all(torch.equal(ckpt["state_dict"][k], v) for k, v in weights[1].items())


@pytest.mark.parametrize("args", [
    ["--warmup", "-5"], ["--ceps", "-3"], ["--ceps", "100"], ["--segment-pp=-1"], ["--segment-close", "nan"],
    ["--segment-close", "inf"], ["--config", "smoke", "--ceps", "33"], ["--config", "smoke", "--lookahead", "80"],
    ["--config", "smoke", "--warmup", "77", "--lookahead", "3"],
])  # fmt: skip
def test_training_numbers_out_of_range_are_usage_errors(tmp_path, capsys, args):
    argv = ["train", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "x.pt"), *args]
    with pytest.raises(SystemExit) as stop:
        export_main(argv)
    assert stop.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_training_settings_are_checked_by_the_function_too(corpus, tmp_path):
    with pytest.raises(FacecastError, match="under the 80 frames"):
        train_lipsync.train(corpus, tmp_path / "x.pt", config="smoke", warmup=70, lookahead=10)


@pytest.mark.parametrize("damage", ["truncated", "missing key", "no summary", "another corpus's summary"])
def test_a_damaged_corpus_is_one_line(corpus, tmp_path, capsys, damage):
    train_npz = corpus / "train.npz"
    if damage == "truncated":
        train_npz.write_bytes(train_npz.read_bytes()[:1000])
    elif damage == "missing key":
        arrays = dict(np.load(train_npz))
        del arrays["frame_offsets"]
        np.savez(train_npz, **arrays)
    elif damage == "no summary":
        (corpus / "summary.json").unlink()
    else:
        summary = json.loads((corpus / "summary.json").read_text())
        summary["train"]["utterances"] = 5
        (corpus / "summary.json").write_text(json.dumps(summary))
    argv = ["train", "--corpus", str(corpus), "--out", str(tmp_path / "x.pt"), "--config", "smoke"]
    assert export_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "rebuild with facecast export corpus" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_training_does_not_make_the_output_folder(corpus, tmp_path):
    with pytest.raises(FacecastError, match="does not exist"):
        train_lipsync.train(corpus, tmp_path / "missing" / "x.pt", config="smoke")
    assert not (tmp_path / "missing").exists()


# Interrupts


def test_ctrl_c_is_one_line_and_status_130(corpus, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_lipsync, "train", interrupted)
    argv = ["train", "--corpus", str(corpus), "--out", str(tmp_path / "x.pt"), "--config", "smoke"]
    try:
        status = export_main(argv)
    except KeyboardInterrupt:
        pytest.fail("the interrupt reached the caller (a traceback on the command line)")
    assert status == 130
    assert capsys.readouterr().err.strip() == "python -m facecast.export train: interrupted"


def test_sigterm_during_render_export_removes_its_temporary_file(tmp_path):
    """A job killed while the model is being written stops as Ctrl-C does: no temporary file is left."""
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        import torch
        from facecast.export.__main__ import main

        def export(net, inputs, path, **kwargs):
            open(path, "wb").write(b"half a model")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)

        torch.onnx.export = export
        sys.exit(main(["render", "--out", {str(out_dir / "render.onnx")!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "python -m facecast.export render: interrupted"
    assert "Traceback" not in proc.stderr
    assert list(out_dir.iterdir()) == []
