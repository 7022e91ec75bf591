"""The export commands (corpus, train, render) fail early and in one line, and leave no half-written files."""

import json
import math
import os
import shutil
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
from facecast.export.corpus import build_corpus
from facecast.export.onnx_export import load_checkpoint
from facecast.export.text import sentence
from facecast.export.tts import Voice
from facecast.motion_frame import VISEMES

# The corpus tests synthesize with two espeak-ng voices (the fastest engine) instead of all of TRAIN_VOICES.
ENGLISH, SPANISH = Voice("espeak", "en-us+m3", "en"), Voice("espeak", "es+m2", "es")
TWO_VOICES = ((ENGLISH, 0.5, 4.0), (SPANISH, 0.5, 4.0))
HOURS = 0.002  # one training utterance a voice, about 7 s of speech: enough for the smoke configuration


@pytest.fixture(scope="module")
def built_corpus(tmp_path_factory) -> Path:
    """A real corpus, as `export corpus` writes it, of the two voices: 2 training and 2 held-out utterances."""
    out = tmp_path_factory.mktemp("built") / "corpus"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus_module, "TRAIN_VOICES", TWO_VOICES)
        build_corpus(out, hours=HOURS, workers=1, val_per_voice=1)
    return out


@pytest.fixture
def corpus(built_corpus, tmp_path) -> Path:
    """A copy of the built corpus, for the test to damage or rebuild."""
    return Path(shutil.copytree(built_corpus, tmp_path / "corpus"))


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


def test_the_summary_lists_the_voices_and_languages_of_the_corpus(built_corpus):
    summary = json.loads((built_corpus / "summary.json").read_text())
    assert summary["languages"] == ["en", "es"]
    assert [v["name"] for v in summary["voices"]] == ["en-us+m3", "es+m2"]
    assert sorted(summary["train"]["voices"]) == sorted(summary["val"]["voices"]) == [ENGLISH.id, SPANISH.id]


def test_a_voice_the_synthesizer_lacks_stops_the_corpus_before_any_work(tmp_path, monkeypatch):
    missing = Voice("espeak", "zz-nosuch+m9", "en")  # real espeak-ng, asked for a voice it does not have
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", ((ENGLISH, 0.5, 4.0), (missing, 0.5, 4.0)))
    out = tmp_path / "corpus"
    with pytest.raises(FacecastError, match=r"voices not installed: espeak:zz-nosuch\+m9"):
        build_corpus(out, hours=HOURS, workers=1, val_per_voice=1)
    assert list(tmp_path.iterdir()) == []  # no folder made, nothing synthesized into it


def test_a_voice_that_lists_but_never_speaks_stops_the_corpus_with_nothing_written(tmp_path, monkeypatch):
    # A broken flite install: it lists its voices, so the check before the work passes, then fails every
    # sentence. The corpus would quietly lose the voice; it stops instead, naming it.
    real = shutil.which("flite")
    if real is None:
        pytest.skip("flite is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "flite").write_text(f'#!/bin/sh\n[ "$1" = -lv ] && exec {real} -lv\necho "flite: crashed" >&2\nexit 1\n')
    (bin_dir / "flite").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    kal = Voice("flite", "kal", "en")
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", ((ENGLISH, 0.5, 4.0), (kal, 0.5, 4.0)))
    out = tmp_path / "corpus"
    with pytest.raises(FacecastError, match=r"no training utterance could be synthesized with flite:kal; nothing"):
        build_corpus(out, hours=HOURS, workers=1, val_per_voice=1)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "unwritable", "missing parent"])
