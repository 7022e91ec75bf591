"""Phones to visemes and mouth poses.

Every synthesizer names its phones differently (flite and festival use the CMU/radio set, espeak-ng
gives IPA), so each phone is first turned into IPA symbols and everything after that works on IPA:
the Oculus viseme, the 6-class grouping used for scoring, and the target mouth pose with its
coarticulation dominance (how strongly a phone imposes its shape on its neighbours).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from facecast.lip_channels import CLOSED_LIPS, LIP_CHANNEL_INDEX, LIP_CHANNELS
from facecast.motion_frame import VISEME_INDEX, VISEMES

SILENCE = "_"

# CMU / festival "radio" phone set to IPA. Diphthongs become two symbols, split in time later.
CMU_TO_IPA: dict[str, str] = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ɚ", "ay": "aɪ",
    "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "dx": "ɾ", "eh": "ɛ", "el": "l", "em": "m", "en": "n",
    "er": "ɚ", "ey": "eɪ", "f": "f", "g": "ɡ", "hh": "h", "hv": "h", "ih": "ɪ", "ix": "ɪ", "iy": "i",
    "jh": "dʒ", "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ŋ", "nx": "n", "ow": "oʊ", "oy": "ɔɪ",
    "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ", "t": "t", "th": "θ", "uh": "ʊ", "uw": "u", "ux": "u",
    "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ",
    "pau": SILENCE, "h#": SILENCE, "sil": SILENCE, "brth": SILENCE, "ssil": SILENCE,
}  # fmt: skip

# SAMPA-style names used by festival's non-English voices (Catalan, Italian, Czech, Finnish). Stress
# digits and the length mark ":" are stripped before lookup; plain lower-case letters not listed here
# are the same symbol in IPA.
SAMPA_TO_IPA: dict[str, str] = {
    "ax": "ə", "@": "ə", "E": "ɛ", "O": "ɔ", "A": "ɑ", "I": "ɪ", "U": "ʊ", "Y": "ʏ", "2": "ø", "9": "œ",
    "{": "æ", "V": "ʌ", "tS": "tʃ", "dZ": "dʒ", "S": "ʃ", "Z": "ʒ", "T": "θ", "D": "ð", "N": "ŋ",
    "J": "ɲ", "L": "ʎ", "G": "ɣ", "B": "β", "rr": "r", "r": "ɾ", "R": "ʁ", "x": "x", "ts": "ts",
    "dz": "dz", "ch": "x", "g": "ɡ", "y": "y", "ng": "ŋ", "n*": "ŋ", "d~": "ɟ", "t~": "c", "n~": "ɲ",
    "pau": SILENCE, "#": SILENCE, "##": SILENCE, "_": SILENCE, "sil": SILENCE,
}  # fmt: skip
#: Per-voice exceptions to SAMPA_TO_IPA (festival's Czech phone set writes the affricate /ts/ as "c").
SAMPA_OVERRIDES: dict[str, dict[str, str]] = {"czech_dita": {"c": "ts"}}

# Multi-letter IPA units that are one articulation.
_UNITS = ("tʃ", "dʒ", "ts", "dz", "tɕ", "dʑ")

_CH = LIP_CHANNEL_INDEX


@dataclass(frozen=True)
class PhoneClass:
    viseme: str
    dominance: float  # how strongly the phone imposes its mouth shape on neighbours (0..1)
    pose: dict[str, float]
    bilabial_stop: bool = False  # lips must close completely (p, b, m)
    transparent: bool = False  # takes the shape of its neighbours (h, glottal stop)


def _cls(viseme: str, dominance: float, bilabial: bool = False, transparent: bool = False, **pose: float):
    return PhoneClass(viseme, dominance, pose, bilabial, transparent)


_CLOSED = dict(CLOSED_LIPS)

_CLASSES: dict[str, PhoneClass] = {}


def _add(symbols: str, cls: PhoneClass) -> None:
    for s in symbols.split():
        _CLASSES[s] = cls


_add(SILENCE, _cls("sil", 0.5))
_add("p b", _cls("PP", 1.0, bilabial=True, **_CLOSED))
_add("m", _cls("PP", 1.0, bilabial=True, **{**_CLOSED, "mouthPress": 0.2}))
_add("β ɸ", _cls("PP", 0.8, jawOpen=0.10, mouthClose=0.06, mouthPress=0.15))
_add("f v ʋ", _cls("FF", 0.9, jawOpen=0.10, mouthClose=0.02, mouthRollLower=0.45, mouthUpperUp=0.20,
                   mouthStretch=0.10))
_add("θ ð", _cls("TH", 0.6, jawOpen=0.16, tongueOut=0.35, mouthUpperUp=0.10))
_add("t d ɾ ʈ ɖ c ɟ", _cls("DD", 0.3, jawOpen=0.18, mouthStretch=0.10))
_add("n l ɫ ɲ ʎ ɳ ɭ", _cls("nn", 0.3, jawOpen=0.20, mouthStretch=0.05))
_add("k ɡ g ŋ x ɣ q χ ç", _cls("kk", 0.25, jawOpen=0.24))
_add("s z ts dz ɕ ʑ", _cls("SS", 0.7, jawOpen=0.07, mouthStretch=0.30, mouthSmile=0.15,
                        mouthUpperUp=0.15, mouthLowerDown=0.15))
_add("ʃ ʒ tʃ dʒ tɕ dʑ", _cls("CH", 0.75, jawOpen=0.10, mouthFunnel=0.50, mouthPucker=0.25,
                           mouthShrugUpper=0.20, mouthUpperUp=0.10))
_add("ɹ r ʁ ʀ ɻ", _cls("RR", 0.5, jawOpen=0.15, mouthPucker=0.25, mouthFunnel=0.20))
_add("j", _cls("ih", 0.4, jawOpen=0.10, mouthSmile=0.25, mouthStretch=0.20))
_add("w ɥ", _cls("ou", 0.85, jawOpen=0.08, mouthPucker=0.70, mouthFunnel=0.30))
_add("h ɦ ʔ", _cls("sil", 0.05, transparent=True))
_add("a ɑ", _cls("aa", 0.6, jawOpen=0.62, mouthLowerDown=0.30, mouthUpperUp=0.10))
_add("æ", _cls("aa", 0.6, jawOpen=0.50, mouthStretch=0.25, mouthLowerDown=0.25))
_add("ʌ ɐ", _cls("aa", 0.55, jawOpen=0.45, mouthLowerDown=0.15))
_add("ə ɘ", _cls("E", 0.35, jawOpen=0.30))
_add("ɛ e", _cls("E", 0.55, jawOpen=0.35, mouthStretch=0.25, mouthSmile=0.10, mouthLowerDown=0.10))
_add("ɜ ɚ ɝ", _cls("E", 0.5, jawOpen=0.28, mouthFunnel=0.15, mouthPucker=0.10))
_add("ɪ", _cls("ih", 0.5, jawOpen=0.18, mouthSmile=0.30, mouthStretch=0.30))
_add("i ɨ", _cls("ih", 0.55, jawOpen=0.12, mouthSmile=0.40, mouthStretch=0.35))
_add("y ʏ", _cls("ou", 0.7, jawOpen=0.12, mouthPucker=0.70, mouthFunnel=0.20))
_add("o", _cls("oh", 0.65, jawOpen=0.35, mouthFunnel=0.45, mouthPucker=0.35))
_add("ɔ ɒ", _cls("oh", 0.6, jawOpen=0.50, mouthFunnel=0.35, mouthPucker=0.15))
_add("ø", _cls("oh", 0.65, jawOpen=0.25, mouthPucker=0.55, mouthFunnel=0.30))
_add("œ ɶ", _cls("oh", 0.6, jawOpen=0.40, mouthPucker=0.35, mouthFunnel=0.25))
_add("u ɯ", _cls("ou", 0.75, jawOpen=0.15, mouthPucker=0.75, mouthFunnel=0.40))
_add("ʊ ɤ", _cls("ou", 0.65, jawOpen=0.22, mouthPucker=0.50, mouthFunnel=0.30))

#: 6-class grouping used for scoring: what a viewer can tell apart on the lips.
SIX_CLASSES: tuple[str, ...] = ("closed", "labiodental", "open", "wide", "round", "other")
VISEME_TO_SIX: dict[str, str] = {
    "PP": "closed", "FF": "labiodental", "aa": "open", "E": "wide", "ih": "wide", "oh": "round",
    "ou": "round", "sil": "other", "TH": "other", "DD": "other", "kk": "other", "CH": "other",
    "SS": "other", "nn": "other", "RR": "other",
}  # fmt: skip
VISEME_TO_SIX_INDEX = np.array([SIX_CLASSES.index(VISEME_TO_SIX[v]) for v in VISEMES])

_MODIFIERS = set("ˈˌːˑ̥̩̯̃̊͡‿'\".,-_:;ʰʲʷ̪̠̟̞̝̘̙ⁿˠ˞̚")


def split_ipa(text: str) -> list[str]:
    """Split an IPA string into the base symbols this module knows, dropping stress and length marks."""
    text = unicodedata.normalize("NFD", text)
    cleaned = "".join(ch for ch in text if ch not in _MODIFIERS and not unicodedata.combining(ch))
    out: list[str] = []
    i = 0
    while i < len(cleaned):
        two = cleaned[i : i + 2]
        if two in _UNITS:
            out.append(two)
            i += 2
            continue
        ch = cleaned[i]
        i += 1
        if ch in _CLASSES:
            out.append(ch)
        elif ch.lower() in _CLASSES:
            out.append(ch.lower())
        # Unknown symbols (rare espeak extensions) are skipped; the segment keeps its neighbours' time.
    return out


def sampa_to_ipa(name: str, voice: str = "") -> str:
    """A festival SAMPA-style phone name to IPA; raises ``KeyError`` for a name nothing here knows."""
    key = name.rstrip("0123456789").rstrip(":") or name
    table = {**SAMPA_TO_IPA, **SAMPA_OVERRIDES.get(voice, {})}
    if key in table:
        return table[key]
    if len(key) == 1 and key.islower() and key in _CLASSES:
        return key
    raise KeyError(f"unknown SAMPA phone {name!r} (voice {voice or '?'})")


def phone_class(symbol: str) -> PhoneClass:
    return _CLASSES[symbol]


def pose_vector(symbol: str) -> np.ndarray:
    vec = np.zeros(len(LIP_CHANNELS), dtype=np.float32)
    for name, value in _CLASSES[symbol].pose.items():
        vec[_CH[name]] = value
    return vec


def viseme_index(symbol: str) -> int:
    return VISEME_INDEX[_CLASSES[symbol].viseme]


CLOSED_POSE = pose_vector("p")
