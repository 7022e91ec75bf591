"""Tensor building blocks of the render network (``facecast.export.render_model``), written for the graph
onnxruntime runs fastest on a CPU: gathers instead of GridSample, one (B,H,W) plane per quantity instead of
small trailing axes, curves tabulated along a feature's own frame, and boxes of cells that confine work to
where a feature is.
"""

from __future__ import annotations

import torch

CURVE_SAMPLES = 32
CURVE_RANGE = 1.3  # curves are tabulated over u in [-1.3, 1.3] (corners at -1 and 1)
CELL = 4  # geometry and layers are computed once per CELL x CELL block of output pixels
Planes = tuple[torch.Tensor, torch.Tensor]  # x and y, one (B,H,W) plane each


def bilinear(channels: list[torch.Tensor], width: int, height: int, x: torch.Tensor,
             y: torch.Tensor) -> list[torch.Tensor]:
    """Sample flat (B, height*width) fields at (B,H,W) positions in their own cells (centres at integers).

    Gathers rather than GridSample, which onnxruntime runs several times slower on CPU; every tensor is
    one plane per frame, as broadcasting over small trailing dimensions is slow there too.
    """
    x = x.clamp(0, width - 1)
    y = y.clamp(0, height - 1)
    x0 = x.floor().clamp(max=width - 2)
    y0 = y.floor().clamp(max=height - 2)
    fx, fy = x - x0, y - y0
    # Worked out on flat (B, H*W) rows, one reshape back per result: a reshape around every gather is
    # graph nodes the CPU pays for at every call.
    base = (y0 * width + x0).to(torch.int64).flatten(1)  # flatten(1) is one graph node; reshape(n, -1) five
    fx, fy = fx.flatten(1), fy.flatten(1)
    out = []
    for ch in channels:
        a, b = ch.gather(1, base), ch.gather(1, base + 1)
        d, e = ch.gather(1, base + width), ch.gather(1, base + width + 1)
        top = a + fx * (b - a)
        out.append((top + fy * (d + fx * (e - d) - top)).view_as(x))
    return out


def tabulate(u: torch.Tensor, values: torch.Tensor, fold: int = 0, hold: bool = False) -> torch.Tensor:
    """Piecewise-linear curves through knots (u (B,K), values (B,C,K)) at CURVE_SAMPLES even u.

    ``fold`` says which value to keep where the curve doubles back over itself in u: +1 the largest, -1
    the smallest; 0 for curves that are not expected to fold (where they do, the values are averaged). A
    lip folds on a turned face whose jaw opens: the far mouth corner moves back with the jaw and passes
    behind the lip beside it.

    ``hold``: beyond the knots the curve keeps its value at the outermost knot on each side (else it is 0
    there).

    Returns (B, C+1, CURVE_SAMPLES): the values, then a coverage channel (1 between the end knots, 0 beyond).
    """
    t = torch.linspace(-CURVE_RANGE, CURVE_RANGE, CURVE_SAMPLES)[None, None, :]
    a, b = u[:, :-1, None], u[:, 1:, None]
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    inside = ((t >= lo) & (t < hi)).to(values.dtype)  # (B, K-1, N)
    covered = inside.sum(1, keepdim=True).clamp(0, 1)
    if hold:
        t = torch.minimum(torch.maximum(t, u.amin(1)[:, None, None]), u.amax(1)[:, None, None] - 1e-4)
        inside = ((t >= lo) & (t < hi)).to(values.dtype)
    frac = ((t - a) / (b - a + 1e-6)).clamp(0, 1)
    va, vb = values[:, :, :-1, None], values[:, :, 1:, None]
    segment = va + frac[:, None] * (vb - va)  # (B, C, K-1, N)
    if fold:
        # Finite rather than infinite, so that uncovered entries (times coverage 0) stay 0.
        far = torch.where(inside[:, None] > 0, fold * segment, torch.full_like(segment, -1e4))
        curve = fold * far.amax(2) * inside.amax(1, keepdim=True)
    else:
        # Where such a curve does double back (a turned face's lip as the jaw alone moves it, at the corner
        # the jaw drags), the segments over a point are averaged rather than added.
        curve = (segment * inside[:, None]).sum(2) / inside.sum(1, keepdim=True).clamp(min=1)
    # Zero at both ends of the table, so that a lookup held beyond the ends is never inside.
    ends = torch.ones(CURVE_SAMPLES)
    ends[0] = ends[-1] = 0.0
    coverage = covered * ends
    return torch.cat([curve, coverage], 1)


