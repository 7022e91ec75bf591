"""The render network on CUDA, one captured CUDA graph per input shape.

At batch 1 the render network's time on a GPU is its operators' launches, not their arithmetic: some
2,800 operators a call (an H100 drew 45 frames a second at 512 px, fewer than its own CPU). onnxruntime
can capture a call's kernels once in a CUDA graph and replay them in one launch, given three things this
module provides:

- every shape fixed: each shape of the inputs (frames per call, avatars stacked, mesh, size) gets its
  own session, with onnxruntime's free-dimension overrides, so the network's shape arithmetic folds away
  and every operator runs on the GPU. That needs the network without boxes (``render_gpu.onnx``,
  ``RenderNet(whole_frame=True)``): a box's corners depend on the motion;
- every address fixed: inputs and the output live in GPU buffers bound once, which each call overwrites;
- one thread: onnxruntime keeps a captured graph per calling thread (a call from another thread would
  capture it again), so every call runs on one worker thread of this module's.

Calls are padded to a few shapes, so that ``facecast render``'s last short batch, or a server's changing
number of texture sessions and avatars, reuses a few graphs instead of capturing one (0.5-1.3 s on an H100) per
count: frames and avatars to a power of two, and meshes to a multiple of ``VERTEX_STEP`` vertices.

A server cannot hold every session for a capture, so it calls with ``wait_for_capture=False``: a shape
without a graph is captured on the worker while the caller renders those frames on the CPU
(``Renderer.run``'s ``stand_in``). Not on the GPU: onnxruntime captures in CUDA's global mode, in which
another thread's CUDA work (an upload, another graph's replay, a lip network on CUDA) would fail the
capture or itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facecast.device import CPU, CUDA, CUDA_OPTIONS, last_line
from facecast.logs import native_stderr_caught
from facecast.render import CELL, FRAME_INPUTS, ONNX_TYPES, pad_vertices

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger("facecast.cuda_graphs")

#: Graphs kept, most recently used last: each holds its session and its GPU memory, on an H100 90-206 MiB
#: for 1-4 frames at 256 px, 212-358 MiB at 512 px, 598 MiB for 8 frames of two avatars at 512 px (so twelve
#: large ones about 7 GiB). A server showing avatars at two sizes to a changing number of sessions meets a
#: few shapes; more would only hold GPU memory.
GRAPHS_KEPT = 12
#: Vertex counts are rounded up to a multiple of this: the shipped portraits' meshes (600-900) share one.
VERTEX_STEP = 512


def power_of_two(count: int) -> int:
    """The frames (or avatars) a graph takes for a call of ``count``: the next power of two (1 for 0)."""
    return 1 << max(count - 1, 0).bit_length()


def padded_avatars(inputs: dict[str, np.ndarray], avatars: int, vertices: int) -> dict[str, np.ndarray]:
    """Avatar ``inputs`` padded to ``avatars`` (copies of the first, which no frame shows) of ``vertices``
    (zeros, which no triangle uses, as ``stack_avatars`` pads avatars of different meshes)."""
    out = {}
    for name, value in inputs.items():
        if avatars > len(value):
            value = np.concatenate([value, np.repeat(value[:1], avatars - len(value), 0)])
        out[name] = pad_vertices(name, value, vertices)
    return out


class CaptureError(RuntimeError):
    """A CUDA graph captured in the background could not be; the message is onnxruntime's reason."""


