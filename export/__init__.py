"""facecast.export: corpus synthesis, training and ONNX export of the audio-to-motion network.

Needs the ``export`` extra (torch, onnx); the runtime never imports this package.
"""

from pathlib import Path

#: The trained checkpoint committed with the repository; ``python -m facecast.export onnx`` reads it.
DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "lipsync.pt"
