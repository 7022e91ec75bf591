"""facecast.export: corpus synthesis, training and ONNX export of the audio-to-motion network, and the
render network's definition and export (``render_model``, ``render_ops``, ``render_export``).

Needs the ``export`` extra (torch, onnx); the runtime never imports this package.
"""

import re
from pathlib import Path

#: The trained checkpoints committed with the repository, one per lookahead
#: (``lipsync_lookahead<ms>.pt``); ``python -m facecast.export onnx`` exports each of them.
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
#: The most a segment loss weight may be (``--segment-close``, ``--segment-pp``): past it the term swamps
#: every other (the defaults are 30 and 0.5).
MAX_WEIGHT = 1e4


def in_source_checkout() -> bool:
    """Whether facecast runs from its source folder (``pip install -e``), whose committed checkpoints and
    shipped models the export commands' defaults read and replace; an installed wheel has neither the
    checkpoints nor a package folder anyone should write into. (Resolved: a strict editable install runs
    links to the source files.)"""
    project = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return 'name = "facecast"' in project.read_text()
    except OSError:
        return False


def checkpoint_path(lookahead_ms: int) -> Path:
    """Where the committed checkpoint of the model with this lookahead lives."""
    return CHECKPOINTS / f"lipsync_lookahead{lookahead_ms}.pt"


def shipped_checkpoints() -> list[Path]:
    """The committed checkpoints, ``lipsync_lookahead<ms>.pt``; a stopped run's ``NAME.partial.pt`` is none."""
    return sorted(p for p in CHECKPOINTS.glob("lipsync_lookahead*.pt")
                  if re.fullmatch(r"lipsync_lookahead\d+\.pt", p.name))
