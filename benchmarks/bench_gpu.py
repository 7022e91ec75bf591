"""The GPU path: the render and lip networks on onnxruntime's CUDA provider, against its CPU provider.

    python benchmarks/bench_gpu.py [--packs DIR] [--speech WAV] [--seconds 3]

Needs onnxruntime-gpu and a CUDA GPU; everything is measured in one process on one machine:

- render frames per second at 512 and 256 px, batches 1, 4 and 8, and four avatars in one batch of 8, on
  the GPU (as ``facecast`` renders there: CUDA graphs of ``render_gpu.onnx``), on the GPU without graphs
  (``render.onnx`` in a plain session, as before CUDA graphs), and on the same machine's CPU (up to 8
  threads, as ``facecast`` uses);
- the first call of a shape, which captures its graph, and the GPU memory in use at the end;
- how long a server's texture sessions are held when they come to a new shape: waiting for its capture,
  against rendering on the CPU while it is captured, as the server does;
- agreement of the CUDA frames with the CPU provider's on the same speech motion (largest and mean
  absolute difference in 8-bit levels);
- the lip network streaming 20 ms chunks (per-chunk compute p50 / p95) and whole-file, on CUDA and on
  the CPU (one thread), with their largest output difference;
- ``facecast render --device cuda`` of the speech at 512 px, whole process with encoding (needs an ffmpeg).

``--packs`` takes a folder of ``.facecast`` packs (default: the bundled avatar); ``--speech`` a wav
(default: 20 s synthesized with flite, as the other benchmarks do).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from facecast.avatar import default_pack_path, load_pack
from facecast.errors import FacecastError
from facecast.lipsync import HOP, LipSyncModel, shipped_models
from facecast.pipeline import MotionPipeline
from facecast.render import Renderer, avatar_tensors, default_model_path, stack_avatars
from facecast.video import ffmpeg_exe

sys.path.insert(0, str(Path(__file__).parent))
from common import gpu_memory_used, gpu_name, machine, save, timed  # noqa: E402

FPS = 30


def render_speed(gpu: Renderer, packs: list, motion: np.ndarray, seconds: float) -> dict:
    out = {}
    for size in (512, 256):
        avatar = avatar_tensors(packs[0], size)
        for batch in (1, 4, 8):
            rows, index = motion[:batch], np.zeros(batch, np.int64)
            out[f"{size}_batch{batch}"] = timed(partial(gpu.run, avatar.tensors, rows, index), seconds) * batch
        stacked = stack_avatars([avatar_tensors(p, size) for p in packs])
        n = 2 * len(packs)
        index = np.arange(n) % len(packs)
        out[f"{size}_{len(packs)}_avatars_batch{n}"] = timed(partial(gpu.run, stacked, motion[:n], index), seconds) * n
    return out


def render_agreement(gpu: Renderer, cpu: Renderer, pack, motion: np.ndarray) -> dict:
    avatar = avatar_tensors(pack, 512)
    a = gpu.render(avatar, motion).astype(np.int16)
    b = cpu.render(avatar, motion).astype(np.int16)
    diff = np.abs(a - b)
    return {"frames": len(motion), "max_abs_levels": int(diff.max()), "mean_abs_levels": float(diff.mean()),
            "pixels_over_8_levels": float((diff.max(-1) > 8).mean())}


def new_shape_hold(device: str, pack, motion: np.ndarray) -> dict:
    """How long a server's loop is held when its texture sessions come to a shape without a CUDA graph:
    three sessions at 256 px waiting for the capture (as before stop 35), then five (a graph of 8 frames)
    rendered on the CPU while it is captured (the server's way now), one call every 1/30 s as 30 fps
    texture sessions ask, until the GPU renders them."""
    from facecast.bridge.textures import TextureRenderer

    textures = TextureRenderer(device=device)
    graphs = textures.renderer.graphs
    if graphs is None:
        textures.close()
        return {"skipped": "no CUDA graphs"}
    try:
        avatar = textures.renderer.avatar(pack, 256)
        start = time.perf_counter()
        textures.render([avatar] * 3, motion[:3], wait_for_capture=True)
        waiting = time.perf_counter() - start
        # Calls until one after the capture has ended: that one is the GPU's, the others (the first started
        # the capture) are the CPU's, but for one that the capture's end overtook.
        calls, start = [], time.perf_counter()
        captured = False
        while not captured:
            captured = bool(calls) and not graphs.capturing
            began = time.perf_counter()
            textures.render([avatar] * 5, motion[:5])
            ended = time.perf_counter()
            calls.append(ended - began)
            time.sleep(max(0.0, 1 / FPS - calls[-1]))
        return {"waiting_s": waiting, "calls_before_the_gpu": len(calls) - 1, "until_on_the_gpu_s": ended - start,
                "longest_call_ms": max(calls) * 1e3,
                "call_before_the_gpu_ms_median": float(np.median(calls[:-1])) * 1e3,
                "call_on_the_gpu_ms": calls[-1] * 1e3, "graphs_kept": textures.renderer.graphs is graphs}
    finally:
        textures.close()
        graphs.close()


def lip_speed(audio: np.ndarray, device: str) -> dict:
    model = LipSyncModel(device=device, threads=1, lookahead_ms=min(shipped_models()))
    stream = model.stream()
    stream.push(audio[: 50 * HOP])  # warm up the provider's allocator
    stream = model.stream()
    times = []
    for i in range(0, audio.size, 2 * HOP):
        start = time.perf_counter()
        stream.push(audio[i : i + 2 * HOP])
        times.append(time.perf_counter() - start)
    t = np.array(times)
    start = time.perf_counter()
    frames = model.infer(audio)
    whole = time.perf_counter() - start
    return {"providers": model.providers, "chunk_20ms_p50_us": float(np.percentile(t, 50) * 1e6),
            "chunk_20ms_p95_us": float(np.percentile(t, 95) * 1e6),
            "stream_rtf": float(audio.size / 16000 / t.sum()), "whole_file_rtf": float(audio.size / 16000 / whole),
            "_pose": frames.pose, "_visemes": frames.visemes}


def whole_render(wav: Path, seconds: float, device: str) -> dict:
    try:
        ffmpeg = ffmpeg_exe()  # the one `facecast render` itself will use
    except FacecastError:
        return {"skipped": "no ffmpeg"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "talk.mp4"
        cmd = ["facecast", "render", "--audio", str(wav), "-o", str(out), "--size", "512", "--fps", str(FPS),
               "--device", device, "-q"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - start
        probe = subprocess.run([ffmpeg, "-i", str(out)], capture_output=True, text=True)
        h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", probe.stderr).groups()
    video = int(h) * 3600 + int(m) * 60 + float(s)
    return {"speech_seconds": seconds, "wall_seconds": wall, "video_seconds": video, "realtime_factor": seconds / wall}


def card(name: str) -> str:
    """A results file's name for the GPU nvidia-smi names, its model ("NVIDIA H100 80GB HBM3, 580.159.04"
    -> "h100", "NVIDIA GeForce RTX 4090" -> "4090", "NVIDIA RTX A6000" -> "a6000"), so that a run on another
    card does not overwrite this one's."""
    words = re.split(r"[^A-Za-z0-9]+", name.split(",")[0])
    model = next((w for w in words if re.search(r"\d", w)), None)
    return model.lower() if model else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs", type=Path, help="folder of .facecast packs (default: the bundled avatar)")
    parser.add_argument("--speech", type=Path, help="16 kHz mono wav (default: 20 s synthesized with flite)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per measurement (default 3)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="the device measured (default cuda; cpu runs the same script without a GPU)")
    args = parser.parse_args()
    packs = [load_pack(p) for p in sorted(args.packs.glob("*.facecast"))] if args.packs else []
    packs = packs or [load_pack(default_pack_path())]
    packs = (packs * 4)[:4]  # four avatars in the batch test, repeating when fewer are given

    with tempfile.TemporaryDirectory() as tmp:
        wav = args.speech
        if wav is None:
            import soundfile as sf
            from common import speech_clip

            wav = Path(tmp) / "speech.wav"
            sf.write(wav, speech_clip(20), 16000)
        from facecast.audio import load_audio

        audio = load_audio(wav)
        speech_seconds = audio.size / 16000
        motion = MotionPipeline(fps=FPS, device="cpu").process(audio).data.astype(np.float32)

        gpu = Renderer(device=args.device, threads=2)
        plain = Renderer(default_model_path(), device=args.device, threads=2)
        cpu = Renderer(device="cpu", threads=min(os.cpu_count() or 1, 8))
        start = time.perf_counter()
        gpu.run(avatar_tensors(packs[0], 512).tensors, motion[:2], np.zeros(2, np.int64))
        result = {"machine": machine(), "gpu": gpu_name(), "providers": gpu.providers,
                  "cuda_graphs": gpu.graphs is not None, "first_call_of_a_shape_s": time.perf_counter() - start,
                  "render_fps": render_speed(gpu, packs, motion, args.seconds),
                  "render_fps_without_graphs": render_speed(plain, packs, motion, args.seconds),
                  "render_fps_cpu": render_speed(cpu, packs, motion, args.seconds),
                  "gpu_memory_used_mib": gpu_memory_used(),
                  "render_agreement": render_agreement(gpu, cpu, packs[0], motion[::10]),
                  "new_texture_shape": new_shape_hold(args.device, packs[0], motion)}
        lips = {"gpu": lip_speed(audio, args.device), "cpu": lip_speed(audio, "cpu")}
        lips["max_abs_difference"] = float(np.abs(lips["gpu"].pop("_pose") - lips["cpu"].pop("_pose")).max())
        lips["max_abs_viseme_difference"] = float(np.abs(lips["gpu"].pop("_visemes")
                                                         - lips["cpu"].pop("_visemes")).max())
        result["lipsync"] = lips
        result["whole_render"] = whole_render(Path(wav), speech_seconds, args.device)
    path = save(f"gpu_{card(result['gpu'])}" if args.device == "cuda" else "gpu_script_on_cpu", result)

    print(f"{result['gpu']} ({result['machine']}), providers {', '.join(result['providers'])}")
    print(f"CUDA graphs: {result['cuda_graphs']}; a shape's first call {result['first_call_of_a_shape_s']:.2f} s; "
          f"GPU memory in use {result['gpu_memory_used_mib']} MiB")
    print(f"| render, frames per second | {args.device} | {args.device} without graphs (render.onnx) | this CPU |")
    print("|---|---|---|---|")
    for key, value in result["render_fps"].items():
        print(f"| {key} | {value:.0f} | {result['render_fps_without_graphs'][key]:.0f} | "
              f"{result['render_fps_cpu'][key]:.0f} |")
    print(f"GPU vs CPU frames: {result['render_agreement']}")
    print(f"texture sessions at a new shape: {result['new_texture_shape']}")
    for device in ("gpu", "cpu"):
        v = lips[device]
        print(f"lip network on {device}: 20 ms chunk p50 {v['chunk_20ms_p50_us']:.0f} us, p95 "
              f"{v['chunk_20ms_p95_us']:.0f} us, stream {v['stream_rtf']:.0f}x, whole file {v['whole_file_rtf']:.0f}x")
    print(f"lip network GPU vs CPU largest difference: pose {lips['max_abs_difference']:.2e}, "
          f"visemes {lips['max_abs_viseme_difference']:.2e}")
    print(f"facecast render --device {args.device}: {result['whole_render']}")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
