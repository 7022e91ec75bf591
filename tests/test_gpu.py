"""The device choice, and the GPU path where onnxruntime-gpu and a CUDA GPU are present: the CUDA provider
renders the frames the CPU provider renders and runs the lip network alike. Without a GPU the GPU tests
skip and the error paths are checked instead."""

from __future__ import annotations

import types

import numpy as np
import onnxruntime as ort
import pytest
from counting import CountingRenderer
from pictures import psnr

from facecast.avatar import default_pack_path, load_pack
from facecast.cli import main
from facecast.device import CPU, CUDA, providers
from facecast.errors import ModelError
from facecast.lipsync import LipSyncModel
from facecast.motion_frame import frame_from as motion
from facecast.motion_frame import neutral_frames
from facecast.render import Renderer, avatar_tensors, default_model_path, stack_avatars

HAS_CUDA_PROVIDER = CUDA in ort.get_available_providers()
needs_gpu = pytest.mark.skipif(not HAS_CUDA_PROVIDER, reason="needs onnxruntime-gpu and a CUDA GPU")


def test_auto_is_cuda_then_the_cpu_with_onnxruntime_gpu_and_the_cpu_alone_without():
    assert providers("cpu") == [CPU]
    assert providers("auto") == ([CUDA, CPU] if HAS_CUDA_PROVIDER else [CPU])


def test_an_unknown_device_is_refused():
    with pytest.raises(ModelError, match="unknown device"):
        providers("tpu")


def test_the_lip_network_stays_on_the_cpu_under_auto():
    assert LipSyncModel(device="auto").providers == [CPU]


@pytest.fixture
def cuda_that_cannot_run(monkeypatch):
    """onnxruntime-gpu installed on a machine without a usable GPU: CUDA is listed, sessions with it fail.
    Yields the fake: ``asked`` holds the providers each session was asked for."""
    exec(WITHOUT_A_USABLE_GPU, namespace := {"ort": ort})
    fake = types.SimpleNamespace(**namespace)
    monkeypatch.setattr(ort, "get_available_providers", namespace["get_available_providers"])
    monkeypatch.setattr(ort, "InferenceSession", namespace["InferenceSession"])
    monkeypatch.setattr(ort, "preload_dlls", namespace["preload_dlls"], raising=False)
    monkeypatch.setattr("facecast.device._preloaded", False)
    monkeypatch.setattr("facecast.device._preload_notes", [])
    yield fake


# onnxruntime-gpu where CUDA cannot run, as onnxruntime 1.2x behaves there: CUDA listed, its libraries
# not found by preload_dlls (which prints so), its C++ logger writing to the stderr file, and a session
# asked for CUDA failing. Run in this process by the fixture above, and before the command line by a
# server test.
WITHOUT_A_USABLE_GPU = """
import os

real_session = ort.InferenceSession
asked = []
fallback_quietly = []  # made true: onnxruntime falls back to the CPU itself instead of raising

def get_available_providers():
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]

def preload_dlls():
    print("Failed to load libcudart.so.12: libcudart.so.12: cannot open shared object file")

def InferenceSession(path, options=None, providers=None):
    asked.append(providers)
    if any((p[0] if isinstance(p, tuple) else p) == "CUDAExecutionProvider" for p in providers or []):
        os.write(2, b"[E:onnxruntime:Default, provider_bridge_ort.cc:2036] Failed to load library "
                    b"libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open shared object\\n"
                    b"[W:onnxruntime:Default, onnxruntime_pybind_state.cc:965] Failed to create "
                    b"CUDAExecutionProvider. Require cuDNN 9.* and CUDA 12.*\\n")
        if fallback_quietly:
            return real_session(path, options, providers=["CPUExecutionProvider"])
        raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected ; GPU=0")
    return real_session(path, options, providers=providers)
"""


def _names(providers) -> list[str]:
    """The provider names of an onnxruntime ``providers`` list, whose entries are names or (name, options)."""
    return [entry[0] if isinstance(entry, tuple) else entry for entry in providers or []]


