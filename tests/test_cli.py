"""`facecast motion` and `facecast demo` as a user runs them: real processes, real files."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def facecast(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "facecast.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_motion_reads_every_format_and_writes_csv(tmp_path, speech_formats, fmt):
    out = tmp_path / "motion.csv"
    result = facecast("motion", speech_formats[fmt], "-o", out, "--fps", "30")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(out.open()))
    duration = sf.info(str(speech_formats[fmt])).duration
    assert abs(len(rows) - 1 - duration * 30) <= 3
    jaw = rows[0].index("JawOpen")
    assert max(float(r[jaw]) for r in rows[1:]) > 0.2


@pytest.mark.parametrize("fps", [24, 25, 50, 60])
def test_motion_json_and_npz_at_any_frame_rate(tmp_path, speech_wav, fps):
    result = facecast("motion", speech_wav, "-o", tmp_path / "m.json", "--fps", fps, "-q")
    assert result.returncode == 0 and result.stderr == ""
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["fps"] == fps
    assert facecast("motion", speech_wav, "-o", tmp_path / "m.npz", "--fps", fps, "-q").returncode == 0
    frames = np.load(tmp_path / "m.npz")["frames"]
    assert frames.shape == (doc["frameCount"], 80)


@pytest.mark.parametrize("given, rate", [("23.98", 24000 / 1001), ("29.97", 30000 / 1001), ("59.94", 60000 / 1001),
                                         ("23.976", 24000 / 1001), ("23.97", 23.97), ("24", 24.0)])
def test_ntsc_rates_as_editors_label_them_are_the_rates_they_name(tmp_path, speech_wav, given, rate):
    """An editor shows 24000/1001 as 23.98: frames made at 23.98 exactly drifted a quarter frame a minute from
    that timeline. 23.97 is no such label, and stays as it is."""
    assert facecast("motion", speech_wav, "-o", tmp_path / "m.json", "--fps", given, "-q").returncode == 0
    assert json.loads((tmp_path / "m.json").read_text())["fps"] == pytest.approx(rate, abs=1e-9)


def test_same_input_same_output(tmp_path, speech_wav):
    facecast("motion", speech_wav, "-o", tmp_path / "a.csv", "--seed", "3", "-q")
    facecast("motion", speech_wav, "-o", tmp_path / "b.csv", "--seed", "3", "-q")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def bad_inputs(tmp_path):
    (tmp_path / "text.wav").write_text("not audio at all")
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    nan = np.zeros(16000, np.float32)
    nan[5] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(tmp_path / "rate.wav", np.zeros(100, np.float32), 2, subtype="FLOAT")
    sf.write(tmp_path / "channels.wav", np.zeros((100, 100), np.float32), 16000, subtype="FLOAT")
    return {
        "missing": (tmp_path / "missing.wav", "no such file"),
        "not audio": (tmp_path / "text.wav", "not a readable audio file"),
        "silent": (tmp_path / "silent.wav", "silent"),
        "empty": (tmp_path / "empty.wav", "empty"),
        "nan": (tmp_path / "nan.wav", "NaN"),
        "absurd rate": (tmp_path / "rate.wav", "sample rate"),
        "many channels": (tmp_path / "channels.wav", "channels"),
    }


def test_bad_input_gets_one_clear_line_and_no_output(tmp_path):
    for name, (path, message) in bad_inputs(tmp_path).items():
        out = tmp_path / f"{name}.csv"
        result = facecast("motion", path, "-o", out)
        assert result.returncode == 1, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, (name, lines)
        assert not out.exists(), name


def test_unwritable_output_fails_before_the_work(tmp_path, speech_wav):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, message in [(tmp_path / "no" / "m.csv", "does not exist"),
                         (blocker / "m.csv", f"{blocker} is a file, not a folder"),
                         (tmp_path / "m.mp4", "unknown output format")]:
        result = facecast("motion", speech_wav, "-o", out)
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("command, missing", [("corpus", "pocketsphinx"), ("render", "onnx"), ("train", "torch")])
def test_export_without_its_extra_says_what_to_install(monkeypatch, capsys, command, missing):
    import importlib.util

    from facecast.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    assert main(["export", command]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"facecast export {command} needs {missing}" in err[0] and "pip install" in err[0]


def test_export_beside_mediapipes_protobuf_says_so_in_one_line(monkeypatch, capsys):
    """onnx installed where mediapipe pinned protobuf below 5 fails on import, as onnx itself raises it."""
    import importlib.abc
    import importlib.machinery
    import importlib.util

    from facecast.cli import main

    class ProtobufTooOld(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            return importlib.machinery.ModuleSpec(name, self) if name == "onnx" else None

        def exec_module(self, module):
            raise ImportError("cannot import name 'runtime_version' from 'google.protobuf'")

    monkeypatch.delitem(sys.modules, "onnx", raising=False)
    monkeypatch.setattr(sys, "meta_path", [ProtobufTooOld(), *sys.meta_path])
    assert main(["export", "onnx", "--checkpoint", "x.pt", "--out", "x.onnx"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "onnx cannot be imported" in err[0] and "runtime_version" in err[0]
    if importlib.util.find_spec("mediapipe") is None:  # the hint names mediapipe only where it is installed
        assert "mediapipe" not in err[0]
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: importlib.machinery.ModuleSpec(name, None) if name == "mediapipe"
                            else real(name, *a))
        assert main(["export", "onnx", "--checkpoint", "x.pt", "--out", "x.onnx"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mediapipe (facecast's portrait extra) pins protobuf below 5" in err[0]


def test_export_refuses_bad_numbers_and_a_smoke_run_over_the_committed_checkpoint(tmp_path, capsys):
    from facecast.cli import main

    for argv in (["corpus", "--hours", "0"], ["corpus", "--workers", "0"], ["train", "--lookahead", "-1"],
                 ["train", "--config", "smoke"]):
        with pytest.raises(SystemExit) as usage:
            main(["export", *argv])
        assert usage.value.code == 2, argv
    assert "would replace the committed checkpoint" in capsys.readouterr().err
    assert main(["export", "train", "--corpus", str(tmp_path), "--out", str(tmp_path / "a.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no train.npz" in err[0]


def test_a_folder_that_refuses_files_is_one_clear_line(speech_wav):
    result = facecast("motion", speech_wav, "-o", "/proc/m.csv")  # refused even to root
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, lines


def test_a_render_killed_midway_leaves_nothing_behind(tmp_path, speech_wav):
    out = tmp_path / "talk.mp4"
    job = subprocess.Popen([sys.executable, "-m", "facecast.cli", "render", "--audio", str(speech_wav), "-o", str(out),
                            "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".talk.mp4.*")) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.poll() is None, "the render ended before it could be stopped"
    job.send_signal(signal.SIGTERM)
    assert job.wait(30) == 130 and "interrupted" in job.stderr.read()
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2(speech_wav, tmp_path):
    assert facecast("motion", speech_wav).returncode == 2
    out = tmp_path / "m.csv"
    for flags, words in ((["--fps", "0"], "frame rate"), (["--head-intensity", "3"], "head intensity"),
                         (["--emotion", "happy:2"], "emotion intensity"), (["--emotion", "hapy"], "unknown emotion"),
                         (["--seed", "-1"], "seed"), (["--gaze", "500,5"], "gaze yaw"),
                         (["--motion-intensity", "-1"], "motion intensity"), (["--head-distance", "x"], "number")):
        result = facecast("motion", speech_wav, "-o", out, *flags)
        assert result.returncode == 2 and words in result.stderr and "usage:" in result.stderr, flags
    result = facecast("render", "-o", tmp_path / "x.mp4")
    assert result.returncode == 2 and "--audio SPEECH, --motion FILE, or both" in result.stderr
    assert not out.exists()


def test_a_gaze_to_the_right_is_written_as_it_is_said(speech_wav, tmp_path):
    # A negative yaw after --gaze, as people write it (argparse alone takes "-10,5" for an option).
    result = facecast("motion", speech_wav, "-o", tmp_path / "m.json", "--gaze", "-10,5", "--seed", "1")
    assert result.returncode == 0, result.stderr
    frames = json.loads((tmp_path / "m.json").read_text())["frames"]
    assert np.mean([f["gaze"][0] for f in frames]) < -5  # the eyes look to the subject's right


def test_the_summary_gives_the_speechs_own_length(speech_wav, tmp_path):
    result = facecast("motion", speech_wav, "-o", tmp_path / "m.csv", "--fps", "1")
    assert f"({sf.info(speech_wav).duration:.1f} s of speech)" in result.stderr


def test_a_plot_is_written_whole_even_of_a_single_frame(tmp_path, speech_wav):
    audio, rate = sf.read(speech_wav)
    sf.write(tmp_path / "short.wav", audio[int(rate * 0.5) : int(rate * 0.512)], rate)
    result = facecast("plot", tmp_path / "short.wav", "-o", tmp_path / "p.png")
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "short.wav"]  # no temporary file left


def test_a_folder_given_for_a_file_is_called_a_folder(speech_wav, tmp_path):
    (tmp_path / "pack.facecast").mkdir()
    portrait = Path(__file__).resolve().parents[2] / "shared" / "portraits" / "mona_lisa_small.jpg"
    # A folder to read from is an error of the input (status 1) ...
    for args, words in ((["motion", tmp_path, "-o", tmp_path / "m.csv"], "is a folder, not an audio file"),
                        (["render", "--audio", tmp_path, "-o", tmp_path / "x.mp4"], "is a folder, not an audio"),
                        (["render", "--motion", tmp_path, "-o", tmp_path / "x.mp4"], "is a folder, not a motion"),
                        (["render", "--audio", speech_wav, "--portrait", tmp_path, "-o", tmp_path / "x.mp4"],
                         "is a folder, not a picture")):
        result = facecast(*args)
        assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr, args
    # ... and one to write to a usage error (status 2), as one written with a trailing separator, before
    # any work (a face is not looked for).
    for args, example in ((["motion", speech_wav, "-o", tmp_path], "NAME.csv"),
                          (["render", "--audio", speech_wav, "-o", tmp_path], "NAME.mp4"),
                          (["prepare", portrait, "-o", tmp_path / "pack.facecast"], "NAME.facecast")):
        result = facecast(*args)
        assert result.returncode == 2 and "names a folder: name the file to write, e.g." in result.stderr, args
        assert example in result.stderr  # a name that works as it is


def test_a_file_named_as_a_folder_is_a_usage_error_before_any_work(speech_wav, tmp_path):
    # A trailing separator names a folder: written anyway, the file would take the folder's name.
    for args in (["motion", speech_wav, "-o", f"{tmp_path / 'takes.csv'}/"],
                 ["motion", speech_wav, "-o", f"{tmp_path / 'takes.csv'}/."],
                 ["render", "--audio", speech_wav, "-o", f"{tmp_path / 'videos.mp4'}/"],
                 ["plot", speech_wav, "-o", f"{tmp_path / 'plots.png'}/"],
                 ["client", "--audio", speech_wav, "--save", f"{tmp_path / 'saved.csv'}/"]):
        result = facecast(*args)
        assert result.returncode == 2 and "names a folder: name the file to write" in result.stderr, args
    assert not list(tmp_path.iterdir())


def test_one_analysis_writes_every_output_asked_for(speech_wav, tmp_path):
    result = facecast("motion", speech_wav, "-o", tmp_path / "take.csv", "-o", tmp_path / "take.npz", "--seed", "2")
    assert result.returncode == 0 and result.stderr.count(" frames at 60 fps") == 2, result.stderr
    assert facecast("motion", speech_wav, "-o", tmp_path / "alone.npz", "--seed", "2", "-q").returncode == 0
    assert np.array_equal(np.load(tmp_path / "take.npz")["frames"], np.load(tmp_path / "alone.npz")["frames"])
    assert (tmp_path / "take.csv").stat().st_size > 0
    twice = facecast("motion", speech_wav, "-o", tmp_path / "twice.csv", "-o", "./twice.csv", cwd=tmp_path)
    assert twice.returncode == 2 and "twice.csv is given twice" in twice.stderr
    assert not (tmp_path / "twice.csv").exists()


def test_python_dash_m_facecast_is_the_command():
    result = subprocess.run([sys.executable, "-m", "facecast", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("facecast ")


def test_demo_writes_video_and_motion_offline_and_says_what_it_wrote(tmp_path):
    """Here by default; --out-dir makes the folder it names, as one expects of an output folder."""
    result = facecast("demo", "--out-dir", "takes/today", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "takes" / "today"
    assert {p.name for p in out.iterdir()} == {"facecast_demo.csv", "facecast_demo.json", "facecast_demo.mp4"}
    for line in ("facecast_demo.csv: ", "facecast_demo.json: ", "facecast_demo.mp4: "):
        assert line in result.stderr, result.stderr  # the video too gets its summary line
    assert "frames at 512 px, 30 fps" in result.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format_tags=comment",
                            "-of", "json", str(out / "facecast_demo.mp4")], capture_output=True, text=True)
    info = json.loads(probe.stdout)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    assert "facecast" in info["format"]["tags"]["comment"]
    doc = json.loads((out / "facecast_demo.json").read_text())
    assert doc["frameCount"] > 600
    (tmp_path / "a file").write_text("")
    result = facecast("demo", "--out-dir", "a file", cwd=tmp_path)
    assert result.returncode == 1 and "a file: not a folder" in result.stderr


def test_a_csv_too_short_to_tell_its_rate_is_flagged_when_written_and_read_with_the_rate_given(tmp_path):
    """A one-word line: its CSV's timecodes all fall in one second, so its rate must be given to read it."""
    word = tmp_path / "yes.wav"
    subprocess.run(["flite", "-voice", "kal", "-t", "Yes.", "-o", str(word)], check=True)
    take = tmp_path / "yes.csv"
    result = facecast("motion", word, "-o", take, "-q")
    assert result.returncode == 0 and "--fps 60" in result.stderr and "under a second" in result.stderr
    assert facecast("motion", word, "-o", tmp_path / "yes.json", "-q").stderr == ""  # a JSON states its rate
    video = tmp_path / "yes.mp4"
    result = facecast("render", "--motion", take, "-o", video, "--size", "64", "-q")
    assert result.returncode == 1 and "give it" in result.stderr and not video.exists()
    result = facecast("render", "--motion", take, "--fps", "60", "-o", video, "--size", "64", "-q")
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=avg_frame_rate,nb_frames",
                            "-of", "json", str(video)], capture_output=True, text=True)
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["avg_frame_rate"] == "60/1" and int(stream["nb_frames"]) == len(take.read_text().splitlines()) - 1


