"""Real inputs for the tests: speech synthesized here with flite and festival, written in real formats."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from facecast.audio import load_audio

SENTENCE = "Bob bought a map of Memphis, and Mom made pumpkin pie by the pool."


def flite(text: str, path: Path, voice: str = "rms") -> tuple[Path, list[tuple[float, float, str]]]:
    """Synthesize ``text``; returns the wav and flite's own phone timing (start, end, CMU phone)."""
    out = subprocess.run(["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(path)],
                         check=True, capture_output=True, text=True).stdout
    phones, prev = [], 0.0
    for item in out.split():
        name, _, end = item.rpartition(":")
        phones.append((prev, float(end), name))
        prev = float(end)
    return path, phones


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speech_sample(speech_dir) -> tuple[Path, list[tuple[float, float, str]]]:
    return flite(SENTENCE, speech_dir / "speech.wav")


@pytest.fixture(scope="session")
def speech_wav(speech_sample) -> Path:
    return speech_sample[0]


@pytest.fixture(scope="session")
def speech_phones(speech_sample) -> list[tuple[float, float, str]]:
    return speech_sample[1]


@pytest.fixture(scope="session")
def speech_audio(speech_wav) -> np.ndarray:
    return load_audio(speech_wav)


@pytest.fixture(scope="session")
def speech_formats(speech_dir, speech_wav) -> dict[str, Path]:
    """The same speech as 44.1 kHz stereo wav, flac, ogg and mp3, and, made by ffmpeg for ffmpeg to read
    back, an AAC m4a and the sound of an mp4 video."""
    audio, rate = sf.read(speech_wav, dtype="float32")
    stereo = np.stack([audio, audio * 0.8], axis=1)
    files = {}
    wav44 = speech_dir / "stereo44k.wav"
    subprocess.run(["sox", str(speech_wav), "-r", "44100", "-c", "2", str(wav44)], check=True)
    files["wav"] = wav44
    sf.write(speech_dir / "speech.flac", stereo, rate)
    files["flac"] = speech_dir / "speech.flac"
    sf.write(speech_dir / "speech.ogg", stereo, rate, format="OGG", subtype="VORBIS")
    files["ogg"] = speech_dir / "speech.ogg"
    mp3 = speech_dir / "speech.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav44), "-ar", "44100", str(mp3)], check=True)
    files["mp3"] = mp3
    m4a = speech_dir / "speech.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav44), "-c:a", "aac", str(m4a)], check=True)
    files["m4a"] = m4a
    video = speech_dir / "speech.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10",
                    "-i", str(wav44), "-shortest", "-c:v", "libx264", "-c:a", "aac", str(video)], check=True)
    files["mp4"] = video
    return files


@pytest.fixture(scope="session")
def other_lip_model(tmp_path_factory) -> Path:
    """A lip-sync model other than the shipped one, as a user's export is: the shipped network with its
    output layer's bias raised by 0.5, so that every frame it makes differs (its metadata unchanged)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from facecast.lipsync import default_model_path

    model = onnx.load(str(default_model_path()))
    for init in model.graph.initializer:
        if init.name == "head.bias":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(0.5), init.name))
            break
    else:
        raise AssertionError("the shipped lip model has no head.bias")
    path = tmp_path_factory.mktemp("models") / "my_voice.onnx"
    onnx.save(model, str(path))
    return path