def test_cuda_is_asked_for_full_float32_not_tf32(cuda_that_cannot_run):
    # onnxruntime multiplies in TF32 on CUDA by default: on an H100 that moved the lip network's viseme
    # probabilities by up to 0.014 from the CPU's, and the same frame by up to 48 levels.
    Renderer(device="auto")
    cuda = [entry for providers in cuda_that_cannot_run.asked for entry in providers if _names([entry]) == [CUDA]]
    assert cuda == [(CUDA, {"use_tf32": "0"})]


def test_auto_runs_on_the_cpu_and_says_why_when_cuda_cannot_run(cuda_that_cannot_run, caplog):
    renderer = Renderer(device="auto")
    assert renderer.providers == [CPU] and renderer.graphs is None
    assert renderer.path == default_model_path()  # the network with boxes, not the one for CUDA graphs
    [record] = [r for r in caplog.records if r.name.startswith("facecast")]
    assert record.levelname == "WARNING" and record.event == "cuda_unavailable"
    assert "CUDA failure 100" in record.getMessage() and "running render.onnx on the CPU" in record.getMessage()
    # What onnxruntime printed goes with it, and the message quotes the line that names a missing library.
    assert [n.split(":")[0] for n in record.fields["notes"]] == ["Failed to load libcudart.so.12", "[E", "[W"]
    assert record.getMessage().endswith("onnxruntime said: Failed to load libcudart.so.12: libcudart.so.12: "
                                        "cannot open shared object file")


def test_an_onnxruntime_that_falls_back_by_itself_is_told_apart_by_its_missing_library(cuda_that_cannot_run,
                                                                                        caplog, monkeypatch):
    """onnxruntime may load the session on the CPU instead of raising: the reason is then the library its
    C++ logger named, not its generic last line."""
    from facecast import device

    cuda_that_cannot_run.fallback_quietly.append(True)
    monkeypatch.setattr(device, "_preloaded", True)  # nothing printed by preload_dlls this time
    renderer = Renderer(device="auto")
    assert renderer.providers == [CPU]
    [record] = [r for r in caplog.records if r.name.startswith("facecast")]
    assert "(its provider did not load)" in record.getMessage()
    assert "onnxruntime said: [E:onnxruntime:Default" in record.getMessage() and "libcublasLt" in record.getMessage()


def test_the_command_line_gives_the_reason_in_one_line(cuda_that_cannot_run, capfd):
    assert main(["info"]) == 0
    out, err = capfd.readouterr()  # the stderr file, where onnxruntime's C++ logger writes
    assert "render network on CPU" in out
    assert err.startswith("facecast: onnxruntime's CUDA provider cannot run (CUDA failure 100") and err.count("\n") == 1
    assert "onnxruntime said: Failed to load libcudart.so.12" in err


def test_a_server_gives_the_reason_in_its_json_log():
    """`facecast serve` where onnxruntime-gpu is installed but cannot run: its stderr stays JSON lines, the
    fallback among them, as the server's own events (a separate process, with onnxruntime's sessions made
    to fail as they do without a GPU)."""
    import json
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVE_WITHOUT_A_USABLE_GPU, "serve", "--bind",
                             f"tcp://127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or lines[-1]["event"] != "listening":
            line = proc.stderr.readline()
            assert line, "the server ended before it listened"
            lines.append(json.loads(line))  # every line is JSON
        [fallback] = [e for e in lines if e["event"] == "cuda_unavailable"]
        assert fallback["level"] == "warning" and fallback["model"] == "render.onnx"
        assert "CUDA failure 100" in fallback["reason"] and "on the CPU" in fallback["message"]
        assert len(fallback["notes"]) == 3 and "libcublasLt" in fallback["notes"][1]
        assert lines[-1]["render_providers"] == [CPU]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()


