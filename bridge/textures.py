"""Rendered textures for the bridge's texture sessions: avatars, batched rendering, encoding.

A texture session shows the newest motion frame only: when frames arrive faster than they can be
rendered or sent, older ones are skipped (latest wins), so a slow client sees a lower frame rate, and
what waits for one that stalls is bounded by the server's send queue, not by the stall.
"""

from __future__ import annotations

import io
import os
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import simplejpeg

from facecast.avatar import PACK_SUFFIX, AvatarError, AvatarPack, default_pack_path, load_pack
from facecast.bridge.protocol import DEFAULT_AVATAR, ErrorCode, ProtocolError
from facecast.render import Avatar, Renderer, stack_avatars

#: Avatars kept worked out beyond those open sessions show, most recently used first: a client that
#: reopens one pays nothing, and one that walks through every size cannot fill the server's memory.
SPARE_AVATARS = 4
#: Stacks of several avatars kept for the next frame showing the same ones (each a copy of their inputs).
STACKS_KEPT = 2
#: Threads that encode one loop turn's textures together: the JPEG encoder lets go of the GIL, so a
#: server's sessions are encoded on as many cores at once. Encoded one after another on the loop's thread,
#: they were what limited a GPU server's texture sessions (benchmarks/GPU.md).
ENCODE_THREADS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                         else os.cpu_count() or 1))


@dataclass
class AvatarJob:
    """An avatar being worked out beside the server's loop (``TextureRenderer.lookup``); ``finish`` it once
    ``future`` is done."""

    name: str
    size: int
    path: Path
    version: tuple[int, int] | None  # the pack's (modification time, size) when it was looked up
    future: Future  # of the Avatar
    started: float = field(default_factory=time.monotonic)  # when it was asked for
    finished: bool = False  # ``finish`` has taken its avatar (or its error) in
    claims: int = 0  # opens waiting for it: ``lookup`` counts one up, ``finish`` and ``abandon`` down

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.size


def _work_out(renderer: Renderer, path: Path, size: int) -> Avatar:
    return renderer.avatar(load_pack(path), size)


