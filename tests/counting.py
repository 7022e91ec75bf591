"""A renderer that counts what it renders, for the tests of the CUDA graphs' CPU stand-in."""

from __future__ import annotations

import numpy as np

from facecast.render import Renderer


class CountingRenderer(Renderer):
    """A renderer that counts the calls its session renders: which of two renderers drew a frame cannot
    be told from the frames where both are on the CPU (or, mostly, where one is on a GPU)."""

    calls = 0

    def _run_session(self, *args) -> np.ndarray:
        self.calls += 1
        return super()._run_session(*args)
