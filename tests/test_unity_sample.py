"""The Unity sample's playback rules (``PlaybackQueue.cs``, plain C#), built with mcs and run with mono:
the face follows the AudioSource through plays, pauses, stops, new clips and interruptions."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "unity_sample" / "Runtime"


def test_the_face_follows_the_audio_source_through_pauses_stops_and_new_lines(tmp_path):
    assert shutil.which("mcs") and shutil.which("mono"), "mono's mcs and runtime are needed (CI installs them)"
    exe = tmp_path / "spec.exe"
    spec = ROOT / "tests" / "unity" / "PlaybackQueueSpec.cs"
    sources = [RUNTIME / "PlaybackQueue.cs", RUNTIME / "MotionFrame.cs", spec]
    built = subprocess.run(["mcs", "-warnaserror+", f"-out:{exe}", *map(str, sources)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    run = subprocess.run(["mono", str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all cases pass" in run.stdout
