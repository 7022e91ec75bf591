"""Python clients of the bridge: ``Client`` (blocking) and ``AsyncClient`` (asyncio), over a DEALER socket.

    with Client() as client:                       # tcp://127.0.0.1:5555, says hello
        session = client.open(fps=30)
        client.send_audio(session, samples_16k)    # float32 or int16 numpy array
        client.end(session)
        for message in client.messages(until="ended"):
            if message["type"] == "motion":
                track = message["track"]           # facecast.motion_frame.MotionTrack
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from facecast.bridge import protocol as P
from facecast.errors import FacecastError
from facecast.motion_frame import MotionTrack

# A client that only listens (idle frames, a long line playing) says nothing for a while; the server drops
# one silent for CLIENT_TIMEOUT_S, so the client pings this often while it waits, and swallows the pong.
KEEPALIVE_S = P.CLIENT_TIMEOUT_S / 3
_KEEPALIVE = "keepalive"


def _is_keepalive(message: dict) -> bool:
    return message["type"] == "pong" and message.get("t") == _KEEPALIVE


def _fails(message: dict, session: int | None) -> bool:
    """An error that answers the request waited for: one about no session or about that session (an error
    about another session is kept for ``recv``)."""
    return message["type"] == "error" and message.get("session") in (None, session)


class BridgeError(FacecastError):
    """The server answered with an ``error`` message, or did not answer in time."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def _decode(payload: bytes) -> dict[str, Any]:
    message = P.unpack(payload)
    if message["type"] == "motion":
        message["track"] = MotionTrack.from_bytes(message["frames"], message["fps"])
    return message


def _audio_bytes(samples: np.ndarray | bytes, sample_format: str) -> bytes:
    """The wire bytes of a chunk: samples as numbers (int16, or floats in [-1, 1]) are converted to the
    session's format; bytes (what ``wave.readframes`` or a microphone API hands over) are taken as already
    in it, little-endian."""
    if isinstance(samples, (bytes, bytearray, memoryview)):
        data = bytes(samples)
        if len(data) % P.SAMPLE_FORMATS[sample_format]:
            raise ValueError(f"{len(data)} bytes of {sample_format} audio: not a whole number of samples")
        return data
    samples = np.asarray(samples)
    if sample_format == "pcm16":
        if samples.dtype != np.int16:
            # x 32768, as the server and sound-file readers divide: 16-bit sound read as floats goes back
            # to the very same integers.
            samples = np.clip(np.round(np.asarray(samples, np.float64) * 32768), -32768, 32767).astype("<i2")
        return samples.astype("<i2").tobytes()
    if samples.dtype == np.int16:  # / 32768, as the server reads pcm16: the same sound in either format
        return (samples.astype(np.float32) / 32768.0).astype("<f4").tobytes()
    return np.asarray(samples, dtype="<f4").tobytes()


def _curve_keys(curve: Path) -> tuple[bytes, bytes, bytes]:
    """(server public, client public, client secret) from a folder of `facecast keys`."""
    from zmq.auth import load_certificate

    keys = []
    for name in ("server.key", "client.key_secret"):
        path = Path(curve) / name
        try:
            keys.append(load_certificate(str(path)))
        except (OSError, ValueError) as exc:
            raise FacecastError(f"{path}: cannot read this CURVE key ({exc}); `facecast keys` makes "
                                "server.key and client.key_secret") from None
    (server_public, _), (public, secret) = keys
    if secret is None:
        raise FacecastError(f"{Path(curve) / 'client.key_secret'}: holds no secret key")
    return server_public, public, secret


def _socket(ctx: zmq.Context, endpoint: str, curve: Path | None) -> zmq.Socket:
    keys = _curve_keys(curve) if curve is not None else None
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if P.is_ipv6(endpoint):
        sock.setsockopt(zmq.IPV6, 1)
    if keys is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = keys
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise FacecastError(f"cannot connect to {endpoint}: {exc}") from None
    return sock


