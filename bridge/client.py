"""Python clients of the bridge: ``Client`` (blocking) and ``AsyncClient`` (asyncio), over a DEALER socket.

    with Client() as client:                       # tcp://127.0.0.1:5555, says hello
        session = client.open(fps=30)
        client.send_audio(session, samples_16k)    # float32 or integer numpy array
        client.end(session)
        for message in client.messages(until="ended"):
            if message["type"] == "motion":
                track = message["track"]           # facecast.motion_frame.MotionTrack
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq
import zmq.asyncio

from facecast.audio import float_problem, integer_samples_as_float
from facecast.bridge import protocol as P
from facecast.errors import FacecastError
from facecast.motion_frame import MotionTrack

if TYPE_CHECKING:  # the motion generator loads only where a caller passes its controls
    from facecast.nonverbal import MotionControls

# A client that only listens (idle frames, a long line playing) says nothing for a while; the server drops
# one silent for CLIENT_TIMEOUT_S, so the client pings this often while it waits, and swallows the pong.
KEEPALIVE_S = P.CLIENT_TIMEOUT_S / 3
_KEEPALIVE = "keepalive"
#: What a server's ``hello_first`` means once a client has said hello.
FORGOTTEN = ("the server no longer knows this connection: it restarted, or dropped this client (one that stops "
             "reading for long is dropped); connect again")
CLOSED = "this client is closed (close_socket, or the end of its with block); make a new one"
#: The field in which the server echoes what a request carried, for the requests that carry one.
_ECHOED = {"open": "request", "ping": "t"}


class BridgeError(FacecastError):
    """The server answered with an ``error`` message, or did not answer in time."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def _decode(payload: bytes) -> dict[str, Any]:
    """A server's message; one it should not have sent is a ``BridgeError``, as every failure a caller sees."""
    try:
        message = P.unpack(payload, P.MAX_SERVER_MESSAGE_BYTES)
        if message["type"] == "motion":
            message["track"] = MotionTrack.from_bytes(message["frames"], message["fps"])
    except (P.ProtocolError, KeyError, TypeError, ValueError) as exc:
        code = getattr(exc, "code", P.ErrorCode.BAD_MESSAGE)
        raise BridgeError(f"the server sent a message this client cannot read: {exc}", code) from None
    return message


# The most audio one message carries: the server takes 4 MiB a message, fields included, and drops the
# connection of a client that sends more (libzmq's limit: nothing is answered, and the socket connects again).
MAX_AUDIO_BYTES = P.MAX_MESSAGE_BYTES - 1024


def _audio_bytes(samples: np.ndarray | bytes, sample_format: str, channels: int = 1) -> bytes:
    """The wire bytes of a chunk: samples as numbers (integers, or floats in [-1, 1]) are converted to the
    session's format; bytes (what ``wave.readframes`` or a microphone API hands over) are taken as already
    in it, little-endian. Several channels come interleaved, flat or as one row of ``channels`` a frame."""
    data = _wire_audio(samples, sample_format, channels)
    if len(data) > MAX_AUDIO_BYTES:
        raise ValueError(f"a chunk of {len(data):,} bytes of audio is more than one message takes "
                         f"({MAX_AUDIO_BYTES:,} bytes; the server drops a client that sends more): send it in "
                         "smaller chunks")
    return data


def _wire_audio(samples: np.ndarray | bytes, sample_format: str, channels: int) -> bytes:
    if isinstance(samples, (bytes, bytearray, memoryview)):
        data = bytes(samples)
        if len(data) % (P.SAMPLE_FORMATS[sample_format] * channels):
            raise ValueError(f"{len(data)} bytes of {channels}-channel {sample_format} audio: not a whole number "
                             "of sample frames")
        return data
    samples = np.asarray(samples)
    if samples.ndim > 2 or (samples.ndim == 2 and samples.shape[1] != channels):
        raise ValueError(f"audio of shape {samples.shape} for a session of {channels} channel(s): send "
                         f"(n, {channels}) rows, or the samples interleaved flat")
    if sample_format == "pcm16" and samples.dtype == np.int16:
        return samples.astype("<i2").tobytes()
    if samples.dtype.kind in "iu":  # int16 to f32 is / 32768, as the server reads pcm16
        samples = integer_samples_as_float(samples)
    elif samples.dtype.kind != "f":
        raise ValueError(f"audio samples must be numbers, got {samples.dtype}")
    problem = float_problem(samples)
    if problem:
        raise ValueError(problem)
    if sample_format == "pcm16":
        # x 32768, as the server and sound-file readers divide: 16-bit sound read as floats goes back
        # to the very same integers.
        return np.clip(np.round(np.asarray(samples, np.float64) * 32768), -32768, 32767).astype("<i2").tobytes()
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


