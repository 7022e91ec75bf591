"""The video writer: an mp4 is finished whole or not at all, whatever ffmpeg meets on the way."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from facecast.errors import FacecastError
from facecast.video import VideoWriter, is_complete_mp4, synthetic_metadata

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


def _streams(path) -> dict:
    import json

    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
@pytest.mark.parametrize("channels, rate, expected", [(1, 16000, (1, 16000)), (2, 44100, (2, 44100)),
                                                      (3, 48000, (1, 48000)), (10, 16000, (1, 16000)),
                                                      (1, 96000, (1, 48000))])
def test_the_speech_is_muxed_as_mono_or_stereo_at_most_48_khz(tmp_path, channels, rate, expected):
    """Players and upload sites take mono or stereo AAC up to 48 kHz. ffmpeg muxed three channels as 2.1,
    a third of the speech on the subwoofer, failed on nine or more, and kept 96 kHz."""
    t = np.arange(rate // 2) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "speech.wav", np.repeat(tone[:, None], channels, 1).astype(np.float32), rate)
    write_video(tmp_path / "v.mp4", tmp_path / "speech.wav")
    audio = _streams(tmp_path / "v.mp4")["audio"]
    assert (audio["channels"], int(audio["sample_rate"])) == expected


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
def test_colours_survive_the_video_at_hd_sizes_as_players_read_it(tmp_path):
    """ffmpeg converts RGB by BT.601 unless told; players read untagged HD video as BT.709, which turned a
    red (200, 40, 40) into (214, 55, 38). The video is converted by BT.709 and says so."""
    frame = np.zeros((2, 1024, 1024, 3), np.uint8)
    frame[:, :, :512] = (200, 40, 40)
    frame[:, :, 512:] = (40, 160, 60)
    with VideoWriter(tmp_path / "v.mp4", 1024, 25, None, "test.png") as writer:
        writer.write(frame)
    video = _streams(tmp_path / "v.mp4")["video"]
    assert (video["color_space"], video["color_primaries"], video["color_transfer"]) == ("bt709",) * 3
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "v.mp4"), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    decoded = np.frombuffer(raw, np.uint8).reshape(1024, 1024, 3).astype(int)
    assert np.abs(decoded[512, 256] - (200, 40, 40)).max() <= 3
    assert np.abs(decoded[512, 768] - (40, 160, 60)).max() <= 3


def test_a_video_gets_the_permissions_of_every_other_output(tmp_path):
    import os

    old = os.umask(0o077)
    try:
        write_video(tmp_path / "private.mp4")
    finally:
        os.umask(old)
    assert (tmp_path / "private.mp4").stat().st_mode & 0o777 == 0o600


def test_the_synthetic_tags_stay_one_printable_line_whatever_the_names():
    """A motion file's lipModel or a server's names may hold anything; a NUL would stop ffmpeg's command line."""
    tags = synthetic_metadata("me\x00.png", "lips by a\nb\x00c")
    assert all(value.isprintable() for value in tags.values())
    assert "portrait me .png (lips by a b c)" in tags["comment"] and "ynthetic" in tags["title"]
