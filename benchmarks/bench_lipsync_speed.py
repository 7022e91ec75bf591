"""Speed of the lip network on one CPU core, and of `facecast motion` as a whole process.

    python benchmarks/bench_lipsync_speed.py [--seconds 60] [--runs 5]

- streaming: 60 s of speech fed in 10 ms and 20 ms chunks through ``LipSyncStream`` with the live
  model (the least lookahead; one intra-op thread, the process pinned to one core): real-time factor
  (audio seconds per compute second) and per-chunk compute time p50/p95;
- algorithmic latency: lookahead + analysis window + chunk, i.e. how long after a sound is spoken
  the frame showing it can exist, whatever the hardware;
- whole-file inference (10 s chunks) real-time factor;
- ``facecast motion`` on a 60 s wav to CSV, a fresh process each run, start-up included (median).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from common import machine, save, speech_clip

from facecast.lipsync import HOP, LipSyncModel, shipped_models


def streaming(model: LipSyncModel, audio: np.ndarray, chunk: int) -> dict:
    stream = model.stream()
    stream.push(audio[: 50 * HOP])  # warm up onnxruntime's allocator
    stream = model.stream()
    times = []
    for i in range(0, audio.size, chunk):
        t0 = time.perf_counter()
        stream.push(audio[i : i + chunk])
        times.append(time.perf_counter() - t0)
    t = np.array(times)
    return {
        "chunk_ms": chunk / 16,
        "rtf": float(audio.size / 16000 / t.sum()),
        "chunk_p50_us": float(np.percentile(t, 50) * 1e6),
        "chunk_p95_us": float(np.percentile(t, 95) * 1e6),
        "algorithmic_latency_ms": model.latency_ms + chunk / 16,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    audio = speech_clip(args.seconds)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    model = LipSyncModel(device="cpu", threads=1, lookahead_ms=min(shipped_models()))
    results = {"machine": machine(), "audio_seconds": args.seconds, "providers": model.providers,
               "model": model.path.name, "lookahead_ms": model.lookahead * 10}
    results["stream_20ms"] = streaming(model, audio, 2 * HOP)
    results["stream_10ms"] = streaming(model, audio, HOP)
    t0 = time.perf_counter()
    model.infer(audio)
    results["whole_file_rtf"] = float(args.seconds / (time.perf_counter() - t0))

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, audio, 16000)
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(["facecast", "motion", str(wav), "-o", str(Path(tmp) / "m.csv"), "-q"], check=True)
            walls.append(time.perf_counter() - t0)
    results["cli_60s_wall_s"] = {"median": float(np.median(walls)), "runs": walls}
    results["targets"] = {"stream_rtf": 200, "cli_60s_wall_s": 3.0}
    path = save("lipsync_speed", results)

    s20, s10 = results["stream_20ms"], results["stream_10ms"]
    print(f"machine: {results['machine']} (one core, one thread); streaming model {model.path.name}")
    print("| measure | 20 ms chunks | 10 ms chunks |")
    print("|---|---|---|")
    print(f"| streaming real-time factor | {s20['rtf']:.0f}x | {s10['rtf']:.0f}x |")
    print(f"| compute per chunk p50 / p95 (us) | {s20['chunk_p50_us']:.0f} / {s20['chunk_p95_us']:.0f} "
          f"| {s10['chunk_p50_us']:.0f} / {s10['chunk_p95_us']:.0f} |")
    print(f"| algorithmic latency (ms) | {s20['algorithmic_latency_ms']:.0f} | {s10['algorithmic_latency_ms']:.0f} |")
    print(f"whole-file inference: {results['whole_file_rtf']:.0f}x real time")
    print(f"facecast motion, {args.seconds:.0f} s wav -> csv, whole process: median "
          f"{results['cli_60s_wall_s']['median']:.2f} s over {args.runs} runs")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