class Client:
    """Blocking client. Messages that arrive while waiting for a reply are kept for ``recv``."""

    def __init__(self, endpoint: str = P.DEFAULT_ENDPOINT, name: str = "facecast-python", timeout: float = 10.0,
                 curve: Path | None = None) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = _socket(self.ctx, endpoint, curve)
        self.timeout = timeout
        self._queue: deque[dict] = deque()
        self._formats: dict[int, str] = {}
        self._last_sent = time.monotonic()
        try:
            self._send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "client": name})
            self.welcome = self._wait_for("welcome")
        except BaseException:
            self.close_socket()
            raise

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_socket()

    def close_socket(self) -> None:
        self.sock.close(linger=0)

    def _send(self, message: dict, flags: int = 0) -> None:
        self.sock.send(P.pack(message), flags)
        self._last_sent = time.monotonic()

    def _keep_alive(self) -> None:
        if time.monotonic() - self._last_sent >= KEEPALIVE_S:
            try:  # never blocking a receive: with the send queue full (server gone), the ping waits its turn
                self._send({"type": "ping", "t": _KEEPALIVE}, zmq.NOBLOCK)
            except zmq.Again:
                self._last_sent = time.monotonic()

    def _request(self, message: dict, reply: str) -> dict:
        self._send(message)
        return self._wait_for(reply, message.get("session"))

    def _next(self, deadline: float) -> dict | None:
        """The next message from the socket before ``deadline`` (keep-alive pongs swallowed), or None."""
        while True:
            self._keep_alive()
            wait = min(deadline - time.monotonic(), KEEPALIVE_S)
            if self.sock.poll(max(0, int(wait * 1000))):
                message = _decode(self.sock.recv())
                if not _is_keepalive(message):
                    return message
            elif time.monotonic() >= deadline:
                return None

    def _wait_for(self, kind: str, session: int | None = None) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._next(deadline)
            if message is None:
                raise BridgeError(f"no '{kind}' reply within {self.timeout:g} s (is `facecast serve` running?)")
            if message["type"] == kind and (session is None or message.get("session") == session):
                return message
            if _fails(message, session):
                raise BridgeError(f"{message['code']}: {message['message']}", message["code"])
            self._queue.append(message)

    def open(self, mode: str = "motion", fps: float = 30, sample_rate: int = 16000, sample_format: str = "pcm16",
             channels: int = 1, controls: dict | None = None, idle: bool = False, **extra: Any) -> int:
        """Open a session; returns its id. ``extra`` carries ``lookahead_ms`` and texture fields (size, encoding,
        quality, avatar)."""
        reply = self._request({"type": "open", "mode": mode, "fps": fps, "sample_rate": sample_rate,
                               "sample_format": sample_format, "channels": channels, "controls": controls or {},
                               "idle": idle, **extra}, "opened")
        self._formats[reply["session"]] = sample_format
        return reply["session"]

    def send_audio(self, session: int, samples: np.ndarray | bytes) -> None:
        """Pushes a chunk: int16 or float samples in [-1, 1] (interleaved when the session has several
        channels), or bytes already in the session's format."""
        data = _audio_bytes(samples, self._formats.get(session, "pcm16"))
        self._send({"type": "audio", "session": session, "data": data})

    def end(self, session: int) -> None:
        self._send({"type": "end", "session": session})

    def interrupt(self, session: int) -> dict:
        return self._request({"type": "interrupt", "session": session}, "interrupted")

    def set_controls(self, session: int, controls: dict) -> dict:
        return self._request({"type": "controls", "session": session, "controls": controls}, "controls_ok")

    def close(self, session: int) -> dict:
        return self._request({"type": "close", "session": session}, "closed")

    def ping(self) -> dict:
        return self._request({"type": "ping", "t": time.monotonic_ns()}, "pong")

    def stats(self) -> dict:
        return self._request({"type": "stats"}, "stats")

    def recv(self, timeout: float | None = None) -> dict | None:
        """The next message (motion frames decoded into ``message['track']``), or None on timeout. While it
        waits it keeps the connection alive."""
        if self._queue:
            return self._queue.popleft()
        return self._next(time.monotonic() + (self.timeout if timeout is None else timeout))

    def messages(self, until: str | None = None, timeout: float | None = None) -> Iterator[dict]:
        """Messages as they come, stopping after one of type ``until`` (or when ``timeout`` passes)."""
        while True:
            message = self.recv(timeout)
            if message is None:
                return
            yield message
            if message["type"] == until:
                return