# The command line in a process where onnxruntime-gpu cannot run, as the cuda_that_cannot_run fixture makes it.
SERVE_WITHOUT_A_USABLE_GPU = f"""
import sys
import onnxruntime as ort
{WITHOUT_A_USABLE_GPU}
ort.get_available_providers = get_available_providers
ort.preload_dlls = preload_dlls
ort.InferenceSession = InferenceSession
from facecast.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cuda_that_cannot_run_is_an_error_that_gives_the_reason(cuda_that_cannot_run):
    with pytest.raises(ModelError, match="device 'cuda'.*no CUDA-capable device"):
        Renderer(device="cuda")


@pytest.mark.skipif(HAS_CUDA_PROVIDER, reason="onnxruntime-gpu is installed here")
def test_cuda_without_onnxruntime_gpu_says_what_to_install():
    with pytest.raises(ModelError, match="onnxruntime-gpu"):
        Renderer(device="cuda")
    with pytest.raises(ModelError, match="onnxruntime-gpu"):
        LipSyncModel(device="cuda")


@pytest.fixture(scope="module")
def gpu() -> Renderer:
    try:
        return Renderer(device="cuda")
    except ModelError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def pack():
    return load_pack(default_pack_path())


@needs_gpu
@pytest.mark.parametrize("size", [256, 512])
def test_cuda_renders_the_frames_the_cpu_renders(gpu, pack, size):
    avatar = avatar_tensors(pack, size)
    frames = np.concatenate([neutral_frames(1), np.stack([
        motion(jawOpen=0.8), motion(mouthFunnel=0.7, jawOpen=0.3), motion(eyeBlinkLeft=1, eyeBlinkRight=1),
        motion(yaw=20, pitch=-10), motion(mouthClose=0.6, jawOpen=0.15), motion(mouthSmileLeft=0.8, roll=8)])])
    on_gpu = gpu.render(avatar, frames)
    on_cpu = Renderer(device="cpu", threads=2).render(avatar, frames)
    assert np.isfinite(on_gpu).all() and on_gpu.shape == on_cpu.shape
    assert psnr(on_gpu[0], avatar.reference) >= 40  # a neutral frame is the portrait on the GPU too
    for a, b in zip(on_gpu, on_cpu, strict=True):
        assert psnr(a, b) >= 40


@needs_gpu
def test_cuda_graphs_render_any_number_of_frames_on_any_avatar_as_the_cpu_does(gpu, pack):
    """Calls of 1, 3 and 5 frames (graphs of 1, 4 and 8, padded), an avatar of the same shape with another
    picture (uploaded into the graph's buffers), and two avatars stacked in one call."""
    assert gpu.graphs is not None and gpu.path == default_model_path(whole_frame=True)
    cpu = Renderer(device="cpu", threads=2)
    avatar = avatar_tensors(pack, 256)
    negative = {**avatar.tensors, "texture": 255 - avatar.tensors["texture"]}
    rng = np.random.default_rng(0)
    frames = np.stack([motion(jawOpen=rng.uniform(0, 1), yaw=rng.uniform(-20, 20), eyeBlinkLeft=rng.uniform(0, 1))
                       for _ in range(5)])

    def same(inputs, rows, index) -> None:
        for a, b in zip(gpu.run(inputs, rows, index), cpu.run(inputs, rows, index), strict=True):
            assert psnr(a, b) >= 40

    for n in (1, 3, 5, 3):
        same(avatar.tensors, frames[:n], np.zeros(n, np.int64))
        same(negative, frames[:n], np.zeros(n, np.int64))
    same(stack_avatars([avatar, avatar_tensors(load_pack(default_pack_path()), 256)]), frames[:3], np.array([1, 0, 1]))


@needs_gpu
def test_the_lip_network_on_cuda_gives_the_cpus_motion(speech_audio):
    try:
        on_gpu = LipSyncModel(device="cuda")
    except ModelError as exc:
        pytest.skip(str(exc))
    a = on_gpu.infer(speech_audio)
    b = LipSyncModel(device="cpu").infer(speech_audio)
    # With TF32 (onnxruntime's default on Ampere and later GPUs) the viseme probabilities differed by up to
    # 0.014 on an H100; facecast turns it off (device.CUDA_OPTIONS), and they differ by 1.4e-5.
    np.testing.assert_allclose(a.pose, b.pose, atol=1e-3)
    np.testing.assert_allclose(a.visemes, b.visemes, atol=1e-3)


def test_the_bridge_renders_textures_on_the_device_it_is_given(cuda_that_cannot_run):
    from facecast.bridge.server import BridgeServer

    models = [LipSyncModel(device="cpu")]
    with pytest.raises(ModelError, match="device 'cuda'"):
        BridgeServer("tcp://127.0.0.1:*", models, device="cuda")
    server = BridgeServer("tcp://127.0.0.1:*", models, device="cpu")
    assert server.textures.renderer.providers == [CPU]
    server.close()


@needs_gpu
def test_a_gpu_server_captures_the_shapes_of_its_first_texture_sessions_at_start(caplog):
    from facecast.bridge.server import BridgeServer

    with caplog.at_level("INFO", logger="facecast.serve"):
        server = BridgeServer("tcp://127.0.0.1:*", [LipSyncModel(device="cpu")], device="cuda")
    try:
        graphs = server.textures.renderer.graphs
        assert graphs is not None
        assert [shape[:2] for shape in graphs._graphs] == [(1, 1), (2, 1), (4, 1)]  # frames, avatars
        # The seconds this takes are logged, so that a wait at start-up is explained.
        events = [(r.getMessage(), r.fields) for r in caplog.records if r.name == "facecast.serve"]
        assert events[0] == ("capturing", {"device": "CUDAExecutionProvider", "texture_sessions": [1, 2, 4],
                                           "size": 512})
        assert events[1][0] == "captured" and events[1][1]["took_s"] > 0
    finally:
        server.close()


@needs_gpu
def test_a_gpu_texture_renderer_renders_on_the_cpu_while_a_new_shapes_graph_is_captured(gpu):
    """A server's texture sessions come to a shape without a graph (here three at 256 px): that call and
    those during the capture are rendered by the CPU stand-in, not held for the capture; once it is
    captured, the GPU renders them."""
    import time

    from facecast.bridge.textures import TextureRenderer

    textures = TextureRenderer(device="cuda")
    graphs = textures.renderer.graphs
    try:
        assert graphs is not None and textures.stand_in is not None and textures.stand_in.providers == [CPU]
        textures.stand_in = stand_in = CountingRenderer(device="cpu")  # the same, counting what it renders
        avatar = textures.avatar(None, 256)
        frames = np.stack([motion(jawOpen=0.7), motion(yaw=15, pitch=-8), motion(eyeBlinkLeft=1, mouthSmileLeft=0.6)])
        on_cpu = stand_in.run(avatar.tensors, frames, np.zeros(3, np.int64))
        first = textures.render([avatar] * 3, frames)
        assert stand_in.calls == 2 and all(np.array_equal(a, b) for a, b in zip(first, on_cpu, strict=True))
        deadline = time.monotonic() + 60
        while graphs.capturing:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert [shape[:2] for shape in graphs._graphs] == [(4, 1)]
        for a, b in zip(textures.render([avatar] * 3, frames), on_cpu, strict=True):
            assert psnr(a, b) >= 40
        assert stand_in.calls == 2  # the GPU's frames
    finally:
        textures.close()
        graphs.close()


@needs_gpu
def test_a_gpu_server_whose_lip_networks_run_on_cuda_waits_for_its_captures(caplog):
    """A capture forbids other CUDA work in the process: with the lip networks on CUDA too (--device cuda),
    the server has no CPU stand-in, and says why; with them on the CPU (as --device auto has it), it has."""
    from facecast.bridge.server import BridgeServer

    with caplog.at_level("INFO", logger="facecast.serve"):
        server = BridgeServer("tcp://127.0.0.1:*", [LipSyncModel(device="cuda")], device="cuda")
    try:
        assert server.model.providers[0] == CUDA and server.textures.stand_in is None
        assert "captures_hold_the_loop" in [r.getMessage() for r in caplog.records if r.name == "facecast.serve"]
    finally:
        server.close()
    server = BridgeServer("tcp://127.0.0.1:*", [LipSyncModel(device="cpu")], device="cuda")
    try:
        assert server.textures.stand_in is not None
    finally:
        server.close()