def test_a_lip_model_given_is_the_one_that_moves_the_lips(tmp_path, speech_wav, other_lip_model):
    from facecast.lipsync import LipSyncModel
    from facecast.pipeline import MotionPipeline

    assert facecast("motion", speech_wav, "-o", tmp_path / "shipped.npz", "--fps", 30, "-q").returncode == 0
    result = facecast("motion", speech_wav, "-o", tmp_path / "mine.npz", "--fps", 30, "--lip-model", other_lip_model)
    assert result.returncode == 0, result.stderr
    assert f"of speech, lips by {other_lip_model.name})" in result.stderr  # the summary says whose lips
    mine, shipped = (np.load(tmp_path / f"{name}.npz")["frames"] for name in ("mine", "shipped"))
    expected = MotionPipeline(LipSyncModel(other_lip_model), fps=30).process_file(speech_wav).data
    np.testing.assert_allclose(mine, expected, atol=1e-6)
    assert np.abs(mine - shipped).max() > 0.05

    render = facecast("render", "--audio", speech_wav, "-o", tmp_path / "v.mp4", "--size", 64, "-q",
                      "--lip-model", other_lip_model)
    assert render.returncode == 0, render.stderr
    # The video's motion is the given model's, as the render command makes it.
    from facecast.avatar import default_pack_path, load_pack
    from facecast.cli import build_parser
    from facecast.cli_render import render_video

    args = build_parser().parse_args(["render", "--audio", str(speech_wav), "-o", str(tmp_path / "w.mp4"),
                                      "--size", "64", "--fps", "30", "-q", "--lip-model", str(other_lip_model)])
    _, track = render_video(load_pack(default_pack_path()), speech_wav, tmp_path / "w.mp4", args)
    np.testing.assert_allclose(track.data, expected, atol=1e-6)


