"""Which onnxruntime execution providers a ``--device`` choice means, for every network facecast runs.

onnxruntime is imported where a session is made, not with this module, so that the command line can
offer ``DEVICES`` without loading it.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from facecast.errors import ModelError
from facecast.logs import native_stderr_caught

if TYPE_CHECKING:
    import onnxruntime as ort

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# Full float32 on CUDA: in TF32 (onnxruntime's default on Ampere and later) the lip network's viseme
# probabilities moved by up to 0.014 from the CPU's on an H100, and by 1.4e-5 without it.
CUDA_OPTIONS = {"use_tf32": "0"}

_preloaded = False
_preload_notes: list[str] = []  # what onnxruntime.preload_dlls printed
log = logging.getLogger("facecast.device")


def providers(device: str) -> list[str]:
    """The providers for ``device``: ``"cpu"``, ``"cuda"`` (an error without onnxruntime-gpu) or ``"auto"``.

    ``"auto"`` takes CUDA when onnxruntime has its provider, with the CPU as fallback for the operators
    CUDA lacks.
    """
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return [CPU]
    import onnxruntime as ort

    available = ort.get_available_providers()
    if CUDA not in available:
        if device == "cuda":
            raise ModelError("device 'cuda' asked for, but onnxruntime has no CUDA provider: "
                             "pip uninstall onnxruntime, then pip install 'onnxruntime-gpu[cuda,cudnn]'")
        return [CPU]
    _preload_cuda()
    return [CUDA, CPU]


def open_session(path: Path, options: ort.SessionOptions, device: str,
                 cpu_path: Path | None = None) -> ort.InferenceSession:
    """An onnxruntime session of the model at ``path`` on ``device``.

    When onnxruntime-gpu is installed but CUDA cannot run (no GPU, a container without one, or the CUDA
    and cuDNN libraries its release names missing), ``"auto"`` logs a warning (``cuda_unavailable``; the
    command line prints it on stderr, ``facecast serve`` as one of its JSON lines) and runs ``cpu_path``
    (default: ``path``) on the CPU, and ``"cuda"`` fails with that reason; onnxruntime itself would
    either raise a bare CUDA error or quietly fall back. What onnxruntime prints meanwhile (the libraries
    it cannot load) goes with the reason, in the message and as ``notes``, not on stderr by itself. Other
    load errors are onnxruntime's own.
    """
    import onnxruntime as ort

    chosen = providers(device)
    # onnxruntime's C++ logger writes a provider that fails to load straight to the stderr file, which
    # would break `facecast serve`'s JSON lines: caught, and logged here as facecast's own.
    with native_stderr_caught() if chosen[0] == CUDA else contextlib.nullcontext([]) as native:
        try:
            with_options = [(name, CUDA_OPTIONS) if name == CUDA else name for name in chosen]
            session = ort.InferenceSession(str(path), options, providers=with_options)
            failure = None if session.get_providers()[0] == chosen[0] else "its provider did not load"
        except Exception as exc:  # onnxruntime raises its own types; without CUDA, "CUDA failure 100: ..."
            if chosen[0] != CUDA:
                raise
            session, failure = None, last_line(exc)
    notes = [*_preload_notes, *native]
    _preload_notes.clear()  # told once, with the first session that tries CUDA
    if failure is None:
        if notes:
            log.info("onnxruntime's notes on loading %s on CUDA: %s", Path(path).name, " | ".join(notes),
                     extra={"event": "cuda_notes", "fields": {"model": Path(path).name, "notes": notes}})
        return session
    reason = (f"onnxruntime's CUDA provider cannot run ({failure}): no usable GPU, or the CUDA and cuDNN "
              "libraries of this onnxruntime-gpu release missing (pip install 'onnxruntime-gpu[cuda,cudnn]')")
    # The line that names what is missing, before onnxruntime's generic ones ("Failed to create
    # CUDAExecutionProvider. Require cuDNN ...") that follow it.
    telling = [n for n in notes if any(k in n for k in ("Failed to load", "cannot open shared object", "error 126"))]
    said = f"; onnxruntime said: {(telling or notes)[0]}" if notes else ""
    if device == "cuda":
        raise ModelError(f"device 'cuda': {reason}{said}")
    cpu_path = Path(cpu_path or path)
    log.warning("%s; running %s on the CPU%s", reason, cpu_path.name, said,
                extra={"event": "cuda_unavailable",
                       "fields": {"reason": failure, "model": cpu_path.name, "notes": notes}})
    if session is not None and cpu_path == Path(path):
        return session
    return ort.InferenceSession(str(cpu_path), options, providers=[CPU])


def last_line(exc: BaseException) -> str:
    """The gist of an onnxruntime error: its last line (its first ones hold the call's location), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def _preload_cuda() -> None:
    # onnxruntime-gpu finds the CUDA libraries that pip installs (the [cuda,cudnn] extras, or torch's) only
    # when they are loaded first; without this the provider fails to load and onnxruntime silently runs
    # on the CPU. Older releases lack preload_dlls and need the libraries on LD_LIBRARY_PATH.
    import onnxruntime as ort

    global _preloaded
    if not _preloaded and hasattr(ort, "preload_dlls"):
        # It prints the libraries it cannot load: kept, to go with the reason should CUDA then fail (on
        # stdout they would mix with motion written there, on stderr with serve's JSON lines).
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            ort.preload_dlls()
        _preload_notes[:] = [line for line in printed.getvalue().splitlines() if line.strip()]
    _preloaded = True
