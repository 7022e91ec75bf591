"""Resample a motion track (the lip network's 100 Hz, or a motion file's rate) to an output frame rate
(24, 25, 30, 50, 60 fps...).

Plain low-pass resampling would be wrong for a face: a /p/ closes the lips for 30-60 ms and a blink
lasts about 100 ms, so averaging over a 24 fps frame (42 ms) leaves lips that never meet and eyes that
never shut. Every channel is first resampled with a triangle (linear-interpolation) filter, which is
band-limited enough for smooth motion; then each output frame whose 1/fps window holds a lip closure or
a blink peak takes those channels from the 100 Hz frame where it happens. The windows tile the time
line, so every closure and every blink in the source reaches at least one output frame.
"""

from __future__ import annotations

import numpy as np

from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, FRAME_SIZE, MotionTrack

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
# Saccades jump the eyes in 20-60 ms: these channels are interpolated, not low-passed, or every saccade
# would turn into a slow drift.
_SACCADE_COLUMNS = np.array(
    [_BS + i for n, i in BLENDSHAPE_INDEX.items() if n.startswith("eyeLook")]
    + list(range(FIELDS["gaze"].offset, FIELDS["gaze"].offset + FIELDS["gaze"].count))
)
_JAW, _CLOSE = _BS + BLENDSHAPE_INDEX["jawOpen"], _BS + BLENDSHAPE_INDEX["mouthClose"]


def output_frame_count(n_source: int, source_fps: float, fps: float) -> int:
    duration = (n_source - 1) / source_fps
    return int(np.floor(duration * fps + 1e-9)) + 1


