"""Train the audio-to-motion network on the synthesized corpus, on the CPU.

``python -m facecast.export train --corpus corpus --out checkpoints/lipsync.pt [--minutes 40]``

Utterances are laid end to end in one stream (each padded to whole 10 ms frames) and random crops are
cut from it, so every batch mixes voices, languages and augmentations. The schedule is sized to the
time budget after timing the first steps, so a run ends on time at the bottom of its learning-rate
curve. The checkpoint with the best held-out loss is kept; a run whose held-out loss is never finite
saves nothing (an existing checkpoint stays as it was) and fails. While the run lasts, its best so far is
kept beside the output as ``NAME.partial.pt``, and the output is written only when the run ends: a run
stopped half-way (Ctrl-C, or a second run into the same file) leaves a finished checkpoint as it was, and
says where its own best so far is. A run into ``NAME.pt`` is refused while ``NAME.partial.pt`` is there,
as it would write over a stopped run's best.

Every crop is heard through a random vocal tract length warp (``vtlp``): the corpus has few voices, and
a model trained on them alone follows the formant range of those voices rather than the mouth.

Besides the per-frame losses, every /p b m/ segment is scored by its best frame (the most shut lips, the
most confident PP): a bilabial the lips never close is the error viewers notice first.
"""

from __future__ import annotations

import json
import math
import sys
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from facecast.errors import FacecastError
from facecast.export import MAX_WEIGHT, checkpoint_path
from facecast.export.model import HOP, LipSyncNet, NetConfig, mel_filterbank
from facecast.lip_channels import LIP_CHANNELS
from facecast.motion_frame import VISEME_INDEX, VISEMES
from facecast.nonverbal.prosody import MIN_LOOKAHEAD
from facecast.writers import check_writable, replaced_atomically


@dataclass
class TrainConfig:
    batch: int = 32
    crop_frames: int = 400
    warmup_frames: int = 0  # outputs left out of the loss at a crop's cold start (every stream starts cold)
    lr: float = 2e-3
    minutes: float = 35.0
    max_steps: int = 100_000
    eval_every: int = 500
    pose_weight: float = 20.0
    closure_weight: float = 4.0  # extra pose weight on frames where the target lips are closed
    # Every /p b m/ must shut the lips on at least one frame; a per-frame squared error is content to
    # leave them half open where it is unsure. These terms score each bilabial segment by its best frame:
    # the smallest predicted aperture (hinged at CLOSED_MARGIN) and the most confident PP probability.
    segment_close_weight: float = 30.0
    segment_pp_weight: float = 0.5
    vad_weight: float = 0.3
    vtlp: tuple[float, float] = (0.8, 1.28)  # range of the vocal tract length warp, drawn log-uniformly
    net: NetConfig | None = None


CONFIGS = {
    "full": TrainConfig(),
    "smoke": TrainConfig(batch=4, crop_frames=80, minutes=0.5, max_steps=3, eval_every=3,
                         net=NetConfig(n_mels=32, conv_channels=16, hidden=16, gru_layers=1)),
}  # fmt: skip


class Stream:
    """A corpus split as one padded audio stream with per-frame targets."""

    KEYS = ("audio", "audio_offsets", "frame_offsets", "viseme", "pose", "vad")

    def __init__(self, path: Path) -> None:
        d = dict(np.load(path))  # NpzFile re-reads an array on every access: load each once
        missing = [key for key in self.KEYS if key not in d]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
        a_off, f_off = d["audio_offsets"], d["frame_offsets"]
        n_frames = int(f_off[-1])
        if len(a_off) != len(f_off) or len(a_off) < 2 or int(a_off[-1]) != len(d["audio"]) or any(
                len(d[key]) != n_frames for key in ("viseme", "pose", "vad")):
            raise ValueError("its offsets and arrays do not agree")
        self.audio = np.zeros(n_frames * HOP, dtype=np.int16)
        all_audio = d["audio"]
        for i in range(len(a_off) - 1):
            pcm = all_audio[a_off[i] : a_off[i + 1]]
            start = int(f_off[i]) * HOP
            room = (int(f_off[i + 1]) - int(f_off[i])) * HOP
            self.audio[start : start + min(room, pcm.size)] = pcm[:room]
        self.viseme = d["viseme"].astype(np.int64)
        self.pose = d["pose"].astype(np.float32)
        self.vad = d["vad"].astype(np.float32)
        self.frame_offsets = f_off
        self.n_frames = n_frames

    def crop(self, start: int, frames: int):
        audio = torch.from_numpy(self.audio[start * HOP : (start + frames) * HOP].astype(np.float32) / 32767)
        sl = slice(start, start + frames)
        return audio, self.viseme[sl], self.pose[sl], self.vad[sl]


