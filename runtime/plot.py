"""Draw what the face does over time against the waveform, as a PNG a person can read at a glance.

matplotlib is an optional extra (``plot``); it is imported only when a plot is
drawn, and its absence is reported as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facecast.audio import SAMPLE_RATE
from facecast.errors import FacecastError
from facecast.motion_frame import VISEMES, MotionTrack
from facecast.writers import replaced_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_BLINK_COLOR, _LEFT_COLOR, _RIGHT_COLOR = "#1f77b4", "#d62728", "#2ca02c"


PLOT_FORMATS = (".png", ".svg", ".pdf")


def plot_format(path: Path) -> str:
    """The format (png, svg, pdf) a plot at ``path`` is written in, by its suffix; any other is refused."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise FacecastError(f"{path}: a plot is written as {', '.join(PLOT_FORMATS)}; name it so")
    return path.suffix.lower()[1:]


def plot_motion(track: MotionTrack, audio16k: np.ndarray, path: str | Path, title: str | None = None) -> Path:
    """Draw ``track`` (any frame rate) against 16 kHz ``audio16k`` and save it as a PNG, SVG or PDF, as
    ``path`` is named.

    Panels, top to bottom: waveform with the lip aperture, the most likely viseme, eyelids, gaze,
    head rotation, head translation, brows and cheeks.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise FacecastError("plotting needs matplotlib (facecast's plot extra): pip install matplotlib") from None

    path = Path(path)
    fmt = plot_format(path)
    t = track.time.astype(np.float64)
    audio = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    duration = max(float(t[-1]) if len(t) else 0.0, audio.size / SAMPLE_RATE)

    fig = Figure(figsize=(14, 13), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(7, 1, sharex=True, height_ratios=[1.3, 1.1, 1, 1, 1, 0.8, 1])
    if title:
        fig.suptitle(title)

    ax = axes[0]
    _waveform(ax, audio)
    lips = ax.twinx()
    lips.plot(t, track.blendshape("jawOpen"), color="#ff7f0e", lw=1.2, label="jawOpen")
    lips.plot(t, track.mouth_aperture(), color="#9467bd", lw=1.0, label="lip aperture")
    lips.plot(t, track.voice_activity, color="0.4", lw=0.8, ls="--", label="voice activity")
    lips.set_ylim(-0.05, 1.05)
    lips.legend(loc="upper right", fontsize=8, ncol=3)
    ax.set_ylabel("waveform")

    ax = axes[1]
    # Each frame's column centred on its time, as the curves' points are.
    half = 0.5 / track.fps
    ax.imshow(track.visemes.T, aspect="auto", origin="lower", interpolation="nearest", cmap="Greys",
              extent=(t[0] - half if len(t) else 0.0, t[-1] + half if len(t) else 0.0, -0.5, len(VISEMES) - 0.5),
              vmin=0, vmax=1)
    ax.set_yticks(range(len(VISEMES)), VISEMES, fontsize=7)
    ax.set_ylabel("viseme")

    ax = axes[2]
    ax.plot(t, track.blendshape("eyeBlinkLeft"), color=_BLINK_COLOR, lw=1.2, label="eyeBlink")
    ax.plot(t, track.blendshape("eyeWideLeft"), color="#17becf", lw=0.9, label="eyeWide")
    ax.plot(t, track.blendshape("eyeSquintLeft"), color="#8c564b", lw=0.9, label="eyeSquint")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("eyelids")
    ax.legend(loc="upper right", fontsize=8, ncol=3)

    ax = axes[3]
    ax.plot(t, track.gaze[:, 0], color=_LEFT_COLOR, lw=1.0, label="eye yaw (+ its left)")
    ax.plot(t, track.gaze[:, 1], color=_RIGHT_COLOR, lw=1.0, label="eye pitch (+ up)")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_ylabel("gaze in head, deg")
    ax.legend(loc="upper right", fontsize=8, ncol=2)

    ax = axes[4]
    for i, (name, color) in enumerate((("pitch (+ down)", "#1f77b4"), ("yaw (+ its left)", "#d62728"),
                                       ("roll (+ its left)", "#2ca02c"))):
        ax.plot(t, track.head_rotation[:, i], color=color, lw=1.0, label=name)
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_ylabel("head, deg")
    ax.legend(loc="upper right", fontsize=8, ncol=3)

    ax = axes[5]
    for i, (name, color) in enumerate((("x", "#1f77b4"), ("y", "#d62728"), ("z (+ toward camera)", "#2ca02c"))):
        ax.plot(t, 100.0 * track.head_translation[:, i], color=color, lw=1.0, label=name)
    ax.set_ylabel("head, cm")
    ax.legend(loc="upper right", fontsize=8, ncol=3)

    ax = axes[6]
    for name, color in (("browInnerUp", "#1f77b4"), ("browOuterUpLeft", "#17becf"), ("browDownLeft", "#d62728"),
                        ("cheekSquintLeft", "#ff7f0e"), ("mouthSmileLeft", "#2ca02c"), ("noseSneerLeft", "#8c564b")):
        ax.plot(t, track.blendshape(name), color=color, lw=1.0, label=name)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("brows, cheeks")
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    ax.set_xlabel("time, s")
    ax.set_xlim(0.0, duration)

    with replaced_atomically(path, f".{fmt}") as tmp:
        fig.savefig(tmp, format=fmt)
    return path


def _waveform(ax: Axes, audio: np.ndarray) -> None:
    """Min-max envelope per pixel column: a long file draws as fast as a short one."""
    if audio.size == 0:
        return
    columns = 4000
    per = max(1, audio.size // columns)
    usable = audio[: audio.size // per * per].reshape(-1, per)
    times = (np.arange(usable.shape[0]) * per + per / 2) / SAMPLE_RATE
    ax.fill_between(times, usable.min(axis=1), usable.max(axis=1), color="0.55", lw=0)
    peak = float(np.abs(audio).max()) or 1.0
    ax.set_ylim(-1.05 * peak, 1.05 * peak)
