"""Resampling 100 Hz motion to video frame rates keeps short lip closures and blinks."""

import numpy as np
import pytest

from facecast.motion_frame import MotionTrack
from facecast.retime import CLOSED_APERTURE, Retimer, output_frame_count, retime


def open_mouth_track(seconds: float = 2.0) -> MotionTrack:
    track = MotionTrack.neutral(int(seconds * 100) + 1, fps=100)
    track.blendshape("jawOpen")[:] = 0.5
    return track


@pytest.mark.parametrize("fps", [24, 25, 30, 50, 60])
def test_a_30ms_lip_closure_survives_every_frame_rate(fps):
    track = open_mouth_track()
    for start in (37, 81, 122, 163):  # 30 ms closures at awkward phases of the output frames
        track.blendshape("jawOpen")[start : start + 3] = 0.1
        track.blendshape("mouthClose")[start : start + 3] = 0.1
    out = retime(track, fps)
    closed_times = out.time[out.mouth_aperture() < CLOSED_APERTURE]
    for start in (37, 81, 122, 163):
        assert np.any(np.abs(closed_times - (start + 1) / 100) <= 1 / fps), (fps, start)


@pytest.mark.parametrize("fps", [24, 30])
def test_a_blink_reaches_fully_closed_eyelids(fps):
    track = MotionTrack.neutral(201, fps=100)
    track.blendshape("eyeBlinkLeft")[100:110] = [0.3, 0.7, 1.0, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1]
    out = retime(track, fps)
    assert out.blendshape("eyeBlinkLeft").max() == 1.0


def test_smooth_motion_is_interpolated_not_held():
    track = MotionTrack.neutral(101, fps=100)
    track.head_rotation[:, 1] = np.linspace(0, 10, 101)
    out = retime(track, 30)
    interior = slice(2, -2)
    assert np.allclose(out.head_rotation[interior, 1], out.time[interior] * 10, atol=0.01)


def test_frame_count_and_times():
    track = open_mouth_track(2.0)
    out = retime(track, 24)
    assert len(out) == output_frame_count(201, 100, 24) == 49
    assert np.allclose(out.time, np.arange(49) / 24)
    assert np.array_equal(out.frame_index, np.arange(49))


@pytest.mark.parametrize("fps", [24, 30, 60])
def test_streaming_retimer_matches_whole_track_and_emits_early(fps):
    rng = np.random.default_rng(1)
    track = open_mouth_track(3.0)
    track.blendshape("jawOpen")[:] = rng.uniform(0, 0.6, len(track))
    track.head_rotation[:, 0] = np.cumsum(rng.normal(0, 0.1, len(track)))
    whole = retime(track, fps)
    retimer = Retimer(fps)
    parts, emitted_by = [], []
    for i in range(0, len(track), 7):
        got = retimer.push(track.data[i : i + 7])
        parts.append(got.data)
        emitted_by.append((i + 7, len(got)))
    parts.append(retimer.flush().data)
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.data.shape
    assert np.abs(streamed - whole.data).max() < 1e-5
    # Output frame j is out as soon as no source frame still to come can reach it.
    total = 0
    for source_frames, n in emitted_by:
        total += n
        next_t = min(source_frames, len(track)) / 100
        assert total >= int(np.floor((next_t - max(1 / fps, 0.01)) * fps + 1e-9)) + 1


@pytest.mark.parametrize("frames, source_fps, fps, expected", [(300, 30, 60, 600), (300, 30, 24, 240),
                                                                (250, 25, 30, 300), (301, 30, 60, 602)])
def test_a_track_resampled_covers_as_long_as_it_did(frames, source_fps, fps, expected):
    """Each frame shows 1/fps from its instant: 10 s at 30 fps (300 frames, the last at 9.967 s) is 600 frames
    at 60, as 10 s of speech makes at 60; counted to the last frame's instant, it was 599."""
    out = retime(MotionTrack.neutral(frames, fps=source_fps), fps)
    assert len(out) == expected
    assert np.array_equal(out.frame_index, np.arange(expected))


def test_a_saccade_stays_a_jump_not_a_drift():
    track = MotionTrack.neutral(101, fps=100)
    track.gaze[50:, 0] = 10.0  # the eyes jump 10 degrees between two 10 ms frames
    out = retime(track, 24)
    moving = np.sum((out.gaze[:, 0] > 0.5) & (out.gaze[:, 0] < 9.5))
    assert moving <= 1
