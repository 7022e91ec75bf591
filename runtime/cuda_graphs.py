"""The render network on CUDA, one captured CUDA graph per input shape.

At batch 1 the render network's time on a GPU is its operators' launches, not their arithmetic: some
2,800 kernels of a few microseconds each (an H100 drew 44 frames a second at 512 px from plain numpy
calls, fewer than its own CPU). onnxruntime can capture a call's kernels once in a CUDA graph and
replay them in one launch, given two things this module provides:

- every shape fixed: each distinct shape of the inputs (avatars stacked, portrait, mesh, frames per call)
  gets its own session, with onnxruntime's free-dimension overrides, so the network's shape arithmetic
  folds away and every operator runs on the GPU. That needs the network without boxes
  (``render_gpu.onnx``, ``RenderNet(whole_frame=True)``): a box's corners depend on the motion;
- every address fixed: inputs and the output live in GPU buffers bound once, which each call overwrites.

Frames per call are padded up to a power of two, so that ``facecast render``'s last short batch, or a
server's changing number of texture sessions, reuses a few graphs instead of capturing one per count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facecast.device import CUDA, CUDA_OPTIONS

if TYPE_CHECKING:
    import onnxruntime as ort

#: Graphs kept, most recently used last: each holds its session and its GPU memory. A server showing
#: avatars at several sizes to a changing number of sessions meets a few shapes; more would only hold
#: GPU memory.
GRAPHS_KEPT = 6


def padded(frames: int) -> int:
    """The frames a graph renders for a call of ``frames``: the next power of two."""
    return 1 << max(frames - 1, 0).bit_length()


class CudaGraphs:
    """Runs the whole-frame render network (``path``) on CUDA, capturing one graph per input shape.

    Thread-safe: calls are serialised, as the GPU runs one graph at a time anyway.
    """

    def __init__(self, path: Path, threads: int) -> None:
        self.path = Path(path)
        self.threads = threads
        self._graphs: OrderedDict[tuple, _Graph] = OrderedDict()
        self._lock = threading.Lock()

    def run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray) -> np.ndarray:
        """Frames (B, S, S, 3) uint8 for motion (B, 80) on the stacked avatar ``inputs``, as
        ``Renderer.run``; the first call of each shape captures its graph (under a second on an H100)."""
        n = len(motion)
        frames = padded(n)
        if frames != n:  # rows of the first frame, rendered and dropped
            motion = np.concatenate([motion, np.repeat(motion[:1], frames - n, 0)])
            avatar_index = np.concatenate([avatar_index, np.repeat(avatar_index[:1], frames - n)])
        key = (frames, *((name, array.shape) for name, array in inputs.items()))
        with self._lock:
            graph = self._graphs.pop(key, None) or _Graph(self.path, self.threads, inputs, frames)
            self._graphs[key] = graph
            while len(self._graphs) > GRAPHS_KEPT:
                self._graphs.popitem(last=False)
            return graph.run(inputs, motion, avatar_index)[:n]


class _Graph:
    """One session with every dimension fixed, its GPU buffers bound, replaying its captured graph."""

    def __init__(self, path: Path, threads: int, inputs: dict[str, np.ndarray], frames: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        dims = {"avatars": inputs["vertices"].shape[0], "side": inputs["texture"].shape[2],
                "vertices": inputs["vertices"].shape[1], "cells": inputs["tri_index"].shape[2], "frames": frames}
        for name, value in dims.items():
            options.add_free_dimension_override_by_name(name, value)
        cuda = {**CUDA_OPTIONS, "enable_cuda_graph": "1"}
        self.session = ort.InferenceSession(str(path), options, providers=[(CUDA, cuda)])
        size = (inputs["texture"].shape[2] + 1) // 2  # the pictures hold every half pixel
        self.binding = self.session.io_binding()
        self.buffers: dict[str, ort.OrtValue] = {}
        for name, array in inputs.items():
            self._bind(name, np.ascontiguousarray(array))
        self._bind("motion", np.zeros((frames, 80), np.float32))
        self._bind("avatar", np.zeros(frames, np.int64))
        self.output = ort.OrtValue.ortvalue_from_shape_and_type((frames, size, size, 3), np.uint8, "cuda", 0)
        self.binding.bind_ortvalue_output("frames", self.output)
        self.sources: dict[str, np.ndarray] = dict(inputs)  # held, so that an identity test is sound

    def _bind(self, name: str, array: np.ndarray) -> None:
        import onnxruntime as ort

        self.buffers[name] = ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0)
        self.binding.bind_ortvalue_input(name, self.buffers[name])

    def run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray) -> np.ndarray:
        for name, array in inputs.items():
            if self.sources[name] is not array:  # another avatar of the same shape: upload it
                self.buffers[name].update_inplace(np.ascontiguousarray(array))
                self.sources[name] = array
        self.buffers["motion"].update_inplace(np.ascontiguousarray(motion, dtype=np.float32))
        self.buffers["avatar"].update_inplace(np.ascontiguousarray(avatar_index, dtype=np.int64))
        self.session.run_with_iobinding(self.binding)
        return self.output.numpy()
