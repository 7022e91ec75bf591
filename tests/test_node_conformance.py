"""An independent client (Node.js: zeromq v6 + @msgpack/msgpack, written from PROTOCOL.md) drives the server."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
from test_bridge import RunningServer

NODE_DIR = Path(__file__).parent / "node"


def test_node_client_follows_the_protocol(tmp_path, speech_audio):
    assert shutil.which("node"), "Node.js is needed (CI installs it)"
    assert (NODE_DIR / "node_modules" / "zeromq").is_dir(), "run `npm ci` in tests/node first (CI does)"
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes((np.clip(speech_audio, -1, 1) * 32767).astype("<i2").tobytes())
    running = RunningServer()
    try:
        result = subprocess.run(["node", str(NODE_DIR / "conformance.mjs"), running.endpoint, str(pcm)],
                                capture_output=True, text=True, timeout=60)
    finally:
        running.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["frames"] > 100 and summary["textures"] > 0
