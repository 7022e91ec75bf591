"""Build the lip-sync training corpus: synthesized speech with exact phone timing, augmented.

``python -m facecast.export corpus --out corpus/ --hours 7 --seed 0``

The corpus is regenerated, never committed. It is reproducible: every utterance's text, voice and
augmentation come from a generator seeded by (seed, utterance number), so the result does not depend
on the number of worker processes.

Festival's ``cmu_us_slt_arctic_hts`` voice is reserved for validation and never trained on; flite's
``slt`` is the same speaker, so it is left out of training too and the slt score is a truly unseen
speaker.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import asdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facecast.audio import SAMPLE_RATE
from facecast.export.augment import augment
from facecast.export.targets import Segment, build_targets, frame_count
from facecast.export.text import sentence
from facecast.export.tts import Utterance, Voice, synthesize

RESERVED_VOICES = ("festival:cmu_us_slt_arctic_hts", "flite:slt")

# (voice, share of the corpus, typical utterance seconds). Espeak variants are distinct speakers.
TRAIN_VOICES: tuple[tuple[Voice, float, float], ...] = (
    (Voice("flite", "kal16", "en"), 0.08, 5.5),
    (Voice("flite", "kal", "en"), 0.05, 5.5),
    (Voice("flite", "awb", "en"), 0.08, 5.0),
    (Voice("flite", "rms", "en"), 0.08, 5.5),
    (Voice("festival", "kal_diphone", "en"), 0.07, 5.5),
    (Voice("festival", "ked_diphone", "en"), 0.07, 5.5),
    (Voice("espeak", "en-us+m3", "en", 1.0, 45), 0.06, 4.0),
    (Voice("espeak", "en-us+f2", "en", 1.1, 60), 0.06, 3.8),
    (Voice("espeak", "en+m1", "en", 0.9, 40), 0.05, 4.4),
    (Voice("espeak", "en-us+f4", "en", 1.2, 70), 0.05, 3.5),
    # More English speakers, women and men, in several accents: the held-out slt voice is a natural
    # American woman, and the corpus's natural English voices are all men.
    (Voice("espeak", "en-us+f1", "en", 1.0, 55), 0.04, 4.0),
    (Voice("espeak", "en-us+f5", "en", 1.05, 68), 0.04, 3.8),
    (Voice("espeak", "en-us+Annie", "en", 1.0, 62), 0.04, 4.0),
    (Voice("espeak", "en-gb-x-rp+f4", "en", 1.0, 64), 0.04, 4.0),
    (Voice("espeak", "en-us+klatt4", "en", 1.0, 58), 0.04, 4.0),
    (Voice("espeak", "en-gb-scotland+m4", "en", 1.0, 42), 0.04, 4.2),
    (Voice("espeak", "en-029+m2", "en", 0.95, 48), 0.04, 4.2),
    (Voice("espeak", "es+m2", "es", 1.0, 50), 0.06, 3.8),
    (Voice("espeak", "es+f3", "es", 1.1, 65), 0.05, 3.5),
    (Voice("espeak", "de+m1", "de", 1.0, 45), 0.06, 4.2),
    (Voice("espeak", "de+f2", "de", 0.9, 60), 0.05, 4.6),
    (Voice("espeak", "fr+m3", "fr", 1.0, 50), 0.06, 3.5),
    (Voice("espeak", "fr+f1", "fr", 1.1, 65), 0.05, 3.2),
    # Female festival voices in other languages: natural-sounding women's voices, one of them HTS.
    (Voice("festival", "upc_ca_ona_hts", "ca", phoneset="sampa"), 0.07, 5.0),
    (Voice("festival", "lp_diphone", "it", phoneset="sampa"), 0.05, 4.5),
    (Voice("festival", "czech_dita", "cs", phoneset="sampa"), 0.05, 5.0),
    (Voice("festival", "suo_fi_lj_diphone", "fi", phoneset="sampa"), 0.05, 5.0),
)
SLT_VOICE = Voice("festival", "cmu_us_slt_arctic_hts", "en")


def _job_rng(seed: int, split: str, index: int) -> tuple[random.Random, np.random.Generator]:
    key = f"{seed}:{split}:{index}"
    return random.Random(key), np.random.default_rng(abs(hash_str(key)))


def hash_str(text: str) -> int:
    """A stable string hash (Python's ``hash`` is salted per process)."""
    h = 1469598103934665603
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) % (1 << 63)
    return h


