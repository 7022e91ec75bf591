"""Export a trained checkpoint to the streaming ONNX model shipped in the package, and verify it.

``python -m facecast.export onnx [--checkpoint CKPT.pt] [--out path.onnx]``: by default every checkpoint
in ``export/checkpoints`` goes to the model of the same lookahead in ``runtime/models``.

Verification runs before anything is written: onnxruntime and PyTorch must agree (max abs difference
below 1e-4) on whole-clip inference, and chunk-by-chunk streaming must reproduce whole-clip inference.
The model and its .json description are both written to temporary files beside them before either is
put in place. A checkpoint trained with another configuration than ``full`` (``--config smoke``) needs
``out``: by default it would replace the shipped model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from facecast.audio import SAMPLE_RATE
from facecast.errors import FacecastError
from facecast.export.model import HOP, LipSyncNet, NetConfig
from facecast.lip_channels import LIP_CHANNELS
from facecast.lipsync import MODEL_FORMAT, model_file
from facecast.motion_frame import VISEMES
from facecast.writers import check_writable, replaced_atomically

TOLERANCE = 1e-4
OUTPUTS = ("visemes", "pose", "vad", "state_out")


def load_checkpoint(path: Path) -> tuple[LipSyncNet, dict]:
    """The network of a checkpoint ``facecast export train`` saved; anything else is one FacecastError."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FacecastError(f"{path}: not a PyTorch checkpoint ({detail})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("net"), dict) or "state_dict" not in ckpt:
        raise FacecastError(f"{path}: not a checkpoint of facecast export train")
    other = f"{path}: a checkpoint from another facecast version"
    fields = {f.name for f in dataclasses.fields(NetConfig)}
    if set(ckpt["net"]) != fields:
        differ = sorted(fields ^ set(ckpt["net"]))
        raise FacecastError(f"{other} (its network settings differ in {', '.join(differ)}); retrain it with "
                            "facecast export train")
    for key, ours in (("channels", LIP_CHANNELS), ("visemes", VISEMES)):
        if ckpt.get(key) != list(ours):
            raise FacecastError(f"{other} (other {key}: {ckpt.get(key)}); retrain it with facecast export train")
    try:
        net = LipSyncNet(NetConfig(**ckpt["net"]))
        net.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError, ValueError) as exc:
        raise FacecastError(f"{other} ({str(exc).splitlines()[0]}); retrain it with facecast export train") from None
    return net.eval(), ckpt


def checkpoint_config(ckpt: dict) -> str:
    """The training configuration a checkpoint was trained with ("full", "smoke"). Checkpoints from before
    it was saved are "full" if their network is the full configuration's size, else "experimental"."""
    if isinstance(ckpt.get("config"), str):
        return ckpt["config"]
    size = ("n_mels", "conv_channels", "hidden", "gru_layers")
    full = NetConfig()
    return "full" if all(ckpt["net"].get(k) == getattr(full, k) for k in size) else "experimental"


def shipped_step(ckpt: dict) -> dict | None:
    """The held-out scores of the step the checkpoint holds (its history goes on past it)."""
    return next((h for h in ckpt.get("history") or [] if h.get("step") == ckpt.get("step")), None)