def test_motion_files_and_videos_name_the_lip_model_that_made_them(tmp_path, speech_wav, other_lip_model):
    """Takes made with different models can be told apart: a JSON's lipModel, an npz's lip_model and a video's
    comment name the model (file, lookahead, training steps); a video of a motion file names the file."""
    from facecast.lipsync import LipSyncModel

    mine = LipSyncModel(other_lip_model)
    steps = mine.info["train_step"]
    assert mine.provenance == f"my_voice.onnx, 30 ms lookahead, {steps} training steps"
    for name, model in (("shipped", []), ("mine", ["--lip-model", other_lip_model])):
        result = facecast("motion", speech_wav, "-o", tmp_path / f"{name}.json", "-o", tmp_path / f"{name}.npz",
                          "-q", *model)
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "mine.json").read_text())["lipModel"] == mine.provenance
    assert str(np.load(tmp_path / "mine.npz")["lip_model"]) == mine.provenance
    shipped = json.loads((tmp_path / "shipped.json").read_text())["lipModel"]
    assert shipped.startswith("lipsync_lookahead30.onnx, 30 ms lookahead, ") and shipped != mine.provenance
    videos = {"speech": ["--audio", speech_wav, "--lip-model", other_lip_model],
              "file": ["--motion", tmp_path / "mine.json"]}
    for name, given in videos.items():
        assert facecast("render", *given, "-o", tmp_path / f"{name}.mp4", "--size", 64, "-q").returncode == 0
    probe = ["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "json"]
    comments = {name: json.loads(subprocess.run([*probe, str(tmp_path / f"{name}.mp4")], check=True, text=True,
                                                capture_output=True).stdout)["format"]["tags"]["comment"]
                for name in videos}
    assert f"(lips by {mine.provenance})" in comments["speech"]
    # The file's own lipModel goes with it (a CSV has none to give).
    assert f"(motion from mine.json, lips by {mine.provenance})" in comments["file"]
    assert "Synthetic video" in comments["file"]


def test_info_describes_a_lip_model_given_instead_of_the_shipped_ones(other_lip_model):
    from facecast.lipsync import LipSyncModel

    shipped = facecast("info")
    mine = facecast("info", "--lip-model", other_lip_model)
    assert shipped.returncode == 0 and mine.returncode == 0, mine.stderr
    model = LipSyncModel(other_lip_model)
    line = next(line for line in mine.stdout.splitlines() if line.startswith("lip model:"))
    assert line.startswith(f"lip model: {other_lip_model.name} (")
    assert f"lookahead {model.lookahead * 10} ms, algorithmic latency {model.latency_ms:.0f} ms" in line
    assert other_lip_model.name not in shipped.stdout


def test_a_lip_model_that_is_not_one_is_one_clear_line(tmp_path, speech_wav):
    onnx = pytest.importorskip("onnx")
    from facecast.lipsync import default_model_path as lip_model_path
    from facecast.render import default_model_path

    for name, change in (("incomplete", lambda info: info.pop("lookahead")),
                         ("short", lambda info: info.update(lookahead=1))):  # as `train --lookahead 1` made
        model = onnx.load(str(lip_model_path()))
        for entry in model.metadata_props:
            if entry.key == "facecast":
                info = json.loads(entry.value)
                change(info)
                entry.value = json.dumps(info)
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
    (tmp_path / "mine.pt").write_bytes(b"a checkpoint")  # the training's output, given for its export
    (tmp_path / "speech.onnx").write_bytes(speech_wav.read_bytes())  # not a model at all
    (tmp_path / "incomplete.json").write_text("{}")  # the description written beside a model
    for path, words in ((tmp_path / "missing.onnx", "lip-sync model not found"),
                        (tmp_path / "mine.pt", "facecast export onnx --checkpoint mine.pt --out mine.onnx"),
                        (tmp_path / "incomplete.json", f"the model is {tmp_path / 'incomplete.onnx'}"),
                        (tmp_path, "is a folder, not a lip-sync model"),
                        (default_model_path(), "not a facecast lip-sync model"),
                        (tmp_path / "speech.onnx", "not an ONNX model, or one cut short (a lip-sync model is"),
                        (tmp_path / "incomplete.onnx", "incomplete facecast metadata (KeyError: 'lookahead')"),
                        (tmp_path / "short.onnx", "hears 1 frames ahead, and facecast's motion needs at least 2")):
        result = facecast("motion", speech_wav, "-o", tmp_path / "m.csv", "--lip-model", path)
        assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.csv").exists()
    demo = facecast("demo", "--out-dir", tmp_path / "new", "--lip-model", tmp_path / "missing.onnx")
    assert demo.returncode == 1 and "lip-sync model not found" in demo.stderr
    assert not (tmp_path / "new").exists()  # refused before the folder is made
    motion = facecast("render", "--motion", tmp_path / "x.csv", "-o", tmp_path / "v.mp4",
                      "--lip-model", tmp_path / "missing.onnx")
    assert motion.returncode == 2 and "--lip-model shapes motion made from speech" in motion.stderr


def test_a_job_whose_messages_cannot_be_written_still_succeeds(speech_wav, tmp_path):
    """stderr closed (2>&-) or full (2>/dev/full), as a job runner may leave it: the summary line is lost,
    not the job's status (it was 1, the motion written)."""
    import os

    full = open("/dev/full", "w")  # noqa: SIM115
    for name, options in (("closed", {"preexec_fn": lambda: os.close(2)}), ("full", {"stderr": full})):
        for args in (["motion", speech_wav, "-o", tmp_path / f"{name}.csv"],
                     ["render", "--audio", speech_wav, "-o", tmp_path / f"{name}.mp4", "--size", "64"]):
            result = subprocess.run([sys.executable, "-m", "facecast.cli", *map(str, args)], timeout=120,
                                    stdout=subprocess.PIPE, text=True, **options)
            assert result.returncode == 0 and result.stdout == "", (name, args[0])  # nothing strays to stdout
            assert Path(args[args.index("-o") + 1]).stat().st_size > 1000
    full.close()


def test_prepare_refuses_what_is_no_picture_before_looking_for_a_face(tmp_path):
    """These fail before mediapipe is needed (this environment has none)."""
    portrait = Path(__file__).resolve().parents[2] / "shared" / "portraits" / "mona_lisa_small.jpg"
    result = facecast("prepare", portrait, "--face", "abc")
    assert result.returncode == 2 and "--face takes a number, 1 for the largest face, not 'abc'" in result.stderr
    # A picture named .facecast would be overwritten by its own pack (the default output): refused, kept.
    named = tmp_path / "me.facecast"
    named.write_bytes(portrait.read_bytes())
    result = facecast("prepare", named, cwd=tmp_path)
    assert result.returncode == 1 and "named as an avatar pack" in result.stderr
    assert named.read_bytes() == portrait.read_bytes()
    # (Speech may come through a pipe, as from `<(sox ...)`; a picture is read as a file.)
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = facecast("prepare", fifo)
    assert result.returncode == 1 and "not a regular file" in result.stderr
