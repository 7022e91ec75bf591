"""Errors facecast reports to a person: one clear line, no traceback."""

from pathlib import Path


def not_a_file(path: Path, kind: str, missing: str = "no such file") -> str:
    """Why ``path`` cannot be read as ``kind`` ("an audio file"): a folder is called a folder, and anything
    else that is no regular file (a device, pipe or socket) is called that."""
    path = Path(path)
    if path.is_dir():
        return f"{path}: is a folder, not {kind}"
    if path.exists():
        return f"{path}: not a regular file (a device, pipe or socket), not {kind}"
    return f"{path}: {missing}"


class FacecastError(Exception):
    """Base of every error facecast reports as a one-line message."""


class AudioError(FacecastError):
    """The audio input cannot be used (missing, unreadable, empty, silent, NaN, absurd rate...)."""


class ModelError(FacecastError):
    """A model file is missing, corrupt or of an unsupported version."""