def _socket(ctx: zmq.Context, endpoint: str, curve: Path | None, timeout: float) -> zmq.Socket:
    problem = P.endpoint_problem(endpoint)
    if problem:
        raise FacecastError(problem)
    keys = _curve_keys(curve) if curve is not None else None
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    # A send waits at most this long for room: with the server gone, the queue fills and a send would
    # otherwise wait for ever.
    sock.setsockopt(zmq.SNDTIMEO, max(1, int(timeout * 1000)))
    if P.is_ipv6(endpoint):
        sock.setsockopt(zmq.IPV6, 1)
    try:
        if keys is not None:
            try:
                sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = keys
            except zmq.ZMQError:
                raise FacecastError(f"{curve}: holds a CURVE key that is not a key (cut short when copied?); "
                                    "`facecast keys` makes them") from None
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise FacecastError(f"cannot connect to {endpoint}: {exc}") from None
    except BaseException:
        sock.close(linger=0)
        raise
    return sock


def _answers(message: dict, kind: str, session: int | None, request: str | None, token: Any = None) -> bool:
    """Whether ``message`` is the reply (of type ``kind``) or the error that answers ``request``. An error
    names the request it answers (``ref``; a server before it named none): an error about an earlier
    message sent without waiting (``audio``, ``end``) or about another session is kept for ``recv``.
    ``token``: what the request carried for the server to echo (an ``open``'s ``request``, a ``ping``'s
    ``t``), so that the late reply of a request that gave up (timed out) answers no later one."""
    if message["type"] == kind:
        if token is not None:
            return message.get(_ECHOED[request]) == token
        return session is None or message.get("session") == session
    return (message["type"] == "error" and message.get("session") in (None, session)
            and message.get("ref") in (None, request) and message.get("request") in (None, token))


class _Bookkeeping:
    """What both clients keep: the messages waiting for ``recv``, and when the server was last heard."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._opens = itertools.count(1)  # tells this client's opens apart
        self._queue: deque[dict] = deque()
        self._formats: dict[int, tuple[str, int]] = {}  # each session's sample format and channels
        #: The server's ``opened`` reply for each session this client opened (its lip model, texture size,
        #: the avatar's source picture...).
        self.opened: dict[int, dict] = {}
        self._last_sent = time.monotonic()
        #: ``time.monotonic()`` of the last message from the server, heartbeats included: a caller streaming
        #: audio can tell a server that has gone quiet (it sends something at least every 2 s).
        self.last_heard = time.monotonic()
        self.welcome: dict | None = None

    def _forget(self, session: int) -> None:
        """A closed session's state (a long-lived client opening one a line must not grow with them)."""
        self._formats.pop(session, None)
        self.opened.pop(session, None)

    def _heard(self, payload: bytes) -> dict | None:
        """A message from the socket, or None for those that are no news to the caller (keep-alive pongs,
        heartbeats). A ``hello_first`` after hello means the server has forgotten this connection."""
        self.last_heard = time.monotonic()
        message = _decode(payload)
        if message["type"] == "heartbeat" or (message["type"] == "pong" and message.get("t") == _KEEPALIVE):
            return None
        if message["type"] == "error" and message.get("code") == P.ErrorCode.HELLO_FIRST:
            raise BridgeError(FORGOTTEN, P.ErrorCode.HELLO_FIRST)
        return message

    def _no_reply(self, kind: str) -> BridgeError:
        why = ("is `facecast serve` running there? With --curve on one side only, or client keys it has not "
               "admitted, the two never connect" if self.welcome is None else "is `facecast serve` still running?")
        return BridgeError(f"no '{kind}' reply within {self.timeout:g} s ({why})", "timeout")

    def _not_taken(self) -> BridgeError:
        return BridgeError(f"the server took no message for {self.timeout:g} s: it has gone, or stopped reading",
                           "timeout")

    def _check_open(self) -> None:
        if self.sock.closed:
            raise BridgeError(CLOSED, "closed")

    @staticmethod
    def _answered_by(message: dict, reply: str) -> tuple[str, int | None, str, Any]:
        """What answers ``message``: the ``reply`` type, its session, the request's type, its echoed token."""
        kind = message["type"]
        return reply, message.get("session"), kind, message.get(_ECHOED[kind]) if kind in _ECHOED else None

    @staticmethod
    def _raise_if_error(message: dict) -> dict:
        if message["type"] == "error":
            raise BridgeError(f"{message['code']}: {message['message']}", message["code"])
        return message

    def _open_message(self, mode: str, fps: float, sample_rate: int, sample_format: str, channels: int,
                      controls: dict | MotionControls | None, idle: bool, extra: dict) -> dict:
        # Each open carries its own request (unless the caller gives one), which the server echoes.
        return {"type": "open", "mode": mode, "fps": fps, "sample_rate": sample_rate, "sample_format": sample_format,
                "channels": channels, "controls": P.controls_fields(controls or {}), "idle": idle,
                "request": f"facecast-python-open-{next(self._opens)}", **extra}


