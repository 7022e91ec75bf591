"""Resample a 100 Hz motion track to an output frame rate (24, 25, 30, 50, 60 fps...).

Plain low-pass resampling would be wrong for a face: a /p/ closes the lips for 30-60 ms and a blink
lasts about 100 ms, so averaging over a 24 fps frame (42 ms) leaves lips that never meet and eyes that
never shut. Every channel is first resampled with a triangle (linear-interpolation) filter, which is
band-limited enough for smooth motion; then each output frame whose 1/fps window holds a lip closure or
a blink peak takes those channels from the 100 Hz frame where it happens. The windows tile the time
line, so every closure and every blink in the source reaches at least one output frame.
"""

from __future__ import annotations

import numpy as np

from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, MotionTrack

CLOSED_APERTURE = 0.05  # lips count as closed when jawOpen - mouthClose is below this
BLINK_CLOSED = 0.5

_BS = FIELDS["blendshapes"].offset
_VIS = FIELDS["visemes"].slice
_MOUTH_COLUMNS = np.array(
    [_BS + i for n, i in BLENDSHAPE_INDEX.items() if n.startswith(("mouth", "jaw"))]
    + list(range(_VIS.start, _VIS.stop))
)
_EYE_COLUMNS = np.array([_BS + i for n, i in BLENDSHAPE_INDEX.items() if n.startswith("eye")])
_BLINK = [_BS + BLENDSHAPE_INDEX["eyeBlinkLeft"], _BS + BLENDSHAPE_INDEX["eyeBlinkRight"]]
_JAW, _CLOSE = _BS + BLENDSHAPE_INDEX["jawOpen"], _BS + BLENDSHAPE_INDEX["mouthClose"]


def output_frame_count(n_source: int, source_fps: float, fps: float) -> int:
    duration = (n_source - 1) / source_fps
    return int(np.floor(duration * fps + 1e-9)) + 1


def retime(track: MotionTrack, fps: float) -> MotionTrack:
    """The track at ``fps`` frames per second; frame j is at time j / fps from the track's first frame."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    src = track.data
    n_in = len(src)
    if n_in == 0:
        return MotionTrack(src.copy(), fps)
    if fps == track.fps:
        return MotionTrack(src.copy(), fps)
    n_out = output_frame_count(n_in, track.fps, fps)
    src_t = np.arange(n_in) / track.fps
    out_t = np.arange(n_out) / fps

    # Triangle filter of half-width max(1/fps, 1/source_fps): linear interpolation when upsampling,
    # an anti-aliasing average when downsampling.
    half = max(1.0 / fps, 1.0 / track.fps)
    out = np.empty((n_out, src.shape[1]), dtype=np.float32)
    aperture = src[:, _JAW] - src[:, _CLOSE]
    blink = src[:, _BLINK].max(axis=1)
    lo_w = np.searchsorted(src_t, out_t - half, side="right")
    hi_w = np.searchsorted(src_t, out_t + half, side="left")
    lo_c = np.searchsorted(src_t, out_t - 0.5 / fps, side="left")
    hi_c = np.searchsorted(src_t, out_t + 0.5 / fps, side="left")
    for j in range(n_out):
        a, b = lo_w[j], max(hi_w[j], lo_w[j] + 1)
        a, b = min(a, n_in - 1), min(b, n_in)
        w = np.maximum(0.0, 1.0 - np.abs(src_t[a:b] - out_t[j]) / half)
        if w.sum() <= 0:
            out[j] = src[min(int(round(out_t[j] * track.fps)), n_in - 1)]
        else:
            out[j] = (w[:, None] * src[a:b]).sum(axis=0) / w.sum()
        # The frame's own window [t - 1/(2 fps), t + 1/(2 fps)): keep closures and blinks inside it.
        ca, cb = min(lo_c[j], n_in - 1), max(min(hi_c[j], n_in), min(lo_c[j], n_in - 1) + 1)
        k = ca + int(np.argmin(aperture[ca:cb]))
        if aperture[k] < CLOSED_APERTURE and out[j, _JAW] - out[j, _CLOSE] >= CLOSED_APERTURE:
            out[j, _MOUTH_COLUMNS] = src[k, _MOUTH_COLUMNS]
        k = ca + int(np.argmax(blink[ca:cb]))
        if blink[k] > BLINK_CLOSED and out[j, _BLINK].max() <= blink[k] - 1e-6:
            out[j, _EYE_COLUMNS] = src[k, _EYE_COLUMNS]
    out[:, FIELDS["frameIndex"].offset] = np.arange(n_out)
    out[:, FIELDS["time"].offset] = src[0, FIELDS["time"].offset] + out_t
    return MotionTrack(out, fps)