_DAMAGED = (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile, zlib.error)


def load_corpus(corpus: Path, min_frames: int) -> tuple[Stream, Stream]:
    """The training and held-out streams of a corpus folder; a missing, damaged or unfinished corpus
    (``summary.json`` is written last) is one ``FacecastError``."""
    rebuild = f"rebuild with facecast export corpus --out {corpus}"
    if not corpus.is_dir():
        raise FacecastError(f"{corpus}: {'is a file, not a corpus folder' if corpus.exists() else 'no such folder'}; "
                            "make one with facecast export corpus --out FOLDER")
    for split in ("train", "val"):
        if not (corpus / f"{split}.npz").is_file():
            raise FacecastError(f"{corpus}: no {split}.npz; {rebuild}")
    try:
        summary = json.loads((corpus / "summary.json").read_text())
        counts = [int(summary[split]["utterances"]) for split in ("train", "val")]
    except FileNotFoundError:
        raise FacecastError(f"{corpus}: no summary.json, so the corpus was never finished; {rebuild}") from None
    except (*_DAMAGED, TypeError) as exc:
        raise FacecastError(f"{corpus / 'summary.json'}: damaged ({exc}); {rebuild}") from None
    streams = []
    for split, count in zip(("train", "val"), counts, strict=True):
        path = corpus / f"{split}.npz"
        try:
            stream = Stream(path)
        except _DAMAGED as exc:
            raise FacecastError(f"{path}: damaged ({type(exc).__name__}: {exc}); {rebuild}") from None
        if len(stream.frame_offsets) - 1 != count:
            raise FacecastError(f"{path}: {len(stream.frame_offsets) - 1} utterances, summary.json says {count}: "
                                f"not the corpus summary.json describes; {rebuild}")
        streams.append(stream)
    if streams[0].n_frames <= min_frames:
        raise FacecastError(f"{corpus}: too little training speech ({streams[0].n_frames} frames of 10 ms, "
                            f"at least {min_frames + 1} needed); {rebuild} and more --hours")
    return streams[0], streams[1]


def check_settings(cfg: TrainConfig, net: NetConfig) -> None:
    """Refuse settings the training cannot use, before any work."""
    if not 0 <= net.n_ceps <= net.n_mels:
        raise FacecastError(f"--ceps must be between 0 and {net.n_mels} (the mel bands), got {net.n_ceps}")
    if net.lookahead < MIN_LOOKAHEAD:  # facecast's head motion reads that far ahead: a model below it cannot be used
        raise FacecastError(f"--lookahead must be at least {MIN_LOOKAHEAD} frames: facecast's head motion reads "
                            f"{MIN_LOOKAHEAD} frames of speech ahead of the lips' frame")
    if cfg.warmup_frames < 0:
        raise FacecastError("--warmup must be at least 0")
    if net.lookahead + cfg.warmup_frames >= cfg.crop_frames:
        raise FacecastError(f"--warmup + --lookahead must be under the {cfg.crop_frames} frames of a training "
                            f"crop, got {cfg.warmup_frames} + {net.lookahead}")
    for name, value in (("--segment-close", cfg.segment_close_weight), ("--segment-pp", cfg.segment_pp_weight)):
        if not 0 <= value <= MAX_WEIGHT:  # False for NaN
            raise FacecastError(f"{name} must be a weight from 0 to {MAX_WEIGHT:g}, got {value}")