class AsyncClient:
    """asyncio client: the same calls as ``Client``, awaited (``connect`` says hello)."""

    def __init__(self, endpoint: str = P.DEFAULT_ENDPOINT, timeout: float = 10.0, curve: Path | None = None) -> None:
        self.ctx = zmq.asyncio.Context.instance()
        self.sock = _socket(self.ctx, endpoint, curve)
        self.timeout = timeout
        self._queue: deque[dict] = deque()
        self._formats: dict[int, str] = {}
        self._last_sent = time.monotonic()
        self.welcome: dict | None = None

    async def __aenter__(self) -> AsyncClient:
        """``async with AsyncClient() as client``: says hello on entry, closes the socket on exit."""
        try:
            await self.connect()
        except BaseException:
            self.close_socket()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close_socket()

    async def connect(self, name: str = "facecast-python-async") -> dict:
        await self._send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "client": name})
        self.welcome = await self._wait_for("welcome")
        return self.welcome

    def close_socket(self) -> None:
        self.sock.close(linger=0)

    async def _send(self, message: dict, flags: int = 0) -> None:
        await self.sock.send(P.pack(message), flags)
        self._last_sent = time.monotonic()

    async def _request(self, message: dict, reply: str) -> dict:
        await self._send(message)
        return await self._wait_for(reply, message.get("session"))

    async def _next(self, deadline: float) -> dict | None:
        while True:
            if time.monotonic() - self._last_sent >= KEEPALIVE_S:
                try:  # never blocking a receive, as in Client._keep_alive
                    await self._send({"type": "ping", "t": _KEEPALIVE}, zmq.NOBLOCK)
                except zmq.Again:
                    self._last_sent = time.monotonic()
            wait = min(deadline - time.monotonic(), KEEPALIVE_S)
            if await self.sock.poll(max(0, int(wait * 1000))):
                message = _decode(await self.sock.recv())
                if not _is_keepalive(message):
                    return message
            elif time.monotonic() >= deadline:
                return None

    async def _wait_for(self, kind: str, session: int | None = None) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            message = await self._next(deadline)
            if message is None:
                raise BridgeError(f"no '{kind}' reply within {self.timeout:g} s (is `facecast serve` running?)")
            if message["type"] == kind and (session is None or message.get("session") == session):
                return message
            if _fails(message, session):
                raise BridgeError(f"{message['code']}: {message['message']}", message["code"])
            self._queue.append(message)

    async def open(self, mode: str = "motion", fps: float = 30, sample_rate: int = 16000,
                   sample_format: str = "pcm16", channels: int = 1, controls: dict | None = None,
                   idle: bool = False, **extra: Any) -> int:
        """Open a session; ``extra`` carries ``lookahead_ms`` and texture fields (size, encoding, quality, avatar)."""
        reply = await self._request({"type": "open", "mode": mode, "fps": fps, "sample_rate": sample_rate,
                                     "sample_format": sample_format, "channels": channels,
                                     "controls": controls or {}, "idle": idle, **extra}, "opened")
        self._formats[reply["session"]] = sample_format
        return reply["session"]

    async def send_audio(self, session: int, samples: np.ndarray | bytes) -> None:
        data = _audio_bytes(samples, self._formats.get(session, "pcm16"))
        await self._send({"type": "audio", "session": session, "data": data})

    async def end(self, session: int) -> None:
        await self._send({"type": "end", "session": session})

    async def interrupt(self, session: int) -> dict:
        return await self._request({"type": "interrupt", "session": session}, "interrupted")

    async def set_controls(self, session: int, controls: dict) -> dict:
        return await self._request({"type": "controls", "session": session, "controls": controls}, "controls_ok")

    async def close(self, session: int) -> dict:
        return await self._request({"type": "close", "session": session}, "closed")

    async def ping(self) -> dict:
        return await self._request({"type": "ping", "t": time.monotonic_ns()}, "pong")

    async def stats(self) -> dict:
        return await self._request({"type": "stats"}, "stats")

    async def recv(self, timeout: float | None = None) -> dict | None:
        if self._queue:
            return self._queue.popleft()
        return await self._next(time.monotonic() + (self.timeout if timeout is None else timeout))

    async def messages(self, until: str | None = None, timeout: float | None = None) -> AsyncIterator[dict]:
        """Messages as they come, stopping after one of type ``until`` (or when ``timeout`` passes)."""
        while True:
            message = await self.recv(timeout)
            if message is None:
                return
            yield message
            if message["type"] == until:
                return


class LatencyMeter:
    """Frame latency as an engine sees it: receive time of the frame for audio sample s minus the time
    the client sent sample s."""

    def __init__(self) -> None:
        self._ends: list[int] = []
        self._times: list[float] = []
        self.latencies_ms: list[float] = []

    def sent(self, end_sample: int, when: float) -> None:
        self._ends.append(end_sample)
        self._times.append(when)

    def received(self, sample_positions: list[int], when: float) -> None:
        ends = self._ends  # sent in order, so sorted: a bisection, not an array built per message
        for s in sample_positions:
            if s < 0:
                continue  # idle frames belong to no sent audio
            i = bisect.bisect_right(ends, s)
            if i < len(self._times):
                self.latencies_ms.append((when - self._times[i]) * 1000)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms)
        if lat.size == 0:
            return {"frames": 0}
        return {"frames": int(lat.size), "p50_ms": float(np.percentile(lat, 50)),
                "p95_ms": float(np.percentile(lat, 95)), "p99_ms": float(np.percentile(lat, 99)),
                "max_ms": float(lat.max())}
