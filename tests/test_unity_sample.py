"""The Unity sample's plain C# rules, built with mcs and run with mono: the face follows the AudioSource
through plays, pauses, stops, new clips and interruptions (``PlaybackQueue.cs``), and a texture session
shows only its newest texture after a stall (``NewestTextures.cs``), and a rig's blendshapes are found
whatever their naming style (``ShapeNames.cs``); its motion-frame layout is the Python one, and it
decodes the bridge's frames to the same numbers (``MotionFrame.cs``). And every script of the sample compiles
against reference stubs of the Unity, NetMQ and MessagePack-CSharp APIs it uses (``tests/unity/Stubs``)."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from facecast.motion_frame import ARKIT_BLENDSHAPES, FIELDS, FRAME_BYTES, FRAME_SIZE, FRAME_VERSION, VISEMES
from facecast.pipeline import MotionPipeline

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "unity_sample" / "Runtime"
SAMPLES = ROOT / "unity_sample" / "Samples~"
STUBS = ROOT / "tests" / "unity" / "Stubs"


def compile_cs(out: Path, files: list[Path], *options: str) -> None:
    """Compile C# ``files`` into ``out`` with mcs, warnings as errors; the compiler's output if it fails."""
    assert shutil.which("mcs"), "mono's mcs is needed (CI installs it)"
    built = subprocess.run(["mcs", "-warnaserror+", f"-out:{out}", *options, *map(str, files)],
                           capture_output=True, text=True, timeout=120)
    output = built.stdout + built.stderr
    # mcs itself can crash on valid C# (e.g. `out var` inside a generic iterator: an unhandled
    # Mono.CSharp.InternalErrorException): say so, as it is a mono compiler bug, not a script error.
    assert "InternalErrorException" not in output, f"mcs crashed on {out.name} (a mono bug):\n{output[:3000]}"
    assert built.returncode == 0, f"{out.name}:\n{output}"


