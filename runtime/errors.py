"""Errors facecast reports to a person: one clear line, no traceback."""


class FacecastError(Exception):
    """Base of every error facecast reports as a one-line message."""


class AudioError(FacecastError):
    """The audio input cannot be used (missing, unreadable, empty, silent, NaN, absurd rate...)."""


class ModelError(FacecastError):
    """A model file is missing, corrupt or of an unsupported version."""
