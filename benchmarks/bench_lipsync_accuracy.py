"""Lip-sync accuracy of each shipped model, with an energy baseline scored in the same run.

    python benchmarks/bench_lipsync_accuracy.py [--slt 80] [--per-voice 4]

Two sets: festival's slt voice (reserved, never trained on; flite's slt, the same speaker, is left out
of training too) and held-out sentences of the training voices. Targets come from the synthesizers'
own phone timing through the same target builder the training used.

Metrics (over 10 ms frames):
- 15-class and 6-class viseme accuracy, on all frames and on speech frames only;
- bilabial closure recall: share of /p b m/ segments where the runtime's lips close (jawOpen -
  mouthClose below 0.05) on at least one frame of the segment; and its price, false closures: share of
  the other speech segments (not /p b m f v/, not silence) where the lips close in the middle half;
- Pearson correlation of predicted mouth aperture (jawOpen - mouthClose) with the target;
- timing lag: the shift (ms) that maximises the cross-correlation of predicted and target aperture
  (positive: the prediction is late).
The energy baseline maps RMS loudness to jawOpen (what many VTuber tools do); it is scored on the same
aperture, closure and lag metrics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from common import heldout_set, machine, save, slt_set

from facecast.audio import SAMPLE_RATE
from facecast.export.phonetics import SILENCE, VISEME_TO_SIX_INDEX
from facecast.export.targets import build_targets, frame_count
from facecast.lip_channels import LIP_CHANNEL_INDEX
from facecast.lipsync import HOP, LipSyncModel, shipped_models
from facecast.retime import CLOSED_APERTURE

JAW, CLOSE = LIP_CHANNEL_INDEX["jawOpen"], LIP_CHANNEL_INDEX["mouthClose"]
NOT_SCORED_FOR_FALSE_CLOSURE = {"p", "b", "m", "f", "v", SILENCE}  # lips meet or nearly so, or no speech
MAX_LAG = 20  # frames searched either side for the timing lag


def energy_baseline(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS loudness over 20 ms windows, -50..-10 dBFS mapped to jawOpen 0..0.7, lightly smoothed."""
    padded = np.pad(audio, (HOP, HOP * (n_frames + 2)))
    frames = np.stack([padded[i * HOP : i * HOP + 2 * HOP] for i in range(n_frames)])
    db = 20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-9)
    jaw = np.clip((db + 50) / 40, 0, 1) * 0.7
    smooth = np.convolve(jaw, np.ones(3) / 3, mode="same")
    return smooth


def lag_ms(pred: np.ndarray, target: np.ndarray) -> float:
    p, t = pred - pred.mean(), target - target.mean()
    scores = [np.dot(p[max(0, k) : len(p) + min(0, k)], t[max(0, -k) : len(t) - max(0, k)])
              for k in range(-MAX_LAG, MAX_LAG + 1)]
    return float((np.argmax(scores) - MAX_LAG) * 10)