def tabulate_pair(first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor],
                  fold: bool = False, hold: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``tabulate`` of two outlines with as many knots (each (u (B,K), values (B,C,K))) in one call: an upper
    and a lower lip or lid, where a call's every graph node counts. With ``fold`` the first keeps its
    largest values where it doubles back and the second its smallest (each edge nearest the middle)."""
    (u_a, v_a), (u_b, v_b) = first, second
    n = u_a.shape[0]
    # Negated, the second curve's smallest values are its largest: exactly, as negation rounds nothing.
    table = tabulate(torch.cat([u_a, u_b]), torch.cat([v_a, -v_b if fold else v_b]), fold=int(fold), hold=hold)
    a, b = table[:n], table[n:]
    if fold:
        b = torch.cat([-b[:, :-1], b[:, -1:]], 1)  # the coverage channel is last
    return a, b


def lookup(table: torch.Tensor, u: torch.Tensor) -> list[torch.Tensor]:
    """The tabulated curves (B,C,N) at every pixel's u (B,H,W): C planes (B,H,W), held beyond the ends."""
    count = table.shape[2]
    pos = ((u / CURVE_RANGE + 1) * (0.5 * (count - 1))).clamp(0, count - 1).flatten(1)  # flat, as in bilinear
    k = pos.floor().clamp(max=count - 2)
    frac = pos - k
    index = k.to(torch.int64)
    out = []
    for ch in table.unbind(1):
        lo = ch.gather(1, index)
        out.append((lo + frac * (ch.gather(1, index + 1) - lo)).view_as(u))
    return out


def square_mean(planes: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Mean of (B,C,G,G) planes over the square of 2 ``radius`` + 1 cells about each cell, counting only the
    cells inside the grid: one banded averaging matrix on each side, as the square's size follows the
    frame's (a pooling kernel's is fixed in the graph)."""
    index = torch.arange(planes.shape[-1])
    band = ((index[:, None] - index[None, :]).abs() <= radius).to(planes.dtype)
    band = band / band.sum(1, keepdim=True)
    return band @ planes @ band.transpose(0, 1)


def entry(picture: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor, off_x: torch.Tensor, off_y: torch.Tensor,
          side: int) -> torch.Tensor:
    """Flat index (int32) of the nearest entry of the half-pixel pictures: entry ``f + offset`` of picture
    ``picture``, truncated (the nearest, as ``f`` holds the half). Int32: several avatars' pictures at 512 px
    outgrow float32's exact integers."""
    ix = (fx + off_x).clamp(0, side - 0.5).to(torch.int32)
    iy = (fy + off_y).clamp(0, side - 0.5).to(torch.int32)
    return (picture * side + iy) * side + ix


def box(points: torch.Tensor, cells: int, spread: float = 0.1) -> tuple[torch.Tensor, ...]:
    """Cells y0, y1, x0, x1 ([y0, y1) x [x0, x1)) that hold every one of ``points`` (B,K,2), in pixels, of the
    whole batch, with a margin, within the grid; one cell at least.

    A feature's layer is zero, and its picture untouched, beyond its outline's tabulated curves (which
    reach a table step, a twelfth of the feature's half width, past its ends) and half a cell more, so it
    is worked out in this box alone: the eyes and the mouth are a few percent of the frame, and worked out
    everywhere they took half the network's time. The margin, two cells and ``spread`` (a tenth) of the
    box's size, holds both. The lids' per-pixel pass needs two cells alone (``spread=0``): the band the
    warp squeezes lies within them.
    """
    xy = points.reshape(-1, 2)
    low, high = xy.amin(0), xy.amax(0)
    margin = 2 * CELL + spread * (high - low).amax()
    low = torch.floor((low - margin + 0.5) / CELL).to(torch.int64)
    high = torch.floor((high + margin + 0.5) / CELL).to(torch.int64) + 1
    start = low.clamp(0, cells - 1)
    stop = torch.maximum(high.clamp(max=cells), start + 1)
    return start[1], stop[1], start[0], stop[0]