def test_the_corpus_folder_is_checked_before_any_work(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", TWO_VOICES)  # a check made too late costs a second, not hours
    out = {"file": tmp_path / "a_file", "unwritable": Path("/proc"), "missing parent": tmp_path / "no" / "corpus"}[kind]
    if kind == "file":
        out.write_text("not a folder")
    assert export_main(["corpus", "--out", str(out), "--hours", "0.001"]) == 1
    err = capsys.readouterr().err
    expected = {"file": "is a file", "unwritable": "/proc: cannot write there", "missing parent": "does not exist"}
    assert "train corpus" not in err  # no synthesis (its progress bar) before the error
    assert expected[kind] in err and len(err.strip().splitlines()) == 1, err
    assert [(p.name, p.read_text()) for p in tmp_path.iterdir()] == ([("a_file", "not a folder")] if kind == "file"
                                                                      else [])


def test_a_synthesis_child_whose_parent_is_killed_does_not_stay_behind():
    """espeak-ng runs in a forked child that sends its audio back through a pipe. With the parent gone, the
    child's write of more than the pipe's 64 KiB waited forever (it held the read end open itself): a
    stopped corpus build left such processes."""
    import signal
    import time

    token = f"facecast-synthesis-child-{os.getpid()}"
    code = textwrap.dedent("""
        from facecast.export.tts import Voice, synthesize
        synthesize(Voice("espeak", "en", "en"), "warm up")
        print("ready", flush=True)
        synthesize(Voice("espeak", "en", "en"), " ".join(["This sentence keeps the synthesizer busy."] * 12))
    """)
    parent = subprocess.Popen([sys.executable, "-c", code, token], stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "ready"
    time.sleep(0.05)  # into the long utterance, in its child
    parent.kill()
    parent.wait()
    deadline, left = time.monotonic() + 20, ["?"]
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = subprocess.run(["pgrep", "-f", token], capture_output=True, text=True).stdout.split()
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    assert not left, "the synthesis child outlived its parent"


@pytest.mark.parametrize("stop", ["writing the training split", "making the held-out sentences"])
def test_a_rebuild_stopped_half_way_leaves_the_old_corpus_as_it_was(corpus, tmp_path, monkeypatch, stop):
    """Rebuilding a corpus in its own folder (another seed: other splits) and stopping it costs nothing: the
    old corpus is still whole, summary and all, and nothing of the new one is left beside it."""
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", TWO_VOICES)
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    calls = []
    if stop == "writing the training split":
        def interrupted_savez(file, **arrays):  # a write cut short half-way
            (open(file, "wb") if isinstance(file, str | Path) else file).write(b"PK half a zip")
            calls.append(1)
            raise KeyboardInterrupt

        monkeypatch.setattr(corpus_module.np, "savez", interrupted_savez)
    else:  # the new training split is written by then
        made = corpus_module.synthesize_set

        def stopped_on_held_out(jobs, workers, desc):
            if desc.startswith("held-out"):
                calls.append(1)
                raise KeyboardInterrupt
            return made(jobs, workers, desc)

        monkeypatch.setattr(corpus_module, "synthesize_set", stopped_on_held_out)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(corpus, hours=HOURS, seed=1, workers=1, val_per_voice=1)
    assert calls
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before  # every file whole, none added
    assert set(before) == {"summary.json", "train.npz", "val.npz"}
    train_lipsync.load_corpus(corpus, 400)  # and train reads it


def test_a_rebuild_replaces_the_corpus_once_it_is_whole(corpus, monkeypatch):
    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", TWO_VOICES)
    before = json.loads((corpus / "summary.json").read_text())
    build_corpus(corpus, hours=HOURS, seed=1, workers=1, val_per_voice=1)
    after = json.loads((corpus / "summary.json").read_text())
    assert before["seed"] == 0 and after["seed"] == 1
    assert sorted(p.name for p in corpus.iterdir()) == ["summary.json", "train.npz", "val.npz"]
    with np.load(corpus / "train.npz") as split:
        assert len(split["audio_offsets"]) - 1 == after["train"]["utterances"]


def test_a_corpus_stopped_after_its_training_split_leaves_neither_it_nor_its_workers_files(tmp_path, monkeypatch):
    """Stopped while the held-out sentences are made: the training split this run wrote goes, and so do the
    synthesis workers' temporary files, which a worker ended by a signal cannot remove itself."""
    import tempfile

    monkeypatch.setattr(corpus_module, "TRAIN_VOICES", TWO_VOICES)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    made = corpus_module.synthesize_set

    def stopped_on_held_out(jobs, workers, desc):
        if desc.startswith("held-out"):
            raise KeyboardInterrupt
        return made(jobs, workers, desc)

    monkeypatch.setattr(corpus_module, "synthesize_set", stopped_on_held_out)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(tmp_path / "corpus", hours=HOURS, seed=0, workers=1, val_per_voice=1)
    assert list((tmp_path / "corpus").iterdir()) == []  # the folder stays, as the user named it
    assert list((tmp_path / "tmp").iterdir()) == []  # the workers' scratch folder is gone


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
    # A learning rate so large that the first steps overflow the weights: every held-out loss is NaN.
    monkeypatch.setitem(train_lipsync.CONFIGS, "smoke", replace(train_lipsync.CONFIGS["smoke"], lr=1e30))
    existing = tmp_path / "existing.pt"
    torch.save({"history": [{"step": 500, "loss": 0.3}], "step": 500}, existing)
    before = existing.read_bytes()
    with pytest.raises(FacecastError, match=r"no finite held-out loss in 3 steps \(\S+\); nothing saved"):
        train_lipsync.train(corpus, existing, config="smoke")
    assert existing.read_bytes() == before
    missing = tmp_path / "new.pt"
    with pytest.raises(FacecastError, match="no finite held-out loss"):
        train_lipsync.train(corpus, missing, config="smoke")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "existing.pt"]


def test_the_checkpoint_holds_the_best_step_and_the_whole_history(corpus, tmp_path, monkeypatch):
    # A learning rate far too high: the run diverges, so its held-out loss is best at an early evaluation
    # and the weights it ends with are not the ones to keep. Evaluations at steps 2 and 4 and the last, 5.
    smoke = replace(train_lipsync.CONFIGS["smoke"], lr=1000.0, max_steps=5, eval_every=2)
    monkeypatch.setitem(train_lipsync.CONFIGS, "smoke", smoke)
    out = tmp_path / "smoke.pt"
    result = train_lipsync.train(corpus, out, config="smoke")
    net, ckpt = load_checkpoint(out)
    history = ckpt["history"]
    assert [h["step"] for h in history] == [2, 4, 5]
    best = min((h for h in history if math.isfinite(h["loss"])), key=lambda h: h["loss"])
    assert ckpt["step"] == best["step"] < history[-1]["step"]
    assert result["best_val_loss"] == best["loss"] and result["steps"] == 5
    assert ckpt["config"] == "smoke" and ckpt["train"]["lr"] == 1000.0
    # The weights saved are the best step's: scored again on the held-out split, they give its loss.
    train_stream, val_stream = train_lipsync.load_corpus(corpus, 400)
    counts = np.bincount(train_stream.viseme, minlength=len(VISEMES)).astype(np.float64)
    loss_fn = train_lipsync.Loss(train_lipsync.TrainConfig(**ckpt["train"]), counts)
    again = train_lipsync.evaluate(net, val_stream, loss_fn)
    assert again["loss"] == pytest.approx(best["loss"], rel=1e-5)
    assert again["viseme_acc"] == pytest.approx(best["viseme_acc"], abs=1e-6)
    assert not train_lipsync.partial_path(out).exists()  # the run's best so far went with its end


def test_a_training_stopped_half_way_leaves_a_finished_checkpoint_as_it_was(corpus, tmp_path, monkeypatch, capsys):
    """Ctrl-C after an evaluation (or a second run into the same file) no longer puts a half-trained network
    in place of a finished one: the output is written when the run ends, and the best so far waits beside it."""
    smoke = replace(train_lipsync.CONFIGS["smoke"], max_steps=6, eval_every=2)
    monkeypatch.setitem(train_lipsync.CONFIGS, "smoke", smoke)
    out = tmp_path / "mine.pt"
    train_lipsync.train(corpus, out, config="smoke")  # a finished run
    finished = out.read_bytes()
    evaluate, evaluations = train_lipsync.evaluate, []

    def stopped_at_the_second_evaluation(*args, **kwargs):
        evaluations.append(1)
        if len(evaluations) == 2:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train_lipsync, "evaluate", stopped_at_the_second_evaluation)
    argv = ["train", "--corpus", str(corpus), "--out", str(out), "--config", "smoke", "--seed", "1"]
    assert export_main(argv) == 130
    assert out.read_bytes() == finished
    partial = tmp_path / "mine.partial.pt"
    net, ckpt = load_checkpoint(partial)
    assert ckpt["step"] == 2 and ckpt["config"] == "smoke"
    err = capsys.readouterr().err
    assert "best so far (step 2, held-out loss " in err and f"is in {partial}; {out} is as it was" in err
    # Training into it again would write over that best at its first evaluation: refused until it is moved.
    monkeypatch.setattr(train_lipsync, "evaluate", evaluate)
    assert export_main(argv) == 1
    assert f"{partial}: holds the best of a training that was stopped" in capsys.readouterr().err
    assert out.read_bytes() == finished and load_checkpoint(partial)[1]["step"] == 2


