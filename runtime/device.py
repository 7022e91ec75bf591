"""Which onnxruntime execution providers a ``--device`` choice means, for every network facecast runs."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import onnxruntime as ort

from facecast.errors import ModelError

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_preloaded = False


def providers(device: str) -> list[str]:
    """The providers for ``device``: ``"cpu"``, ``"cuda"`` (an error without onnxruntime-gpu) or ``"auto"``.

    ``"auto"`` takes CUDA when onnxruntime has its provider, with the CPU as fallback for the operators
    CUDA lacks.
    """
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return [CPU]
    available = ort.get_available_providers()
    if CUDA not in available:
        if device == "cuda":
            raise ModelError("device 'cuda' asked for, but onnxruntime has no CUDA provider: "
                             "pip uninstall onnxruntime, then pip install 'onnxruntime-gpu[cuda,cudnn]'")
        return [CPU]
    _preload_cuda()
    return [CUDA, CPU]


def open_session(path: Path, options: ort.SessionOptions, device: str) -> ort.InferenceSession:
    """An onnxruntime session of the model at ``path`` on ``device``.

    With ``"cuda"`` it fails when the CUDA provider did not load (no GPU, or its CUDA and cuDNN libraries
    missing), where onnxruntime itself would warn and quietly run on the CPU. Other load errors are
    onnxruntime's own.
    """
    session = ort.InferenceSession(str(path), options, providers=providers(device))
    if device == "cuda" and session.get_providers()[0] != CUDA:
        raise ModelError("device 'cuda': onnxruntime's CUDA provider did not load (no usable GPU, or the CUDA 13 "
                         "and cuDNN 9 libraries missing: pip install 'onnxruntime-gpu[cuda,cudnn]')")
    return session


def _preload_cuda() -> None:
    # onnxruntime-gpu finds the CUDA libraries that pip installs (the [cuda,cudnn] extras, or torch's) only
    # when they are loaded first; without this the provider fails to load and onnxruntime silently runs
    # on the CPU. Older releases lack preload_dlls and need the libraries on LD_LIBRARY_PATH.
    global _preloaded
    if not _preloaded and hasattr(ort, "preload_dlls"):
        with contextlib.redirect_stdout(sys.stderr):  # it prints what it misses; stdout may carry motion
            ort.preload_dlls()
    _preloaded = True
