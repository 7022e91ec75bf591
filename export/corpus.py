"""Build the lip-sync training corpus: synthesized speech with exact phone timing, augmented.

``python -m facecast.export corpus --out corpus/ --hours 7 --seed 0``

The corpus is regenerated, never committed. It is reproducible: every utterance's text, voice and
augmentation come from a generator seeded by (seed, utterance number), so the result does not depend
on the number of worker processes.

Festival's ``cmu_us_slt_arctic_hts`` voice is reserved for validation and never trained on; flite's
``slt`` is the same speaker, so it is left out of training too and the slt score is a truly unseen
speaker.

Every voice's held-out sentences are drawn right after its training sentences from the same numbered
sequence, so which sentences are held out depends on ``hours`` (and ``seed``): models are compared on
the held-out split of one corpus, not across corpora built with different settings.

Nothing is synthesized before every synthesizer the voices need, and sox, has been found; a voice that
ends with no utterance at all stops the build. Both splits are written under temporary names first; only
when both are whole does the folder's old corpus go (``summary.json`` first) and the new one take its
names, ``summary.json`` last. So a rebuild that is stopped or fails leaves the old corpus as it was, and a
folder holding ``summary.json`` is a whole corpus (``train`` refuses a folder without it).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facecast.audio import SAMPLE_RATE
from facecast.errors import FacecastError
from facecast.export.augment import augment
from facecast.export.targets import Segment, build_targets, frame_count
from facecast.export.text import sentence
from facecast.export.tts import SynthesisError, Utterance, Voice, synthesize
from facecast.writers import check_writable, replaced_atomically

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


def _worker_start(scratch: str) -> None:
    """Workers leave interrupts to the main process, which stops the pool: Ctrl-C reaches the whole
    process group, and each worker would print its own traceback. The pool stops them with SIGTERM,
    which must end them rather than raise there (as a handler set by the caller's program might). Their
    temporary files go in ``scratch``, which the main process removes: a worker ended by a signal cannot
    remove its own."""
    tempfile.tempdir = scratch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def synthesize_set(
    jobs: list[tuple[Voice, int, int, str, bool, bool]], workers: int, desc: str
) -> list[tuple[Utterance, list[str]]]:
    out = []
    scratch = tempfile.mkdtemp(prefix="facecast-corpus-")
    try:
        # Spawned, not forked: a fork copies a caller's onnxruntime sessions without their threads, and a
        # worker whose garbage collection finalised one waited for ever on a thread that was not there (a
        # whole CI run hung in the training smoke test, after the tests before it had made sessions).
        with get_context("spawn").Pool(workers, initializer=_worker_start, initargs=(scratch,)) as pool:
            for item in tqdm(pool.imap(_make, jobs, chunksize=4), total=len(jobs), desc=desc, unit="utt"):
                if item is not None:
                    out.append(item)
    finally:  # the pool's workers have stopped: what they left in it goes
        shutil.rmtree(scratch, ignore_errors=True)
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
    with replaced_atomically(path) as tmp, open(tmp, "wb") as fh:  # never half a split under the name
        np.savez(
            fh,
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


# What each synthesizer is, to the user who lacks it: Debian/Ubuntu packages.
_PACKAGES = {"flite": "flite", "festival": "festival", "espeak": "libespeak-ng1", "sox": "sox"}


def _run_output(cmd: list[str]) -> str | None:
    """The standard output of ``cmd``, or None if it cannot be run or fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _absent_espeak_voices(voices: list[Voice]) -> list[str] | None:
    """The espeak-ng voices (``name+variant``) the library does not have, each tried on one word in a
    forked child as the corpus will (tts.synthesize); None if the library itself does not load."""
    absent = []
    for voice in voices:
        try:
            synthesize(voice, "a")
        except OSError:  # ctypes could not load libespeak-ng
            return None
        except SynthesisError:
            absent.append(f"espeak:{voice.name}")
    return absent


def check_synthesizers(voices: list[Voice], augmenting: bool = True) -> None:
    """Fail before any synthesis if a synthesizer the voices need (flite, festival, the espeak-ng C
    library), one of their voices, or sox (the augmentation) is missing: every utterance of such a voice
    would fail on its own, and the corpus would quietly lose voices and whole languages."""
    engines = {v.engine for v in voices}
    missing, absent_voices = [], []
    if "flite" in engines:
        listed = _run_output(["flite", "-lv"])
        if listed is None:
            missing.append("flite")
        else:
            have = set(listed.replace("Voices available:", " ").split())
            absent_voices += [f"flite:{v.name}" for v in voices if v.engine == "flite" and v.name not in have]
    if "festival" in engines:
        listed = _run_output(["festival", "--batch", "(print (voice.list))"])
        if listed is None:
            missing.append("festival")
        else:
            have = set(listed.replace("(", " ").replace(")", " ").split())
            absent_voices += [f"festival:{v.name}" for v in voices if v.engine == "festival" and v.name not in have]
    if "espeak" in engines:
        absent = _absent_espeak_voices([v for v in voices if v.engine == "espeak"])
        if absent is None:
            missing.append("espeak")
        else:
            absent_voices += absent
    if augmenting and _run_output(["sox", "--version"]) is None:
        missing.append("sox")
    if missing:
        names = ", ".join("the espeak-ng library" if m == "espeak" else m for m in missing)
        raise FacecastError(f"the corpus needs {names}, not found or not working: install "
                            f"{'them' if len(missing) > 1 else 'it'} (Debian/Ubuntu: apt install "
                            f"{' '.join(_PACKAGES[m] for m in missing)})")
    if absent_voices:
        raise FacecastError(f"voices not installed: {', '.join(absent_voices)} (the corpus needs every voice "
                            "of facecast.export.corpus.TRAIN_VOICES)")


def _check_every_voice(items: list[tuple[Utterance, list[str]]], voices: list[Voice], split: str) -> None:
    got = Counter(utt.voice for utt, _ in items)
    silent = [v.id for v in voices if not got[v.id]]
    if silent:
        raise FacecastError(f"no {split} utterance could be synthesized with {', '.join(silent)}; nothing "
                            "written (try one sentence with that synthesizer by hand to see why)")


def _prepare_folder(out: Path) -> None:
    """Fail before any work if ``out`` cannot hold the corpus; make it (not its parents) if need be."""
    if out.exists() and not out.is_dir():
        raise FacecastError(f"{out}: is a file; --out names the folder for train.npz, val.npz and summary.json")
    if not out.parent.is_dir():
        raise FacecastError(f"{out}: folder {out.parent} does not exist")
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise FacecastError(f"{out}: cannot make the folder: {exc.strerror or exc}") from None
    for name in ("train.npz", "val.npz", "summary.json"):
        check_writable(out / name)
    try:  # the folder takes new files: os.access can say yes where a write fails (NFS, FUSE, ACLs)
        fd, probe = tempfile.mkstemp(prefix=".facecast-corpus.", dir=out)
    except OSError as exc:
        raise FacecastError(f"{out}: cannot write there: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def corpus_jobs(hours: float, seed: int, val_per_voice: int, keep_formants: bool):
    """The (train, val) synthesis jobs: each voice's training sentences, then its held-out ones, numbered
    in one sequence, so the held-out sentences change with ``hours``."""
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
    return train_jobs, val_jobs


def build_corpus(out: Path, hours: float = 7.0, seed: int = 0, workers: int = 2, val_per_voice: int = 8,
                 keep_formants: bool = True) -> dict:
    """Synthesize the training split (augmented) and a clean held-out split of unseen sentences.

    ``keep_formants``: pitch augmentation moves only F0 (True) or, the plain way, the whole spectrum.
    """
    out = Path(out)
    voices = [v for v, _, _ in TRAIN_VOICES]
    check_synthesizers(voices)
    _prepare_folder(out)
    train_jobs, val_jobs = corpus_jobs(hours, seed, val_per_voice, keep_formants)
    # The new splits wait under names of their own until both are whole: a rebuild stopped half-way (the
    # default corpus takes about 10 minutes) must not cost the corpus that was there.
    pending = {name: out / f".{name}.partial" for name in ("train.npz", "val.npz")}
    try:
        train = synthesize_set(train_jobs, workers, "train corpus")
        _check_every_voice(train, voices, "training")
        summary = {"seed": seed, "keep_formants": keep_formants,
                   "train": save_split(pending["train.npz"], train)}
        val = synthesize_set(val_jobs, workers, "held-out sentences")
        _check_every_voice(val, voices, "held-out")
        summary["val"] = save_split(pending["val.npz"], val)
    except BaseException:  # stopped or failed: a split this run wrote (up to a gigabyte) is no corpus alone
        for path in pending.values():
            path.unlink(missing_ok=True)
        raise
    summary["voices"] = [asdict(v) for v in voices]  # every one has utterances in both splits (checked above)
    summary["languages"] = sorted({v.language for v in voices})
    (out / "summary.json").unlink(missing_ok=True)  # the folder is no whole corpus while its splits change
    try:
        for name, path in pending.items():
            os.replace(path, out / name)
    except BaseException:  # stopped between two renames: the folder says it is no corpus; no split left hidden
        for path in pending.values():
            path.unlink(missing_ok=True)
        raise
    with replaced_atomically(out / "summary.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    return summary