def test_a_stopped_runs_partial_checkpoint_is_not_a_committed_one(tmp_path, monkeypatch):
    import facecast.export as export_package

    for name in ("lipsync_lookahead30.pt", "lipsync_lookahead30.partial.pt", "lipsync_lookahead50.pt"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(export_package, "CHECKPOINTS", tmp_path)
    assert [p.name for p in export_package.shipped_checkpoints()] == ["lipsync_lookahead30.pt",
                                                                     "lipsync_lookahead50.pt"]


@pytest.mark.parametrize("args", [
    ["--warmup", "-5"], ["--ceps", "-3"], ["--ceps", "100"], ["--segment-pp=-1"], ["--segment-close", "nan"],
    ["--segment-close", "inf"], ["--config", "smoke", "--ceps", "33"], ["--config", "smoke", "--lookahead", "80"],
    ["--config", "smoke", "--warmup", "77", "--lookahead", "3"],
    ["--lookahead", "0"], ["--lookahead", "1"],  # facecast's head motion reads 2 frames ahead: unusable models
])  # fmt: skip
def test_training_numbers_out_of_range_are_usage_errors(tmp_path, capsys, args):
    argv = ["train", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "x.pt"), *args]
    with pytest.raises(SystemExit) as stop:
        export_main(argv)
    assert stop.value.code == 2
    assert "must be" in capsys.readouterr().err


