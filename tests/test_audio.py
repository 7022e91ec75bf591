"""Any speech file becomes 16 kHz mono float32; anything unusable fails with one clear message."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from facecast.audio import SAMPLE_RATE, check_not_silent, load_audio, to_mono_16k
from facecast.errors import AudioError
from facecast.pipeline import load_speech


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "m4a", "mp4"])
def test_every_format_loads_as_the_same_16k_mono_speech(speech_formats, speech_audio, fmt):
    audio = load_audio(speech_formats[fmt])
    assert audio.dtype == np.float32 and audio.ndim == 1
    # mp3 and AAC encoders add a little padding; the length stays within 60 ms of the original.
    assert abs(audio.size - speech_audio.size) < 0.06 * SAMPLE_RATE
    n = min(audio.size, speech_audio.size)
    if fmt in ("wav", "flac"):
        ref = speech_audio[:n] * 0.9  # the stereo files mix a full and a 0.8 copy
        assert np.corrcoef(audio[:n], ref)[0, 1] > 0.99
    else:  # lossy: the same speech, perhaps shifted by the encoder's padding
        lag = int(np.argmax(np.correlate(audio[:n], speech_audio[: n - 2000], mode="valid")[:2000]))
        assert np.corrcoef(audio[lag:lag + n - 2000], speech_audio[: n - 2000])[0, 1] > 0.95



@pytest.mark.parametrize("kind", ["gsm.wav", "gsm"])
def test_gsm_speech_which_libsndfile_opens_unseekable_is_read_whole(speech_wav, speech_audio, tmp_path, kind):
    """A GSM 6.10 WAV (telephone and voice-mail recordings) or raw .gsm file: libsndfile opens it without
    seeking and will not read it in one call; it crashed with a traceback."""
    path = tmp_path / f"speech.{kind}"
    subprocess.run(["sox", str(speech_wav), "-r", "8000", *(["-e", "gsm"] if kind == "gsm.wav" else []), str(path)],
                   check=True)
    audio = load_audio(path)
    assert abs(audio.size - speech_audio.size) < 0.01 * SAMPLE_RATE
    n = min(audio.size, speech_audio.size)
    lag = int(np.argmax(np.correlate(audio[:n], speech_audio[: n - 800], mode="valid")[:800]))
    # GSM keeps the speech's envelope, not its waveform: compared as loudness over 20 ms.
    def envelope(x):
        return np.sqrt(np.mean(x[: x.size // 320 * 320].reshape(-1, 320) ** 2, axis=1))
    assert np.corrcoef(envelope(audio[lag:lag + n - 800]), envelope(speech_audio[: n - 800]))[0, 1] > 0.9

def test_a_cut_off_mp3_gives_the_speech_it_holds_and_its_decoders_warning_once(speech_formats, tmp_path, capfd):
    whole = speech_formats["mp3"].read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    capfd.readouterr()
    audio = load_audio(cut)
    full = load_audio(speech_formats["mp3"])
    assert 0.5 * full.size < audio.size < 0.8 * full.size
    assert np.array_equal(audio[:1000], full[:1000])
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(warnings) <= 1, warnings  # mpg123 complains of the header's size; once, not per opening


def test_a_cut_off_flac_gives_the_speech_it_holds(speech_formats, tmp_path):
    """libsndfile refuses a FLAC cut off mid-frame ("flac decoder lost sync"); ffmpeg reads what is there,
    as libsndfile does for a cut-off wav, mp3 or ogg."""
    whole = speech_formats["flac"].read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    audio = load_audio(cut)
    full = load_audio(speech_formats["flac"])
    assert 0.5 * full.size < audio.size < 0.8 * full.size
    np.testing.assert_allclose(audio[:16000], full[:16000], atol=1e-4)


def test_a_cut_off_wav_is_told_and_a_wav_written_to_a_pipe_is_not(speech_formats, speech_wav, tmp_path, caplog):
    """A WAV cut short (an interrupted download) reads as far as it goes, and the video would end early
    without a word; one written to a pipe (ffmpeg's, whose header cannot hold its length) is whole."""
    whole = speech_formats["wav"].read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 3])
    audio = load_audio(cut)
    assert 0.3 < audio.size / load_audio(speech_formats["wav"]).size < 0.36
    assert [r.message for r in caplog.records] == [
        f"{cut}: the file ends after {audio.size / SAMPLE_RATE:.2f} s, but its header says "
        f"{load_audio(speech_formats['wav']).size / SAMPLE_RATE:.2f} s: it may have been cut short (an interrupted "
        f"download or copy); using the {audio.size / SAMPLE_RATE:.2f} s there"]
    caplog.clear()
    piped = tmp_path / "piped.wav"
    piped.write_bytes(subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_wav), "-f", "wav", "-"],
                                     check=True, capture_output=True).stdout)
    assert b"\xff\xff\xff\xff" in piped.read_bytes()[:80]  # the sizes a pipe's writer leaves unknown
    load_audio(piped)
    load_audio(speech_formats["wav"])
    sox_piped = tmp_path / "sox_piped.wav"  # sox marks a length it does not know 0x7ffff000
    sox_piped.write_bytes(subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", "-t", "wav", "-",
                                          "synth", "1", "sine", "300"], check=True, capture_output=True).stdout)
    assert sox_piped.read_bytes()[40:44] == bytes.fromhex("00f0ff7f")
    load_audio(sox_piped)
    assert caplog.records == []


