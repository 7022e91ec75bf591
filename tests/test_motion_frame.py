"""The motion frame is one packed float32 layout that every client reads with one copy."""

import numpy as np
import pytest

from facecast.motion_frame import (
    ARKIT_BLENDSHAPES,
    FIELDS,
    FRAME_BYTES,
    FRAME_SIZE,
    LAYOUT,
    VISEMES,
    MotionTrack,
)


def test_arkit_blendshapes_are_apples_52_in_apples_order():
    assert len(ARKIT_BLENDSHAPES) == 52 and len(set(ARKIT_BLENDSHAPES)) == 52
    assert ARKIT_BLENDSHAPES[:2] == ("eyeBlinkLeft", "eyeLookDownLeft")
    assert ARKIT_BLENDSHAPES.index("jawOpen") == 17
    assert ARKIT_BLENDSHAPES.index("mouthClose") == 18
    assert ARKIT_BLENDSHAPES[-1] == "tongueOut"


def test_visemes_are_the_15_oculus_visemes():
    assert VISEMES == ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")


def test_layout_is_contiguous_and_documented():
    offset = 0
    for field in LAYOUT:
        assert field.offset == offset and field.count > 0 and field.doc
        offset += field.count
    assert offset == FRAME_SIZE == 80
    assert FRAME_BYTES == 320
    assert FIELDS["blendshapes"].offset == 2 and FIELDS["visemes"].offset == 54
    assert FIELDS["voiceActivity"].offset == 79


def test_neutral_track_is_at_rest_with_silence_viseme():
    track = MotionTrack.neutral(5, fps=30)
    assert np.all(track.blendshapes == 0)
    assert track.viseme_labels() == ["sil"] * 5
    assert np.allclose(track.time, np.arange(5) / 30)


def test_accessors_are_views_into_the_packed_array():
    track = MotionTrack.neutral(3, fps=60)
    track.blendshape("jawOpen")[:] = 0.5
    assert np.all(track.data[:, FIELDS["blendshapes"].offset + 17] == 0.5)
    assert np.allclose(track.mouth_aperture(), 0.5)


def test_bytes_round_trip_is_little_endian_float32():
    track = MotionTrack.neutral(4, fps=60)
    track.head_rotation[:, 1] = [1.0, 2.0, 3.0, 4.0]
    payload = track.to_bytes()
    assert len(payload) == 4 * FRAME_BYTES
    yaw_offset = FIELDS["headRotation"].offset + 1
    assert np.frombuffer(payload[FRAME_BYTES + yaw_offset * 4 :][:4], "<f4")[0] == 2.0
    assert np.array_equal(MotionTrack.from_bytes(payload, 60).data, track.data)


def test_unknown_names_and_bad_shapes_are_rejected_clearly():
    track = MotionTrack.neutral(1, fps=60)
    with pytest.raises(KeyError, match="unknown ARKit blendshape"):
        track.blendshape("jawopen")
    with pytest.raises(ValueError, match="shape"):
        MotionTrack(np.zeros((2, 3)), 60)
    with pytest.raises(ValueError, match="whole number"):
        MotionTrack.from_bytes(b"\0" * 7, 60)
