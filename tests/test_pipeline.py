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
    assert len(track) == int(last_lip_frame_time * 30 + 1e-9) + 1 - (speech_audio.size % 160 == 0)
    assert np.allclose(np.diff(track.time), 1 / 30, atol=1e-5)
    assert np.array_equal(track.frame_index, np.arange(len(track)))


@pytest.mark.parametrize("seconds, fps, frames", [(10.0, 30, 300), (5.0, 24, 120), (2.0, 25, 50), (3.0, 60, 180),
                                                  (1.0 - 1 / 16000, 30, 30), (1.0 + 1 / 16000, 30, 31)])
def test_a_clip_of_a_whole_number_of_frames_gets_that_many(pipeline, speech_audio, seconds, fps, frames):
    """A frame shows the 1/fps from its instant, so a clip as long as N frames gets N, as a video editor's
    timeline counts them (a 10 s clip at 30 fps got 301, the last at the very end of the sound); a sample
    more starts one more."""
    clip = np.resize(speech_audio, round(seconds * 16000))
    track = MotionPipeline(pipeline.model, fps=fps).process(clip)
    assert len(track) == frames
    assert track.time[-1] < clip.size / 16000


def test_silence_is_refused(pipeline):
    with pytest.raises(AudioError, match="silent"):
        pipeline.process(np.zeros(16000, dtype=np.float32))


def test_pcm16_samples_give_the_motion_of_their_float_values_and_other_integers_are_refused(pipeline, speech_audio):
    pcm16 = np.round(np.clip(speech_audio, -1, 1) * 32767).astype(np.int16)
    as_float = pipeline.process(pcm16.astype(np.float32) / 32768)
    np.testing.assert_allclose(pipeline.process(pcm16).data, as_float.data, atol=1e-6)
    stream = pipeline.stream()
    streamed = np.concatenate([stream.push(pcm16[i : i + 320]).data for i in range(0, pcm16.size, 320)]
                              + [stream.flush().data])
    np.testing.assert_allclose(streamed, as_float.data, atol=1e-5)
    with pytest.raises(AudioError, match="float .* or int16, not int32"):
        pipeline.process(pcm16.astype(np.int32))


def test_streams_advanced_together_give_each_its_own_frames(pipeline, speech_audio):
    """What a server does each round: one lip-network call, one pitch analysis and one pass making motion
    frames of the lip frames for every session."""
    from facecast.lipsync import step_batch
    from facecast.pipeline import advance_batch

    voices = [speech_audio, 0.3 * speech_audio[::-1], np.concatenate([np.zeros(4000, np.float32), speech_audio]),
              0.5 * speech_audio, speech_audio[8000:]]
    # Sessions whose audio arrives in different sizes, some rounds with none; with all five, a round's
    # pitch windows outnumber a single stream's by far (a different path through the pitch tracker).
    chunks = [320, 480, 160, 320, 640]
    together = [pipeline.stream() for _ in voices]
    alone = [pipeline.stream() for _ in voices]
    got: list[list[np.ndarray]] = [[] for _ in voices]
    want: list[list[np.ndarray]] = [[] for _ in voices]
    sent = [0] * len(voices)
    r = 0
    while any(n < v.size for n, v in zip(sent, voices, strict=True)):
        parts = []
        for k, (v, c) in enumerate(zip(voices, chunks, strict=True)):
            size = c if r % (k + 1) == 0 else 0  # session k has audio every (k + 1)th round
            parts.append(v[sent[k] : sent[k] + size])
            sent[k] += size
        hops = [s.take(p) for s, p in zip(together, parts, strict=True)]
        lips = step_batch(pipeline.model, [s.lips for s in together], hops)
        for k, track in enumerate(advance_batch(together, lips, hops)):
            got[k].append(track.data)
        for k, (s, p) in enumerate(zip(alone, parts, strict=True)):
            want[k].append(s.push(p).data)
        r += 1
    for k, voice in enumerate(voices):
        frames = np.concatenate(got[k])
        assert len(frames) > voice.size / 16000 * 30 - 5  # nearly every frame is final before the end
        assert np.array_equal(frames, np.concatenate(want[k]))


def test_arrays_that_are_not_mono_speech_are_refused_not_misread(pipeline, speech_audio):
    stereo = np.stack([speech_audio, speech_audio], axis=1)  # read flat, it would be speech twice as long
    poisoned = speech_audio.copy()
    poisoned[5000] = np.nan  # one NaN would carry into every frame after it
    for audio, words in ((stereo, "give mono samples"), (poisoned, "NaN"), (speech_audio[:0], "empty")):
        with pytest.raises(AudioError, match=words):
            pipeline.process(audio)
    with pytest.raises(AudioError, match="NaN"):
        pipeline.stream().push(poisoned[:8000])
    # int16 values as floats (a wav read as float64 by hand, say) would clip the lips' input to a square wave
    for call in (pipeline.process, pipeline.stream().push):
        with pytest.raises(AudioError, match=r"float samples reach \d+.*divide them by 32768"):
            call(speech_audio * 32768)
    overshoot = speech_audio / np.abs(speech_audio).max() * 1.3  # a loud mix past full scale is still sound
    assert len(pipeline.process(overshoot)) == len(pipeline.process(speech_audio))
    column = pipeline.process(speech_audio[:, None])  # one channel as a column is mono
    assert np.array_equal(column.data, pipeline.process(speech_audio).data)


def test_mistaken_arguments_are_refused_at_the_call_with_the_way_to_do_it(pipeline, speech_audio):
    from facecast.nonverbal import MotionControls

    with pytest.raises(TypeError, match=r"LipSyncModel\('my_voice.onnx'\) loads that file"):
        MotionPipeline("my_voice.onnx")
    with pytest.raises(TypeError, match=r"MotionControls\(\*\*that_dict\)"):
        MotionPipeline(controls={"emotion": "happy"})
    with pytest.raises(TypeError, match="MotionControls"):
        pipeline.stream({"emotion": "happy"})
    with pytest.raises(TypeError, match=r"process_file\('line.wav'\) reads a file"):
        pipeline.process("line.wav")
    with pytest.raises(ValueError, match="fps must be a number"):
        MotionPipeline(fps="60")
    # numpy's numbers are numbers, and the gaze takes the command line's spelling too
    controls = MotionControls(emotion="happy", emotion_intensity=np.float32(0.5), seed=np.int64(3), gaze="10,-5")
    assert (controls.emotion_intensity, controls.seed, controls.gaze) == (0.5, 3, (10.0, -5.0))
    assert type(controls.seed) is int and type(controls.emotion_intensity) is float
    same = MotionControls(emotion="happy", emotion_intensity=0.5, seed=3, gaze=(10, -5))
    clip = speech_audio[:16000]
    assert np.array_equal(pipeline.stream(controls).push(clip).data, pipeline.stream(same).push(clip).data)
