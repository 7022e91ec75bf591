"""Behaviour of the non-verbal generator on real synthesized speech."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from facecast.audio import load_audio
from facecast.errors import FacecastError
from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, VISEME_INDEX, MotionTrack
from facecast.nonverbal import HeadLimits, MotionControls, NonverbalGenerator, animate, parse_emotion, parse_gaze
from facecast.nonverbal.expression import CLOSURE_CRITICAL

SENTENCES = (
    "So here is the thing. I went to the market this morning, and the whole place was packed.",
    "Honestly, I have never seen so many people buying tomatoes on a rainy day.",
    "But then again, it was Saturday, and everybody shops on Saturday, don't they?",
)


def _synthesize(text: str, path) -> np.ndarray:
    if shutil.which("flite"):
        subprocess.run(["flite", "-voice", "rms", "-t", text, "-o", str(path)], check=True)
    elif shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    else:
        pytest.skip("needs flite or espeak-ng to synthesize speech")
    return load_audio(path)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """About 15 s of real synthesized speech: three sentences with pauses between them."""
    folder = tmp_path_factory.mktemp("speech")
    pause = np.zeros(12000, dtype=np.float32)
    parts = [pause]
    for i, text in enumerate(SENTENCES):
        parts += [_synthesize(text, folder / f"s{i}.wav"), pause]
    return np.concatenate(parts)


def lip_track(audio: np.ndarray) -> MotionTrack:
    """A 100 Hz track as the lip stream would hand it over: frames for every 10 ms, lips from loudness."""
    n = audio.size // 160 + 1
    track = MotionTrack.neutral(n, 100.0)
    hops = np.pad(audio, (0, n * 160 - audio.size)).reshape(n, 160)
    db = 10 * np.log10((hops.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    track.voice_activity[:] = db > -45
    track.blendshape("jawOpen")[:] = np.clip((db + 45) / 35, 0, 1) * 0.6
    return track


def stream(audio: np.ndarray, controls: MotionControls, chunk_samples: list[int],
           change: tuple[int, MotionControls] | None = None) -> np.ndarray:
    """Run the generator as a live stream: push audio, then apply the frames whose lookahead is in."""
    base = lip_track(audio)
    n = len(base)
    gen = NonverbalGenerator(controls)
    out, pushed, done, i = [], 0, 0, 0
    while done < n:
        size = chunk_samples[i % len(chunk_samples)]
        i += 1
        gen.push_audio(audio[pushed : pushed + size])
        pushed += size
        ready = n if pushed >= audio.size else min(n, max(0, pushed // 160 - gen.lookahead_frames + 1))
        if change is not None and done <= change[0] < ready:
            # Controls change exactly at frame change[0], whatever the chunking.
            part = MotionTrack(base.data[done : change[0]].copy(), 100.0)
            gen.apply(part)
            out.append(part.data)
            gen.set_controls(change[1])
            done = change[0]
        if ready > done:
            part = MotionTrack(base.data[done:ready].copy(), 100.0)
            gen.apply(part)
            out.append(part.data)
            done = ready
    return np.concatenate(out)


def blink_onsets(track: MotionTrack) -> np.ndarray:
    lid = track.blendshape("eyeBlinkLeft")
    return np.flatnonzero((lid[1:] >= 0.5) & (lid[:-1] < 0.5))


def test_same_seed_same_motion_other_seed_other_motion(speech):
    track = lip_track(speech)
    a = animate(track, speech, MotionControls(seed=7))
    b = animate(track, speech, MotionControls(seed=7))
    c = animate(track, speech, MotionControls(seed=8))
    assert np.array_equal(a.data, b.data)
    assert not np.allclose(a.head_rotation, c.head_rotation)


def test_chunked_stream_equals_whole_file(speech):
    controls = MotionControls(emotion="happy", emotion_intensity=0.6, seed=3)
    whole = animate(lip_track(speech), speech, controls).data
    for chunks in ([160], [37, 1000, 4096, 7], [16000]):
        assert np.array_equal(stream(speech, controls, chunks), whole), chunks


def test_chunked_equals_whole_across_a_control_change(speech):
    start = MotionControls(seed=5)
    later = MotionControls(emotion="angry", emotion_intensity=0.9, gaze=(10.0, -5.0), head_intensity=0.5, seed=5)
    runs = [stream(speech, start, chunks, change=(700, later)) for chunks in ([16000], [333, 90])]
    assert np.array_equal(runs[0], runs[1])


def test_fills_the_non_lip_channels(speech):
    out = animate(lip_track(speech), speech, MotionControls(seed=1))
    assert np.ptp(out.head_rotation, axis=0).min() > 1.0
    assert np.ptp(out.head_translation, axis=0).min() > 0.001
    assert np.ptp(out.gaze, axis=0).min() > 1.0
    for name in ("eyeBlinkLeft", "eyeBlinkRight", "browInnerUp", "browOuterUpLeft", "eyeLookUpLeft"):
        assert out.blendshape(name).max() > 0.05, name


def test_head_stays_within_limits_even_when_pushed(speech):
    limits = HeadLimits(yaw=4.0, pitch=3.0, roll=2.0)
    controls = MotionControls(emotion="angry", head_intensity=2.0, motion_intensity=2.0, limits=limits, seed=2)
    rotation = animate(lip_track(speech), speech, controls).head_rotation
    assert np.all(np.abs(rotation) <= np.array([limits.pitch, limits.yaw, limits.roll]))
    default = animate(lip_track(speech), speech, MotionControls(head_intensity=2.0, seed=2)).head_rotation
    assert np.all(np.abs(default) <= np.array([15.0, 20.0, 10.0]))


@pytest.mark.parametrize("still", [{"head_intensity": 0.0}, {"motion_intensity": 0.0}])
def test_intensity_zero_holds_the_head_still_and_motion_zero_the_eyes_too(speech, still):
    """``head_intensity 0`` keeps the head still (the eyes then make every gaze shift alone), at rest whatever
    the emotion (a sad face's lowered head tilted a head held still by 5 degrees over its first second);
    ``motion_intensity 0`` stills the eyes as well. Blinks go on."""
    for gaze, emotion in (("camera", "neutral"), ("free", "sad"), ((15.0, -5.0), "surprised")):
        out = animate(lip_track(speech), speech, MotionControls(gaze=gaze, emotion=emotion, seed=3, **still))
        assert np.abs(out.head_rotation).max() < 1e-6 and np.ptp(out.head_translation, axis=0).max() < 1e-9, emotion
        moving_eyes = np.ptp(out.gaze, axis=0).max()
        assert (moving_eyes < 1e-6) if "motion_intensity" in still else (moving_eyes > 5.0), gaze
        assert out.blendshape("eyeBlinkLeft").max() > 0.5


def test_head_motion_is_smooth(speech):
    rotation = animate(lip_track(speech), speech, MotionControls(emotion="angry", seed=4)).head_rotation
    speed = np.abs(np.diff(rotation, axis=0)) * 100.0
    # Conversational head movements peak well under the 200-400 deg/s of deliberate head turns.
    assert speed.max() < 100.0
    # Smooth motion keeps its power in slow movement: under 1% above 4 Hz.
    centred = rotation - rotation.mean(axis=0)
    power = np.abs(np.fft.rfft(centred, axis=0)) ** 2
    freqs = np.fft.rfftfreq(len(rotation), 0.01)
    assert power[freqs > 4.0].sum() / power.sum() < 0.01


def test_blinks_at_a_human_rate_while_speaking_and_listening(speech):
    minute = np.tile(speech, int(np.ceil(60 * 16000 / speech.size)))[: 60 * 16000]
    talking = animate(lip_track(minute), minute, MotionControls(seed=11))
    silence = np.zeros(60 * 16000, dtype=np.float32)
    listening = animate(lip_track(silence), silence, MotionControls(seed=11))
    # Bentivoglio et al. 1997: 26 blinks/min in conversation, 17 at rest; allow for person-to-person spread.
    assert 15 <= len(blink_onsets(talking)) <= 40
    assert 8 <= len(blink_onsets(listening)) <= 30


def test_blinks_close_faster_than_they_open(speech):
    minute = np.tile(speech, 4)
    out = animate(lip_track(minute), minute, MotionControls(seed=13))
    lid = out.blendshape("eyeBlinkLeft").astype(np.float64)
    closing, opening = [], []
    for onset in blink_onsets(out):
        lo, hi = max(0, onset - 20), min(len(lid), onset + 60)
        window = lid[lo:hi]
        peak = int(np.argmax(window))
        base, top = window[: peak + 1].min(), window[peak]
        low, high = base + 0.1 * (top - base), base + 0.9 * (top - base)
        rising = np.flatnonzero(window[: peak + 1] >= low)[0], np.flatnonzero(window[: peak + 1] >= high)[0]
        after = window[peak:]
        falling = np.flatnonzero(after < high)[0], np.flatnonzero(after < low)[0]
        closing.append(rising[1] - rising[0])
        opening.append(falling[1] - falling[0])
    assert len(closing) >= 10
    # 10-90 % rise versus 90-10 % fall, in frames: the lid drops fast and lifts slowly.
    assert np.mean(closing) < np.mean(opening)


def test_closure_channels_and_lip_fields_are_never_touched(speech):
    track = lip_track(speech)
    rng = np.random.default_rng(0)
    for name in ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthPressLeft", "mouthPressRight",
                 "mouthRollLower", "mouthRollUpper", "mouthSmileLeft", "mouthUpperUpLeft", "mouthLowerDownLeft"):
        track.blendshape(name)[:] = rng.random(len(track))
    visemes = rng.random((len(track), 15))
    track.visemes[:] = visemes / visemes.sum(axis=1, keepdims=True)
    before = track.data.copy()
    out = animate(track, speech, MotionControls(emotion="surprised", seed=6))
    keep = [FIELDS["blendshapes"].offset + BLENDSHAPE_INDEX[name] for name in CLOSURE_CRITICAL]
    keep += [FIELDS["frameIndex"].offset, FIELDS["time"].offset, FIELDS["voiceActivity"].offset]
    keep += list(range(FIELDS["visemes"].offset, FIELDS["visemes"].offset + 15))
    assert np.array_equal(out.data[:, keep], before[:, keep])


def test_emotion_never_parts_the_lips_of_a_bilabial(speech):
    track = lip_track(speech)
    closed = np.zeros(len(track), dtype=bool)
    closed[200:260] = True  # a held /m/: viseme PP, lips pressed
    track.visemes[closed] = 0.0
    track.visemes[closed, VISEME_INDEX["PP"]] = 1.0
    track.blendshape("mouthPressLeft")[closed] = track.blendshape("mouthPressRight")[closed] = 0.8
    out = animate(track, speech, MotionControls(emotion="surprised", seed=6))  # surprise lowers the lower lip
    happy = animate(track, speech, MotionControls(emotion="happy", seed=6))
    for name in ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthStretchLeft"):
        assert np.all(out.blendshape(name)[closed] == 0.0), name
    assert out.blendshape("mouthLowerDownLeft")[~closed].mean() > 0.05
    assert happy.blendshape("mouthSmileLeft")[closed].min() > 0.3  # a smile may stay on a closed mouth


def test_emotion_change_mid_stream_blends_continuously(speech):
    switch = 600
    later = MotionControls(emotion="angry", emotion_intensity=1.0, seed=9)
    data = stream(speech, MotionControls(seed=9), [1600], change=(switch, later))
    out = MotionTrack(data, 100.0)
    brow = out.blendshape("browDownLeft")
    assert brow[switch - 1] < 0.05 and brow[switch + 80] > 0.5  # it does arrive ...
    assert np.abs(np.diff(brow[switch - 5 : switch + 80])).max() < 0.05  # ... without a jump
    shapes = out.blendshapes[switch - 5 : switch + 80]
    assert np.abs(np.diff(shapes, axis=0)).max() < 0.35  # blinks are the fastest thing on the face
    pitch_step = np.abs(np.diff(out.head_rotation[switch - 5 : switch + 80, 0]))
    assert pitch_step.max() < 1.0  # degrees per frame


def test_gaze_and_distance_controls(speech):
    silence = np.zeros(30 * 16000, dtype=np.float32)
    out = animate(lip_track(silence), silence, MotionControls(gaze=(15.0, 5.0), head_distance=0.2, seed=3))
    world_yaw = out.gaze[:, 0] + out.head_rotation[:, 1]
    world_pitch = out.gaze[:, 1] - out.head_rotation[:, 0]
    settled = slice(100, None)
    assert abs(np.median(world_yaw[settled]) - 15.0) < 3.0
    assert abs(np.median(world_pitch[settled]) - 5.0) < 3.0
    assert abs(np.median(out.head_translation[settled, 2]) - 0.2) < 0.02
    assert np.all(out.blendshape("eyeLookOutLeft")[settled].mean() > out.blendshape("eyeLookInLeft")[settled].mean())


def _camera_share(track: MotionTrack) -> float:
    """Share of frames whose eyes (eye-in-head plus head) point within 4 deg of the camera."""
    yaw = track.gaze[:, 0] + track.head_rotation[:, 1]
    pitch = track.gaze[:, 1] - track.head_rotation[:, 0]
    return float(np.mean(np.hypot(yaw, pitch) < 4.0))


def test_camera_gaze_keeps_human_eye_contact(speech):
    minute = np.tile(speech, int(np.ceil(60 * 16000 / speech.size)))[: 60 * 16000]
    silence = np.zeros(60 * 16000, dtype=np.float32)
    seeds = (11, 12, 13)
    talking = np.mean([_camera_share(animate(lip_track(minute), minute, MotionControls(seed=s))) for s in seeds])
    listening = np.mean([_camera_share(animate(lip_track(silence), silence, MotionControls(seed=s))) for s in seeds])
    # Argyle & Cook 1976: people look at their partner about 41 % of the time while talking, 75 % listening.
    assert 0.25 <= talking <= 0.55
    assert 0.65 <= listening <= 0.9
    assert listening - talking > 0.2


def test_two_frame_chunks_equal_whole_file(speech):
    controls = MotionControls(emotion="sad", emotion_intensity=0.8, gaze="camera", seed=12)
    whole = animate(lip_track(speech), speech, controls).data
    assert np.array_equal(stream(speech, controls, [320]), whole)


def _line_strength(signal: np.ndarray) -> float:
    """How far the strongest slow spectral line rises above the local spectrum (a loop makes lines)."""
    power = np.abs(np.fft.rfft(signal - signal.mean())) ** 2
    freqs = np.fft.rfftfreq(signal.size, 0.01)
    band = np.flatnonzero((freqs > 0.01) & (freqs < 2.0))
    ratios = [power[i] / np.median(power[max(1, i - 25) : i + 26]) for i in band]
    return float(max(ratios))


def test_idle_motion_never_loops():
    silence = np.zeros(600 * 16000, dtype=np.float32)
    out = animate(lip_track(silence), silence, MotionControls(seed=21))
    for axis in range(3):
        assert _line_strength(out.head_rotation[:, axis].astype(np.float64)) < 60.0
    looped = np.tile(out.head_rotation[:3000, 1], 20).astype(np.float64)  # the same 30 s, twenty times
    assert _line_strength(looped) > 60.0


def test_apply_checks_frames_continue_the_stream(speech):
    gen = NonverbalGenerator(MotionControls())
    gen.push_audio(speech)
    track = lip_track(speech)
    gen.apply(MotionTrack(track.data[:100].copy(), 100.0))
    with pytest.raises(ValueError, match="continue the stream"):
        gen.apply(MotionTrack(track.data[150:200].copy(), 100.0))
    with pytest.raises(ValueError, match="100 fps"):
        gen.apply(MotionTrack(track.data[100:200].copy(), 30.0))
    with pytest.raises(ValueError, match="seed"):
        gen.set_controls(MotionControls(seed=99))


def test_pitch_worked_out_elsewhere_gives_the_same_frames_and_must_fit_its_windows(speech):
    """A server analyses many streams' pitch in one call (``pitch_windows`` out, ``apply(..., pitch)`` in)."""
    from facecast.nonverbal.prosody import pitch_of

    track = lip_track(speech)
    own, given = NonverbalGenerator(MotionControls()), NonverbalGenerator(MotionControls())
    for gen in (own, given):
        gen.push_audio(speech)
    for start in range(0, 300, 3):
        a = MotionTrack(track.data[start : start + 3].copy(), 100.0)
        b = MotionTrack(track.data[start : start + 3].copy(), 100.0)
        own.apply(a)
        windows = given.pitch_windows(3)
        if start == 150:
            with pytest.raises(ValueError, match="pitch values given for"):
                given.apply(b, pitch_of(windows)[:-1])  # refused before anything moves
        given.apply(b, pitch_of(windows))
        assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize(("text", "message"), [
    ("joyful", "unknown emotion 'joyful'"),
    ("happy:1.5", "between 0 and 1"),
    ("happy:lots", "not a number"),
])
def test_emotion_strings(text, message):
    with pytest.raises(ValueError, match=message):
        parse_emotion(text)


@pytest.mark.parametrize(("text", "message"), [
    ("sideways", "not camera, free or YAW,PITCH"),
    ("10,up", "two numbers"),
    ("90,0", "gaze yaw must be between -30 and 30"),
    ("0,-40", "gaze pitch must be between -25 and 25"),
])
def test_gaze_strings(text, message):
    with pytest.raises(ValueError, match=message):
        parse_gaze(text)


def test_control_strings_that_work():
    assert parse_emotion("Happy:0.6") == ("happy", 0.6)
    assert parse_emotion("sad") == ("sad", 1.0)
    assert parse_gaze("camera") == "camera"
    assert parse_gaze(" 10, -5 ") == (10.0, -5.0)
    controls = MotionControls.from_strings(emotion="angry:0.3", gaze="free", head_intensity=0.5, seed=7)
    assert (controls.emotion, controls.emotion_intensity, controls.gaze, controls.seed) == ("angry", 0.3, "free", 7)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"head_intensity": 3.0}, "head intensity must be between 0 and 2"),
    ({"motion_intensity": -0.1}, "motion intensity"),
    ({"head_distance": 1.0}, "head distance"),
    ({"seed": -1}, "seed"),
    ({"emotion": "bored"}, "unknown emotion"),
    ({"limits": (20, 15, 10)}, "limits must be a HeadLimits"),
])
def test_controls_reject_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MotionControls(**kwargs)


def test_plot_draws_a_png_an_svg_or_a_pdf_as_it_is_named(speech, tmp_path):
    pytest.importorskip("matplotlib")
    from facecast.plot import plot_motion

    out = animate(lip_track(speech), speech, MotionControls(seed=1))
    assert plot_motion(out, speech, tmp_path / "motion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in plot_motion(out, speech, tmp_path / "motion.svg").read_bytes()[:1000]
    assert plot_motion(out, speech, tmp_path / "motion.PDF").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(FacecastError, match="a plot is written as .png, .svg, .pdf"):
        plot_motion(out, speech, tmp_path / "motion.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.PDF", "motion.png", "motion.svg"]