def test_a_video_without_sound_says_so(tmp_path):
    silent_film = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10:d=1",
                    "-c:v", "libx264", str(silent_film)], check=True)
    with pytest.raises(AudioError, match="holds no audio"):
        load_audio(silent_film)


def test_resampling_keeps_a_tone_at_its_frequency():
    rate = 44100
    t = np.arange(rate) / rate
    out = to_mono_16k(np.sin(2 * np.pi * 440 * t), rate)
    assert out.size == SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / out.size - 440) < 2


def test_integer_samples_are_scaled_to_unit_range():
    pcm = (np.sin(np.linspace(0, 100, 16000)) * 32767).astype(np.int16)
    assert 0.99 < np.abs(to_mono_16k(pcm, 16000)).max() <= 1.0


def test_unsigned_samples_sit_around_their_middle():
    tone = np.sin(np.linspace(0, 100, 16000))
    as_uint8 = np.round(tone * 127 + 128).astype(np.uint8)  # an 8-bit wav's samples
    out = to_mono_16k(as_uint8, 16000)
    assert abs(out.mean()) < 0.01 and 0.98 < np.abs(out).max() <= 1.0


def test_integer_stereo_is_scaled_and_channels_in_opposite_phase_do_not_cancel(tmp_path, speech_wav):
    pcm = (np.sin(np.linspace(0, 100, 16000)) * 32767).astype(np.int16)
    assert 0.99 < np.abs(to_mono_16k(np.stack([pcm, pcm], axis=1), 16000)).max() <= 1.0
    mono = load_audio(speech_wav)
    sf.write(tmp_path / "inverted.wav", np.stack([mono, -mono], axis=1), SAMPLE_RATE)  # a miswired microphone
    np.testing.assert_allclose(load_audio(tmp_path / "inverted.wav"), mono, atol=1e-4)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_not_audio(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    with pytest.raises(AudioError, match="not a readable audio file"):
        load_audio(bad)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


def test_empty_audio(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(path)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    audio = np.zeros(16000, dtype=np.float32)
    audio[100] = np.nan
    sf.write(path, audio, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path)


@pytest.mark.parametrize("rate", [1, 1000, 1_000_000])
def test_absurd_sample_rates(tmp_path, rate):
    path = tmp_path / f"rate{rate}.wav"
    sf.write(path, np.zeros(1000, dtype=np.float32), rate, subtype="FLOAT")
    with pytest.raises(AudioError, match="sample rate"):
        load_audio(path)


def test_too_many_channels(tmp_path):
    path = tmp_path / "many.wav"
    sf.write(path, np.zeros((100, 80), dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="channels"):
        load_audio(path)


def test_silence_is_refused_but_quiet_speech_is_not(speech_audio):
    with pytest.raises(AudioError, match="silent"):
        check_not_silent(np.zeros(16000, dtype=np.float32))
    with pytest.raises(AudioError, match="silent"):
        check_not_silent(np.full(16000, 1e-5, dtype=np.float32))
    check_not_silent(speech_audio * 0.01)  # -40 dB speech is still speech


def test_speech_too_quiet_to_move_the_lips_is_told(speech_wav, speech_audio, tmp_path, caplog):
    """Speech at -60 dB moves the lips a tenth as far as at full level: the face barely talks, which the user
    should hear about rather than find in the video."""
    loud = load_speech(speech_wav)
    assert caplog.records == []
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, speech_audio * 10 ** (-60 / 20) / np.abs(speech_audio).max(), SAMPLE_RATE, subtype="FLOAT")
    assert np.allclose(load_speech(quiet) * 10 ** (60 / 20) * np.abs(speech_audio).max(), loud, atol=1e-4)
    [record] = caplog.records
    assert record.levelname == "WARNING" and "the speech is very quiet (its loudest 10 ms at -6" in record.message
    assert "raise its level" in record.message


def test_float_samples_are_sound_up_to_four_times_full_scale_and_another_scale_past_it():
    from facecast.audio import FLOAT_PEAK_LIMIT, float_samples

    assert FLOAT_PEAK_LIMIT == 4.0
    wave = np.sin(np.linspace(0, 200, 16000)).astype(np.float32)
    assert float_samples(wave * 3.9).max() == pytest.approx(3.9, abs=1e-3)  # a hot mix, kept as it is
    with pytest.raises(AudioError, match="float samples reach 4.1, .*divide them by 32768"):
        float_samples(wave * 4.1)


def test_a_stream_resampler_takes_int16_as_its_float_values_and_refuses_what_is_not_mono_sound():
    from facecast.audio import StreamResampler

    pcm = (np.sin(np.linspace(0, 300, 4800)) * 20000).astype(np.int16)
    as_int16 = StreamResampler(48000).push(pcm)
    as_float = StreamResampler(48000).push(pcm.astype(np.float32) / 32768)
    np.testing.assert_allclose(as_int16, as_float, atol=1e-6)
    with pytest.raises(AudioError, match="mono"):
        StreamResampler(48000).push(np.zeros((480, 2), np.float32))
    for rate in (44100.5, 0, True, "48000"):
        with pytest.raises(AudioError, match="whole number of Hz"):
            StreamResampler(rate)


def test_the_nonverbal_generator_hears_int16_as_the_lip_stream_does(speech_audio):
    from facecast.motion_frame import MotionTrack
    from facecast.nonverbal import MotionControls, NonverbalGenerator

    pcm = np.round(speech_audio[:16000] * 32767).astype(np.int16)

    def motion(audio):
        generator = NonverbalGenerator(MotionControls(seed=4))
        generator.push_audio(audio)
        track = MotionTrack.neutral(100, fps=100)
        generator.apply(track)
        return track.data

    np.testing.assert_allclose(motion(pcm), motion(pcm.astype(np.float32) / 32768), atol=1e-5)


def test_an_odd_sample_rate_is_resampled_by_the_nearest_small_ratio_with_a_filter_designed_once():
    """191,999 Hz over 16 kHz reduces to 16000/191999: a 3.8-million-tap filter, designed again at every
    utterance of a bridge session (0.7 s each, every client waiting). It is resampled as 192 kHz, 5 parts
    per million off, and each ratio's filter is designed once."""
    from facecast.audio import StreamResampler

    odd = StreamResampler(191_999)
    assert (odd.up, odd.down) == (1, 12)
    assert StreamResampler(192_000).taps is odd.taps
    assert (StreamResampler(44_100).up, StreamResampler(44_100).down) == (160, 441)  # usual rates exactly
    t = np.arange(191_999 * 2) / 191_999
    out = np.concatenate([odd.push(np.sin(2 * np.pi * 440 * t).astype(np.float32)), odd.flush()])
    assert abs(out.size - 32_000) <= 1
    peak = np.argmax(np.abs(np.fft.rfft(out))) * 16_000 / out.size
    assert abs(peak - 440) < 1
