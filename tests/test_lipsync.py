"""The shipped lip network: streaming equals whole-file inference, and the lips follow real speech."""

import numpy as np
import pytest

from facecast.export.targets import segments_from_cmu
from facecast.lip_channels import CLOSED_LIP_POSE, LIP_CHANNEL_INDEX, LIP_CHANNELS, close_for_bilabials
from facecast.lipsync import HOP, LipFrames, LipSyncModel
from facecast.motion_frame import VISEME_INDEX


@pytest.fixture(scope="module")
def model() -> LipSyncModel:
    return LipSyncModel(device="cpu")


def stream_in_chunks(model, audio, sizes):
    stream, parts, i, k = model.stream(), [], 0, 0
    while i < audio.size:
        n = sizes[k % len(sizes)]
        parts.append(stream.push(audio[i : i + n]))
        i, k = i + n, k + 1
    parts.append(stream.flush())
    return LipFrames.concat(parts)


def test_one_frame_per_10ms_starting_at_zero(model, speech_audio):
    frames = model.infer(speech_audio)
    assert frames.start == 0
    assert len(frames) == speech_audio.size // HOP + 1
    assert np.allclose(frames.visemes.sum(axis=1), 1, atol=1e-4)
    assert frames.pose.min() >= 0 and frames.pose.max() <= 1


@pytest.mark.parametrize("sizes", [[160], [320], [100, 333, 7, 1600], [48000]])
def test_streaming_in_any_chunks_equals_whole_file(model, speech_audio, sizes):
    whole = model.infer(speech_audio)
    streamed = stream_in_chunks(model, speech_audio, sizes)
    assert len(streamed) == len(whole)
    assert np.abs(streamed.pose - whole.pose).max() < 1e-5
    assert np.abs(streamed.visemes - whole.visemes).max() < 1e-5


def test_frames_come_out_as_soon_as_their_lookahead_has_arrived(model, speech_audio):
    stream = model.stream()
    got = stream.push(speech_audio[: 20 * HOP])
    assert got.start == 0 and len(got) == 20 - model.lookahead
    got = stream.push(speech_audio[20 * HOP : 22 * HOP])
    assert got.start == 20 - model.lookahead and len(got) == 2


def segment_apertures(model, audio, phones):
    track = model.infer(audio).to_track()
    aperture = track.mouth_aperture()
    segments = segments_from_cmu(phones)

    def span(s):
        return aperture[int(s.start * 100) : int(np.ceil(s.end * 100)) + 1]

    return track, segments, span


def test_lips_open_for_open_vowels_and_pp_is_recognised(model, speech_audio, speech_phones):
    track, segments, span = segment_apertures(model, speech_audio, speech_phones)
    vowels = [s for s in segments if s.symbol in ("ɑ", "æ", "a", "ʌ")]
    assert np.mean([span(s).max() > 0.2 for s in vowels]) >= 0.9
    bilabials = [s for s in segments if s.symbol in ("p", "b", "m")]
    pp = VISEME_INDEX["PP"]
    assert np.mean([track.visemes[int((s.start + s.end) * 50)].argmax() == pp for s in bilabials]) >= 0.7


def test_lips_close_for_nine_bilabials_in_ten(model, speech_audio, speech_phones):
    _, segments, span = segment_apertures(model, speech_audio, speech_phones)
    bilabials = [s for s in segments if s.symbol in ("p", "b", "m")]
    assert np.mean([span(s).min() < 0.05 for s in bilabials]) >= 0.9


def test_silence_stays_at_rest(model):
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(16000) * 1e-4).astype(np.float32)
    track = model.infer(quiet).to_track()
    assert track.voice_activity.max() < 0.5
    assert np.abs(track.mouth_aperture()).max() < 0.1


def test_a_confident_bilabial_shuts_the_lips_and_an_unlikely_one_changes_nothing():
    rng = np.random.default_rng(0)
    pose = rng.uniform(0.2, 0.6, size=(3, len(LIP_CHANNELS))).astype(np.float32)
    closed = close_for_bilabials(pose, np.array([0.9, 0.5, 0.1]))
    assert np.allclose(closed[0], CLOSED_LIP_POSE)
    assert closed[0, LIP_CHANNEL_INDEX["jawOpen"]] - closed[0, LIP_CHANNEL_INDEX["mouthClose"]] == 0
    assert np.allclose(closed[1], (pose[1] + CLOSED_LIP_POSE) / 2)
    assert np.array_equal(closed[2], pose[2])


def test_lips_stay_apart_in_the_middle_of_vowels(model, speech_audio, speech_phones):
    # The price of closing every bilabial must not be lips that shut at random in the middle of speech.
    track, segments, _ = segment_apertures(model, speech_audio, speech_phones)
    aperture = track.mouth_aperture()
    vowels = [s for s in segments if s.symbol in ("ɑ", "æ", "a", "ʌ", "ɛ", "ɪ", "i", "e", "o", "ɔ", "u", "ʊ", "ə")]
    middles = [aperture[int((s.start * 3 + s.end) * 25) : int(np.ceil((s.start + s.end * 3) * 25)) + 1] for s in vowels]
    assert len(vowels) >= 15
    assert np.mean([m.min() < 0.05 for m in middles]) <= 0.05


def test_the_raw_step_says_what_shapes_it_takes_before_onnxruntime_does(model, capfd):
    """silero-vad style explicit state: a wrong dtype, shape or state is refused in words, and onnxruntime
    prints nothing of its own."""
    from facecast.lipsync import HOP, step_batch

    state = model.initial_state(1)
    for audio, words in ((np.zeros((1, HOP)), "float32"), (np.zeros(HOP, np.float32), "shape"),
                         (np.zeros((1, 100), np.float32), "whole 10 ms hops"), ([[0.0] * HOP], "got list")):
        with pytest.raises(ValueError, match=words):
            model.step(audio, state)
    with pytest.raises(ValueError, match=rf"state must be float32 of shape \(2, {model.state_size}\)"):
        model.step(np.zeros((2, HOP), np.float32), state)
    visemes, pose, vad, new_state = model.step(np.zeros((2, 3 * HOP), np.float32), model.initial_state(2))
    assert visemes.shape[:2] == (2, 3) and new_state.shape == (2, model.state_size)
    streams = [model.stream(), model.stream()]
    with pytest.raises(ValueError, match="2 streams, 1 arrays"):
        step_batch(model, streams, [np.zeros(HOP, np.float32)])
    with pytest.raises(ValueError, match="at least 0.01"):
        model.infer(np.zeros(16000, np.float32), chunk_seconds=0.001)
    assert len(model.infer([0.0] * 1600)) == 11  # a list is samples, as elsewhere
    assert capfd.readouterr().err == ""
