"""Motion files: Live Link Face CSV, JSON following the schema, npz; all written atomically."""

import csv
import json
from importlib import resources

import numpy as np
import pytest

from facecast.errors import FacecastError
from facecast.motion_frame import ARKIT_BLENDSHAPES, MotionTrack, frame_from
from facecast.readers import read_motion
from facecast.writers import LLF_BLENDSHAPE_COLUMNS, timecode, write_motion


@pytest.fixture
def track() -> MotionTrack:
    t = MotionTrack.neutral(75, fps=30)
    t.blendshape("jawOpen")[:] = np.linspace(0, 1, 75)
    t.head_rotation[:, 1] = 10.0  # yaw, degrees
    return t


def test_csv_has_the_live_link_face_layout(tmp_path, track):
    path = write_motion(track, tmp_path / "m.csv")
    rows = list(csv.reader(path.open()))
    header = rows[0]
    assert header[:2] == ["Timecode", "BlendShapeCount"]
    assert header[2:54] == LLF_BLENDSHAPE_COLUMNS
    assert header[54:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                           "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
    assert sorted(c.lower() for c in header[2:54]) == sorted(n.lower() for n in ARKIT_BLENDSHAPES)
    assert len(rows) == 1 + 75
    assert rows[1][0] == "00:00:00:00.000" and rows[1][1] == "61"
    assert rows[-1][0] == "00:00:02:14.000"
    jaw = header.index("JawOpen")
    assert float(rows[-1][jaw]) == pytest.approx(1.0)
    # Radians; the app's + yaw turns the head to its right, the frame's to its left.
    assert float(rows[1][header.index("HeadYaw")]) == pytest.approx(-np.radians(10.0), abs=1e-5)


def test_head_and_eye_angles_take_the_signs_of_live_link_face_takes(tmp_path, speech_wav):
    """In takes recorded with the app, an eye that looks down has + pitch, and one turned toward the face's
    right (EyeLookInLeft, EyeLookOutRight) + yaw; facecast's CSV says the same of its own look shapes, and
    reads back as it was written."""
    from facecast.nonverbal import MotionControls
    from facecast.pipeline import MotionPipeline
    from facecast.readers import read_motion

    for gaze in ((20.0, 15.0), (-20.0, -15.0)):  # to the face's left and up; to its right and down
        track = MotionPipeline(fps=30, controls=MotionControls(gaze=gaze, seed=1)).process_file(speech_wav)
        path = write_motion(track, tmp_path / "take.csv")
        rows = list(csv.reader(path.open()))
        column = {name: np.array([float(r[i]) for r in rows[1:]]) for i, name in enumerate(rows[0]) if i > 0}
        for eye, inward, outward in (("Left", "EyeLookInLeft", "EyeLookOutLeft"),
                                     ("Right", "EyeLookOutRight", "EyeLookInRight")):
            toward_its_right = column[inward] - column[outward]
            looking_down = column[f"EyeLookDown{eye}"] - column[f"EyeLookUp{eye}"]
            assert np.corrcoef(toward_its_right, column[f"{eye}EyeYaw"])[0, 1] > 0.9, (gaze, eye)
            assert np.corrcoef(looking_down, column[f"{eye}EyePitch"])[0, 1] > 0.9, (gaze, eye)
        np.testing.assert_allclose(read_motion(path).gaze, track.gaze, atol=1e-3)
        np.testing.assert_allclose(read_motion(path).head_rotation, track.head_rotation, atol=1e-3)


def test_timecode_counts_frames_within_each_second():
    assert timecode(0, 60) == "00:00:00:00.000"
    assert timecode(61, 60) == "00:00:01:01.000"
    assert timecode(25 * 3661, 25) == "01:01:01:00.000"
    # At 29.97 fps a second begins between two frames: FF.mmm says where, and FF stays below 30.
    assert timecode(29, 29.97) == "00:00:00:29.000" and timecode(30, 29.97) == "00:00:01:00.030"
    frames_in_second = [float(timecode(i, 29.97).rsplit(":", 1)[1]) for i in range(2000)]  # over a minute
    assert max(frames_in_second) < 30


def test_json_follows_its_schema(tmp_path, track):
    jsonschema = pytest.importorskip("jsonschema")
    path = write_motion(track, tmp_path / "m.json", source="speech.wav")
    doc = json.loads(path.read_text())
    schema = json.loads((resources.files("facecast") / "data" / "motion.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["frameCount"] == 75 and doc["source"] == "speech.wav"
    assert doc["frames"][-1]["blendshapes"][ARKIT_BLENDSHAPES.index("jawOpen")] == pytest.approx(1.0)


def test_npz_round_trips_the_packed_frames(tmp_path, track):
    path = write_motion(track, tmp_path / "m.npz")
    data = np.load(path)
    assert np.array_equal(data["frames"], track.data)
    assert float(data["fps"]) == 30 and list(data["blendshape_names"]) == list(ARKIT_BLENDSHAPES)


def test_an_npz_keeps_a_fractional_frame_rate_as_it_was(tmp_path, track):
    ntsc = MotionTrack(track.data, 30000 / 1001)
    assert float(np.load(write_motion(ntsc, tmp_path / "m.npz"))["fps"]) == 30000 / 1001  # float32 lost it


def test_motion_that_could_not_be_read_back_is_not_written(tmp_path, track):
    """read_motion refuses NaN and frame rates out of range; a writer that wrote them left a file that
    nothing reads (a bare NaN is not even JSON)."""
    broken = MotionTrack(track.data.copy(), 30)
    broken.blendshape("jawOpen")[5] = np.nan
    for name in ("m.json", "m.csv", "m.npz"):
        with pytest.raises(FacecastError, match="not numbers"):
            write_motion(broken, tmp_path / name)
    with pytest.raises(FacecastError, match="frame rate 1000 is out of range"):
        write_motion(MotionTrack(track.data, 1000), tmp_path / "m.json")
    for fps in (float("nan"), float("inf"), 0):
        with pytest.raises(ValueError, match="fps must be a positive number"):
            MotionTrack(track.data, fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("times", ["never set", "in milliseconds", "all but the last never set"])
def test_frames_whose_times_cannot_hold_them_are_written_a_frame_period_apart_in_every_format(tmp_path, times):
    """``frame_from`` leaves each frame's time at 0: a JSON of 90 such frames read back as one frame. Times
    that would drop over half the frames are what read_motion refuses: such frames are written evenly."""
    frames = np.stack([frame_from(jawOpen=0.5 + 0.5 * np.sin(i / 5)) for i in range(90)])
    own = MotionTrack(frames, 30)
    if times == "in milliseconds":
        own.time[:] = np.arange(90) / 1000
    elif times == "all but the last never set":
        own.time[-1] = 0.05
    given = own.time.copy()
    for suffix in (".json", ".npz", ".csv"):
        back = read_motion(write_motion(own, tmp_path / f"own{suffix}"))
        assert len(back) == 90, suffix
        np.testing.assert_allclose(back.time - back.time[0], np.arange(90) / 30, atol=1e-5)
        np.testing.assert_allclose(back.blendshape("jawOpen"), own.blendshape("jawOpen"), atol=1e-4)
    np.testing.assert_array_equal(own.time, given)  # the caller's frames are left as they were


def test_times_that_go_backwards_are_not_written(tmp_path, track):
    track.time[10] = 0.0
    with pytest.raises(FacecastError, match=r"the motion's times go backwards at frame 10 \(0.3 s, then 0 s\)"):
        write_motion(track, tmp_path / "back.json")
    assert not (tmp_path / "back.json").exists()


def test_bad_outputs_fail_before_writing_anything(tmp_path, track):
    with pytest.raises(FacecastError, match="unknown output format '.txt'"):
        write_motion(track, tmp_path / "m.txt")
    with pytest.raises(FacecastError, match=r"no file extension to tell the format; use .csv, .json or .npz \(e\.g\. "
                       r"take\.csv\)"):
        write_motion(track, tmp_path / "take")
    with pytest.raises(FacecastError, match=r"unknown output format '\.v2'.*\(e\.g\. take\.v2\.csv\)"):
        write_motion(track, tmp_path / "take.v2")  # a dot in the name, kept whole in the example
    with pytest.raises(FacecastError, match="does not exist"):
        write_motion(track, tmp_path / "missing" / "m.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(FacecastError, match="is a folder"):
        write_motion(track, tmp_path / "dir.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.csv"]


def test_an_existing_output_is_replaced_whole(tmp_path, track):
    path = tmp_path / "m.csv"
    path.write_text("old")
    write_motion(track, path)
    assert path.read_text().startswith("Timecode")
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_what_is_not_motion_or_holds_no_frame_is_not_written(tmp_path, track):
    with pytest.raises(TypeError, match=r"MotionTrack\(frames, fps\) wraps"):
        write_motion(track.data, tmp_path / "m.json")
    with pytest.raises(FacecastError, match="holds no frames"):
        write_motion(MotionTrack.neutral(0, fps=30), tmp_path / "m.json")  # read_motion would refuse it
    assert not list(tmp_path.iterdir())