class Retimer:
    """Streaming resampler: push source frames (100 Hz by default) as they come, get output frames as soon
    as they are final.

    Output frame j (time j / fps from the stream start) is final once every source frame within the reach
    of its filter, max(1 / fps, 1 / source_fps), has arrived; ``flush`` emits the rest at the end.
    Batch ``retime`` is this class fed everything at once, so streaming and whole-file output agree.
    """

    def __init__(self, fps: float, source_fps: float = 100.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.source_fps = float(fps), float(source_fps)
        self.half = max(1.0 / fps, 1.0 / source_fps)
        self._buf = np.zeros((0, FRAME_SIZE), dtype=np.float32)
        self._buf_start = 0  # source index of _buf[0]
        self._n_in = 0
        self._next = 0  # next output frame index
        self._t0: float | None = None

    def push(self, frames: np.ndarray) -> MotionTrack:
        """Add consecutive source frames ``(n, FRAME_SIZE)``; returns the output frames now final."""
        if len(frames) and self._t0 is None:
            self._t0 = float(frames[0, FIELDS["time"].offset])
        self._buf = np.concatenate([self._buf, frames]) if len(self._buf) else np.asarray(frames, np.float32)
        self._n_in += len(frames)
        # Frame j needs every source frame closer than ``half`` to it (the one exactly ``half`` away has
        # zero weight), so it is final once the *next* source frame would be at least ``half`` past it.
        next_t = self._n_in / self.source_fps
        ready = int(np.floor((next_t - self.half) * self.fps + 1e-9)) + 1
        return self._emit(ready)

    def flush(self, end: float | None = None) -> MotionTrack:
        """Emit every output frame up to the last source frame, or, given the source's ``end`` (seconds from
        its first frame), every one that starts before it."""
        if not self._n_in:
            return self._emit(0)
        if end is None:
            return self._emit(output_frame_count(self._n_in, self.source_fps, self.fps))
        return self._emit(max(int(np.ceil(end * self.fps - 1e-9)), self._next))

    def _emit(self, until: int) -> MotionTrack:
        src, base = self._buf, self._buf_start
        rows = [self._frame(j, src, base) for j in range(self._next, until)]
        out = np.stack(rows) if rows else np.zeros((0, FRAME_SIZE), dtype=np.float32)
        self._next = max(self._next, until)
        # Keep only what the next output frame's filter can still reach.
        keep_from = max(0, int(np.floor((self._next / self.fps - self.half) * self.source_fps)) - 1 - base)
        self._buf, self._buf_start = src[keep_from:], base + keep_from
        return MotionTrack(out, self.fps)

    def _frame(self, j: int, src: np.ndarray, base: int) -> np.ndarray:
        # Source frame i of ``src`` is at (base + i) / source_fps. A live chunk emits a frame or two, so
        # the indices and weights are worked out on plain floats, with the same arithmetic numpy would do.
        sf, half = self.source_fps, self.half
        t = j / self.fps
        n = len(src)
        a = min(_first_at(base, n, sf, t - half, after=True), n - 1)
        b = max(min(_first_at(base, n, sf, t + half, after=False), n), a + 1)
        near = [(base + i) / sf - t for i in range(a, b)]
        w = np.array([max(0.0, 1.0 - abs(d) / half) for d in near])
        block = src[a:b]
        total = w.sum()
        if total > 0:
            row = (w[:, None] * block).sum(axis=0) / total
        else:
            row = src[min(int(round(t * sf)) - base, self._n_in - 1 - base)].copy()
        lin = np.array([max(0.0, 1.0 - abs(d) * sf) for d in near])
        total = lin.sum()
        if total > 0:
            row[_SACCADE_COLUMNS] = (lin[:, None] * block[:, _SACCADE_COLUMNS]).sum(axis=0) / total
        # The frame's own window [t - 1/(2 fps), t + 1/(2 fps)): keep closures and blinks inside it.
        ca = min(_first_at(base, n, sf, t - 0.5 / self.fps, after=False), n - 1)
        cb = max(min(_first_at(base, n, sf, t + 0.5 / self.fps, after=False), n), ca + 1)
        window = src[ca:cb]
        aperture = (window[:, _JAW] - window[:, _CLOSE]).tolist()
        k = aperture.index(min(aperture))
        if aperture[k] < CLOSED_APERTURE and row[_JAW] - row[_CLOSE] >= CLOSED_APERTURE:
            row[_MOUTH_COLUMNS] = window[k, _MOUTH_COLUMNS]
        blink = window[:, _BLINK].max(axis=1).tolist()
        k = blink.index(max(blink))
        if blink[k] > BLINK_CLOSED and row[_BLINK].max() <= blink[k] - 1e-6:
            row[_EYE_COLUMNS] = window[k, _EYE_COLUMNS]
        row[FIELDS["frameIndex"].offset] = j
        row[FIELDS["time"].offset] = (self._t0 or 0.0) + t
        return row.astype(np.float32)


def _first_at(base: int, n: int, source_fps: float, bound: float, after: bool) -> int:
    """The first of ``n`` source frames, frame i at (base + i) / source_fps, at or (``after``) past ``bound``;
    ``n`` if none is. The same answer as ``np.searchsorted`` on those times, without building them."""
    i = min(max(int(bound * source_fps) - base - 1, 0), n)

    def past(k: int) -> bool:
        x = (base + k) / source_fps
        return x > bound if after else x >= bound

    while i > 0 and past(i - 1):
        i -= 1
    while i < n and not past(i):
        i += 1
    return i


def retime(track: MotionTrack, fps: float) -> MotionTrack:
    """The whole track at ``fps`` frames per second; frame j is at time j / fps from its first frame.

    Each frame of ``track`` shows 1 / track.fps from its instant, so the result covers as long: 300 frames at
    30 fps (10 s) are 600 at 60, as 10 s of speech makes at 60 (counted to its last frame's instant, 599)."""
    if fps == track.fps:
        return MotionTrack(track.data.copy(), fps)
    retimer = Retimer(fps, track.fps)
    head = retimer.push(track.data)
    tail = retimer.flush(end=len(track) / track.fps)
    return MotionTrack(np.concatenate([head.data, tail.data]), fps)
