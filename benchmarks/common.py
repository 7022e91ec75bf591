"""Shared pieces of the benchmark scripts: evaluation speech and the machine description."""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facecast.export.corpus import SLT_VOICE, TRAIN_VOICES
from facecast.export.text import sentence
from facecast.export.tts import Utterance, synthesize

RESULTS = Path(__file__).parent / "results"


def timed(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``call`` over ``seconds``, after one warm-up call."""
    call()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        runs += 1
    return runs / (time.perf_counter() - start)


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def nvidia_smi(fields: str) -> str | None:
    """nvidia-smi's answer for ``fields`` of the first GPU (``--query-gpu``), or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def gpu_name() -> str:
    """The GPU and its driver, as nvidia-smi names them."""
    return nvidia_smi("name,driver_version") or "unknown GPU"


def gpu_memory_used() -> int | None:
    """MiB in use on the first GPU, as nvidia-smi reports it (None without one)."""
    used = nvidia_smi("memory.used")
    return int(used) if used is not None and used.isdigit() else None


def slt_set(n: int, seed: int = 2024) -> list[Utterance]:
    """The reserved festival slt voice (never trained on) reading new English sentences."""
    rng = random.Random(f"bench-slt-{seed}")
    return [synthesize(SLT_VOICE, sentence(rng, "en")) for _ in range(n)]


def heldout_set(per_voice: int, seed: int = 2024) -> list[Utterance]:
    """Training voices reading sentences generated from a seed the corpus never used."""
    out = []
    for voice, _, _ in TRAIN_VOICES:
        rng = random.Random(f"bench-heldout-{seed}-{voice.id}")
        out.extend(synthesize(voice, sentence(rng, voice.language)) for _ in range(per_voice))
    return out


def speech_clip(seconds: float, seed: int = 7) -> np.ndarray:
    """About ``seconds`` of 16 kHz speech from the slt voice, sentences separated by short pauses."""
    rng = random.Random(f"clip-{seed}")
    parts, total = [], 0
    while total < seconds * 16000:
        utt = synthesize(SLT_VOICE, sentence(rng, "en"))
        parts += [utt.audio, np.zeros(4000, np.float32)]
        total += utt.audio.size + 4000
    return np.concatenate(parts)[: int(seconds * 16000)]


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