def _feature_stats(net: LipSyncNet, stream: Stream, rng: np.random.Generator) -> None:
    frames = []
    with torch.no_grad():
        for start in rng.integers(0, stream.n_frames - 400, size=200):
            audio = stream.crop(int(start), 400)[0][None]
            frames.append(net.features(audio, torch.zeros(1, HOP))[0])
    feats = torch.cat(frames)
    net.feat_mean.copy_(feats.mean(0))
    net.feat_std.copy_(feats.std(0).clamp_min(1e-3))


CLOSED_MARGIN = 0.02  # below the runtime's 0.05 closed-lips threshold (facecast.retime.CLOSED_APERTURE)
_JAW, _CLOSE = LIP_CHANNELS.index("jawOpen"), LIP_CHANNELS.index("mouthClose")


def segment_ids(inside: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Number the runs of True in each row of ``inside`` (B, T) from 1 across the batch; 0 outside."""
    starts = inside.clone()
    starts[:, 1:] &= ~inside[:, :-1]
    ids = torch.cumsum(starts.flatten().long(), 0).view_as(inside)
    return ids * inside, int(starts.sum())


def segment_best(values: torch.Tensor, ids: torch.Tensor, n: int, reduce: str) -> torch.Tensor:
    """Per segment, the ``reduce`` ("amin" or "amax") of ``values`` over its frames; (n,)."""
    out = values.new_zeros(n + 1).scatter_reduce(0, ids.flatten(), values.flatten(), reduce, include_self=False)
    return out[1:]


class Loss(nn.Module):
    def __init__(self, cfg: TrainConfig, viseme_counts: np.ndarray) -> None:
        super().__init__()
        freq = viseme_counts / viseme_counts.sum()
        weights = 1.0 / np.sqrt(freq + 1e-3)
        self.ce = nn.CrossEntropyLoss(weight=torch.tensor(weights / weights.mean(), dtype=torch.float32),
                                      reduction="none")
        self.cfg = cfg
        n_v, n_p = len(VISEMES), len(LIP_CHANNELS)
        self.split = (n_v, n_v + n_p)

    def forward(self, out, viseme, pose, vad, mask):
        a, b = self.split
        ce = (self.ce(out[..., :a].transpose(1, 2), viseme) * mask).sum() / mask.sum()
        closed = (viseme == VISEME_INDEX["PP"]).float()
        pose_out = torch.sigmoid(out[..., a:b])
        err = ((pose_out - pose) ** 2).mean(-1)
        pose_loss = (err * mask * (1 + self.cfg.closure_weight * closed)).sum() / mask.sum()
        bce = nn.functional.binary_cross_entropy_with_logits(out[..., b], vad, reduction="none")
        vad_loss = (bce * mask).sum() / mask.sum()
        total = ce + self.cfg.pose_weight * pose_loss + self.cfg.vad_weight * vad_loss
        parts = {"ce": ce.item(), "pose": pose_loss.item(), "vad": vad_loss.item()}
        if self.cfg.segment_close_weight or self.cfg.segment_pp_weight:
            ids, n = segment_ids((closed * mask) > 0)
            if n:
                aperture = pose_out[..., _JAW] - pose_out[..., _CLOSE]
                shut = torch.relu(segment_best(aperture, ids, n, "amin") - CLOSED_MARGIN) ** 2
                log_pp = torch.log_softmax(out[..., :a], -1)[..., VISEME_INDEX["PP"]]
                sure = -segment_best(log_pp, ids, n, "amax")
                total = total + self.cfg.segment_close_weight * shut.mean() + self.cfg.segment_pp_weight * sure.mean()
                parts.update(shut=shut.mean().item(), sure=sure.mean().item())
        return total, parts


class WarpBank:
    """Mel filterbanks for a grid of vocal tract length warps, drawn one per crop."""

    def __init__(self, n_mels: int, low: float, high: float, steps: int = 41) -> None:
        warps = np.exp(np.linspace(np.log(low), np.log(high), steps))
        self.banks = torch.from_numpy(np.stack([mel_filterbank(n_mels, warp=float(w)) for w in warps]))

    def draw(self, batch: int, rng: np.random.Generator) -> torch.Tensor:
        return self.banks[torch.from_numpy(rng.integers(0, len(self.banks), size=batch))]


def _batch(stream: Stream, cfg: TrainConfig, lookahead: int, rng: np.random.Generator):
    """Crops whose output step i is scored against the label of frame (start + i - lookahead)."""
    audio, vis, pose, vad = [], [], [], []
    for start in rng.integers(lookahead, stream.n_frames - cfg.crop_frames, size=cfg.batch):
        a, _, _, _ = stream.crop(int(start), cfg.crop_frames)
        _, v, p, d = stream.crop(int(start) - lookahead, cfg.crop_frames)
        audio.append(a)
        vis.append(torch.from_numpy(v))
        pose.append(torch.from_numpy(p))
        vad.append(torch.from_numpy(d))
    mask = torch.ones(cfg.batch, cfg.crop_frames)
    mask[:, : cfg.warmup_frames + lookahead] = 0
    return torch.stack(audio), torch.stack(vis), torch.stack(pose), torch.stack(vad), mask


def evaluate(net: LipSyncNet, stream: Stream, loss_fn: Loss) -> dict:
    """Whole held-out utterances from a cold state, as the runtime runs them."""
    net.eval()
    la = net.config.lookahead
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for i in range(len(stream.frame_offsets) - 1):
            f0, f1 = int(stream.frame_offsets[i]), int(stream.frame_offsets[i + 1])
            audio = torch.from_numpy(stream.audio[f0 * HOP : f1 * HOP].astype(np.float32) / 32767)
            audio = torch.cat([audio, torch.zeros(la * HOP)])[None]
            out, _ = net.forward_logits(audio, net.initial_state(1))
            out = out[:, la:]
            v = torch.from_numpy(stream.viseme[f0:f1])[None]
            p = torch.from_numpy(stream.pose[f0:f1])[None]
            d = torch.from_numpy(stream.vad[f0:f1])[None]
            loss, _ = loss_fn(out, v, p, d, torch.ones_like(d))
            losses.append(loss.item())
            correct += int((out[0, :, : len(VISEMES)].argmax(-1) == v[0]).sum())
            total += f1 - f0
    net.train()
    return {"loss": float(np.mean(losses)), "viseme_acc": correct / total}


def settings(config: str = "full", minutes: float | None = None, lookahead: int | None = None,
             ceps: int | None = None, warmup: int | None = None, segment_close: float | None = None,
             segment_pp: float | None = None) -> tuple[TrainConfig, NetConfig]:
    """The training and network settings of ``config`` with these changes, checked."""
    cfg = replace(CONFIGS[config], minutes=CONFIGS[config].minutes if minutes is None else minutes)
    if warmup is not None:
        cfg.warmup_frames = warmup
    if segment_close is not None:
        cfg.segment_close_weight = segment_close
    if segment_pp is not None:
        cfg.segment_pp_weight = segment_pp
    net_cfg = replace(cfg.net or NetConfig())
    if lookahead is not None:
        net_cfg.lookahead = lookahead
    if ceps is not None:
        net_cfg.n_ceps = ceps
    check_settings(cfg, net_cfg)
    return cfg, net_cfg


def train(corpus: Path, out: Path | None = None, config: str = "full", minutes: float | None = None, seed: int = 0,
          threads: int | None = None, lookahead: int | None = None, ceps: int | None = None,
          warmup: int | None = None, segment_close: float | None = None, segment_pp: float | None = None) -> dict:
    cfg, net_cfg = settings(config, minutes, lookahead, ceps, warmup, segment_close, segment_pp)
    corpus, out = Path(corpus), Path(out or checkpoint_path(net_cfg.lookahead * 10))
    if out.suffix.lower() != ".pt":  # `--out CORPUS/train.npz` trained, then wrote over its own corpus
        raise FacecastError(f"{out}: name the checkpoint .pt, as PyTorch's are")
    progress = partial_path(out)
    for path in (out, progress):
        check_writable(path)  # before the training, not after it; a missing folder is not made
    if progress.exists():  # a stopped run's best, which this run would write over at its first evaluation
        raise FacecastError(f"{progress}: holds the best of a training that was stopped; move it (or remove it) "
                            f"before training into {out} again")
    train_stream, val_stream = load_corpus(corpus, max(cfg.crop_frames + net_cfg.lookahead, 400))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if threads:
        torch.set_num_threads(threads)
    net = LipSyncNet(net_cfg)
    _feature_stats(net, train_stream, rng)
    warps = WarpBank(net_cfg.n_mels, *cfg.vtlp)
    loss_fn = Loss(cfg, np.bincount(train_stream.viseme, minlength=len(VISEMES)).astype(np.float64))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    la = net.config.lookahead

    budget_s = cfg.minutes * 60
    t_start = time.monotonic()
    total_steps = cfg.max_steps
    best, history, saved = math.inf, [], None
    # No total (so no time left shown) until the schedule is sized at step 20: before, it would be max_steps'.
    bar = tqdm(total=total_steps if total_steps <= 20 else None, desc="training", unit="step")
    step = 0
    try:
        while step < total_steps:
            if cfg.max_steps > 20 and (step == 20 or (step > 20 and step % 100 == 0)):
                # Size the cosine schedule to the time budget from the measured pace, and keep re-sizing
                # it: the machine may be shared, and a run must end on time at the bottom of its curve.
                elapsed = time.monotonic() - t_start
                per_step = elapsed / step * 1.05
                total_steps = min(cfg.max_steps, max(step + 1, step + int((budget_s - elapsed) / per_step)))
                bar.total = total_steps
            lr = cfg.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))
            for group in opt.param_groups:
                group["lr"] = lr
            audio, vis, pose, vad, mask = _batch(train_stream, cfg, la, rng)
            out_logits, _ = net.forward_logits(audio, net.initial_state(cfg.batch), warps.draw(cfg.batch, rng))
            loss, parts = loss_fn(out_logits, vis, pose, vad, mask)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", ce=f"{parts['ce']:.3f}", pose=f"{parts['pose']:.4f}")
            if step % cfg.eval_every == 0 or step == total_steps:
                val = evaluate(net, val_stream, loss_fn)
                val.update(step=step, minutes=round((time.monotonic() - t_start) / 60, 2))
                history.append(val)
                tqdm.write(json.dumps(val))
                if math.isfinite(val["loss"]) and val["loss"] < best:
                    # A copy: the state dict's tensors are the live weights, which the next steps change.
                    weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    candidate = {"net": net.config.to_dict(), "state_dict": weights, "history": list(history),
                                 "channels": list(LIP_CHANNELS), "visemes": list(VISEMES), "step": step,
                                 "config": config, "train": {k: v for k, v in asdict(cfg).items() if k != "net"}}
                    _save(progress, candidate)
                    saved, best = candidate, val["loss"]  # only once the file holds it, as a stop then names it
        bar.close()
        if saved is None:
            raise FacecastError(f"no finite held-out loss in {step} steps "
                                f"({', '.join(str(h['loss']) for h in history)}); nothing saved, {out} left as it was")
        saved["history"] = history  # the whole run, past the step kept
        _save(out, saved)
    except BaseException:  # stopped or failed: the output stays as it was; say where this run's best is
        bar.close()
        if saved is not None:
            print(f"training stopped at step {step}: its best so far (step {saved['step']}, held-out loss "
                  f"{best:.4f}) is in {progress}; {out} is as it was", file=sys.stderr)
        raise
    progress.unlink(missing_ok=True)
    return {"best_val_loss": best, "steps": step, "minutes": round((time.monotonic() - t_start) / 60, 2),
            "checkpoint": str(out)}


def partial_path(out: Path) -> Path:
    """Where a run keeps its best checkpoint so far: beside ``out``, as ``NAME.partial.pt``."""
    return out.with_name(f"{out.stem}.partial{out.suffix}")


def _save(path: Path, checkpoint: dict) -> None:
    """Write under a temporary name, then rename: a run stopped mid-write leaves the last whole checkpoint."""
    with replaced_atomically(path) as tmp:
        torch.save(checkpoint, tmp)