class Client(_Bookkeeping):
    """Blocking client. Messages that arrive while waiting for a reply are kept for ``recv``; a send the
    server does not take within ``timeout`` (it has gone) raises ``BridgeError``. A request that timed out
    may still be answered later: that reply then comes through ``recv``.

    For one thread: a request waits for its reply by reading the socket, so another thread reading it at
    the same time may take that reply. Sending and reading from two threads, or requests from several
    tasks beside a reader, is what ``AsyncClient`` is for. ``close_socket`` (or the end of a ``with``
    block) closes the connection; ``close`` closes a session."""

    def __init__(self, endpoint: str = P.DEFAULT_ENDPOINT, name: str = "facecast-python", timeout: float = 10.0,
                 curve: Path | None = None) -> None:
        super().__init__(timeout)
        self.ctx = zmq.Context.instance()
        self.sock = _socket(self.ctx, endpoint, curve, timeout)
        try:
            self.welcome = self._request({"type": "hello", "protocol": P.PROTOCOL_VERSION, "client": name}, "welcome")
        except BaseException:
            self.close_socket()
            raise

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_socket()

    def close_socket(self) -> None:
        """Close the connection (what a ``with`` block's end does); the server finds the client gone."""
        self.sock.close(linger=0)

    def _send(self, message: dict, flags: int = 0) -> None:
        self._check_open()
        try:
            self.sock.send(P.pack(message), flags)
        except zmq.Again:
            if flags & zmq.NOBLOCK:
                raise
            raise self._not_taken() from None
        self._last_sent = time.monotonic()

    def _keep_alive(self) -> None:
        if time.monotonic() - self._last_sent >= KEEPALIVE_S:
            try:  # never blocking a receive: with the send queue full (server gone), the ping waits its turn
                self._send({"type": "ping", "t": _KEEPALIVE}, zmq.NOBLOCK)
            except zmq.Again:
                self._last_sent = time.monotonic()

    def _request(self, message: dict, reply: str) -> dict:
        self._send(message)
        return self._wait_for(*self._answered_by(message, reply))

    def _next(self, deadline: float) -> dict | None:
        """The next message for the caller from the socket before ``deadline``, or None."""
        self._check_open()
        while True:
            self._keep_alive()
            wait = min(deadline - time.monotonic(), KEEPALIVE_S)
            if self.sock.poll(max(0, int(wait * 1000))):
                message = self._heard(self.sock.recv())
                if message is not None:
                    return message
            elif time.monotonic() >= deadline:
                return None

    def _wait_for(self, kind: str, session: int | None, request: str, token: Any) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._next(deadline)
            if message is None:
                raise self._no_reply(kind)
            if _answers(message, kind, session, request, token):
                return self._raise_if_error(message)
            self._queue.append(message)

    def open(self, mode: str = "motion", fps: float = 30, sample_rate: int = 16000, sample_format: str = "pcm16",
             channels: int = 1, controls: dict | MotionControls | None = None, idle: bool = False, **extra: Any) -> int:
        """Open a session; returns its id. ``extra`` carries ``lookahead_ms`` and texture fields (size, encoding,
        quality, avatar)."""
        reply = self._request(self._open_message(mode, fps, sample_rate, sample_format, channels, controls, idle,
                                                 extra), "opened")
        self._formats[reply["session"]] = sample_format, channels
        self.opened[reply["session"]] = reply
        return reply["session"]

    def send_audio(self, session: int, samples: np.ndarray | bytes) -> None:
        """Pushes a chunk: integer or float samples in [-1, 1] (interleaved when the session has several
        channels), or bytes already in the session's format."""
        data = _audio_bytes(samples, *self._formats.get(session, ("pcm16", 1)))
        self._send({"type": "audio", "session": session, "data": data})

    def end(self, session: int) -> None:
        """The utterance's audio is all sent: its last frames come, then ``ended``."""
        self._send({"type": "end", "session": session})

    def interrupt(self, session: int) -> dict:
        """Cut the utterance off: what was not yet made is dropped, and the mouth comes to rest."""
        return self._request({"type": "interrupt", "session": session}, "interrupted")

    def set_controls(self, session: int, controls: dict | MotionControls) -> dict:
        """Change a session's controls: a dict of the fields to change, or a whole ``MotionControls`` (its
        seed aside: a session's seed is fixed when it opens)."""
        return self._request({"type": "controls", "session": session,
                              "controls": P.controls_fields(controls, seed=False)}, "controls_ok")

    def close(self, session: int) -> dict:
        """Close a session; the server forgets it, and so does this client (its ``opened`` entry)."""
        reply = self._request({"type": "close", "session": session}, "closed")
        self._forget(session)
        return reply

    def ping(self) -> dict:
        """The server's ``pong``, with its monotonic clock (``server_ns``)."""
        return self._request({"type": "ping", "t": time.monotonic_ns()}, "pong")

    def stats(self) -> dict:
        """The server's counters (PROTOCOL.md, ``stats``)."""
        return self._request({"type": "stats"}, "stats")

    def recv(self, timeout: float | None = None) -> dict | None:
        """The next message (motion frames decoded into ``message['track']``), or None on timeout. While it
        waits it keeps the connection alive; heartbeats are not passed on."""
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


