"""The README's Python examples run as printed, on real speech, the bundled portrait and a real server.

Each example is taken from the README itself and run with its placeholders (the files it names, the
microphone, the rig) made real, so an API change that breaks the documentation fails here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import zmq
from scipy.signal import resample_poly

from facecast.motion_frame import MotionTrack

README = Path(__file__).resolve().parent.parent / "README.md"


def example(starting_with: str) -> str:
    """The README's python block whose first line starts with ``starting_with``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if b.startswith(starting_with)]
    assert len(found) == 1, f"{len(found)} README python blocks start with {starting_with!r}"
    return found[0]


def test_the_motion_example_makes_the_same_frames_whole_and_live(speech_wav, speech_audio, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(speech_wav, "line.wav")
    pushed = []

    def microphone_chunks_16k():  # a microphone's callbacks: uneven sizes, int16 as sound cards give it
        pcm = np.clip(np.round(speech_audio * 32768), -32768, 32767).astype(np.int16)  # the wav's own samples
        sizes = np.random.default_rng(0).integers(80, 960, size=len(pcm) // 80)
        for start, stop in zip(np.cumsum(sizes) - sizes, np.cumsum(sizes), strict=True):
            if start < len(pcm):
                yield pcm[start:stop]

    code = example("from facecast.audio import load_audio")
    live_line = "    frames = stream.push(chunk)"
    assert live_line in code
    code = code.replace(live_line, f"{live_line}; pushed.append(frames)")  # keep every chunk's frames
    scope = {"microphone_chunks_16k": microphone_chunks_16k, "pushed": pushed}
    exec(compile(code, "README.md", "exec"), scope)
    track = scope["track"]
    assert isinstance(track, MotionTrack) and track.fps == 60 and len(track) > 200
    live = np.concatenate([p.data for p in pushed] + [scope["frames"].data])
    np.testing.assert_allclose(live, track.data, atol=1e-5)  # "the same frames, chunk by chunk"


def test_the_render_example_renders_a_motion_file_on_a_pack(speech_wav, tmp_path, monkeypatch):
    from facecast.avatar import default_pack_path
    from facecast.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copy(default_pack_path(), "me.facecast")
    assert main(["motion", str(speech_wav), "-o", "take.csv", "--fps", "10", "-q"]) == 0
    scope: dict = {}
    exec(compile(example("from facecast.avatar import load_pack"), "README.md", "exec"), scope)
    frames, track = scope["frames"], scope["track"]
    assert frames.dtype == np.uint8 and frames.shape[1:] == (512, 512, 3)
    assert len(frames) == (len(track) - 1) % 4 + 1  # the last batch of four
    assert frames.std() > 10  # a picture, not a blank


def test_the_bridge_example_streams_to_a_server_on_the_default_endpoint(speech_audio):
    from test_bridge import RunningServer

    try:
        server = RunningServer("tcp://127.0.0.1:5555")  # the example's Client() default
    except zmq.ZMQError as exc:
        pytest.skip(f"port 5555 is taken here ({exc})")
    received: list[tuple[MotionTrack, int]] = []
    chunk = resample_poly(speech_audio[:8000], 3, 1).astype(np.float32)  # half a second at 48 kHz
    try:
        scope = {"chunk": chunk, "apply_to_rig": lambda track, pos: received.append((track, pos))}
        exec(compile(example("from facecast.bridge import Client"), "README.md", "exec"), scope)
    finally:
        server.stop()
    assert received and all(isinstance(track, MotionTrack) for track, _ in received)
    assert sum(len(track) for track, _ in received) >= 25  # 60 fps for half a second
    assert [pos for _, pos in received] == sorted(pos for _, pos in received)