class TextureRenderer:
    """Loads avatars on demand and renders one frame for each of several sessions in batched calls."""

    def __init__(self, avatars_dir: Path | None = None, device: str = "auto", cpu_stand_in: bool = True) -> None:
        """``cpu_stand_in``: on a GPU, render on the CPU while a new shape's CUDA graph is captured; only
        where nothing else in the process uses CUDA meanwhile (a lip network on CUDA would)."""
        # Not spinning: on the CPU a server renders on a thread beside its loop, which needs the cores too (on a
        # GPU the loop renders, and the stand-in below with it).
        self.renderer = Renderer(device=device, spin=False)
        # Renders while a CUDA graph is captured (a new number of sessions or avatars, a new size), so
        # that no session waits the second that takes. Made now, as making it takes a moment too.
        self.stand_in = Renderer(device="cpu") if cpu_stand_in and self.renderer.graphs is not None else None
        self.avatars_dir = avatars_dir
        # By (name, size): the avatar, and the (modification time, size) its pack had when it was read.
        self._cache: dict[tuple[str, int], tuple[Avatar, tuple[int, int] | None]] = {}
        # Packs found unreadable, by path, with the (modification time, size) they had before they were
        # read: left out of ``names`` until the file changes.
        self._unreadable: dict[Path, tuple[int, int] | None] = {}
        self._stacks: OrderedDict[tuple[int, ...], tuple[list[np.ndarray], dict[str, np.ndarray]]] = OrderedDict()
        self._encoders: ThreadPoolExecutor | None = None  # made at the first turn with several textures
        # Avatars are worked out on a thread of their own: reading, cropping and rasterising a pack takes
        # 0.1-0.5 s at 1024 px on a 2-core CPU, which the loop would make every other session wait for.
        # One thread: two avatars at once would only share the same cores.
        self._workers = ThreadPoolExecutor(1, thread_name_prefix="facecast-avatar")
        self._jobs: dict[tuple[str, int], AvatarJob] = {}  # by (name, size): the avatars being worked out

    def names(self) -> list[str]:
        """Avatars a client may ask for: the bundled one and every pack in the avatars folder, but those
        found unreadable (at start, or when a session asked for one) and unchanged since."""
        found = sorted(p.stem for p in self.avatars_dir.glob(f"*{PACK_SUFFIX}") if not self._known_unreadable(p)) \
            if self.avatars_dir else []
        return [DEFAULT_AVATAR, *(name for name in found if name != DEFAULT_AVATAR)]  # that name is the bundled one

    def _known_unreadable(self, path: Path) -> bool:
        return path in self._unreadable and self._unreadable[path] == _version(path)

    def _load(self, path: Path) -> AvatarPack:
        """``load_pack``, remembering a pack that fails as it was before it was read: one still being
        copied, and finished by the time it failed, is read again next time."""
        version = _version(path)
        try:
            pack = load_pack(path)
        except AvatarError:
            self._unreadable[path] = version
            raise
        self._unreadable.pop(path, None)
        return pack

    def folder_warnings(self) -> list[tuple[str, dict[str, str]]]:
        """What is wrong in the avatars folder, as (event, fields) for the log: no pack in it, a pack named
        as the bundled avatar (which that name gets), packs that cannot be loaded. A server says so when it
        starts, not first to the client that asks for one."""
        if self.avatars_dir is None:
            return []
        packs = sorted(self.avatars_dir.glob(f"*{PACK_SUFFIX}"))
        if not packs:
            return [("no_avatars", {"folder": str(self.avatars_dir), "hint": f"it holds no *{PACK_SUFFIX} pack: "
                                    "texture sessions can show only the bundled avatar"})]
        warnings = []
        for path in packs:
            if path.stem == DEFAULT_AVATAR:
                warnings.append(("avatar_hidden", {"avatar": path.stem, "error": f"{path}: a session asking for "
                                 f"{DEFAULT_AVATAR!r} gets the bundled avatar; rename the pack to show it"}))
                continue
            try:
                self._load(path)
            except AvatarError as exc:
                warnings.append(("avatar_unreadable", {"avatar": path.stem, "error": str(exc)}))
        return warnings

    def lookup(self, name: str | None, size: int, session: int | None = None) -> Avatar | AvatarJob:
        """Avatar ``name`` (None: the bundled one) at ``size`` px if it is worked out already, for its pack as
        it is now (a pack replaced in the folder is read again; sessions open on the old one keep it); else
        the job working it out on the avatar thread, to ``finish`` once its future is done. An avatar asked
        for again while it is being worked out gets the same job. An unknown name raises ``ProtocolError``."""
        name = name or DEFAULT_AVATAR
        key = (name, size)
        if name == DEFAULT_AVATAR:
            path = default_pack_path()
        elif self.avatars_dir is not None and "/" not in name and "\\" not in name and name not in (".", ".."):
            path = self.avatars_dir / f"{name}{PACK_SUFFIX}"
        else:
            path = None
        if path is None or not _is_file(path):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"unknown avatar {name!r}; this server has "
                                f"{', '.join(self.names())}", session)
        version = _version(path)
        if self._make_newest(key) and self._cache[key][1] == version:
            return self._cache[key][0]
        job = self._jobs.get(key)
        if job is None or job.version != version:  # a job for the pack as it was is left to its claims
            job = self._jobs[key] = AvatarJob(name, size, path, version,
                                              self._workers.submit(_work_out, self.renderer, path, size))
        job.claims += 1
        return job

    def abandon(self, job: AvatarJob) -> None:
        """An open waiting for ``job`` will not be answered (its client has gone). A job no open waits for
        any more is cancelled if it has not started, and forgotten (``tidy`` forgets it once it is done
        if it has), so that neither its avatar nor a queue of such jobs outlives the clients that asked."""
        job.claims = max(0, job.claims - 1)
        if not job.claims and (job.future.cancel() or job.future.done()):
            self._forget(job)

    def tidy(self) -> None:
        """Forget the finished jobs that no open waits for (a server's loop calls this every turn)."""
        for job in [j for j in self._jobs.values() if not j.claims and j.future.done()]:
            self._forget(job)

    def _forget(self, job: AvatarJob) -> None:
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]

    def finish(self, job: AvatarJob, keep: Collection[tuple[str | None, int]] = (),
               session: int | None = None) -> Avatar:
        """The avatar ``job`` worked out (its future must be done), now cached as ``avatar`` keeps them
        (``keep``: the (name, size) pairs open sessions show). A pack that cannot be read raises
        ``ProtocolError``, in words that do not give the server's own path to it."""
        self._forget(job)
        job.finished = True
        job.claims = max(0, job.claims - 1)
        # Cached (or, unreadable, uncached) only if the pack is still as the job read it: a job for a pack
        # replaced since must not undo what a job for the new one cached.
        current = _version(job.path) == job.version
        try:
            avatar = job.future.result()
        except AvatarError as exc:
            self._unreadable[job.path] = job.version
            if current:
                self._cache.pop(job.key, None)
            raise ProtocolError(ErrorCode.BAD_FIELD, f"avatar {job.name!r}: "
                                f"{str(exc).removeprefix(f'{job.path}: ')}", session) from None
        if current:
            self._unreadable.pop(job.path, None)
            self._cache.pop(job.key, None)  # and in again, as the most recently used
            self._cache[job.key] = (avatar, job.version)
        self.trim([*keep, job.key])
        return avatar

    def avatar(self, name: str | None, size: int, session: int | None = None,
               keep: Collection[tuple[str | None, int]] = ()) -> Avatar:
        """``lookup``, waiting for a job it starts: the avatar, worked out once and cached while its pack
        stays as it was. ``keep``: the (name, size) pairs open sessions show, which stay cached; of the rest,
        ``SPARE_AVATARS`` do."""
        found = self.lookup(name, size, session)
        if isinstance(found, Avatar):
            return found
        found.future.exception()  # waits
        return self.finish(found, keep, session)

    def release(self, name: str | None, size: int, keep: Collection[tuple[str | None, int]]) -> None:
        """A session showing avatar ``name`` at ``size`` px closed: its avatar is now the newest spare, and
        ``keep`` (the pairs open sessions still show) what stays besides the spares."""
        self._make_newest(_key(name, size))
        self.trim(keep)

    def trim(self, keep: Collection[tuple[str | None, int]]) -> None:
        """Forget cached avatars beyond ``keep`` (the (name, size) pairs open sessions show) and the
        ``SPARE_AVATARS`` most recently used of the rest, so sessions long closed hold no memory."""
        in_use = {_key(n, s) for n, s in keep}
        spare = [k for k in self._cache if k not in in_use]
        for k in spare[: max(0, len(spare) - SPARE_AVATARS)]:
            del self._cache[k]

    def _make_newest(self, key: tuple[str, int]) -> bool:
        """Move a cached avatar to the end, where the most recently used go; False if it is not cached."""
        if key not in self._cache:
            return False
        self._cache[key] = self._cache.pop(key)
        return True

    def render(self, avatars: list[Avatar], frames: np.ndarray, wait_for_capture: bool = False) -> list[np.ndarray]:
        """Frame i on avatar i; one network call per frame size. On a GPU, a call of a shape whose CUDA
        graph is not captured yet is rendered by the CPU stand-in while the graph is captured, unless
        ``wait_for_capture`` (a server's start) or there is no stand-in."""
        out: list[np.ndarray | None] = [None] * len(avatars)
        by_size: dict[int, list[int]] = {}
        for i, avatar in enumerate(avatars):
            by_size.setdefault(avatar.size, []).append(i)
        for members in by_size.values():
            ids: list[int] = []
            distinct: list[Avatar] = []
            for i in members:
                if id(avatars[i]) not in ids:
                    ids.append(id(avatars[i]))
                    distinct.append(avatars[i])
            index = np.array([ids.index(id(avatars[i])) for i in members], dtype=np.int64)
            inputs = distinct[0].tensors if len(distinct) == 1 else self._stacked(distinct)
            images = self.renderer.run(inputs, frames[members], index,
                                       stand_in=None if wait_for_capture else self.stand_in)
            for row, i in enumerate(members):
                out[i] = images[row]
        return out  # type: ignore[return-value]

    def encode(self, images: Sequence[np.ndarray], formats: Sequence[tuple[str, int]]) -> list[bytes]:
        """Image i encoded as ``formats[i]`` (encoding, JPEG quality) says, as ``encode`` does; several
        at once on ``ENCODE_THREADS`` threads."""
        if len(images) != len(formats):
            raise ValueError(f"{len(images)} images but {len(formats)} formats")
        if len(images) < 2 or ENCODE_THREADS < 2:
            return [encode(image, *fmt) for image, fmt in zip(images, formats, strict=True)]
        if self._encoders is None:
            self._encoders = ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="facecast-encode")
        jobs = [self._encoders.submit(encode, image, *fmt) for image, fmt in zip(images, formats, strict=True)]
        return [job.result() for job in jobs]

    def close(self) -> None:
        """Stop the encoding threads and the avatar thread (a server's ``close``): an avatar being worked
        out is finished, none waiting is started."""
        self._workers.shutdown(cancel_futures=True)
        if self._encoders is not None:
            self._encoders.shutdown()
            self._encoders = None

    def _stacked(self, avatars: list[Avatar]) -> dict[str, np.ndarray]:
        """The avatars' inputs stacked, the same arrays for the next frame of the same avatars: stacking
        is not redone, and a GPU's CUDA graphs upload them once, not at every frame."""
        arrays = [value for avatar in avatars for value in avatar.tensors.values()]
        key = tuple(id(value) for value in arrays)  # an avatar given a new array is stacked again
        kept = self._stacks.pop(key, None)
        stacked = kept[1] if kept else stack_avatars(avatars)
        self._stacks[key] = (arrays, stacked)  # the arrays held too, so that no other takes their ids
        while len(self._stacks) > STACKS_KEPT:
            self._stacks.popitem(last=False)
        return stacked


def _key(name: str | None, size: int) -> tuple[str, int]:
    """The cache key of avatar ``name`` (None: the bundled one) at ``size`` px."""
    return name or DEFAULT_AVATAR, size


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, say: no such avatar either
        return False


def encode(image: np.ndarray, encoding: str, quality: int) -> bytes:
    """An (S, S, 3) uint8 RGB frame as raw RGB8 / RGBA8 bytes (rows top to bottom) or a JPEG / PNG file."""
    if encoding == "rgb8":
        return np.ascontiguousarray(image).tobytes()
    if encoding == "rgba8":
        alpha = np.full(image.shape[:2] + (1,), 255, dtype=np.uint8)
        return np.concatenate([image, alpha], axis=2).tobytes()
    if encoding == "jpeg":
        # libjpeg-turbo through simplejpeg, which releases the GIL (Pillow's encoder holds it): Pillow's
        # file layout, tables and 4:2:0 chroma, but TurboJPEG's fast transform below quality 96.
        return simplejpeg.encode_jpeg(np.ascontiguousarray(image), quality=quality, colorspace="RGB",
                                      colorsubsampling="420")
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _version(path: Path) -> tuple[int, int] | None:
    """What tells one state of a file from the next: its modification time (ns) and size."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