@pytest.mark.parametrize("hours", ["inf", "1e9", "nan", "0", "-1"])
def test_corpus_hours_out_of_range_are_usage_errors_before_any_folder(tmp_path, capsys, hours):
    """inf raised an OverflowError with a traceback, and 1e9 filled 24 GB with the job list."""
    with pytest.raises(SystemExit) as stop:
        export_main(["corpus", "--out", str(tmp_path / "c"), "--hours", hours])
    assert stop.value.code == 2 and "--hours must be" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("argv, out, says", [
    # `--out CORPUS/train.npz` trained, then wrote the checkpoint over its own corpus.
    (["train", "--config", "smoke", "--corpus"], "c/train.npz", "name the checkpoint .pt"),
    # `--out PACK.facecast --pack PACK.facecast` replaced the avatar pack with the network.
    (["render", "--pack"], "pack.facecast", "name the render network .onnx"),
])
def test_export_outputs_must_be_named_for_what_they_hold(tmp_path, capsys, argv, out, says):
    (tmp_path / "c").mkdir()
    (tmp_path / out).write_bytes(b"what was there")
    argv = [*argv, str(tmp_path / ("c" if argv[0] == "train" else out)), "--out", str(tmp_path / out)]
    assert export_main(argv) == 1
    assert says in capsys.readouterr().err
    assert (tmp_path / out).read_bytes() == b"what was there"


@pytest.mark.parametrize("argv, usage", [
    (["render", "--whole-frame"], "usage: facecast export render"),
    (["train", "--config", "smoke"], "usage: facecast export train"),
])
def test_a_usage_error_shows_its_own_commands_usage(capsys, argv, usage):
    with pytest.raises(SystemExit) as stop:  # they showed `facecast export`'s, listing the commands
        export_main(argv, prog="facecast export")
    assert stop.value.code == 2 and capsys.readouterr().err.startswith(usage)


