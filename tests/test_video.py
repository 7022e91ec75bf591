"""The video writer: an mp4 is finished whole or not at all, whatever ffmpeg meets on the way."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from facecast.errors import FacecastError
from facecast.video import VideoWriter, is_complete_mp4

FRAMES = np.zeros((10, 64, 64, 3), np.uint8)


def write_video(path, audio=None) -> None:
    with VideoWriter(path, 64, 25, audio, "test.png") as writer:
        writer.write(FRAMES)


@pytest.fixture()
def damaged_mp3(tmp_path):
    """Three minutes of sound as an mp3 with every 11th byte overwritten: ffmpeg prints hundreds of kB of
    errors decoding it."""
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 180) / 16000
    sf.write(tmp_path / "sound.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "sound.wav"), "-b:a", "32k",
                    str(tmp_path / "sound.mp3")], check=True)
    data = bytearray((tmp_path / "sound.mp3").read_bytes())
    data[1000:] = bytes(b if i % 11 else int(rng.integers(256)) for i, b in enumerate(data[1000:]))
    (tmp_path / "damaged.mp3").write_bytes(bytes(data))
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "damaged.mp3"), "-f", "null", "-"],
                            capture_output=True).stderr
    assert len(errors) > 4 * 65536  # far more than a pipe holds
    return tmp_path / "damaged.mp3"


def test_a_sound_that_makes_ffmpeg_print_pages_of_errors_does_not_stall_the_writer(tmp_path, damaged_mp3):
    out = tmp_path / "talk.mp4"
    script = ("import sys, numpy as np; from facecast.video import VideoWriter\n"
              "with VideoWriter(sys.argv[1], 64, 25, sys.argv[2], 'test.png') as w:\n"
              "    w.write(np.zeros((10, 64, 64, 3), np.uint8))\n")
    subprocess.run([sys.executable, "-c", script, str(out), str(damaged_mp3)], check=True, timeout=60)
    assert is_complete_mp4(out)


def test_a_video_cut_short_is_not_complete(tmp_path):
    out = tmp_path / "talk.mp4"
    write_video(out)
    assert is_complete_mp4(out)
    data = out.read_bytes()
    for keep in (len(data) - 1, len(data) // 2, 7):
        (tmp_path / "cut.mp4").write_bytes(data[:keep])
        assert not is_complete_mp4(tmp_path / "cut.mp4"), keep


def test_a_sound_named_like_an_ffmpeg_protocol_is_read_as_a_file(tmp_path, speech_wav, monkeypatch):
    shutil.copy(speech_wav, tmp_path / "pipe:0.wav")
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "talk.mp4", "pipe:0.wav")
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                              str(tmp_path / "talk.mp4")], check=True, capture_output=True, text=True).stdout.split()
    assert sorted(streams) == ["audio", "video"]


def test_a_failed_video_leaves_nothing_behind(tmp_path):
    (tmp_path / "not sound.wav").write_bytes(b"RIFF this is not a wav file")
    with pytest.raises(FacecastError, match="ffmpeg"):
        write_video(tmp_path / "talk.mp4", tmp_path / "not sound.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not sound.wav"]
