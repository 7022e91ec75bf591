"""Training targets: visemes from the synthesizer's phones, mouth poses with coarticulation."""

import ctypes

import numpy as np
import pytest

from facecast.export.phonetics import CLOSED_POSE, sampa_to_ipa, split_ipa
from facecast.export.targets import build_targets, frame_count, segments_from_cmu, segments_from_ipa
from facecast.export.tts import Voice, synthesize
from facecast.lip_channels import LIP_CHANNEL_INDEX
from facecast.motion_frame import VISEME_INDEX

JAW, CLOSE = LIP_CHANNEL_INDEX["jawOpen"], LIP_CHANNEL_INDEX["mouthClose"]
PUCKER = LIP_CHANNEL_INDEX["mouthPucker"]


def aperture(pose):
    return pose[:, JAW] - pose[:, CLOSE]


def test_every_bilabial_closes_the_lips_however_short(speech_phones):
    segments = segments_from_cmu(speech_phones)
    targets = build_targets(segments, frame_count(segments[-1].end))
    bilabials = [s for s in segments if s.symbol in ("p", "b", "m")]
    assert len(bilabials) >= 8
    for seg in bilabials:
        centre = int(round((seg.start + seg.end) / 2 / 0.01))
        assert np.allclose(targets.pose[centre], CLOSED_POSE)
        assert targets.viseme[centre] == VISEME_INDEX["PP"]


def test_neighbouring_phones_shape_each_other():
    # "s" then "u": the lips round during the /s/ already (anticipatory coarticulation), while an /s/
    # before /i/ stays spread.
    before_u = build_targets(segments_from_ipa([(0, 0.2, ""), (0.2, 0.3, "s"), (0.3, 0.5, "u")]), 60)
    before_i = build_targets(segments_from_ipa([(0, 0.2, ""), (0.2, 0.3, "s"), (0.3, 0.5, "i")]), 60)
    frame_in_s = 27
    assert before_u.pose[frame_in_s, PUCKER] > before_i.pose[frame_in_s, PUCKER] + 0.1


def test_pose_is_smooth_not_a_step_function(speech_phones):
    segments = segments_from_cmu(speech_phones)
    targets = build_targets(segments, frame_count(segments[-1].end))
    steps = np.abs(np.diff(aperture(targets.pose)))
    assert steps.max() < 0.3
    assert len(np.unique(np.round(aperture(targets.pose), 3))) > 50


def test_h_takes_the_shape_of_the_following_vowel():
    segs = segments_from_ipa([(0, 0.1, ""), (0.1, 0.2, "h"), (0.2, 0.4, "u")])
    targets = build_targets(segs, 40)
    assert targets.viseme[15] == VISEME_INDEX["ou"]


def test_voice_activity_follows_speech_and_pauses():
    targets = build_targets(segments_from_ipa([(0, 0.2, ""), (0.2, 0.5, "a"), (0.5, 0.8, "")]), 80)
    assert targets.vad[10] == 0 and targets.vad[35] == 1 and targets.vad[70] == 0


def test_sampa_names_map_to_ipa_and_unknown_names_are_refused():
    assert sampa_to_ipa("O1") == "ɔ" and sampa_to_ipa("a:") == "a" and sampa_to_ipa("tS") == "tʃ"
    assert sampa_to_ipa("c", voice="czech_dita") == "ts" and sampa_to_ipa("ch") == "x"
    with pytest.raises(KeyError):
        sampa_to_ipa("Q~")


def test_ipa_strings_split_into_known_symbols():
    assert split_ipa("ˈaɪ") == ["a", "ɪ"]
    assert split_ipa("tʃ") == ["tʃ"]
    assert split_ipa("oː") == ["o"]
    assert split_ipa("ɑ̃") == ["ɑ"]


@pytest.mark.parametrize("voice,text", [
    (Voice("espeak", "es", "es"), "Buenos días, me llamo Pablo y vivo en Madrid."),
    (Voice("espeak", "de", "de"), "Guten Morgen, ich möchte bitte ein Brötchen kaufen."),
    (Voice("espeak", "fr", "fr"), "Bonjour, je voudrais un pain au chocolat, s'il vous plaît."),
    (Voice("festival", "kal_diphone", "en"), "The quick brown fox jumps over the lazy dog."),
    (Voice("festival", "upc_ca_ona_hts", "ca", phoneset="sampa"), "Bon dia, em dic Pau i visc a Barcelona."),
    (Voice("festival", "lp_diphone", "it", phoneset="sampa"), "Buongiorno, mi chiamo Paolo e vivo a Milano."),
    (Voice("festival", "czech_dita", "cs", phoneset="sampa"), "Dobry den, jmenuji se Pavla a bydlim v Praze."),
    (Voice("festival", "suo_fi_lj_diphone", "fi", phoneset="sampa"), "Hyvaa paivaa, minun nimeni on Paula."),
])
def test_synthesizers_give_phones_that_cover_the_audio(voice, text):
    utt = synthesize(voice, text)
    duration = utt.audio.size / 16000
    assert utt.segments[0].start == pytest.approx(0, abs=0.02)
    assert utt.segments[-1].end == pytest.approx(duration, abs=0.05)
    spoken = [s for s in utt.segments if s.symbol != "_"]
    assert len(spoken) > 20
    assert any(s.symbol in ("p", "b", "m") for s in spoken)


def test_an_espeak_voice_says_the_same_text_the_same_way_whatever_ran_before():
    """A voice variant's breath noise draws on the C library's rand(): what the process did before (here
    a thousand draws) must not change the corpus."""
    libc = ctypes.CDLL(None)
    voice = Voice("espeak", "en-us+f2", "en", 1.1, 60)
    text = "Poughkeepsie danso from so betide missy leopard his no subsides poverty there."
    first = synthesize(voice, text).audio
    for _ in range(1000):
        libc.rand()
    assert np.array_equal(synthesize(voice, text).audio, first)