def test_a_missing_corpus_or_a_folder_for_a_checkpoint_is_named_as_such(tmp_path, capsys):
    assert export_main(["train", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "x.pt"),
                        "--config", "smoke"]) == 1
    assert "nope: no such folder; make one with facecast export corpus" in capsys.readouterr().err  # "no train.npz"
    assert export_main(["onnx", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "x.onnx")]) == 1
    assert "is a folder, not a checkpoint" in capsys.readouterr().err  # it said "no such checkpoint"


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
    def interrupted(*args, **kwargs):  # Ctrl-C while numpy reads the corpus
        raise KeyboardInterrupt

    monkeypatch.setattr(train_lipsync.np, "load", interrupted)
    argv = ["train", "--corpus", str(corpus), "--out", str(tmp_path / "x.pt"), "--config", "smoke"]
    try:
        status = export_main(argv)
    except KeyboardInterrupt:
        pytest.fail("the interrupt reached the caller (a traceback on the command line)")
    assert status == 130
    assert capsys.readouterr().err.strip() == "python -m facecast.export train: interrupted"
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("seen_as", ["KeyboardInterrupt", "another error"])
def test_ctrl_c_while_torch_and_onnx_load_is_one_line_and_status_130(tmp_path, monkeypatch, capsys, seen_as):
    """They take seconds to load, before any work: a traceback there was the last thing a user saw, and a
    Ctrl-C inside onnx's import came out as "onnx cannot be imported (maximum recursion depth exceeded)"."""
    import importlib
    import signal
    import time

    def interrupted(name, *args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, through the handler that is installed
            time.sleep(5)
        except KeyboardInterrupt:
            if seen_as == "another error":  # as an import's own clean-up may turn it
                raise RecursionError("maximum recursion depth exceeded") from None
            raise

    monkeypatch.setattr(importlib, "import_module", interrupted)
    assert export_main(["onnx", "--checkpoint", str(tmp_path / "x.pt"), "--out", str(tmp_path / "x.onnx")]) == 130
    assert capsys.readouterr().err.strip() == "python -m facecast.export onnx: interrupted"


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


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """facecast as `pip install` puts it in site-packages (its wheel, unpacked): no source folder around it.
    Built from a copy of the source, so setuptools' build folder lands there; with the environment's
    setuptools (the dev extra's), so the test needs no network."""
    folder = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parents[1]
    source = Path(shutil.copytree(root, folder / "source", ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "node_modules", "__pycache__", ".*_cache", "tests", "corpus*")))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(folder)], check=True, capture_output=True)
    site = folder / "site-packages"
    shutil.unpack_archive(next(folder.glob("facecast-*.whl")), site, format="zip")
    return site


def test_the_installed_package_carries_its_models_its_data_and_its_type_hints(installed_wheel):
    package = installed_wheel / "facecast"
    assert (package / "py.typed").is_file()  # type checkers read the hints of an installed facecast
    assert {p.name for p in (package / "models").glob("*.onnx")} >= {"render.onnx", "render_gpu.onnx"}
    assert (package / "data" / "default_portrait.facecast").is_file()


@pytest.mark.parametrize("argv, flags", [
    (["onnx"], "--checkpoint and --out"),
    (["onnx", "--checkpoint", "x.pt"], "--out"),
    (["train", "--corpus", "corpus"], "--out"),
    (["render"], "--out"),
])
def test_an_installed_facecast_never_exports_into_its_own_package(installed_wheel, tmp_path, argv, flags):
    env = dict(os.environ, PYTHONPATH=str(installed_wheel))
    run = subprocess.run([sys.executable, "-m", "facecast.export", *argv], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert f"without {flags}, {argv[0]} reads or replaces the files of facecast's source folder" in run.stderr
    assert "pip install -e" in run.stderr
    files = {p.relative_to(installed_wheel) for p in installed_wheel.rglob("*")}
    assert not any(p.suffix == ".pt" for p in files) and list(tmp_path.iterdir()) == []


def test_an_installed_facecast_exports_where_it_is_told(installed_wheel, corpus, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(installed_wheel))
    out = tmp_path / "smoke.pt"
    run = subprocess.run([sys.executable, "-m", "facecast.export", "train", "--corpus", str(corpus), "--out", str(out),
                          "--config", "smoke"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "site-packages" in subprocess.run(  # the wheel's copy ran, not the source folder's
        [sys.executable, "-c", "import facecast.export; print(facecast.export.__file__)"], env=env,
        capture_output=True, text=True).stdout
    assert out.is_file()