def paste(whole: torch.Tensor, part: torch.Tensor, y0: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """``whole`` (B,H,W) with ``part`` (B,h,w) written over it from entry (y0, x0)."""
    n, width = whole.shape[0], whole.shape[2]
    ys = torch.arange(part.shape[1]) + y0
    xs = torch.arange(part.shape[2]) + x0
    where = (ys[:, None] * width + xs[None, :]).reshape(1, -1).expand(n, -1)
    return whole.flatten(1).scatter(1, where, part.flatten(1)).view_as(whole)


def span(line: torch.Tensor, cells: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The cells [start, stop) that hold every non-zero entry of ``line`` (G,) and one more on each side (which
    the upsampling reaches), within the grid; one cell where there are none."""
    found = line.amax() > 0
    first = torch.argmax(line)
    last = cells - 1 - torch.argmax(line.flip(0))
    start = torch.where(found, (first - 1).clamp(min=0), torch.zeros_like(first))
    stop = torch.where(found, (last + 2).clamp(max=cells), torch.ones_like(last))
    return start, stop


def ramp(distance: torch.Tensor) -> torch.Tensor:
    """0..1 across one cell around distance 0: sampled per cell and upsampled bilinearly, its 1/2 level
    falls on the exact edge."""
    return (distance / CELL + 0.5).clamp(0, 1)


def between(v: torch.Tensor, top: torch.Tensor, bottom: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
    """Soft mask of points below ``top`` and above ``bottom`` (pixels, y down)."""
    return ramp(v - top) * ramp(bottom - v) * coverage


class Frame:
    """A feature's local frame: u = -1..1 between its two corners, v in pixels down from the corner line."""

    def __init__(self, left: torch.Tensor, right: torch.Tensor) -> None:
        self.origin = (left + right) / 2  # (B,2)
        axis = right - left
        self.half = axis.norm(dim=-1, keepdim=True) / 2 + 1e-6
        self.ex = axis / (2 * self.half)
        self.ey = torch.stack([-self.ex[:, 1], self.ex[:, 0]], -1)

    def points(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Knots (B,K,2) -> u (B,K), v (B,K)."""
        rel = xy - self.origin[:, None]
        return (rel * self.ex[:, None]).sum(-1) / self.half, (rel * self.ey[:, None]).sum(-1)

    def along(self, other: Frame, u: torch.Tensor) -> torch.Tensor:
        """This frame's u planes (B,H,W) as u in ``other``, a frame along nearly the same line (the
        across-line term is left out, so it costs two operations per plane)."""
        shift = ((self.origin - other.origin) * other.ex).sum(-1, keepdim=True) / other.half
        return u * (self.half / other.half)[:, :, None] + shift[:, :, None]

    def pixels(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel positions (planes (B,H,W)) -> u, v (B,H,W)."""
        def col(t: torch.Tensor, i: int) -> torch.Tensor:
            return t[:, i, None, None]

        rx, ry = x - col(self.origin, 0), y - col(self.origin, 1)
        u = (rx * col(self.ex, 0) + ry * col(self.ex, 1)) / self.half[:, :, None]
        return u, rx * col(self.ey, 0) + ry * col(self.ey, 1)


def unsqueeze(uv: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``Frame.points``' (u, v) with v given the channel axis that ``tabulate`` takes."""
    u, v = uv
    return u, v[:, None]
