"""The Unity sample's plain C# rules, built with mcs and run with mono: the face follows the AudioSource
through plays, pauses, stops, new clips and interruptions (``PlaybackQueue.cs``), and a texture session
shows only its newest texture after a stall (``NewestTextures.cs``)."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "unity_sample" / "Runtime"


def run_spec(tmp_path: Path, spec: str, sources: list[str]) -> None:
    """Build ``tests/unity/<spec>.cs`` with the sample's ``sources`` and run it: every case must pass."""
    assert shutil.which("mcs") and shutil.which("mono"), "mono's mcs and runtime are needed (CI installs them)"
    exe = tmp_path / "spec.exe"
    files = [RUNTIME / name for name in sources] + [ROOT / "tests" / "unity" / f"{spec}.cs"]
    built = subprocess.run(["mcs", "-warnaserror+", f"-out:{exe}", *map(str, files)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    run = subprocess.run(["mono", str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all cases pass" in run.stdout


def test_the_face_follows_the_audio_source_through_pauses_stops_and_new_lines(tmp_path):
    run_spec(tmp_path, "PlaybackQueueSpec", ["PlaybackQueue.cs", "MotionFrame.cs"])


def test_a_texture_session_shows_only_its_newest_texture_after_a_stall(tmp_path):
    run_spec(tmp_path, "NewestTexturesSpec", ["NewestTextures.cs"])
