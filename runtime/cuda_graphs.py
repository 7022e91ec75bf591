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

Calls are padded to a few shapes, so that ``facecast render``'s last short batch, or a server's changing
number of texture sessions and avatars, reuses a few graphs instead of capturing one (about 1.6 s on an
H100) per count: frames and avatars up to a power of two, and the mesh's vertices up to a multiple of
``VERTEX_STEP``, padded as ``stack_avatars`` pads avatars of different meshes.
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

#: Graphs kept, most recently used last: each holds its session and its GPU memory (six, with two
#: plain sessions, held 2.9 GiB on an H100). A server showing avatars at two sizes to a changing number
#: of sessions meets a few shapes; more would only hold GPU memory.
GRAPHS_KEPT = 8
#: Vertex counts are rounded up to a multiple of this (the shipped portraits' meshes have 600-900).
VERTEX_STEP = 256


def padded(count: int) -> int:
    """The frames (or avatars) a graph takes for a call of ``count``: the next power of two."""
    return 1 << max(count - 1, 0).bit_length()


def padded_avatars(inputs: dict[str, np.ndarray], avatars: int, vertices: int) -> dict[str, np.ndarray]:
    """Avatar ``inputs`` padded to ``avatars`` (copies of the first, which no frame shows) of ``vertices``
    (zeros, which no triangle uses, as ``stack_avatars`` pads)."""
    out = {}
    for name, array in inputs.items():
        extra = avatars - array.shape[0]
        if extra:
            array = np.concatenate([array, np.repeat(array[:1], extra, 0)])
        axis = {"vertices": 1, "head_weight": 1, "basis": 2}.get(name)
        if axis is not None and vertices > array.shape[axis]:
            widths = [(0, 0)] * array.ndim
            widths[axis] = (0, vertices - array.shape[axis])
            array = np.pad(array, widths)
        out[name] = np.ascontiguousarray(array)
    return out


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
        ``Renderer.run``; the first call of each padded shape captures its graph."""
        n = len(motion)
        frames = padded(n)
        if frames != n:  # rows of the first frame, rendered and dropped
            motion = np.concatenate([motion, np.repeat(motion[:1], frames - n, 0)])
            avatar_index = np.concatenate([avatar_index, np.repeat(avatar_index[:1], frames - n)])
        avatars = padded(inputs["vertices"].shape[0])
        vertices = -(-inputs["vertices"].shape[1] // VERTEX_STEP) * VERTEX_STEP
        key = (frames, avatars, vertices, inputs["texture"].shape[2], inputs["tri_index"].shape[2])
        with self._lock:
            graph = self._graphs.pop(key, None) or _Graph(self.path, self.threads, key)
            self._graphs[key] = graph
            while len(self._graphs) > GRAPHS_KEPT:
                self._graphs.popitem(last=False)
            return graph.run(inputs, motion, avatar_index)[:n]


class _Graph:
    """One session with every dimension fixed, its GPU buffers bound, replaying its captured graph."""

    def __init__(self, path: Path, threads: int, shape: tuple[int, int, int, int, int]) -> None:
        import onnxruntime as ort

        frames, self.avatars, self.vertices, side, cells = shape
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        dims = {"frames": frames, "avatars": self.avatars, "vertices": self.vertices, "side": side, "cells": cells}
        for name, value in dims.items():
            options.add_free_dimension_override_by_name(name, value)
        self.session = ort.InferenceSession(str(path), options,
                                            providers=[(CUDA, {**CUDA_OPTIONS, "enable_cuda_graph": "1"})])
        self.binding = self.session.io_binding()
        self.buffers: dict[str, ort.OrtValue] = {}
        for arg in self.session.get_inputs():  # zeros until the first call uploads its avatars
            shape = [dims[d] if isinstance(d, str) else d for d in arg.shape]
            dtype = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8}[arg.type]
            self.buffers[arg.name] = ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype), "cuda", 0)
            self.binding.bind_ortvalue_input(arg.name, self.buffers[arg.name])
        size = (side + 1) // 2  # the pictures hold every half pixel
        self.output = ort.OrtValue.ortvalue_from_shape_and_type((frames, size, size, 3), np.uint8, "cuda", 0)
        self.binding.bind_ortvalue_output("frames", self.output)
        self.sources: dict[str, np.ndarray] = {}  # the avatar inputs uploaded, held so that an identity test is sound

    def run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray) -> np.ndarray:
        changed = {name: array for name, array in inputs.items() if self.sources.get(name) is not array}
        if changed:  # other avatars than the last call's: upload them
            for name, array in padded_avatars(changed, self.avatars, self.vertices).items():
                self.buffers[name].update_inplace(array)
            self.sources.update(changed)
        self.buffers["motion"].update_inplace(np.ascontiguousarray(motion, dtype=np.float32))
        self.buffers["avatar"].update_inplace(np.ascontiguousarray(avatar_index, dtype=np.int64))
        self.session.run_with_iobinding(self.binding)
        return self.output.numpy()