def _test_signal(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like test audio: a gliding harmonic source with amplitude bursts and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    return (0.2 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def export_onnx(checkpoint: Path, out: Path | None = None) -> dict:
    """Export ``checkpoint``, verify it, and write it (default: the shipped model of its lookahead)."""
    net, ckpt = load_checkpoint(checkpoint)
    c = net.config
    if out is None and (config := checkpoint_config(ckpt)) != "full":
        shipped = model_file(c.lookahead * 10)
        raise FacecastError(f"{checkpoint}: not trained with the full configuration ({config}); name the output "
                            f"with --out: by default it would replace the shipped {shipped}")
    out = Path(out or model_file(c.lookahead * 10))
    if out.suffix != ".onnx":
        raise FacecastError(f"{out}: name the model .onnx (its description goes beside it as .json)")
    description = out.with_suffix(".json")
    for path in (out, description):
        check_writable(path)  # before the export, not after it; a missing folder is not made
    if not _replaceable_description(description):  # NAME.json beside NAME.onnx may be the user's own file
        raise FacecastError(f"{description}: exists and is not a facecast model's description, which export writes "
                            f"beside {out.name}; move it or name the model otherwise")
    audio = torch.from_numpy(_test_signal()[None, : 300 * HOP])
    state = net.initial_state(1)
    dynamic = {"audio": {0: "batch", 1: "samples"}, "state": {0: "batch"}, "visemes": {0: "batch", 1: "frames"},
               "pose": {0: "batch", 1: "frames"}, "vad": {0: "batch", 1: "frames"}, "state_out": {0: "batch"}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / "lipsync.onnx"
        with warnings.catch_warnings():
            # torch warns of a GRU exported for several batch sizes whose state is not an input; here it is
            # one, and batched calls are checked against single ones (facecast.lipsync.step_batch's tests).
            warnings.filterwarnings("ignore", message=".*batch_size other than 1.*GRU", category=UserWarning)
            torch.onnx.export(net, (audio, state), str(tmp_path), input_names=["audio", "state"],
                              output_names=list(OUTPUTS), dynamic_axes=dynamic, opset_version=17, dynamo=False)
        model = onnx.load(str(tmp_path))
    info = {
        "format": MODEL_FORMAT,
        "sample_rate": SAMPLE_RATE,
        "hop": HOP,
        "lookahead": c.lookahead,
        "state_size": c.state_size,
        "channels": list(LIP_CHANNELS),
        "visemes": list(VISEMES),
        "net": c.to_dict(),
        "train_step": ckpt.get("step"),
        "val": shipped_step(ckpt),
    }
    model.metadata_props.add(key="facecast", value=json.dumps(info))
    model.doc_string = "facecast streaming audio-to-motion network: (audio, state) -> (visemes, pose, vad, state_out)"
    onnx.checker.check_model(model)
    report = verify(net, model.SerializeToString())
    gaps = (report["torch_vs_onnx_max_abs"], report["stream_vs_whole_max_abs"])
    if not all(math.isfinite(g) and g < TOLERANCE for g in gaps):  # NaN compares false: it passed unseen
        raise FacecastError(f"{checkpoint}: the exported model failed verification (PyTorch against ONNX "
                            f"{gaps[0]:g}, streamed against whole {gaps[1]:g}, each must be under {TOLERANCE:g}"
                            f"{'; the network gives NaN: retrain it' if not all(map(math.isfinite, gaps)) else ''});"
                            " nothing was written")
    # Both whole in temporary files before either is renamed into place: a failure changes neither, and a
    # reader never sees half of one.
    with replaced_atomically(description) as tmp_json, replaced_atomically(out) as tmp_model:
        Path(tmp_json).write_text(json.dumps({**info, "verification": report}, indent=2) + "\n")
        onnx.save(model, tmp_model)
    report["path"] = str(out)
    report["bytes"] = out.stat().st_size
    return report


def _replaceable_description(path: Path) -> bool:
    """Whether export may write ``path``: it is not there, or it is an earlier export's description."""
    if not path.exists():
        return True
    try:
        return json.loads(path.read_text()).get("format") == MODEL_FORMAT
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):  # unreadable, not JSON, not a map
        return False


def verify(net: LipSyncNet, model_bytes: bytes, seconds: float = 4.0, chunk_frames: int = 2) -> dict:
    """Max abs differences: PyTorch vs onnxruntime (whole clip), and streamed chunks vs whole clip."""
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    audio = _test_signal(seconds, seed=1)
    audio = audio[: audio.size // HOP * HOP][None]
    state = np.zeros((1, net.config.state_size), dtype=np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in net(torch.from_numpy(audio), torch.from_numpy(state))]
    whole = sess.run(None, {"audio": audio, "state": state})
    torch_diff = max(float(np.abs(a - b).max()) for a, b in zip(whole, ref, strict=True))
    st, parts = state, []
    step = chunk_frames * HOP
    for i in range(0, audio.shape[1], step):
        v, p, d, st = sess.run(None, {"audio": audio[:, i : i + step], "state": st})
        parts.append((v, p, d))
    streamed = [np.concatenate([part[k] for part in parts], axis=1) for k in range(3)]
    stream_diff = max(float(np.abs(a - b).max()) for a, b in zip(streamed, whole[:3], strict=True))
    return {"torch_vs_onnx_max_abs": torch_diff, "stream_vs_whole_max_abs": stream_diff}