class CudaGraphs:
    """Runs the whole-frame render network (``path``) as CUDA graphs, one per padded input shape.

    ``device="cpu"`` runs the same sessions, buffers and padding on the CPU without capture: what is
    left to CUDA is onnxruntime's. Calls from any thread run one at a time on a worker thread.
    """

    def __init__(self, path: Path, device: str = "cuda") -> None:
        self.path = Path(path)
        self.device = device
        self._graphs: OrderedDict[tuple[int, ...], _Graph] = OrderedDict()  # touched on the worker alone
        self._shapes: frozenset[tuple[int, ...]] = frozenset()  # their keys, replaced whole by the worker
        self._capture: Future | None = None  # the capture started by a call that did not wait
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facecast-cuda-graphs")
        self._closing = threading.Lock()
        self._closed = False

    def run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray,
            wait_for_capture: bool = True) -> np.ndarray | None:
        """Frames (B, S, S, 3) uint8 for motion (B, 80) on the stacked avatar ``inputs``, as
        ``Renderer.run`` (which checks them); the first call of each padded shape captures its graph.

        ``wait_for_capture=False``: a call whose padded shape has no graph yet starts its capture and
        returns None at once, and so does every such call while that capture runs: the caller renders those
        frames without the GPU. A capture that failed is logged, and raises ``CaptureError`` at the next
        such call.
        """
        if wait_for_capture:
            return self._worker.submit(self._run, inputs, motion, avatar_index).result()
        with self._closing:  # one check-and-submit at a time, and none once closed
            if self._closed:
                raise RuntimeError("these CUDA graphs are closed")
            capture = self._capture
            if capture is not None and not capture.done():
                return None
            self._capture = None
            if capture is not None:
                capture.result()  # a failed capture's CaptureError
            shape = self._shape(inputs, len(motion))
            if shape not in self._shapes:
                self._capture = self._worker.submit(self._capture_logged, shape, inputs, motion, avatar_index)
                return None
            job = self._worker.submit(self._run, inputs, motion, avatar_index)
        return job.result()

    @property
    def capturing(self) -> bool:
        """True while a capture that a call did not wait for runs."""
        capture = self._capture
        return capture is not None and not capture.done()

    def _capture_logged(self, shape: tuple[int, ...], inputs: dict[str, np.ndarray], motion: np.ndarray,
                        avatar_index: np.ndarray) -> None:
        # Logged either way: meanwhile the frames came from the CPU, and a server's operator may see them slower.
        fields: dict[str, float | str] = {"frames": shape[0], "avatars": shape[1], "size": shape[4] * CELL}
        what = "the CUDA graph of {frames} frames of {avatars} avatars at {size} px".format(**fields)
        start = time.monotonic()
        try:
            self._run(inputs, motion, avatar_index)
            reason = None
        except Exception as e:  # onnxruntime's own types
            reason = last_line(e)
        fields["took_s"] = round(time.monotonic() - start, 2)
        if reason is None:
            log.info("captured %s in %.2f s", what, fields["took_s"],
                     extra={"event": "cuda_graph_captured", "fields": fields})
            return
        log.warning("cannot capture %s (%s)", what, reason,
                    extra={"event": "cuda_graph_capture_failed", "fields": {**fields, "reason": reason}})
        # Raised here, not from the except clause: the original's traceback would keep the failed graph's
        # session and GPU buffers for as long as the future keeps the exception.
        raise CaptureError(reason)

    @staticmethod
    def _shape(inputs: dict[str, np.ndarray], frames: int) -> tuple[int, ...]:
        """The padded shape of a call, its graph's key: frames, avatars, vertices, picture side, cells."""
        vertices = -(-inputs["vertices"].shape[1] // VERTEX_STEP) * VERTEX_STEP
        return (power_of_two(frames), power_of_two(len(inputs["vertices"])), vertices, inputs["texture"].shape[2],
                inputs["tri_index"].shape[2])

    def close(self) -> None:
        """Drop every graph (its GPU memory goes with it) and the worker thread; later calls raise."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
        self._worker.submit(self._forget_all).result()  # after any capture under way
        self._worker.shutdown()

    def _forget_all(self) -> None:
        self._graphs.clear()
        self._shapes = frozenset()

    def _run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray) -> np.ndarray:
        n = len(motion)
        extra = power_of_two(n) - n
        if extra:  # rows of the first frame, rendered and dropped
            motion = np.concatenate([motion, np.repeat(motion[:1], extra, 0)])
            avatar_index = np.concatenate([avatar_index, np.repeat(avatar_index[:1], extra)])
        key = self._shape(inputs, n)
        graph = self._graphs.pop(key, None) or _Graph(self.path, self.device, key)
        try:
            frames = graph.run(inputs, motion, avatar_index)[:n]
        except BaseException:
            self._shapes = frozenset(self._graphs)
            raise
        self._graphs[key] = graph  # kept once it has run: a graph that cannot capture is not
        while len(self._graphs) > GRAPHS_KEPT:
            self._graphs.popitem(last=False)
        self._shapes = frozenset(self._graphs)
        return frames


class _Graph:
    """One session with every dimension fixed, its buffers bound, replaying its captured graph."""

    def __init__(self, path: Path, device: str, shape: tuple[int, ...]) -> None:
        import onnxruntime as ort

        frames, self.avatars, self.vertices, side, cells = shape
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only, as the Renderer's session: its warnings are expected
        for name, value in zip(("frames", "avatars", "vertices", "side", "cells"), shape, strict=True):
            options.add_free_dimension_override_by_name(name, value)
        self.device = device
        provider = (CUDA, {**CUDA_OPTIONS, "enable_cuda_graph": "1"}) if device == "cuda" else CPU
        # What onnxruntime's C++ logger prints as it makes the session is facecast's to log (serve's stderr
        # is JSON lines); a failure still raises, with onnxruntime's own reason.
        with native_stderr_caught() as notes:
            self.session = ort.InferenceSession(str(path), options, providers=[provider])
        if notes:
            log.info("onnxruntime's notes on a CUDA graph of %s: %s", path.name, " | ".join(notes),
                     extra={"event": "cuda_notes", "fields": {"model": path.name, "notes": notes}})
        self.binding = self.session.io_binding()
        self.buffers: dict[str, ort.OrtValue] = {}
        self.dtypes: dict[str, type] = {}
        for arg in self.session.get_inputs():  # zeros until the first call uploads its avatars
            self.dtypes[arg.name] = ONNX_TYPES[arg.type]
            self.buffers[arg.name] = ort.OrtValue.ortvalue_from_numpy(np.zeros(arg.shape, ONNX_TYPES[arg.type]),
                                                                      device, 0)
            self.binding.bind_ortvalue_input(arg.name, self.buffers[arg.name])
        out = self.session.get_outputs()[0]
        self.output = ort.OrtValue.ortvalue_from_shape_and_type(out.shape, np.uint8, device, 0)
        self.binding.bind_ortvalue_output(out.name, self.output)
        self.uploaded: dict[str, np.ndarray] = {}  # read-only avatar inputs already in the buffers

    def run(self, inputs: dict[str, np.ndarray], motion: np.ndarray, avatar_index: np.ndarray) -> np.ndarray:
        if set(inputs) | set(FRAME_INPUTS) != set(self.buffers):
            raise ValueError(f"inputs {sorted(inputs)}, the network takes {sorted(self.buffers)}")
        changed = {name: value for name, value in inputs.items() if self.uploaded.get(name) is not value}
        for name in changed:  # until uploaded: a failed call must not leave a buffer taken for another array's
            self.uploaded.pop(name, None)
        for name, value in padded_avatars(changed, self.avatars, self.vertices).items():
            self._upload(name, value)
        # Kept as uploaded: read-only arrays that own their data (as avatar_tensors makes them), which
        # nothing can edit; any other array is uploaded at every call, as it may have been edited since.
        self.uploaded.update({name: value for name, value in changed.items()
                              if not value.flags.writeable and value.flags.owndata})
        self._upload("motion", motion)
        self._upload("avatar", avatar_index)
        self.session.run_with_iobinding(self.binding)
        frames = self.output.numpy()  # from a GPU buffer a new array; from a CPU one a view of the buffer
        return frames.copy() if self.device == "cpu" else frames

    def _upload(self, name: str, value: np.ndarray) -> None:
        # update_inplace copies bytes, checking only the element count: the type and shape are checked here
        shape = tuple(self.buffers[name].shape())
        if value.dtype != self.dtypes[name] or value.shape != shape:
            raise ValueError(f"{name}: {value.dtype} {value.shape}, the graph's is {np.dtype(self.dtypes[name])} "
                             f"{shape}")
        self.buffers[name].update_inplace(np.ascontiguousarray(value))