def build_and_run(tmp_path: Path, sources: list[str], programs: list[str], *args: str) -> str:
    """Build the sample's ``sources`` with ``tests/unity/<program>.cs`` for each of ``programs`` into one
    program and run it with ``args``; its standard output (it must exit 0)."""
    assert shutil.which("mono"), "mono's runtime is needed (CI installs it)"
    exe = tmp_path / "program.exe"
    compile_cs(exe, [RUNTIME / name for name in sources] + [ROOT / "tests" / "unity" / f"{n}.cs" for n in programs])
    run = subprocess.run(["mono", str(exe), *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def run_spec(tmp_path: Path, spec: str, sources: list[str]) -> None:
    """Build ``tests/unity/<spec>.cs`` with the sample's ``sources`` and run it: every case must pass."""
    assert "all cases pass" in build_and_run(tmp_path, sources, [spec, "Cases"])


def test_the_face_follows_the_audio_source_through_pauses_stops_and_new_lines(tmp_path):
    run_spec(tmp_path, "PlaybackQueueSpec", ["PlaybackQueue.cs", "MotionFrame.cs"])


def test_a_texture_session_shows_only_its_newest_texture_after_a_stall(tmp_path):
    run_spec(tmp_path, "NewestTexturesSpec", ["NewestTextures.cs"])


def test_the_driver_finds_the_arkit_shapes_of_rigs_named_in_every_usual_style(tmp_path):
    run_spec(tmp_path, "ShapeNamesSpec", ["ShapeNames.cs", "MotionFrame.cs"])


def test_a_rig_turns_its_head_and_eyes_the_way_the_frame_says_in_unitys_axes(tmp_path):
    run_spec(tmp_path, "HeadRotationSpec", ["MotionFrame.cs"])


def test_every_script_of_the_sample_compiles_against_the_real_unity_netmq_and_messagepack_signatures(tmp_path):
    """No Unity licence, NetMQ or MessagePack-CSharp here: ``tests/unity/Stubs`` declares the members the
    sample uses, with the real signatures (each stub file says where they were checked), and bodies that
    throw. Compiling every script of Runtime and Samples~ against them catches a misspelt member, a wrong
    overload or argument type, a property called as a method, a missing ``using``. Warnings are errors, as
    for the specs above. ``-langversion:7.2``: mcs's newest, needed by MessagePack's ``in`` parameter;
    Unity 2021.3 compiles C# 9, so a script using C# 8+ syntax would fail here although Unity takes it."""
    scripts = sorted(RUNTIME.glob("*.cs")) + sorted(SAMPLES.rglob("*.cs"))
    stubs = sorted(STUBS.glob("*.cs"))
    names = {path.name for path in scripts}
    assert {"FacecastClient.cs", "FacecastAudioSender.cs", "ArkitBlendshapeDriver.cs", "FacecastTextureView.cs",
            "TalkingHeadDemo.cs"} <= names, names
    assert {"UnityEngine.cs", "UnityEngine.UI.cs", "NetMQ.cs", "MessagePack.cs",
            "Unity.InputSystem.cs"} <= {path.name for path in stubs}
    # As Unity builds them, each its own assembly: UnityEngine, which every script sees; NetMQ, a
    # precompiled plugin, which every assembly sees; UnityEngine.UI and MessagePack, which an asmdef must
    # name; the Input System package; the package's Runtime (Facecast.Bridge.asmdef), which sees only those
    # its asmdef names; and the sample, which sees them all. So an asmdef reference taken out, or a sample
    # calling an `internal` member of the package, fails here as it would in Unity. The sample is built
    # twice: as in a project on the legacy Input Manager, and as in one with the Input System package
    # active (ENABLE_INPUT_SYSTEM, Unity 6's default), where the legacy Input class throws, so the sample
    # reads its keys through the package: that branch is compiled too.
    asmdef = json.loads((RUNTIME / "Facecast.Bridge.asmdef").read_text())
    stub_names = [path.stem for path in stubs]
    named = [r for r in asmdef["references"] if r in stub_names]
    assemblies = [("UnityEngine", [STUBS / "UnityEngine.cs"], [], []), ("NetMQ", [STUBS / "NetMQ.cs"], [], []),
                  ("UnityEngine.UI", [STUBS / "UnityEngine.UI.cs"], ["UnityEngine"], []),
                  ("MessagePack", [STUBS / "MessagePack.cs"], [], []),
                  ("Unity.InputSystem", [STUBS / "Unity.InputSystem.cs"], [], []),
                  (asmdef["name"], sorted(RUNTIME.glob("*.cs")), ["UnityEngine", "NetMQ", *named], []),
                  ("TalkingHead", sorted(SAMPLES.rglob("*.cs")), [*stub_names, asmdef["name"]], []),
                  ("TalkingHeadInputSystem", sorted(SAMPLES.rglob("*.cs")), [*stub_names, asmdef["name"]],
                   ["-define:ENABLE_INPUT_SYSTEM"])]
    assert sorted(stub_names) == sorted(name for name, _, _, _ in assemblies[:5])
    for name, sources, references, defines in assemblies:
        compile_cs(tmp_path / f"{name}.dll", sources, "-target:library", "-langversion:7.2", *defines,
                   *(f"-r:{tmp_path / r}.dll" for r in references))


def test_the_sample_decodes_the_bridges_frames_to_the_numbers_facecast_made(tmp_path, speech_audio):
    # The layout is written twice, in Python and in C#: the two must agree name for name and number for number.
    track = MotionPipeline(fps=60).process(speech_audio[:16000])
    frames = track.data[[0, len(track) // 2, len(track) - 1]]
    payload = tmp_path / "frames.bin"
    payload.write_bytes(np.ascontiguousarray(frames, dtype="<f4").tobytes())  # as the bridge sends them
    out = build_and_run(tmp_path, ["MotionFrame.cs"], ["MotionLayoutDump"], str(payload), "3")
    lines = dict(line.split(" ", 1) for line in out.splitlines() if not line.startswith(("frame ", "named ")))
    assert int(lines["layout_version"]) == FRAME_VERSION
    assert int(lines["frame_floats"]) == FRAME_SIZE and int(lines["frame_bytes"]) == FRAME_BYTES
    offsets = dict(pair.split("=") for pair in lines["offsets"].split())
    assert {name: int(at) for name, at in offsets.items()} == {name: f.offset for name, f in FIELDS.items()}
    assert lines["arkit"].split(",") == list(ARKIT_BLENDSHAPES)
    assert lines["visemes"].split(",") == list(VISEMES)
    decoded = [line.split()[2:] for line in out.splitlines() if line.startswith("frame ")]
    assert np.array_equal(np.array(decoded, dtype=np.float32), frames.astype(np.float32))  # bit for bit
    named = [line.split()[2:] for line in out.splitlines() if line.startswith("named ")]
    rot, jaw = FIELDS["headRotation"].offset, FIELDS["blendshapes"].offset + ARKIT_BLENDSHAPES.index("jawOpen")
    for values, frame in zip(named, frames, strict=True):
        index, time, pitch, yaw, roll, voice, jaw_open = values
        assert int(index) == int(frame[FIELDS["frameIndex"].offset])
        assert np.float32(time) == frame[FIELDS["time"].offset]
        assert [np.float32(pitch), np.float32(yaw), np.float32(roll)] == list(frame[rot : rot + 3])
        assert np.float32(voice) == frame[FIELDS["voiceActivity"].offset] and np.float32(jaw_open) == frame[jaw]
