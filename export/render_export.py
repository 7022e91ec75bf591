"""Export the render network to ONNX and check onnxruntime against PyTorch before writing it.

``python -m facecast.export render [--out path.onnx]``; the default output is the model shipped
in the package. The check renders the bundled default avatar at two sizes, with several avatars in one
batch, on poses that exercise every part of the graph.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from facecast.avatar import default_pack_path, load_pack
from facecast.errors import FacecastError
from facecast.export.render_model import OUTPUT_NAMES, RenderNet
from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, neutral_frames
from facecast.render import INPUT_NAMES, avatar_tensors, default_model_path, stack_avatars
from facecast.writers import check_writable, replaced_atomically

OPSET = 17


def check_motion(count: int = 4) -> np.ndarray:
    """Frames with the jaw open, a smile, a blink, gaze and a head turn, for checking the export."""
    frames = neutral_frames(count)
    bs = FIELDS["blendshapes"].offset
    rng = np.random.default_rng(0)
    for i in range(count):
        frames[i, bs + BLENDSHAPE_INDEX["jawOpen"]] = 0.2 + 0.15 * i
        frames[i, bs + BLENDSHAPE_INDEX["mouthSmileLeft"]] = 0.5
        frames[i, bs + BLENDSHAPE_INDEX["eyeBlinkRight"]] = 0.3 * i
        frames[i, FIELDS["headRotation"].slice] = rng.uniform(-15, 15, 3)
        frames[i, FIELDS["gaze"].slice] = rng.uniform(-20, 20, 4)
    return frames


def _torch_inputs(inputs: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.array(inputs[name])) for name in INPUT_NAMES)  # copies: avatars are read-only


def export_render(out: Path | None = None, pack_path: Path | None = None, whole_frame: bool = False) -> dict:
    """Export, verify (uint8 frames agree within 1 level on 99.9 % of values) and write atomically.

    ``whole_frame`` exports the variant for CUDA graphs (``RenderNet(whole_frame=True)``), by default to
    the package's ``render_gpu.onnx``.
    """
    import onnx  # only here: mediapipe's protobuf pin breaks onnx's import in some environments
    out = Path(out) if out else default_model_path(whole_frame)
    if out.suffix.lower() != ".onnx":  # as `export onnx` asks: `--out x.facecast` replaced a pack with a model
        raise FacecastError(f"{out}: name the render network .onnx")
    check_writable(out)  # before the export, not after it
    pack = load_pack(pack_path or default_pack_path())
    net = RenderNet(whole_frame).eval()
    small = avatar_tensors(pack, 128)
    inputs = {**stack_avatars([small, small]), "motion": check_motion(4), "avatar": np.array([0, 1, 0, 1])}
    dynamic = {"texture": {0: "avatars", 2: "side", 3: "side"}, "vertices": {0: "avatars", 1: "vertices"},
               "basis": {0: "avatars", 2: "vertices"}, "head_weight": {0: "avatars", 1: "vertices"},
               "pivot": {0: "avatars"}, "axes": {0: "avatars"}, "face_scale": {0: "avatars"},
               "tri_index": {0: "avatars", 2: "cells", 3: "cells"},
               "tri_weight": {0: "avatars", 2: "cells", 3: "cells"},
               "colours": {0: "avatars"}, "own_teeth": {0: "avatars"}, "motion": {0: "frames"}, "avatar": {0: "frames"},
               "frames": {0: "frames", 1: "size", 2: "size"}}
    with replaced_atomically(out) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns of the network's fixed tensors (an axis flip) becoming constants, which they
            # are; what the export gives is checked against PyTorch below, at several sizes.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(net, _torch_inputs(inputs), tmp, input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, opset_version=OPSET,
                              dynamo=False, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(tmp))
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        report = {}
        for size in (128, 256):
            one = avatar_tensors(pack, size)
            feed = {**stack_avatars([one, one]), "motion": check_motion(4), "avatar": np.array([0, 1, 1, 0])}
            with torch.no_grad():
                expected = net(*_torch_inputs(feed)).numpy().astype(np.int16)
            got = session.run(None, feed)[0].astype(np.int16)
            diff = np.abs(got - expected)
            report[f"size_{size}"] = {"max_diff": int(diff.max()), "over_1": float((diff > 1).mean())}
            if (diff > 1).mean() > 1e-3:
                raise RuntimeError(f"onnxruntime and PyTorch disagree at {size}px: {report[f'size_{size}']}")
    report["path"] = str(out)
    report["bytes"] = out.stat().st_size
    return report

