"""Phonetically varied sentences for the synthesizers.

English sentences draw words from the CMU pronouncing dictionary that ships inside the pocketsphinx
wheel, mixed with function words so the synthesizers produce sentence prosody. The other languages use
pseudo-words built from each language's syllables and spelling, which espeak-ng reads with its
letter-to-sound rules: every phone of the language appears without needing a word list.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

_FUNCTION_WORDS = (
    "the a an and but or of to in on at by for with from as is was are be it he she we they you I "
    "this that there then when where who what my your our his her their not no so very"
).split()

_SYLLABLES: dict[str, tuple[list[str], list[str], list[str]]] = {
    # onsets, nuclei, codas in each language's spelling
    "es": (
        "b c d f g j l ll m n ñ p qu r rr s t v z ch br bl cr cl dr fr fl gr gl pl pr tr".split(),
        "a e i o u ia ie io ue ua ai ei oi au".split(),
        ["", "", "", "n", "s", "l", "r", "z", "d"],
    ),
    "de": (
        "b d f g h j k l m n p r s t w z sch st sp pf ch br bl dr fr gr kl kr pl pr tr schw zw".split(),
        "a e i o u ä ö ü ei au eu ie aa ee oo".split(),
        ["", "", "n", "s", "t", "r", "l", "ch", "ng", "nd", "st", "cht", "m"],
    ),
    "fr": (
        "b d f g j l m n p r s t v ch gn ou br bl cr cl dr fr gr pl pr tr".split(),
        "a e i o u é è ou oi au eau an on in un eu ai".split(),
        ["", "", "", "r", "l", "s", "que", "te", "ne"],
    ),
    # Festival's voices read raw bytes, so these stay ASCII.
    "ca": (
        "b c d f g j l ll m n ny p qu r s t v x z ix tx br bl cr cl gr pl pr tr".split(),
        "a e i o u ai ei oi au eu iu ou".split(),
        ["", "", "", "n", "s", "l", "r", "t", "ts"],
    ),
    "it": (
        "b c d f g l m n p r s t v z gn gl sc ch gh ci gi br bl cr dr fr gr pr st tr".split(),
        "a e i o u ia ie io uo ua ai oi".split(),
        ["", "", "", "", "n", "l", "r", "s"],
    ),
    "cs": (
        "b c d f g h j k l m n p r s t v z ch st pr br dr kr tr sl zl pl".split(),
        "a e i o u y ou".split(),
        ["", "", "k", "l", "n", "s", "t", "m", "st", "ch"],
    ),
    "fi": (
        "h j k l m n p r s t v kk pp tt ss ll".split(),
        "a e i o u y aa ee ii oo uu ai ei oi ui au ou ie uo".split(),
        ["", "", "", "n", "s", "t", "l", "r"],
    ),
}


@lru_cache(maxsize=1)
def cmu_words() -> list[str]:
    """Plain alphabetic words of the CMU dictionary bundled with pocketsphinx."""
    import pocketsphinx  # only needed to build the corpus

    path = Path(pocketsphinx.__file__).parent / "model" / "en-us" / "cmudict-en-us.dict"
    words = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        word = line.split(" ", 1)[0]
        if re.fullmatch(r"[a-z]{2,12}", word):
            words.append(word)
    return words


def english_sentence(rng: random.Random, n_words: tuple[int, int] = (5, 14)) -> str:
    words = cmu_words()
    out = []
    for _ in range(rng.randint(*n_words)):
        out.append(rng.choice(_FUNCTION_WORDS) if rng.random() < 0.35 else rng.choice(words))
    return _punctuate(rng, out)


def pseudo_sentence(rng: random.Random, language: str, n_words: tuple[int, int] = (5, 12)) -> str:
    onsets, nuclei, codas = _SYLLABLES[language]
    words = []
    for _ in range(rng.randint(*n_words)):
        syllables = [
            (rng.choice(onsets) if rng.random() < 0.85 else "") + rng.choice(nuclei) + rng.choice(codas)
            for _ in range(rng.randint(1, 3))
        ]
        words.append("".join(syllables))
    return _punctuate(rng, words)


def sentence(rng: random.Random, language: str) -> str:
    return english_sentence(rng) if language == "en" else pseudo_sentence(rng, language)


def _punctuate(rng: random.Random, words: list[str]) -> str:
    """Commas and full stops give the synthesizers pauses and phrase-final lengthening to learn from."""
    text = []
    for i, word in enumerate(words):
        text.append(word)
        if 0 < i < len(words) - 2 and rng.random() < 0.12:
            text[-1] += rng.choice([",", ",", "."])
    sentence = " ".join(text)
    return sentence[0].upper() + sentence[1:] + rng.choice([".", ".", "?", "!"])