def _make(job: tuple[Voice, int, int, str, bool, bool]) -> tuple[Utterance, list[str]] | None:
    voice, seed, index, split, do_augment, keep_formants = job
    text_rng, aug_rng = _job_rng(seed, split, index)
    text = sentence(text_rng, voice.language)
    try:
        utt = synthesize(voice, text)
    except Exception:  # a synthesizer choking on one pseudo-word must not stop a long build
        return None
    applied: list[str] = []
    if do_augment and aug_rng.random() < 0.8:
        res = augment(utt.audio, aug_rng, keep_formants)
        s = res.time_scale
        utt = Utterance(
            res.audio, [Segment(g.start * s, g.end * s, g.symbol) for g in utt.segments], utt.voice, text
        )
        applied = res.applied
    return utt, applied


def synthesize_set(
    jobs: list[tuple[Voice, int, int, str, bool, bool]], workers: int, desc: str
) -> list[tuple[Utterance, list[str]]]:
    out = []
    with Pool(workers) as pool:
        for item in tqdm(pool.imap(_make, jobs, chunksize=4), total=len(jobs), desc=desc, unit="utt"):
            if item is not None:
                out.append(item)
    return out


def save_split(path: Path, items: list[tuple[Utterance, list[str]]]) -> dict:
    """One npz per split: audio and targets concatenated, with offsets, plus the phone segments."""
    audio, visemes, poses, vads, segs = [], [], [], [], []
    audio_off, frame_off, seg_off = [0], [0], [0]
    voices, texts, augs = [], [], []
    for utt, applied in items:
        pcm = (np.clip(utt.audio, -1, 1) * 32767).astype(np.int16)
        n = frame_count(pcm.size / SAMPLE_RATE)
        t = build_targets(utt.segments, n)
        audio.append(pcm)
        visemes.append(t.viseme.astype(np.int8))
        poses.append(t.pose.astype(np.float16))
        vads.append(t.vad.astype(np.uint8))
        segs.extend((g.start, g.end, g.symbol) for g in utt.segments)
        audio_off.append(audio_off[-1] + pcm.size)
        frame_off.append(frame_off[-1] + n)
        seg_off.append(len(segs))
        voices.append(utt.voice)
        texts.append(utt.text)
        augs.append(",".join(applied))
    np.savez(
        path,
        audio=np.concatenate(audio),
        audio_offsets=np.array(audio_off, dtype=np.int64),
        viseme=np.concatenate(visemes),
        pose=np.concatenate(poses),
        vad=np.concatenate(vads),
        frame_offsets=np.array(frame_off, dtype=np.int64),
        seg_start=np.array([s[0] for s in segs], dtype=np.float32),
        seg_end=np.array([s[1] for s in segs], dtype=np.float32),
        seg_symbol=np.array([s[2] for s in segs]),
        seg_offsets=np.array(seg_off, dtype=np.int64),
        voice=np.array(voices),
        text=np.array(texts),
        augmentation=np.array(augs),
    )
    hours = (audio_off[-1] / SAMPLE_RATE) / 3600
    return {
        "utterances": len(items),
        "hours": round(hours, 3),
        "voices": dict(Counter(voices)),
        "augmented": sum(1 for a in augs if a),
    }


def build_corpus(out: Path, hours: float = 7.0, seed: int = 0, workers: int = 2, val_per_voice: int = 8,
                 keep_formants: bool = True) -> dict:
    """Synthesize the training split (augmented) and a clean held-out split of unseen sentences.

    ``keep_formants``: pitch augmentation moves only F0 (True) or, the plain way, the whole spectrum.
    """
    out.mkdir(parents=True, exist_ok=True)
    total_share = sum(share for _, share, _ in TRAIN_VOICES)
    train_jobs, val_jobs = [], []
    index = 0
    for voice, share, typical_s in TRAIN_VOICES:
        assert f"{voice.engine}:{voice.name}" not in RESERVED_VOICES
        count = math.ceil(hours * 3600 * share / total_share / typical_s)
        for _ in range(count):
            train_jobs.append((voice, seed, index, "train", True, keep_formants))
            index += 1
        for _ in range(val_per_voice):
            val_jobs.append((voice, seed, index, "val", False, keep_formants))
            index += 1
    train = synthesize_set(train_jobs, workers, "train corpus")
    summary = {"seed": seed, "keep_formants": keep_formants, "train": save_split(out / "train.npz", train)}
    val = synthesize_set(val_jobs, workers, "held-out sentences")
    summary["val"] = save_split(out / "val.npz", val)
    summary["voices"] = [asdict(v) for v, _, _ in TRAIN_VOICES]
    summary["languages"] = sorted({v.language for v, _, _ in TRAIN_VOICES})
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
