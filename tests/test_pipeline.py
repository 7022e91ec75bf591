"""The pipeline turns speech into motion frames the same way whole or streamed."""

import numpy as np
import pytest

from facecast.errors import AudioError
from facecast.pipeline import MotionPipeline


@pytest.fixture(scope="module")
def pipeline() -> MotionPipeline:
    return MotionPipeline(fps=30, device="cpu")


@pytest.mark.parametrize("chunk", [320, 1000, 16000])
def test_streaming_20ms_chunks_gives_the_whole_clip_frames(pipeline, speech_audio, chunk):
    whole = pipeline.process(speech_audio)
    stream = pipeline.stream()
    parts = [stream.push(speech_audio[i : i + chunk]).data for i in range(0, speech_audio.size, chunk)]
    parts.append(stream.flush().data)
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.data.shape
    assert np.abs(streamed - whole.data).max() < 1e-5


def test_frames_cover_the_clip_at_the_frame_rate(pipeline, speech_audio):
    track = pipeline.process(speech_audio)
    last_lip_frame_time = (speech_audio.size // 160) / 100  # the lip network's frames are every 10 ms
    assert len(track) == int(last_lip_frame_time * 30 + 1e-9) + 1
    assert np.allclose(np.diff(track.time), 1 / 30, atol=1e-5)
    assert np.array_equal(track.frame_index, np.arange(len(track)))


def test_silence_is_refused(pipeline):
    with pytest.raises(AudioError, match="silent"):
        pipeline.process(np.zeros(16000, dtype=np.float32))