class AsyncClient(_Bookkeeping):
    """asyncio client: the same calls as ``Client``, awaited, and the same arguments (``connect``, or
    ``async with``, says hello). Requests may be awaited while another task reads ``recv``/``messages``:
    one task at a time reads the socket, and a reply it takes for a request another task waits for goes
    to that task."""

    def __init__(self, endpoint: str = P.DEFAULT_ENDPOINT, name: str = "facecast-python-async",
                 timeout: float = 10.0, curve: Path | None = None) -> None:
        super().__init__(timeout)
        self.name = name
        self.ctx = zmq.asyncio.Context.instance()
        self.sock = _socket(self.ctx, endpoint, curve, timeout)
        self._reading = asyncio.Lock()
        self._waiting: list[tuple[str, int | None, str, Any]] = []  # what answers each awaited request
        self._replies: list[dict] = []  # replies another task read for them

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

    async def connect(self, name: str | None = None) -> dict:
        self.welcome = await self._request({"type": "hello", "protocol": P.PROTOCOL_VERSION,
                                            "client": name or self.name}, "welcome")
        return self.welcome

    def close_socket(self) -> None:
        """Close the connection (what a ``with`` block's end does); the server finds the client gone."""
        self.sock.close(linger=0)

    async def _send(self, message: dict, flags: int = 0) -> None:
        self._check_open()
        if self.welcome is None and message["type"] not in ("hello", "ping"):
            raise BridgeError("not connected: await client.connect() first, or use `async with AsyncClient(...)`",
                              P.ErrorCode.HELLO_FIRST)
        try:
            await self.sock.send(P.pack(message), flags)
        except zmq.Again:
            if flags & zmq.NOBLOCK:
                raise
            raise self._not_taken() from None
        self._last_sent = time.monotonic()

    async def _request(self, message: dict, reply: str) -> dict:
        waiting = self._answered_by(message, reply)
        self._waiting.append(waiting)  # before the send: another task may read the reply first
        try:
            await self._send(message)
            return await self._wait_for(*waiting)
        finally:
            self._waiting.remove(waiting)
            # A reply handed over too late for a request that gave up (cancelled, timed out) answers no one:
            # left here, it would answer the next request of its kind.
            self._replies = [m for m in self._replies
                             if not _answers(m, *waiting) or any(_answers(m, *w) for w in self._waiting)]

    async def _next(self, deadline: float) -> dict | None:
        self._check_open()
        while True:
            if time.monotonic() - self._last_sent >= KEEPALIVE_S:
                try:  # never blocking a receive, as in Client._keep_alive
                    await self._send({"type": "ping", "t": _KEEPALIVE}, zmq.NOBLOCK)
                except zmq.Again:
                    self._last_sent = time.monotonic()
            wait = min(deadline - time.monotonic(), KEEPALIVE_S)
            if await self.sock.poll(max(0, int(wait * 1000))):
                message = self._heard(await self.sock.recv())
                if message is not None:
                    return message
            elif time.monotonic() >= deadline:
                return None

    async def _read(self, deadline: float, queued: bool = False,
                    mine: tuple[str, int | None, str, Any] | None = None) -> dict | None:
        """The next message off the socket (``queued``: or one a request kept for ``recv`` meanwhile), read
        by one task at a time; None at ``deadline``. A reply that another task's request waits for, not
        this caller's own (``mine``), is handed to it and the reading goes on."""
        while True:
            # Waited for by looking, not with wait_for around acquire: a wait_for cancelled as the lock is
            # granted can leave it taken for good (Python 3.11), and with no time left it gives up at once.
            while self._reading.locked():
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(0.005)
            await self._reading.acquire()  # free: taken at once, without yielding
            try:
                if queued and self._queue:
                    return self._queue.popleft()
                if mine is not None and any(_answers(m, *mine) for m in self._replies):
                    return None  # the task that held the socket took this caller's reply meanwhile
                message = await self._next(deadline)
            finally:
                self._reading.release()
            if (message is None or (mine is not None and _answers(message, *mine))
                    or not any(_answers(message, *w) for w in self._waiting)):
                return message
            self._replies.append(message)

    def _reply_for(self, *waiting: Any) -> dict | None:
        for i, message in enumerate(self._replies):
            if _answers(message, *waiting):
                return self._raise_if_error(self._replies.pop(i))
        return None

    async def _wait_for(self, kind: str, session: int | None, request: str, token: Any) -> dict:
        waiting = (kind, session, request, token)
        deadline = time.monotonic() + self.timeout
        while True:
            found = self._reply_for(*waiting)
            if found is not None:
                return found
            if self._reading.locked():  # another task reads: it hands the reply over when it comes
                await asyncio.sleep(0.005)
                if time.monotonic() >= deadline and self._reply_for(*waiting) is None:
                    raise self._no_reply(kind)
                continue
            message = await self._read(deadline, mine=waiting)
            if message is None:
                found = self._reply_for(*waiting)
                if found is not None:
                    return found
                raise self._no_reply(kind)
            if _answers(message, *waiting):
                return self._raise_if_error(message)
            self._queue.append(message)

    async def open(self, mode: str = "motion", fps: float = 30, sample_rate: int = 16000,
                   sample_format: str = "pcm16", channels: int = 1, controls: dict | MotionControls | None = None,
                   idle: bool = False, **extra: Any) -> int:
        """Open a session; ``extra`` carries ``lookahead_ms`` and texture fields (size, encoding, quality, avatar)."""
        reply = await self._request(self._open_message(mode, fps, sample_rate, sample_format, channels, controls,
                                                       idle, extra), "opened")
        self._formats[reply["session"]] = sample_format, channels
        self.opened[reply["session"]] = reply
        return reply["session"]

    async def send_audio(self, session: int, samples: np.ndarray | bytes) -> None:
        """As ``Client.send_audio``."""
        data = _audio_bytes(samples, *self._formats.get(session, ("pcm16", 1)))
        await self._send({"type": "audio", "session": session, "data": data})

    async def end(self, session: int) -> None:
        """As ``Client.end``."""
        await self._send({"type": "end", "session": session})

    async def interrupt(self, session: int) -> dict:
        """As ``Client.interrupt``."""
        return await self._request({"type": "interrupt", "session": session}, "interrupted")

    async def set_controls(self, session: int, controls: dict | MotionControls) -> dict:
        """As ``Client.set_controls``."""
        return await self._request({"type": "controls", "session": session,
                                    "controls": P.controls_fields(controls, seed=False)}, "controls_ok")

    async def close(self, session: int) -> dict:
        """As ``Client.close``."""
        reply = await self._request({"type": "close", "session": session}, "closed")
        self._forget(session)
        return reply

    async def ping(self) -> dict:
        """As ``Client.ping``."""
        return await self._request({"type": "ping", "t": time.monotonic_ns()}, "pong")

    async def stats(self) -> dict:
        """As ``Client.stats``."""
        return await self._request({"type": "stats"}, "stats")

    async def recv(self, timeout: float | None = None) -> dict | None:
        """The next message, or None on timeout (as ``Client.recv``)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if self._queue:
            return self._queue.popleft()
        return await self._read(deadline, queued=True)

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
            # The chunk holding sample s; a frame at the very end of the audio shows the last one's end.
            i = bisect.bisect_right(ends, s)
            if i == len(ends) and ends and s == ends[-1]:
                i -= 1
            if i < len(self._times):
                self.latencies_ms.append((when - self._times[i]) * 1000)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms)
        if lat.size == 0:
            return {"frames": 0}
        return {"frames": int(lat.size), "p50_ms": float(np.percentile(lat, 50)),
                "p95_ms": float(np.percentile(lat, 95)), "p99_ms": float(np.percentile(lat, 99)),
                "max_ms": float(lat.max())}
