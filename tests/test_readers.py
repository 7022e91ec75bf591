"""Motion files read back: what ``facecast motion`` writes comes back as it was, a Live Link Face recording
(timecodes of the day, dropped frames) comes back on an even clock, and a foreign or damaged file is one
clear error."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from facecast.errors import FacecastError
from facecast.motion_frame import ARKIT_BLENDSHAPES, FIELDS, FRAME_SIZE, VISEMES, MotionTrack
from facecast.pipeline import MotionPipeline
from facecast.readers import MAX_PROVENANCE_CHARS, motion_lip_model, read_motion
from facecast.writers import write_motion

CSV_FIELDS = ("frameIndex", "time", "blendshapes", "headRotation", "gaze")  # what a Live Link Face CSV holds


@pytest.fixture(scope="module")
def spoken(speech_audio) -> MotionTrack:
    """The motion of real speech at 25 fps, head and eyes moving."""
    return MotionPipeline(fps=25).process(speech_audio)


def _part(track: MotionTrack, *names: str) -> np.ndarray:
    return np.concatenate([track.data[:, FIELDS[n].slice] for n in names], axis=1)


def test_what_facecast_writes_reads_back_as_it_was(tmp_path, spoken):
    assert np.abs(spoken.head_rotation).max() > 1 and np.abs(spoken.gaze).max() > 1
    npz = read_motion(write_motion(spoken, tmp_path / "m.npz"))
    np.testing.assert_array_equal(npz.data, spoken.data)
    doc = read_motion(write_motion(spoken, tmp_path / "m.json"))
    np.testing.assert_allclose(doc.data, spoken.data, atol=1e-4)  # the JSON keeps 4-5 decimals
    table = read_motion(write_motion(spoken, tmp_path / "m.csv"))
    np.testing.assert_allclose(_part(table, *CSV_FIELDS), _part(spoken, *CSV_FIELDS), atol=1e-4)
    assert (table.head_translation == 0).all() and (table.viseme_labels() == ["sil"] * len(table))
    assert npz.fps == doc.fps == table.fps == 25 and len(npz) == len(doc) == len(table) == len(spoken)


def test_a_motion_file_says_which_lip_model_made_it_in_one_line(tmp_path, spoken):
    """What a video rendered from the file repeats in its metadata; a hand-edited value stays one line."""
    for ext in (".json", ".npz", ".csv"):
        write_motion(spoken, tmp_path / f"m{ext}", lip_model="mine.onnx, 30 ms lookahead")
    assert motion_lip_model(tmp_path / "m.json") == motion_lip_model(tmp_path / "m.npz") == "mine.onnx, 30 ms lookahead"
    assert motion_lip_model(tmp_path / "m.csv") is None  # Live Link Face's layout has no place for it
    doc = json.loads((tmp_path / "m.json").read_text())
    for edited, read in (("a\nb\tc  d", "a b c d"), ("x" * 1000, "x" * MAX_PROVENANCE_CHARS), (7, None), ("  ", None)):
        (tmp_path / "e.json").write_text(json.dumps({**doc, "lipModel": edited}))
        assert motion_lip_model(tmp_path / "e.json") == read
    write_motion(spoken, tmp_path / "none.json")
    assert motion_lip_model(tmp_path / "none.json") is None


@pytest.mark.parametrize("fps", [24, 30, 60, 29.97, 59.94, 23.976, 24.5])
def test_a_csv_tells_its_frame_rate_by_its_timecodes(tmp_path, spoken, fps):
    track = MotionTrack(spoken.data.copy(), fps)
    track.time[:] = np.arange(len(track)) / fps
    table = read_motion(write_motion(track, tmp_path / "m.csv"))
    assert table.fps == pytest.approx(fps, rel=2e-5) and len(table) == len(track)  # 29.97 as 30000/1001
    np.testing.assert_allclose(table.time, track.time, atol=1e-4)
    np.testing.assert_allclose(table.blendshapes, track.blendshapes, atol=1e-4)


@pytest.mark.parametrize("fps", [60, 29.97])
def test_a_csv_under_a_second_reads_back_at_the_rate_it_is_given(tmp_path, spoken, fps):
    """Its timecodes all fall in one second and cannot tell the rate (a one-word line, an NPC's bark): the
    rate given puts it on its clock, and one its timecodes contradict is refused."""
    track = MotionTrack(spoken.data[: int(fps * 0.8)].copy(), fps)
    track.time[:] = np.arange(len(track)) / fps
    path = write_motion(track, tmp_path / "bark.csv")
    with pytest.raises(FacecastError, match="shorter than a second.*give it"):
        read_motion(path)
    table = read_motion(path, fps=fps)
    assert table.fps == fps and len(table) == len(track)
    np.testing.assert_allclose(table.time, track.time, atol=1e-6)
    np.testing.assert_allclose(table.blendshapes, track.blendshapes, atol=1e-4)
    with pytest.raises(FacecastError, match=f"frame {len(track) - 1} within a second, past the 15 fps given"):
        read_motion(path, fps=15)


def test_a_rate_given_for_a_longer_csv_must_be_the_one_its_timecodes_tell(tmp_path, spoken):
    path = write_motion(spoken, tmp_path / "m.csv")  # 25 fps
    assert read_motion(path, fps=25).fps == 25
    with pytest.raises(FacecastError, match="its timecodes say 25 fps, not the 30 given"):
        read_motion(path, fps=30)
    with pytest.raises(FacecastError, match="states its own frame rate"):
        read_motion(write_motion(spoken, tmp_path / "m.json"), fps=25)


def test_a_rate_for_when_the_file_cannot_tell_is_used_only_then(tmp_path, spoken):
    """``untold_fps`` (a video's rate, given for whatever motion file comes): the rate of a CSV too short
    to tell its own; a longer CSV, a JSON or an npz keeps the rate it states."""
    bark = MotionTrack(spoken.data[:20].copy(), 25)
    bark.time[:] = np.arange(20) / 25
    assert read_motion(write_motion(bark, tmp_path / "bark.csv"), untold_fps=25).fps == 25
    with pytest.raises(FacecastError, match="past the 15 fps given \\(taken as its rate, as a CSV under a second"):
        read_motion(tmp_path / "bark.csv", untold_fps=15)
    for name in ("m.csv", "m.json", "m.npz"):
        assert read_motion(write_motion(spoken, tmp_path / name), untold_fps=30).fps == 25


@pytest.mark.parametrize("fps, dropped", [(30, 29), (30, 30), (29.97, 30), (24.5, 25), (59.94, 60)])
def test_a_frame_dropped_at_a_second_does_not_change_the_rate(tmp_path, fps, dropped):
    path = write_motion(MotionTrack.neutral(int(fps * 2.5), fps), tmp_path / "m.csv")  # two seconds crossed
    rows = path.read_text().splitlines()
    path.write_text("\n".join(rows[: dropped + 1] + rows[dropped + 2 :]) + "\n")
    assert read_motion(path).fps == pytest.approx(fps, rel=2e-5)


@pytest.mark.parametrize("fps, seconds", [(58, 2.5), (23, 2.5), (70, 2.5), (115, 2.5), (230, 2.5), (58, 1.5)])
def test_a_csv_facecast_wrote_a_few_frames_short_of_a_standard_rate_keeps_its_rate(tmp_path, fps, seconds):
    """58 fps is not 60 with frames dropped: each whole second holds 58 rows, FF 0 to 57 (it was read as
    60 fps, with a frame shown twice each second)."""
    track = MotionTrack.neutral(int(fps * seconds), fps)
    track.blendshapes[:, ARKIT_BLENDSHAPES.index("jawOpen")] = np.linspace(0, 1, len(track))
    table = read_motion(write_motion(track, tmp_path / "m.csv"))
    assert table.fps == fps and len(table) == len(track)
    np.testing.assert_allclose(table.time, track.time, atol=1e-6)
    np.testing.assert_allclose(table.blendshapes, track.blendshapes, atol=1e-5)  # no frame twice


def test_a_take_that_ends_a_few_frames_into_a_second_keeps_the_snap(tmp_path):
    """60 fps from FF 10, FF 58 and 59 dropped in the first second, and the take ends at FF 57 of the
    next: its last second holds FF 0 to 57, but the take stopped there, so 58 is no rate; it reads as 60."""
    kept = [k for k in range(10, 118) if k not in (58, 59)]
    stamps = [f"10:00:{k // 60:02d}:{k % 60:02d}.000" for k in kept]
    path = tmp_path / "take.csv"
    _recording(path, stamps, [{"JawOpen": k / 117} for k in kept])
    take = read_motion(path)
    assert take.fps == 60 and len(take) == 108


def test_a_json_edited_by_hand_is_read_by_names(tmp_path, spoken):
    plain = write_motion(spoken, tmp_path / "m.json")
    doc = json.loads(plain.read_text())
    doc["blendshapeNames"].reverse()
    for frame in doc["frames"]:
        frame["blendshapes"].reverse()
        frame["headRotation"][1] = 12.5  # the head turned to its left all along
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    edited = read_motion(tmp_path / "edited.json")
    np.testing.assert_allclose(edited.blendshapes, spoken.blendshapes, atol=1e-4)
    assert (edited.head_rotation[:, 1] == 12.5).all()


def test_an_npz_is_read_from_its_frames_and_an_edit_to_a_copy_is_refused(tmp_path, spoken):
    path = write_motion(spoken, tmp_path / "m.npz")
    arrays = dict(np.load(path))
    arrays["blendshapes"][:, 17] = 1.0  # jawOpen, edited where it is only a copy
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(FacecastError, match="'blendshapes' array differs from 'frames'"):
        read_motion(tmp_path / "edited.npz")
    np.savez(tmp_path / "bare.npz", frames=arrays["frames"], fps=arrays["fps"])  # only what is needed
    np.testing.assert_array_equal(read_motion(tmp_path / "bare.npz").data, spoken.data)


def test_a_json_written_by_another_tool_needs_only_the_blendshapes(tmp_path):
    doc = {"format": "facecast.motion", "version": 1, "fps": 30, "blendshapeNames": ["jawOpen", "eyeBlinkLeft"],
           "frames": [{"blendshapes": [k / 9, 0.5]} for k in range(10)]}
    (tmp_path / "tool.json").write_text(json.dumps(doc))
    track = read_motion(tmp_path / "tool.json")
    np.testing.assert_allclose(track.blendshape("jawOpen"), np.arange(10) / 9, atol=1e-6)
    np.testing.assert_allclose(track.time, np.arange(10) / 30, atol=1e-6)
    assert (track.blendshape("eyeBlinkLeft") == 0.5).all() and (track.head_rotation == 0).all()
    assert track.viseme_labels() == ["sil"] * 10
    # Without names, all 52 in the standard order; without a frame rate, one clear line.
    rows = np.zeros((3, len(ARKIT_BLENDSHAPES)))
    rows[:, ARKIT_BLENDSHAPES.index("jawOpen")] = 0.7
    bare = {"format": "facecast.motion", "version": 1, "fps": 24, "frames": [{"blendshapes": r} for r in rows.tolist()]}
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    assert (read_motion(tmp_path / "bare.json").blendshape("jawOpen") == np.float32(0.7)).all()
    del bare["fps"]
    (tmp_path / "no_rate.json").write_text(json.dumps(bare))
    with pytest.raises(FacecastError, match="needs 'fps'"):
        read_motion(tmp_path / "no_rate.json")


@pytest.mark.parametrize("key, names", [("blendshapeNames", ARKIT_BLENDSHAPES), ("visemeNames", VISEMES)])
def test_a_name_listed_twice_is_refused(tmp_path, spoken, key, names):
    """Two columns of one name wrote one weight and left the name they replaced at rest: every blink lost."""
    plain = write_motion(spoken, tmp_path / "m.json")
    doc = json.loads(plain.read_text())
    doc[key][1] = names[0]
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FacecastError, match=rf"twice\.json: .*{names[0]!r} is listed twice"):
        read_motion(path)


def test_json_frames_off_an_even_clock_are_put_on_one_in_time_with_their_sound(tmp_path):
    """A take cut by hand keeps its frames' own index (time = index / fps where no time is given): its gaps
    are filled on an even clock from its first frame, each tick showing the nearest frame (the earlier on
    a tie), so it stays in time with its sound instead of playing its frames back to back (it did: four
    frames spanning 1.1 s played in 0.4 s). The file's own clock is kept."""
    frames = [{"index": k, "blendshapes": [k / 100] * 52} for k in (10, 11, 12, 21)]
    doc = {"format": "facecast.motion", "version": 1, "fps": 10, "frames": frames}
    (tmp_path / "cut.json").write_text(json.dumps(doc))
    track = read_motion(tmp_path / "cut.json")
    assert len(track) == 12 and track.fps == 10
    np.testing.assert_allclose(track.time, 1.0 + np.arange(12) / 10, atol=1e-6)
    np.testing.assert_array_equal(track.frame_index, 10 + np.arange(12))
    shown = np.round(track.blendshapes[:, 0] * 100).astype(int)
    np.testing.assert_array_equal(shown, [10, 11] + [12] * 5 + [21] * 5)
    doc["frames"] = [{"index": k, "blendshapes": [k / 100] * 52} for k in (0, 1, 3, 4, 6)]
    (tmp_path / "ties.json").write_text(json.dumps(doc))
    shown = np.round(read_motion(tmp_path / "ties.json").blendshapes[:, 0] * 100).astype(int)
    np.testing.assert_array_equal(shown, [0, 1, 1, 3, 4, 4, 6])  # ticks 2 and 5 lie halfway: the earlier
    # A time wins over an index, in seconds or, as "units" may say, milliseconds.
    doc["units"] = {"time": "ms"}
    doc["frames"] = [{"index": 0, "time": 100 * k, "blendshapes": [k / 100] * 52} for k in range(3)]
    (tmp_path / "ms.json").write_text(json.dumps(doc))
    np.testing.assert_allclose(read_motion(tmp_path / "ms.json").time, [0.0, 0.1, 0.2], atol=1e-6)


def test_a_track_on_its_own_clock_reads_back_as_it_was(tmp_path, spoken):
    """The bridge's frames count from the start of their session: a later utterance saved as JSON keeps its
    frames, its index and its times (the reader is not to pad it from 0)."""
    later = MotionTrack(spoken.data.copy(), spoken.fps)
    later.data[:, FIELDS["frameIndex"].offset] += 5000
    later.data[:, FIELDS["time"].offset] += 5000 / spoken.fps
    back = read_motion(write_motion(later, tmp_path / "later.json"))
    assert len(back) == len(later)
    np.testing.assert_array_equal(back.frame_index, later.frame_index)
    np.testing.assert_allclose(back.time, later.time, atol=1e-3)


@pytest.mark.parametrize("times, match", [
    ((0.0, 0.1, 99.0, 0.3), "times go backwards at frame 3 \\(99 s, then 0.3 s\\)"),
    # Held to its last time, one frame would fill 99 s (or, given years, the memory).
    ((0.0, 0.1, 0.2, 99.0), "its frames' times span 99 s, 991 frames at 10 fps for the 4 it holds; check them"),
    # Times never set, or milliseconds given as seconds: most frames would be dropped without a word.
    ((0.0,) * 90, "its frames' times span only 0 s, 1 frame at 10 fps for the 90 it holds, which would drop the rest"),
    (tuple(i / 1000 for i in range(90)), "span only 0.089 s, 2 frames at 10 fps for the 90 it holds"),
    (("0.5", 0.6), "frame 0's time is '0.5', not a number"),
    ((True, 0.6), "frame 0's time is True, not a number"),
])
def test_json_times_that_cannot_be_meant_are_refused(tmp_path, times, match):
    frames = [{"time": t, "blendshapes": [0.0] * 52} for t in times]
    (tmp_path / "m.json").write_text(json.dumps({"format": "facecast.motion", "version": 1, "fps": 10,
                                                 "frames": frames}))
    with pytest.raises(FacecastError, match=match):
        read_motion(tmp_path / "m.json")


def test_a_recording_whose_timecodes_leap_is_refused_not_held(tmp_path):
    """An hour between two rows of a 2 s take would hold one frame for that hour."""
    stamps = [f"10:00:00:{k:02d}.000" for k in range(30)] + ["11:00:01:00.000"]
    _recording(tmp_path / "leap.csv", stamps, [{"JawOpen": 0.1}] * 31)
    with pytest.raises(FacecastError, match="its timecodes span 3601 s, 108031 frames at 30 fps for the 31 it holds"):
        read_motion(tmp_path / "leap.csv")


def test_json_units_in_radians_and_centimetres_are_read_as_such(tmp_path, spoken):
    plain = write_motion(spoken, tmp_path / "m.json")
    doc = json.loads(plain.read_text())
    doc["units"] = {"headRotation": "rad", "headTranslation": "cm", "gaze": "rad"}
    for frame in doc["frames"]:
        frame["headRotation"] = [math.radians(a) for a in frame["headRotation"]]
        frame["gaze"] = [math.radians(a) for a in frame["gaze"]]
        frame["headTranslation"] = [100 * m for m in frame["headTranslation"]]
    (tmp_path / "converted.json").write_text(json.dumps(doc))
    track = read_motion(tmp_path / "converted.json")
    as_written = read_motion(plain)
    np.testing.assert_allclose(track.head_rotation, as_written.head_rotation, atol=1e-4)
    np.testing.assert_allclose(track.gaze, as_written.gaze, atol=1e-4)
    np.testing.assert_allclose(track.head_translation, as_written.head_translation, atol=1e-7)
    doc["units"] = {"headrotation": "rad"}  # misspelt: its radians would have been read as degrees
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    with pytest.raises(FacecastError, match="\"units\" names 'headrotation'; it gives units for time, headRotation"):
        read_motion(tmp_path / "odd.json")
    for unit, said in (("grad", "'grad'"), (["deg"], "\\['deg'\\]")):
        doc["units"] = {"headRotation": unit}
        (tmp_path / "odd.json").write_text(json.dumps(doc))
        with pytest.raises(FacecastError, match=f"gives headRotation in {said}; facecast reads 'deg' or 'rad'"):
            read_motion(tmp_path / "odd.json")


def test_an_npz_whose_fps_is_a_one_element_array_is_read(tmp_path, spoken):
    frames = read_motion(write_motion(spoken, tmp_path / "m.npz")).data
    np.savez(tmp_path / "listed.npz", frames=frames, fps=np.array([25.0]), layout_version=np.array([1]))
    track = read_motion(tmp_path / "listed.npz")
    assert track.fps == 25 and len(track) == len(spoken)
    np.savez(tmp_path / "two.npz", frames=frames, fps=np.array([25.0, 30.0]))
    with pytest.raises(FacecastError, match=r"'fps' array is not one number"):
        read_motion(tmp_path / "two.npz")


def _recording(path, stamps: list[str], values: list[dict[str, float]], extra: str | None = None) -> None:
    """A CSV laid out as the Live Link Face app writes it (the header facecast writes), one row per
    timecode, with the named columns set and the others 0; ``extra`` adds a text column at the end."""
    header = next(csv.reader(write_motion(MotionTrack.neutral(1, 60), path).open()))
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header + ([extra] if extra else []))
        for stamp, row in zip(stamps, values, strict=True):
            cells = [stamp, "61", *(str(row.get(name, 0.0)) for name in header[2:])]
            out.writerow(cells + (["take 3"] if extra else []))


def test_a_recording_with_dropped_frames_comes_back_on_an_even_clock(tmp_path):
    """Timecodes of the day with sub-frame fractions, 60 fps, two frames missing: the track starts at 0,
    keeps its length in time, and each tick takes the nearest frame recorded."""
    kept = [k for k in range(150) if k not in (70, 71)]  # 2.5 s at 60 fps from 14:03:52:28
    stamps = [f"14:03:{52 + (28 + k) // 60:02d}:{(28 + k) % 60:02d}.207" for k in kept]
    path = tmp_path / "take.csv"
    _recording(path, stamps, [{"JawOpen": k / 149, "HeadYaw": np.radians(10.0)} for k in kept])
    take = read_motion(path)
    assert take.fps == 60 and len(take) == 150
    np.testing.assert_allclose(take.time, np.arange(150) / 60, atol=1e-6)
    jaw = take.blendshape("jawOpen")
    recorded = np.array(kept) / 149
    assert np.abs(jaw[:, None] - recorded[None]).min(1).max() < 1e-6  # every tick holds a recorded frame
    assert np.abs(jaw - np.arange(150) / 149).max() <= 1.01 / 149  # and the nearest one
    # Radians in the file, degrees here; the app's + yaw turns the head to its right, the frame's to its left.
    np.testing.assert_allclose(take.head_rotation[:, 1], -10.0, atol=1e-4)


@pytest.mark.parametrize("start", ["23:59:59", "10:00:00"])
def test_a_short_take_keeps_its_rate_when_a_seconds_last_frame_was_dropped(tmp_path, start):
    """90 frames at 60 fps, the only FF 59 among them dropped, and an extra column of the app's that
    facecast does not use; one take runs across midnight."""
    h, m, sec = map(int, start.split(":"))
    base = (h * 3600 + m * 60 + sec) * 60 + 10  # in frames, from FF 10
    kept = [k for k in range(90) if (base + k) % 60 != 59]
    stamps = []
    for k in kept:
        day_seconds, ff = divmod(base + k, 60)
        day_seconds %= 86400
        stamps.append(f"{day_seconds // 3600:02d}:{day_seconds // 60 % 60:02d}:{day_seconds % 60:02d}:{ff:02d}.000")
    path = tmp_path / "take.csv"
    _recording(path, stamps, [{"JawOpen": k / 89} for k in kept], extra="Notes")
    take = read_motion(path)
    assert take.fps == 60 and len(take) == 90
    assert np.abs(take.blendshape("jawOpen") - np.arange(90) / 89).max() <= 1.01 / 89


def test_values_no_face_can_take_are_refused_and_an_editors_overshoot_is_clamped(tmp_path, spoken):
    plain = write_motion(spoken, tmp_path / "m.json")
    doc = json.loads(plain.read_text())
    jaw = doc["blendshapeNames"].index("jawOpen")
    doc["frames"][3]["blendshapes"][jaw] = 1.06  # a spline's overshoot
    (tmp_path / "overshoot.json").write_text(json.dumps(doc))
    assert read_motion(tmp_path / "overshoot.json").blendshape("jawOpen")[3] == 1.0
    doc["frames"][5]["blendshapes"][jaw] = 80.0  # a tool that writes percent
    (tmp_path / "percent.json").write_text(json.dumps(doc))
    with pytest.raises(FacecastError, match=r"jawOpen is 80 at frame 5; blendshapes run 0 to 1 \(a file in percent"):
        read_motion(tmp_path / "percent.json")
    degrees = [f"00:00:{k // 60:02d}:{k % 60:02d}.000" for k in range(90)]  # angles typed in degrees
    _recording(tmp_path / "degrees.csv", degrees, [{"HeadYaw": 20.0} for _ in degrees])
    with pytest.raises(FacecastError, match="headYaw is -1145.92° at frame 0.*radians in a Live Link Face CSV"):
        read_motion(tmp_path / "degrees.csv")


def test_foreign_and_damaged_files_are_one_clear_error(tmp_path, spoken):
    def fails(name: str, content: str | bytes, match: str) -> None:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(FacecastError, match=match):
            read_motion(path)

    with pytest.raises(FacecastError, match="no such file"):
        read_motion(tmp_path / "absent.json")
    fails("m.mp4", b"\x00\x00", "unknown motion format")
    fails("line.wav", b"RIFF", r"a sound, not motion .*\(facecast render --audio\)")  # given as --motion
    fails("other.json", '{"frames": []}', "not a facecast motion JSON")
    fails("broken.json", '{"format": "facecast.mot', "cannot be read as a facecast motion JSON")
    plain = write_motion(spoken, tmp_path / "m.json")
    doc = json.loads(plain.read_text())
    fails("later.json", json.dumps({**doc, "version": 2}), "layout version 2")
    fails("empty.json", json.dumps({**doc, "frames": []}), "holds no frames")
    fails("listed.json", json.dumps({**doc, "frames": [[0.1] * 52]}), "frame 0 is not an object")
    fails("renamed.json", json.dumps({**doc, "blendshapeNames": ["jawOpened", *doc["blendshapeNames"][1:]]}),
          "unknown blendshape 'jawOpened'")
    doc["frames"][3]["headRotation"][0] = float("nan")
    fails("nan.json", json.dumps(doc), "not numbers")
    fails("words.csv", "name,score\nbob,3\n", "no 'Timecode' column")
    table = write_motion(spoken, tmp_path / "m.csv").read_text().splitlines()
    fails("short.csv", "\n".join(table[:10]), "shorter than a second")
    fails("backwards.csv", "\n".join([table[0], *table[30:60], *table[1:30]]), "go backwards at line 32")
    fails("ragged.csv", "\n".join([*table[:40], table[40][:50], *table[41:]]), "line 41 is not a frame")
    few = ",".join(["Timecode", "JawOpen"]) + "\n00:00:00:00.000,0.5\n00:00:01:00.000,0.5\n"
    fails("few.csv", few, "only 1 of the 52")
    np.savez(tmp_path / "wrong.npz", frames=np.zeros((5, FRAME_SIZE - 1), np.float32), fps=np.float32(30))
    with pytest.raises(FacecastError, match="not \\(n, 80\\)"):
        read_motion(tmp_path / "wrong.npz")
    fails("zero.npz", b"PK\x03\x04 broken", "not an npz archive")
    fails("text.npz", "frames and fps", "not an npz archive")


_WEIGHTS = {"blendshapes": [0.0] * 52}


@pytest.mark.parametrize("change, match", [
    ({"version": "1"}, "layout version '1', this facecast reads 1"),  # it said "version 1, this facecast reads 1"
    ({"version": True}, "layout version True"),
    ({"fps": True}, "frame rate is True, not a number"),  # it was read as 1 fps
    ({"fps": "30"}, "frame rate is '30', not a number"),
    ({"frames": [_WEIGHTS, _WEIGHTS, {"visemes": [0.0] * 15}]}, 'frame 2 has no "blendshapes"'),
    # A raw numpy message ("shape mismatch: value array of shape (51,) ...") before.
    ({"frames": [_WEIGHTS, _WEIGHTS, {"blendshapes": [0.0] * 51}]},
     "frame 2 has 51 blendshapes, not 52 \\(one per name in blendshapeNames\\)"),
    ({"frames": [_WEIGHTS, {**_WEIGHTS, "gaze": [1.0, 2.0]}]}, "frame 1 has 2 gaze values, not 4"),
    ({"frames": [_WEIGHTS, {**_WEIGHTS, "gaze": ["left", 0, 0, 0]}]}, "frame 1 cannot be read"),
])
def test_a_json_entry_of_the_wrong_kind_is_one_clear_error_naming_it(tmp_path, change, match):
    doc = {"format": "facecast.motion", "version": 1, "fps": 30, "frames": [_WEIGHTS] * 3, **change}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(FacecastError, match=match):
        read_motion(tmp_path / "m.json")
