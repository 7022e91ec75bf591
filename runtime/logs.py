"""Where facecast's log records go: one ``facecast`` logger tree, printed on stderr by the command line.

Library code logs warnings (a GPU that cannot run, say) to ``facecast.*`` loggers instead of printing, so
that ``facecast serve`` can keep every line of its stderr JSON, and a program using the Python API can
route them with its own logging set-up. A record may carry ``event`` (a short name for machines) and
``fields`` (its details) in ``extra``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

ROOT = "facecast"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: machine-readable structured logs."""

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None)
        entry = {"t": round(record.created, 3), "level": record.levelname.lower(),
                 "event": event or record.getMessage()}
        if event:  # the sentence a person reads, beside the name a program matches
            entry["message"] = record.getMessage()
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


#: How the command line prints a record for a person: as its own one-line messages ("facecast: ...").
PLAIN = logging.Formatter(f"{ROOT}: %(message)s")


@contextlib.contextmanager
def logging_to_stderr(formatter: logging.Formatter, level: int | str = logging.WARNING) -> Iterator[None]:
    """Print the ``facecast`` loggers' records from ``level`` up on stderr with ``formatter``, for as long
    as the block runs; then put their set-up back (a caller running a command in its own process keeps
    its logging as it was)."""
    logger = logging.getLogger(ROOT)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    before = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        # setLevel, not an assignment: the loggers below cache whether a level is enabled, and only
        # setLevel clears that cache (a warning after an "error"-level block would be lost).
        logger.handlers[:], logger.propagate = before[0], before[2]
        logger.setLevel(before[1])


# The stderr file is the process's, not a thread's: one redirection at a time, and a thread that enters
# again while it holds one (nested) keeps it, so that the file is always put back as it was.
_redirecting = threading.RLock()
_depth = 0


@contextlib.contextmanager
def native_stderr_caught() -> Iterator[list[str]]:
    """Catch what is written to the process's stderr file (by onnxruntime's C++ logger and library
    loader, or mediapipe's graphs, which no Python setting reaches) while the block runs; its non-blank
    lines are in the yielded list once the block ends, for the caller to log as its own or drop.

    Other threads' writes to stderr meanwhile are caught too, and a second thread's block waits for the
    first's to end. A nested block in the same thread catches nothing of its own (its outer block has
    the lines). Without a stderr file to redirect, nothing is caught.
    """
    global _depth
    lines: list[str] = []
    with _redirecting:
        if _depth:
            yield lines
            return
        _flush_stderr()
        try:
            saved = os.dup(2)
        except OSError:
            yield lines
            return
        _depth += 1
        try:
            with tempfile.TemporaryFile() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield lines
                finally:
                    _flush_stderr()  # what Python wrote meanwhile belongs to the block; it never raises
                    os.dup2(saved, 2)
                    sink.seek(0)
                    lines.extend(line for line in sink.read().decode(errors="replace").splitlines()
                                 if line.strip())
        finally:
            os.close(saved)
            _depth -= 1


def _flush_stderr() -> None:
    with contextlib.suppress(Exception):  # none (pythonw, a service), or a replaced one that cannot flush
        sys.stderr.flush()