def score(model: LipSyncModel, utterances) -> dict:
    acc15, acc6, acc15_speech, acc6_speech = [], [], [], []
    closures = {"model": [], "energy": []}
    false_closures = {"model": [], "energy": []}
    ap_pred, ap_true, ap_energy = [], [], []
    for utt in utterances:
        n = frame_count(utt.audio.size / 16000)
        target = build_targets(utt.segments, n)
        out = model.infer(utt.audio)
        assert len(out) == n
        pred_v = out.visemes.argmax(axis=1)
        speech = target.vad > 0
        hit15 = pred_v == target.viseme
        hit6 = VISEME_TO_SIX_INDEX[pred_v] == VISEME_TO_SIX_INDEX[target.viseme]
        acc15.append(hit15)
        acc6.append(hit6)
        acc15_speech.append(hit15[speech])
        acc6_speech.append(hit6[speech])
        aperture = out.to_track().mouth_aperture()  # what the runtime outputs, bilabial closure included
        energy = energy_baseline(utt.audio, n)
        for seg in utt.segments:
            if seg.symbol in ("p", "b", "m"):
                a, b = int(np.floor(seg.start * 100)), int(np.ceil(seg.end * 100)) + 1
                closures["model"].append(aperture[a:b].min() < CLOSED_APERTURE)
                closures["energy"].append(energy[a:b].min() < CLOSED_APERTURE)
            elif seg.symbol not in NOT_SCORED_FOR_FALSE_CLOSURE:
                quarter = (seg.end - seg.start) / 4
                a, b = int(np.floor((seg.start + quarter) * 100)), int(np.ceil((seg.end - quarter) * 100)) + 1
                false_closures["model"].append(aperture[a:b].min() < CLOSED_APERTURE)
                false_closures["energy"].append(energy[a:b].min() < CLOSED_APERTURE)
        ap_pred.append(aperture)
        ap_true.append(target.pose[:, JAW] - target.pose[:, CLOSE])
        ap_energy.append(energy)
    pred, true, energy = np.concatenate(ap_pred), np.concatenate(ap_true), np.concatenate(ap_energy)
    corr_model = float(np.corrcoef(pred, true)[0, 1])
    corr_energy = float(np.corrcoef(energy, true)[0, 1])
    return {
        "utterances": len(utterances),
        "seconds": round(sum(u.audio.size for u in utterances) / 16000, 1),
        "viseme15_acc": float(np.concatenate(acc15).mean()),
        "viseme6_acc": float(np.concatenate(acc6).mean()),
        "viseme15_acc_speech": float(np.concatenate(acc15_speech).mean()),
        "viseme6_acc_speech": float(np.concatenate(acc6_speech).mean()),
        "bilabial_segments": len(closures["model"]),
        "bilabial_closure_recall": float(np.mean(closures["model"])),
        "false_closure_rate": float(np.mean(false_closures["model"])),
        "aperture_corr": corr_model,
        "lag_ms": lag_ms(pred, true),
        "energy_bilabial_closure_recall": float(np.mean(closures["energy"])),
        "energy_false_closure_rate": float(np.mean(false_closures["energy"])),
        "energy_aperture_corr": corr_energy,
        "energy_lag_ms": lag_ms(energy, true),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slt", type=int, default=80, help="slt sentences")
    parser.add_argument("--per-voice", type=int, default=4, help="held-out sentences per training voice")
    parser.add_argument("--model", type=Path, help="score this ONNX model (an ablation) instead of the shipped "
                        "ones; its results go to lipsync_accuracy_<name>.json")
    args = parser.parse_args()
    slt, heldout = slt_set(args.slt), heldout_set(args.per_voice)
    targets = {"viseme6_acc": 0.75, "bilabial_closure_recall": 0.90, "abs_lag_ms": 20, "aperture_corr": 0.75}
    results = {"machine": machine(), "targets": targets, "models": {}}
    for path in [args.model] if args.model else shipped_models().values():
        model = LipSyncModel(path, device="cpu")
        results["models"][path.name] = {"lookahead_ms": round(1000 * model.lookahead * HOP / SAMPLE_RATE),
                                        "slt": score(model, slt), "heldout": score(model, heldout)}
    path = save(f"lipsync_accuracy_{args.model.stem}" if args.model else "lipsync_accuracy", results)

    rows = [
        ("15-class viseme accuracy (all frames / speech frames)", "viseme15_acc", "viseme15_acc_speech", None),
        ("6-class viseme accuracy (all frames / speech frames)", "viseme6_acc", "viseme6_acc_speech", None),
        ("bilabial closure recall", "bilabial_closure_recall", None, "energy_bilabial_closure_recall"),
        ("false closures (other speech segments)", "false_closure_rate", None, "energy_false_closure_rate"),
        ("aperture correlation", "aperture_corr", None, "energy_aperture_corr"),
        ("timing lag (ms)", "lag_ms", None, "energy_lag_ms"),
    ]

    def fmt(d, k):
        v = d[k]
        if "lag" in k:
            return f"{v:.0f}"
        return f"{100 * v:.0f}%" if any(word in k for word in ("acc", "recall", "rate")) else f"{v:.2f}"

    print(f"machine: {results['machine']}")
    names = list(results["models"])
    print("| metric | " + " | ".join(f"slt (unseen voice), {results['models'][n]['lookahead_ms']} ms lookahead | "
                                    f"held-out sentences, {results['models'][n]['lookahead_ms']} ms" for n in names)
          + " | energy baseline (slt) |")
    print("|---" * (2 * len(names) + 2) + "|")
    for label, key, alt, base in rows:
        cells = []
        for n in names:
            for d in (results["models"][n]["slt"], results["models"][n]["heldout"]):
                cells.append(fmt(d, key) + (f" / {fmt(d, alt)}" if alt else ""))
        cells.append(fmt(results["models"][names[0]]["slt"], base) if base else "-")
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
