"""`facecast serve`: the engine bridge server (ZeroMQ ROUTER + msgpack, protocol in PROTOCOL.md).

One thread runs one loop: receive every waiting message, run the lip network once for all sessions
that have new audio (sessions with the same number of 10 ms hops share one batched onnxruntime call;
the pitch analysis of all their new frames is one call too), send the frames that became final, then
sleep on the socket until the next message or tick. A texture session's avatar, new at its size, is worked
out on a thread beside the loop, and the session opened when it is ready; on the CPU, textures are rendered
and encoded on another. Nothing a client sends can raise
out of the loop: every message is validated and a bad one gets an ``error`` reply that touches no other
session.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq

from facecast import __version__
from facecast.audio import SAMPLE_RATE, StreamResampler, float_problem
from facecast.bridge import protocol as P
from facecast.bridge.protocol import ErrorCode, ProtocolError, SessionSpec
from facecast.device import CPU, CUDA
from facecast.errors import FacecastError
from facecast.lipsync import HOP, LipSyncModel, shipped_models, step_batch
from facecast.motion_frame import FRAME_DTYPE, neutral_frames
from facecast.pipeline import END_SLACK_S, MotionPipeline, MotionStream, advance_batch

if TYPE_CHECKING:
    from facecast.bridge.textures import AvatarJob, TextureRenderer
    from facecast.nonverbal import MotionControls
    from facecast.render import Avatar

log = logging.getLogger("facecast.serve")

MAX_HOPS_PER_ROUND = 50  # 500 ms of audio per session per loop turn, so one big clip cannot stall others
# Messages taken in per loop turn: 64 sessions send a few each; a client flooding the server (pings,
# or audio past its 10 s limit) holds the others' frames back by a few tens of ms at most, not by 0.3 s.
MAX_MESSAGES_PER_TURN = 1000
# Idle motion sessions are fed their silence 20 ms at a time, as a client streams speech: each feeding costs a
# turn of the lip network, the non-verbal generator and a message whatever its length, and 10 ms at a time one
# idle session took a fifth of a core. Texture sessions are fed 10 ms at a time: they render a feeding's newest
# frame only, and in twos at 60 fps every other idle texture was skipped (49 a second instead of 59).
IDLE_HOPS = 2
HEARTBEAT_S = 2.0  # a client sent nothing for this long gets a heartbeat; a gone one fails the send
OUTBOX_LIMIT = 2000  # messages per session held for a client whose socket buffer is full before giving up
OUTBOX_BYTES = 64 * 1024 * 1024  # and bytes per session (or for a client with none), whatever the count
# Messages libzmq queues per client before a send would block. Small, so that a client that stops reading
# soon fills it: from there its motion waits in the server's outbox (bounded above) and its textures are
# skipped (latest wins), instead of libzmq queueing a thousand 1 MB textures. A loop turn sends one motion
# message per session, far below it for a client that reads.
SNDHWM = 64
# Messages libzmq takes in from a client before it holds the rest back in the network (in the client's own
# send queue): while a loop turn runs, up to this many 4 MiB messages a connection wait in the server.
RCVHWM = 64


def _log(level: int, event: str, **fields: Any) -> None:
    log.log(level, event, extra={"fields": fields})


@dataclass
class Client:
    identity: bytes
    last_seen: float
    last_sent: float = 0.0
    hello: bool = False
    sessions: set[int] = field(default_factory=set)
    # What the client's socket buffer had no room for, in order: (session, utterance its speech frames
    # belong to or None, packed message).
    outbox: deque[tuple[int | None, int | None, bytes]] = field(default_factory=deque)
    outbox_bytes: int = 0  # the packed messages' bytes in ``outbox``
    # Its opens still to be answered, in the order it sent them: those waiting for their avatar to be worked
    # out, and any sent after one, so that its ``opened`` replies come in the order of its ``open``s.
    opening: deque[Opening] = field(default_factory=deque)

    def hold(self, message: tuple[int | None, int | None, bytes]) -> None:
        """Add a message to the outbox."""
        self.outbox.append(message)
        self.outbox_bytes += len(message[2])

    def keep_only(self, keep) -> None:
        """Leave in the outbox only the messages ``keep`` (a predicate) holds to."""
        self.outbox = deque(m for m in self.outbox if keep(m))
        self.outbox_bytes = sum(len(m[2]) for m in self.outbox)


@dataclass
class Opening:
    """An ``open`` taken, and checked, but not yet answered."""

    msg: dict
    spec: SessionSpec
    model: LipSyncModel
    controls: MotionControls
    avatar: Avatar | None = None  # a texture session's, when it was worked out already
    job: AvatarJob | None = None  # else what works it out

    @property
    def waiting(self) -> bool:
        """Its avatar is still being worked out."""
        return self.job is not None and not self.job.future.done()


# Stream positions (16 kHz samples) within this of a bound count as on it: MotionStream's own tolerance.
_SLACK = END_SLACK_S * SAMPLE_RATE


@dataclass
class Utterance:
    """One utterance of a session, from its first audio until ``ended`` has gone out."""

    number: int
    start: int  # stream position (16 kHz samples) where it began
    end: int | None = None  # stream position where it ended (after "end"), None while open
    samples: int = 0  # audio samples received for it (client rate)
    frames: int = 0  # motion frames sent for it

    def covers(self, at: float) -> bool:
        """Whether the frame at stream position ``at`` (16 kHz samples, exact: a frame's time times the rate) is
        this utterance's. Its last frame lies at or before the end of its last whole 10 ms hop, the last instant
        the lip network describes, and before the end of its audio (a frame shows the 1/fps from its instant),
        as ``MotionPipeline.process`` times a file's frames (with the same tolerance, so that the two count
        alike at rates like 60000/1001, where a frame's rounded position could cross the end)."""
        return at >= self.start - _SLACK and not self.ended_before(at)

    def ended_before(self, at: float) -> bool:
        """Whether it has ended, with its last frame before stream position ``at``."""
        if self.end is None:
            return False
        length = self.end - self.start
        return at > self.start + length // HOP * HOP + _SLACK or at >= self.end - _SLACK


@dataclass
class Session:
    id: int
    client: bytes
    spec: SessionSpec
    stream: MotionStream
    resampler: StreamResampler
    ready: np.ndarray  # 16 kHz hops waiting for the network
    utterance: int = 0  # the latest utterance's number: 0 before the first audio
    # The open utterance, and those that have ended but whose last frames are still in the network: a
    # client may send the next utterance before the last one's frames are out.
    speaking: list[Utterance] = field(default_factory=list)
    stream_samples: int = 0  # 16 kHz samples given to the stream so far
    chunk_arrivals: list[tuple[int, int]] = field(default_factory=list)  # (stream pos, recv ns)
    drop_until: float = -1.0  # frames up to this time are discarded (after an interrupt)
    idle_clock: float | None = None
    frames_sent: int = 0
    avatar: Any = None  # texture sessions: the avatar rendered
    texture_pending: dict | None = None  # the newest frame waiting to be rendered (latest wins)
    texture_rendering: int | None = None  # the utterance of its frame on the render thread, if one is

    @property
    def model(self) -> LipSyncModel:
        return self.stream.pipeline.model

    @property
    def in_utterance(self) -> bool:
        return bool(self.speaking) and self.speaking[-1].end is None

    @property
    def ending(self) -> bool:
        """An utterance has ended and its ``ended`` has not gone out yet."""
        return any(u.end is not None for u in self.speaking)


class BridgeServer:
    """Serve motion frames to engine clients. ``serve_forever`` returns after ``stop`` or a signal.

    ``models``: the lip-sync models sessions choose from by lookahead (default: every shipped one, on
    ``device``). ``textures``: render 512 px textures for texture sessions, on ``device`` ("auto": a
    GPU when onnxruntime-gpu has one; the lip models stay on the CPU, see ``LipSyncModel``).
    """

    def __init__(self, endpoint: str = P.DEFAULT_ENDPOINT, models: Sequence[LipSyncModel] | None = None,
                 curve_dir: Path | None = None, insecure: bool = False, context: zmq.Context | None = None,
                 avatars_dir: Path | None = None, textures: bool = True, device: str = "auto") -> None:
        check_bind_safety(endpoint, curve_dir, insecure)
        if models is None:
            models = [LipSyncModel(path, device=device, threads=1) for path in shipped_models().values()]
        # A session picks its model by lookahead; the least is the default, as live use wants low latency.
        self.models: dict[int, LipSyncModel] = {}
        for m in models:
            twin = self.models.setdefault(m.lookahead * 10, m)
            if twin is not m:
                if twin.path.resolve() == m.path.resolve():
                    raise FacecastError(f"{m.path}: lip-sync model given twice")
                raise FacecastError(f"{twin.path} and {m.path} both have {m.lookahead * 10} ms lookahead; sessions "
                                    "choose a model by its lookahead, so serve one of them")
        if not self.models:
            raise FacecastError("the server needs at least one lip-sync model")
        self.model = self.models[min(self.models)]
        # Imported now, not by the first session's resampler and motion filters, which would stall every
        # client for the second scipy.signal takes to import (the command line imports it lazily).
        import scipy.signal  # noqa: F401

        self.textures = None
        if textures:
            from facecast.bridge.textures import TextureRenderer

            # A lip network on CUDA (--device cuda) would use CUDA while a graph is captured, which
            # onnxruntime's capture forbids: then a capture holds the loop, as it did before the stand-in.
            lips_on_cuda = any(m.providers[0] == CUDA for m in self.models.values())
            self.textures = TextureRenderer(avatars_dir, device, cpu_stand_in=not lips_on_cuda)
            if lips_on_cuda and self.textures.renderer.graphs is not None:
                _log(logging.INFO, "captures_hold_the_loop", reason="the lip networks run on CUDA too (--device "
                     "auto keeps them on the CPU): a new texture shape's CUDA graph is captured with every session "
                     "waiting, 0.5-1.3 s on an H100")
            # Packs are looked up when a session asks (the folder may gain packs while the server runs);
            # what is wrong with it now is said now.
            for event, fields in self.textures.folder_warnings():
                _log(logging.WARNING, event, **fields)
            if self.textures.renderer.providers[0] != CPU:
                # A GPU's first frame of each shape pays for its CUDA graph (0.5-1.3 s on an H100): pay it at
                # start-up for one to four sessions showing the bundled avatar at 512 px, so that their first
                # frames come from the GPU (other avatars, sizes and counts have their first second of frames
                # rendered on the CPU while their graph is captured).
                # Logged, as it holds the server's start for seconds (3.1 s on an H100).
                counts = [1, 2, 4]
                _log(logging.INFO, "capturing", device=self.textures.renderer.providers[0],
                     texture_sessions=counts, size=512)
                start = time.monotonic()
                default = self.textures.avatar(None, 512)
                for sessions in counts:
                    self.textures.render([default] * sessions, neutral_frames(sessions), wait_for_capture=True)
                _log(logging.INFO, "captured", took_s=round(time.monotonic() - start, 2))
        self.ctx = context or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sending to a vanished client raises instead of dropping
        self.sock.setsockopt(zmq.SNDHWM, SNDHWM)
        self.sock.setsockopt(zmq.RCVHWM, RCVHWM)
        self.sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)  # libzmq drops peers sending more
        self.sock.setsockopt(zmq.LINGER, 0)
        if P.is_ipv6(endpoint):
            self.sock.setsockopt(zmq.IPV6, 1)
        self.auth = None
        # An ipc:// endpoint's socket file, which libzmq leaves behind, and its (device, inode): another server
        # may bind the same path later (libzmq lets it), and its file is not this one's to remove.
        self._ipc_file: tuple[Path, tuple[int, int]] | None = None
        try:
            if curve_dir is not None:
                self.auth = _start_curve(self.ctx, self.sock, curve_dir)
            self.sock.bind(endpoint)
        except BaseException:
            self.close_socket()
            raise
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if self.endpoint.startswith("ipc://"):
            place = Path(self.endpoint.removeprefix("ipc://"))
            with contextlib.suppress(OSError):
                self._ipc_file = place, _file_id(place)
        self.clients: dict[bytes, Client] = {}
        self.sessions: dict[int, Session] = {}
        self._next_session = 1
        # On the CPU a turn's textures are rendered and encoded on a thread beside the loop (10-60 ms a call
        # at 512-1024 px, which the loop would make every session's motion wait for); the thread wakes the
        # loop through an inproc socket when they are done. On a GPU a call takes a few ms, and the loop
        # makes it: a capture of a CUDA graph must see no other CUDA work, such as a lip network's.
        self._render_thread: ThreadPoolExecutor | None = None
        self._rendering: tuple[list[tuple[Session, dict]], Future] | None = None  # the textures on it
        self._poller = zmq.Poller()
        self._poller.register(self.sock, zmq.POLLIN)
        if self.textures is not None and self.textures.renderer.providers[0] == CPU:
            self._render_thread = ThreadPoolExecutor(1, thread_name_prefix="facecast-render")
            place = f"inproc://facecast-rendered-{id(self)}"
            self._rendered = self.ctx.socket(zmq.PAIR)
            self._rendered.bind(place)
            self._rendered_signal = self.ctx.socket(zmq.PAIR)  # the render thread's end
            self._rendered_signal.connect(place)
            self._poller.register(self._rendered, zmq.POLLIN)
        self._running = False
        self.started = time.monotonic()
        self.counters = {"messages": 0, "errors": 0, "frames_sent": 0, "inference_calls": 0,
                         "inference_rows": 0, "clients_left": 0, "clients_dropped": 0, "textures_sent": 0,
                         "textures_skipped": 0}

    # -- lifecycle -------------------------------------------------------------------------------

    def serve_forever(self, install_signals: bool = True) -> None:
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop())
        self._running = True
        _log(logging.INFO, "listening", endpoint=self.endpoint, protocol=P.PROTOCOL_VERSION,
             providers=self.model.providers, lip_models={ms: m.path.name for ms, m in sorted(self.models.items())},
             render_providers=self.textures.renderer.providers if self.textures else None,
             avatars=self.textures.names() if self.textures else None)
        try:
            while self._running:
                self.turn()
        finally:
            self.close()

    def turn(self) -> None:
        """One turn of the loop: read what has come (waiting up to 5 ms while there is work to do, else
        100 ms), make and send every session's frames and textures, and look after the clients."""
        busy = any(c.outbox or c.opening for c in self.clients.values()) or any(
            s.ready.size or s.spec.idle or s.texture_pending or s.ending for s in self.sessions.values())
        ready = dict(self._poller.poll(5 if busy else 100))
        if self.sock in ready:
            self._receive_all()
        if self._render_thread is not None and self._rendered in ready:
            self._rendered.recv(zmq.NOBLOCK)
        self._answer_opens()
        if self.textures is not None:
            self.textures.tidy()
        self._run_inference()
        self._render_textures()
        self._finish_utterances()
        self._tick_idle()
        self._flush_outboxes()
        self._heartbeat()
        self._drop_silent_clients()

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        _log(logging.INFO, "shutdown", **self.stats())
        try:
            self.close_socket()
        finally:
            if self.textures is not None:
                self.textures.close()

    def close_socket(self) -> None:
        if getattr(self, "_render_thread", None) is not None:  # its last textures would go nowhere
            self._render_thread.shutdown()
            self._rendered_signal.close(linger=0)
            self._rendered.close(linger=0)
        self.sock.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        if self._ipc_file is not None:  # left behind, even unbound
            place, bound = self._ipc_file
            with contextlib.suppress(OSError):
                if _file_id(place) == bound:
                    place.unlink()

    def stats(self) -> dict:
        return {"sessions": len(self.sessions), "clients": len(self.clients),
                "uptime_s": round(time.monotonic() - self.started, 1), **self.counters}

    # -- receiving -------------------------------------------------------------------------------

    def _receive_all(self) -> None:
        for _ in range(MAX_MESSAGES_PER_TURN):
            try:
                parts = self.sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            recv_ns = time.monotonic_ns()
            identity = parts[0]  # ROUTER prepends the sender's identity to what it sent
            self.counters["messages"] += 1
            client = self.clients.get(identity)
            if client is None:
                client = self.clients[identity] = Client(identity, time.monotonic())
            client.last_seen = time.monotonic()
            # The type and `request` of the message an error answers, so that a client can tell its requests'
            # errors from those of messages it sent without waiting, and one `open`'s from another's.
            kind = request = None
            try:
                if len(parts) != 2:  # a DEALER sends exactly one frame
                    raise ProtocolError(ErrorCode.BAD_MESSAGE, "send exactly one frame per message")
                msg = P.unpack(parts[1])
                kind = msg["type"][:64]
                request = P.echoed(msg, "request")
                self._handle(client, msg, recv_ns)
            except Exception as exc:  # a bug must cost one reply, never the server
                self._reply_failed(identity, exc, kind, request)

    def _reply_failed(self, identity: bytes, exc: Exception, ref: str | None, request: Any) -> None:
        """The ``error`` answering a message (of type ``ref``, with ``request``) that failed: a
        ``ProtocolError``'s own code and words, or, for anything else (a bug), an internal error."""
        self.counters["errors"] += 1
        if isinstance(exc, ProtocolError):
            # At debug level: a client's mistakes, which a hostile one could make thousands of a second.
            _log(logging.DEBUG, "error_reply", client=identity.hex(), code=str(exc.code), ref=ref,
                 message=exc.message[:200])
            self._send(identity, P.error(exc.code, exc.message, exc.session, ref=ref, request=request))
        else:
            _log(logging.ERROR, "internal_error", error=repr(exc))
            self._send(identity, P.error(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}", ref=ref,
                                         request=request))

    def _handle(self, client: Client, msg: dict, recv_ns: int) -> None:
        kind = msg["type"]
        if kind not in P.CLIENT_TYPES:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:64]!r}")
        if kind == "ping":
            self._send(client.identity, {"type": "pong", "t": P.echoed(msg, "t"), "server_ns": time.monotonic_ns()})
            return
        if kind == "hello":
            version = P.field(msg, "protocol", int)
            if version != P.PROTOCOL_VERSION:
                raise ProtocolError(ErrorCode.PROTOCOL_VERSION,
                                    f"this server speaks protocol {P.PROTOCOL_VERSION}, not {version}")
            name = P.field(msg, "client", (str, type(None)), None) or ""
            client.hello = True
            _log(logging.INFO, "hello", client=client.identity.hex(), name=name[:64])
            self._send(client.identity, P.welcome(f"facecast {__version__}", self.capabilities()))
            return
        if not client.hello:
            raise ProtocolError(ErrorCode.HELLO_FIRST, "say hello first")
        if kind == "stats":
            self._send(client.identity, {"type": "stats", **self.stats()})
            return
        if kind == "open":
            self._open(client, msg)
            return
        session = self._session(client, msg)
        if kind == "audio":
            self._audio(session, msg, recv_ns)
        elif kind == "end":
            self._end(session, recv_ns)
        elif kind == "interrupt":
            self._interrupt(session)
        elif kind == "controls":
            current = session.stream.nonverbal.controls
            controls = P.motion_controls(P.field(msg, "controls", dict), session.id, base=current)
            if controls.seed != current.seed:  # the generator's random streams are fixed for a session's life
                raise ProtocolError(ErrorCode.BAD_FIELD, f"the seed cannot change mid-session ({current.seed} -> "
                                    f"{controls.seed}); open a new session for a new seed", session.id)
            session.stream.set_controls(controls)
            self._send(client.identity, {"type": "controls_ok", "session": session.id})
        elif kind == "close":
            self._close_session(session)
            self._send(client.identity, {"type": "closed", "session": session.id})

    def capabilities(self) -> dict:
        return {
            "modes": ["motion", "texture", "both"] if self.textures else ["motion"],
            "avatars": self.textures.names() if self.textures else [],
            "encodings": list(P.ENCODINGS) if self.textures else [],
            "sample_formats": list(P.SAMPLE_FORMATS),
            "sample_rates": [P.MIN_RATE, P.MAX_RATE],
            "max_fps": P.MAX_FPS,
            "lookahead_ms": self.model.lookahead * 10,
            "algorithmic_latency_ms": self.model.latency_ms,
            "lookaheads_ms": list(self.models),
            "idle": True,
            "batched_inference": True,
        }

    def _session(self, client: Client, msg: dict) -> Session:
        sid = P.field(msg, "session", int)
        session = self.sessions.get(sid)
        if session is None or session.client != client.identity:
            raise ProtocolError(ErrorCode.UNKNOWN_SESSION, f"no session {sid} on this connection", sid)
        return session

    def _open(self, client: Client, msg: dict) -> None:
        """Check an ``open`` and answer it, or, while its avatar is worked out on the avatar thread (or an
        earlier open of the client's waits for one), keep it for ``_answer_opens``: the loop goes on serving
        every other session meanwhile."""
        spec = SessionSpec.from_open(msg)
        if spec.size % 4:  # checked in every mode, as every other range is
            raise ProtocolError(ErrorCode.BAD_FIELD, "field 'size' must be a multiple of 4")
        if spec.mode != "motion" and self.textures is None:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"mode {spec.mode!r}: this server renders no textures")
        if len(client.sessions) + len(client.opening) >= P.MAX_SESSIONS_PER_CLIENT:
            raise ProtocolError(ErrorCode.LIMIT, f"too many sessions: this connection has {len(client.sessions)}"
                                f"{_and_opening(len(client.opening))}, the most one may hold "
                                "(limits.max_sessions_per_client)")
        waiting = sum(len(c.opening) for c in self.clients.values())
        if len(self.sessions) + waiting >= P.MAX_SESSIONS:
            raise ProtocolError(ErrorCode.LIMIT, f"too many sessions: the server holds {len(self.sessions)}"
                                f"{_and_opening(waiting)}, the most it takes (limits.max_sessions)")
        controls = P.motion_controls(spec.controls)
        model = self.model if spec.lookahead_ms is None else self.models.get(spec.lookahead_ms)
        if model is None:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"field 'lookahead_ms' must be one of {list(self.models)}")
        opening = Opening(msg, spec, model, controls)
        if spec.mode != "motion":  # last: an open refused for any other reason sets no avatar to be worked out
            from facecast.bridge.textures import AvatarJob

            found = self.textures.lookup(spec.avatar, spec.size)
            if isinstance(found, AvatarJob):
                opening.job = found
            else:
                opening.avatar = found
        client.opening.append(opening)
        self._answer_opens(client)

    def _answer_opens(self, client: Client | None = None) -> None:
        """Answer the opens of ``client`` (None: of every client) whose avatars are ready, in the order each
        client sent them, up to the first still waiting for its avatar."""
        for c in [client] if client is not None else list(self.clients.values()):
            while c.opening and not c.opening[0].waiting and self.clients.get(c.identity) is c:
                opening = c.opening.popleft()
                try:
                    self._start_session(c, opening)
                except Exception as exc:  # its pack could not be read; or a bug, which costs one reply
                    self._reply_failed(c.identity, exc, "open", P.echoed(opening.msg, "request"))

    def _start_session(self, client: Client, opening: Opening) -> None:
        spec, model, avatar, job = opening.spec, opening.model, opening.avatar, opening.job
        if job is not None:
            first = not job.finished  # several opens may wait for one avatar
            avatar = self.textures.finish(job, keep=self._avatars_shown())
            if first:
                _log(logging.INFO, "avatar_ready", avatar=job.name, size=job.size,
                     took_ms=round(1000 * (time.monotonic() - job.started)))
        pipeline = MotionPipeline(model, fps=spec.fps, controls=opening.controls)
        sid = self._next_session
        self._next_session += 1
        session = Session(sid, client.identity, spec, pipeline.stream(), StreamResampler(spec.sample_rate),
                          np.zeros(0, np.float32))
        session.avatar = avatar
        if spec.idle:
            session.idle_clock = time.monotonic()
        self.sessions[sid] = session
        client.sessions.add(sid)
        _log(logging.INFO, "open", session=sid, client=client.identity.hex(), fps=spec.fps,
             rate=spec.sample_rate, format=spec.sample_format, idle=spec.idle)
        self._send(client.identity, {
            "type": "opened", "session": sid, "request": opening.msg.get("request"), "mode": spec.mode,
            "fps": spec.fps, "frame_bytes": P.FRAME_BYTES, "layout_version": P.FRAME_VERSION,
            "lookahead_ms": model.lookahead * 10, "algorithmic_latency_ms": model.latency_ms,
            "size": spec.size if avatar is not None else None,
            "encoding": spec.encoding if avatar is not None else None,
            "avatar_source": avatar.source[:P.MAX_NAME_CHARS] if avatar is not None else None,
            "lip_model": model.provenance[:P.MAX_NAME_CHARS],
            # What was applied, so that a client can see its fields were taken as it meant them.
            "sample_rate": spec.sample_rate, "sample_format": spec.sample_format, "channels": spec.channels,
            "idle": spec.idle,
        })

    def _audio(self, session: Session, msg: dict, recv_ns: int) -> None:
        data = P.field(msg, "data", bytes)
        spec = session.spec
        width = P.SAMPLE_FORMATS[spec.sample_format] * spec.channels
        if len(data) % width:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"audio data must be whole frames of {width} bytes", session.id)
        if spec.sample_format == "pcm16":
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = np.frombuffer(data, dtype="<f4")
            problem = float_problem(samples)
            if problem:
                raise ProtocolError(ErrorCode.BAD_FIELD, problem, session.id)
        samples = samples.reshape(-1, spec.channels).mean(axis=1)
        queued = session.ready.size / SAMPLE_RATE
        if queued + samples.size / spec.sample_rate > P.MAX_BUFFERED_SECONDS:
            raise ProtocolError(ErrorCode.LIMIT, f"more than {P.MAX_BUFFERED_SECONDS:g} s of audio queued",
                                session.id)
        if not samples.size:  # nothing to hear: no utterance starts
            return
        if not session.in_utterance:
            self._start_utterance(session)
        session.speaking[-1].samples += samples.size
        audio16 = np.clip(session.resampler.push(samples), -1.0, 1.0)
        self._feed(session, audio16)
        session.chunk_arrivals.append((session.stream_samples, recv_ns))

    def _start_utterance(self, session: Session) -> None:
        session.utterance += 1
        session.speaking.append(Utterance(session.utterance, session.stream_samples))
        session.idle_clock = None
        session.resampler = StreamResampler(session.spec.sample_rate)

    def _feed(self, session: Session, audio16: np.ndarray) -> None:
        hops = session.stream.take(audio16)
        session.stream_samples += audio16.size
        session.ready = np.concatenate([session.ready, hops]) if session.ready.size else hops

    def _tail_silence(self, session: Session) -> np.ndarray:
        """Silence that makes every frame up to now final: lookahead, analysis window and retiming reach."""
        seconds = (session.model.lookahead + 2) * HOP / SAMPLE_RATE + 1.0 / session.spec.fps
        return np.zeros(int(np.ceil(seconds * SAMPLE_RATE / HOP)) * HOP, np.float32)

    def _end(self, session: Session, recv_ns: int) -> None:
        if not session.in_utterance:
            raise ProtocolError(ErrorCode.BAD_FIELD, "no utterance in progress", session.id)
        self._feed(session, session.resampler.flush())
        utterance = session.speaking[-1]
        # Where its last sample falls at 16 kHz: the resampler's flush rounds its output up, and a frame
        # past the audio would show a sample the client never sent.
        utterance.end = min(session.stream_samples,
                            utterance.start + utterance.samples * session.resampler.up // session.resampler.down)
        self._feed(session, self._tail_silence(session))
        # The tail silence completes the utterance's last frames: they wait on this message, not on audio.
        session.chunk_arrivals.append((session.stream_samples, recv_ns))
        if session.spec.idle:
            session.idle_clock = time.monotonic()

    def _interrupt(self, session: Session) -> None:
        if not session.speaking:
            # Nothing to cut (what waits for the network is silence: idle, or the rest after a line): the
            # session's clock stays where it is (its rest silence, fed here as after a cut, moved the next
            # line's frames off the grid `facecast motion` puts them on).
            self._send(session.client, {"type": "interrupted", "session": session.id})
            return
        # Drop what has not reached the network, let the mouth come to rest over silence, and discard
        # the frames of the cut-off speech that were not sent yet.
        session.stream_samples -= session.ready.size  # those samples never reach the stream
        session.ready = np.zeros(0, np.float32)
        session.chunk_arrivals.clear()  # positions past the cut will be reached again, by other audio
        # What was cut off gets no "ended", nor its frames still waiting for a client whose buffer was full
        # (idle frames, replies and earlier utterances' frames stay).
        cut = {u.number for u in session.speaking}
        session.speaking.clear()
        client = self.clients.get(session.client)
        if client is not None and client.outbox:
            client.keep_only(lambda m: m[0] != session.id or m[1] not in cut)
        if session.texture_pending is not None and session.texture_pending["utterance"] in cut:
            session.texture_pending = None
        session.drop_until = session.stream_samples / SAMPLE_RATE
        self._feed(session, self._tail_silence(session))
        if session.spec.idle:
            session.idle_clock = time.monotonic()
        self._send(session.client, {"type": "interrupted", "session": session.id})  # after what is queued

    def _avatars_shown(self) -> list[tuple[str | None, int]]:
        """The (avatar, size) pairs that open texture sessions show, or will when their opens are answered."""
        waiting = [o.spec for c in self.clients.values() for o in c.opening if o.spec.mode != "motion"]
        return [(s.spec.avatar, s.spec.size) for s in self.sessions.values() if s.avatar is not None] + \
            [(spec.avatar, spec.size) for spec in waiting]

    def _close_session(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        client = self.clients.get(session.client)
        if client is not None:
            client.sessions.discard(session.id)
        if session.avatar is not None:
            self.textures.release(session.spec.avatar, session.spec.size, keep=self._avatars_shown())
        _log(logging.INFO, "close", session=session.id, frames_sent=session.frames_sent)

    # -- inference and sending -------------------------------------------------------------------

    def _run_inference(self) -> None:
        active = [s for s in self.sessions.values() if s.ready.size]
        if not active:
            return
        for model in self.models.values():
            group = [s for s in active if s.model is model]
            if not group:
                continue
            chunks = []
            for s in group:
                n = min(s.ready.size, MAX_HOPS_PER_ROUND * HOP)
                chunks.append(s.ready[:n])
                s.ready = s.ready[n:]
            lips = step_batch(model, [s.stream.lips for s in group], chunks)
            self.counters["inference_calls"] += len({c.size for c in chunks})
            self.counters["inference_rows"] += len(chunks)
            # Each session's frames go out as soon as they are made, not after the whole group's.
            for s, track in zip(group, advance_batch([s.stream for s in group], lips, chunks), strict=True):
                self._deliver(s, track)

    def _finish_utterances(self) -> None:
        """``ended`` for the utterances whose audio, tail silence included, the network has all taken in
        (``_deliver`` sends it sooner, as soon as a frame past an utterance's end is made)."""
        for s in list(self.sessions.values()):
            if s.id in self.sessions and not s.ready.size and self._queue_ended(s, None):
                self._flush(s.client)  # may close the session: a send to its client failed

    def _queue_ended(self, session: Session, past: float | None, next_frames_sent: bool = True) -> bool:
        """Queue ``ended`` for every utterance that has ended before stream position ``past`` (None: any),
        once its last texture is not waiting to be rendered, nor, unless frames after it go out now
        (``next_frames_sent``, which a texture must not follow), being rendered; True if any was."""
        texture = session.texture_pending["utterance"] if session.texture_pending is not None else None
        rendering = session.texture_rendering if past is None or not next_frames_sent else None
        done = [u for u in session.speaking
                if u.end is not None and (past is None or u.ended_before(past))
                and u.number not in (texture, rendering)]
        for u in done:
            session.speaking.remove(u)
            self._queue(session, {"type": "ended", "session": session.id, "utterance": u.number,
                                  "frames": u.frames, "samples": u.samples})
        return bool(done)

    def _deliver(self, session: Session, track) -> None:
        n = len(track)
        if not n:
            return
        fps = session.spec.fps
        # A live chunk makes a frame or two: their times and positions are worked out on plain numbers.
        # The index as an int, the times in float64: a float32 time is 9 ms out after 40 hours of idling.
        first = int(track.frame_index[0])
        times = [(first + i) / fps for i in range(n)]
        stream_pos = [t * SAMPLE_RATE for t in times]  # exact: a frame's owner is decided on its time
        drop = session.drop_until + 1e-9
        # Runs of consecutive frames of one utterance (None: idle), in order.
        runs: list[tuple[Utterance | None, list[int]]] = []
        for i, (t, pos) in enumerate(zip(times, stream_pos, strict=True)):
            if t <= drop:
                continue
            owner = next((u for u in session.speaking if u.covers(pos)), None)
            if owner is None and not session.spec.idle:
                continue
            if runs and runs[-1][0] is owner:
                runs[-1][1].append(i)
            else:
                runs.append((owner, [i]))
        # The audio that made these frames final: the chunk (or ``end``) that took the stream to where the
        # network has heard, which is past them by its lookahead and the resampling reach.
        heard = session.stream_samples - session.ready.size
        arrivals = [ns for pos, ns in session.chunk_arrivals if pos >= heard]
        recv_ns = arrivals[0] if arrivals else time.monotonic_ns()  # idle frames: silence the server made
        for owner, rows in runs:
            utterance = owner.number if owner else 0
            pending = session.texture_pending
            if pending is not None and pending["utterance"] != utterance:
                # This run's newest frame takes its place anyway (latest wins); dropped now, it no longer
                # holds back the "ended" of its utterance, which must come before this run's frames.
                session.texture_pending = None
                self.counters["textures_skipped"] += 1
            # An utterance that ended before these frames is complete: its "ended" goes first, so that a
            # client sees it before any frame of the next utterance or of idling.
            self._queue_ended(session, stream_pos[rows[0]])
            data = np.ascontiguousarray(track.data[rows], dtype=FRAME_DTYPE)
            if owner:
                # From the frame's time, not its rounded 16 kHz position, so that the client's own rate
                # counts evenly (0, 800, 1600 at 48 kHz and 60 fps); never below 0, which would read as idle,
                # nor past the utterance's end, position `samples` (a frame's time rounds to the nearest).
                # (down / up is the client's rate over 16 kHz: the rate itself unless it was approximated.)
                per = session.resampler.down / session.resampler.up
                sample_pos = [min(max(0, round((times[i] * SAMPLE_RATE - owner.start) * per)), owner.samples)
                              for i in rows]
            else:
                sample_pos = [-1] * len(rows)
            if session.avatar is not None:  # latest wins: only the newest frame waits to be rendered
                if session.texture_pending is not None:
                    self.counters["textures_skipped"] += 1
                session.texture_pending = {"frame": data[-1], "index": int(track.frame_index[rows[-1]]),
                                           "sample_pos": sample_pos[-1], "utterance": utterance,
                                           "recv_ns": recv_ns}
                self.counters["textures_skipped"] += len(rows) - 1
                if session.spec.mode == "texture":
                    continue
            message = {
                "type": "motion", "session": session.id, "utterance": utterance,
                "first": int(track.frame_index[rows[0]]), "count": len(rows), "fps": fps,
                "frames": data.tobytes(), "sample_pos": sample_pos,
                "server_recv_ns": recv_ns, "server_send_ns": time.monotonic_ns(),
            }
            self._queue(session, message, utterance or None)
            session.frames_sent += len(rows)
            if owner:
                owner.frames += len(rows)
            self.counters["frames_sent"] += len(rows)
        # Frames past its end were made, though none was sent (a session without idle frames): nothing follows
        # the utterance yet, so a texture of it still rendering goes out before its "ended". (A clip of a whole
        # number of 10 ms has a frame at its very end, which is past it.)
        self._queue_ended(session, stream_pos[-1], next_frames_sent=False)
        session.chunk_arrivals = [(p, ns) for p, ns in session.chunk_arrivals if p >= heard]
        self._flush(session.client)

    def _render_textures(self) -> None:
        """Send the textures the render thread has finished, and give it the newest frame of every texture
        session waiting for one; without a render thread, render and send them now."""
        if self._rendering is not None:
            if not self._rendering[1].done():
                return
            batch, rendered = self._rendering
            self._rendering = None
            try:
                self._send_textures(batch, *rendered.result())
            except Exception as exc:  # a bug costs these textures, never the server
                _log(logging.ERROR, "internal_error", error=repr(exc))
            for s, _ in batch:
                s.texture_rendering = None
        waiting = []
        for s in self.sessions.values():
            if s.texture_pending is None:
                continue
            client = self.clients.get(s.client)
            if client is not None and client.outbox:
                # The client has not taken what was sent before: it gets a newer texture once it has,
                # rather than a queue of old ones (latest wins), and the render is not paid for.
                s.texture_pending = None
                self.counters["textures_skipped"] += 1
            else:
                waiting.append(s)
        if not waiting:
            return
        batch = [(s, s.texture_pending) for s in waiting]
        for s, pending in batch:
            s.texture_pending = None
            s.texture_rendering = pending["utterance"] if self._render_thread is not None else None
        work = (self.textures, [s.avatar for s in waiting], np.stack([pending["frame"] for _, pending in batch]),
                [(s.spec.encoding, s.spec.quality) for s in waiting])
        if self._render_thread is None:
            self._send_textures(batch, *_render_and_encode(*work))
        else:
            rendering = self._render_thread.submit(_render_and_encode, *work)
            # Called once the future is done (a message sent from the job itself could wake the loop before):
            # on the render thread, or here if it is done already.
            rendering.add_done_callback(lambda _: self._rendered_signal.send(b""))
            self._rendering = batch, rendering

    def _send_textures(self, batch: list[tuple[Session, dict]], images: list[np.ndarray], encoded: list[bytes]) -> None:
        for (s, pending), image, data in zip(batch, images, encoded, strict=True):
            if self.sessions.get(s.id) is not s:  # closed while it was rendered
                continue
            if pending["utterance"] and all(u.number != pending["utterance"] for u in s.speaking):
                # Its utterance was cut off, or has ended (its `ended` went out, as the next one's frames
                # came) while it was rendered: no frame of an utterance follows its `ended` or `interrupted`.
                self.counters["textures_skipped"] += 1
                continue
            message = {
                "type": "texture", "session": s.id, "utterance": pending["utterance"], "index": pending["index"],
                "sample_pos": pending["sample_pos"], "width": image.shape[1], "height": image.shape[0],
                "encoding": s.spec.encoding, "data": data,
                "server_recv_ns": pending["recv_ns"], "server_send_ns": time.monotonic_ns(),
            }
            client = self.clients.get(s.client)
            if client is None:  # dropped by a failed send to an earlier session of its
                continue
            try:  # a client that is not keeping up loses this texture, not the server its memory
                self.sock.send_multipart([s.client, P.pack(message)], zmq.NOBLOCK)
            except zmq.Again:
                self.counters["textures_skipped"] += 1
                continue
            except zmq.ZMQError:  # EHOSTUNREACH: the client has gone
                self._drop_client(s.client, reason="gone")
                continue
            self.counters["textures_sent"] += 1
            client.last_sent = time.monotonic()

    def _tick_idle(self) -> None:
        now = time.monotonic()
        for s in self.sessions.values():
            if s.idle_clock is None or s.in_utterance:
                continue
            hops = int((now - s.idle_clock) * 100)
            if hops >= (IDLE_HOPS if s.avatar is None else 1):
                self._feed(s, np.zeros(hops * HOP, np.float32))
                s.idle_clock += hops / 100

    def _flush_outboxes(self) -> None:
        for client in list(self.clients.values()):
            if client.outbox:
                self._flush(client.identity)

    def _queue(self, session: Session, message: dict, utterance: int | None = None) -> None:
        """Put a message of ``session`` (speech frames of ``utterance``, or None) in its client's outbox,
        to go out at the next ``_flush``."""
        client = self.clients.get(session.client)
        if client is not None:  # else dropped while this round's frames were being made
            client.hold((session.id, utterance, P.pack(message)))

    def _send(self, identity: bytes, message: dict) -> None:
        """Send a message to a client now, after whatever it already has waiting."""
        client = self.clients.get(identity)
        if client is None:  # dropped while its message was being handled: nothing to answer
            return
        client.hold((None, None, P.pack(message)))
        self._flush(identity)

    def _flush(self, identity: bytes) -> None:
        """Send a client's outbox, in order, until its socket buffer is full. Past ``OUTBOX_LIMIT``
        messages or ``OUTBOX_BYTES`` a session, the client is taken to have stopped reading and is dropped;
        so is one gone."""
        client = self.clients.get(identity)
        if client is None:
            return
        outbox = client.outbox
        while outbox:
            try:
                self.sock.send_multipart([identity, outbox[0][2]], zmq.NOBLOCK)
            except zmq.Again:  # its buffer is full: keep the rest, give up past the limits
                sessions = max(1, len(client.sessions))
                if len(outbox) > OUTBOX_LIMIT * sessions or client.outbox_bytes > OUTBOX_BYTES * sessions:
                    _log(logging.WARNING, "client_too_slow", client=identity.hex(), queued=len(outbox),
                         queued_bytes=client.outbox_bytes)
                    self._drop_client(identity, reason="too_slow")
                return
            except zmq.ZMQError:  # EHOSTUNREACH: the client has gone
                self._drop_client(identity, reason="gone")
                return
            client.outbox_bytes -= len(outbox.popleft()[2])
            client.last_sent = time.monotonic()

    def _drop_client(self, identity: bytes, reason: str) -> None:
        """Forget a client and close its sessions. ``reason``: "gone" (a send found it gone), "silent"
        (nothing from it for ``CLIENT_TIMEOUT_S``) or "too_slow"."""
        client = self.clients.pop(identity, None)
        if client is None:
            return
        # The protocol has no goodbye: a client that closed its sessions and went is found gone like any
        # other. Only one that went with sessions open, or fell behind, counts as dropped.
        for opening in client.opening:  # never to be answered
            if opening.job is not None:
                self.textures.abandon(opening.job)
        client.opening.clear()
        open_sessions = [sid for sid in client.sessions if sid in self.sessions]
        for sid in open_sessions:
            self._close_session(self.sessions[sid])
        if open_sessions or reason == "too_slow":
            self.counters["clients_dropped"] += 1
            _log(logging.INFO, "client_dropped", client=identity.hex(), sessions=open_sessions, reason=reason)
        else:
            self.counters["clients_left"] += 1
            _log(logging.INFO, "client_left", client=identity.hex(), reason=reason)

    def _heartbeat(self) -> None:
        # ZeroMQ hides disconnects from a ROUTER; with ROUTER_MANDATORY a send to a vanished peer fails,
        # so a periodic heartbeat finds clients that went away without closing their sessions.
        now = time.monotonic()
        for client in list(self.clients.values()):
            # A client with messages waiting is being sent to already: its flushes find whether it has gone.
            if client.hello and not client.outbox and now - client.last_sent > HEARTBEAT_S:
                self._send(client.identity, {"type": "heartbeat", "server_ns": time.monotonic_ns()})

    def _drop_silent_clients(self) -> None:
        limit = time.monotonic() - P.CLIENT_TIMEOUT_S
        for identity in [i for i, c in self.clients.items() if c.last_seen < limit]:
            self._drop_client(identity, reason="silent")


def _and_opening(count: int) -> str:
    """How a limit's message counts the opens still waiting for their avatars, if any."""
    return f" and {count} being opened" if count else ""


def _render_and_encode(textures: TextureRenderer, avatars: list[Avatar], frames: np.ndarray,
                       formats: list[tuple[str, int]]) -> tuple[list[np.ndarray], list[bytes]]:
    """Frame i rendered on avatar i and encoded as ``formats[i]`` says."""
    images = textures.render(avatars, frames)
    return images, textures.encode(images, formats)


def check_bind_safety(endpoint: str, curve_dir: Path | None, insecure: bool) -> None:
    """Loopback by default; anything else needs CURVE keys or an explicit --insecure."""
    problem = P.endpoint_problem(endpoint)
    if problem:
        raise FacecastError(problem)
    if endpoint.startswith(("ipc://", "inproc://")):
        return  # they never leave the machine
    loopback = False  # ws://, udp://, tipc://...: reachable from elsewhere
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint[len("tcp://") :].rpartition(":")
        # libzmq takes a port past 65535 modulo 65536 and binds somewhere else than asked.
        if port != "*" and not (port.isdigit() and 0 < int(port) < 65536):
            raise FacecastError(f"{endpoint}: the port must be 1-65535 or * (any free port)")
        host = host.strip("[]")
        try:
            loopback = host == "localhost" or ip_address(host).is_loopback
        except ValueError:
            pass
    if loopback or curve_dir is not None:
        return
    if not insecure:
        raise FacecastError(f"binding to {endpoint} exposes the server beyond this machine: give --curve DIR "
                            "(keys from `facecast keys`) or --insecure")
    _log(logging.WARNING, "insecure_bind", endpoint=endpoint,
         note="anyone who can reach this address can use the server")


def _file_id(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


class _AuthLog:
    """The logger pyzmq's authenticator is given. It logs a client refused at debug level, so an operator
    whose client got no answer found nothing in the server's log; here that is a ``client_refused`` warning
    with the key refused. Everything else goes to ``logger`` as pyzmq logs it."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):  # never an exception here: it would end the thread that admits clients
            text = ""
        if text.startswith("DENIED"):
            key = text.partition("client_key=")[2]
            _log(logging.WARNING, "client_refused", reason=text.split(" client_key=")[0],
                 client_key=key.removeprefix("b'").removesuffix("'"),
                 hint="a CURVE client is admitted by its public key (.key) in the server's clients/ folder")
        else:
            self._logger.debug(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def _start_curve(ctx: zmq.Context, sock: zmq.Socket, curve_dir: Path):
    from zmq.auth import load_certificate
    from zmq.auth.thread import ThreadAuthenticator

    secret = curve_dir / "server.key_secret"
    if not secret.exists():
        raise FacecastError(f"{secret}: no server secret key (run `facecast keys {curve_dir}`)")
    clients = curve_dir / "clients"
    if not clients.is_dir() or not any(clients.glob("*.key")):
        # Without it ZeroMQ would admit any key: encrypted, but open to anyone who can reach the port.
        raise FacecastError(f"{clients}: no client public keys (.key) to admit; `facecast keys` puts one there, "
                            "and each further client's .key goes beside it")
    try:
        public, private = load_certificate(str(secret))
    except (OSError, ValueError) as exc:
        raise FacecastError(f"{secret}: not a CURVE secret key ({exc})") from None
    # Its log joins the server's, as JSON lines; a client refused, which it logs at debug level, as a warning.
    auth = ThreadAuthenticator(ctx, log=_AuthLog(logging.getLogger("facecast.serve.auth")))
    auth.start()
    auth.configure_curve(domain="*", location=str(clients))
    sock.curve_secretkey = private
    sock.curve_publickey = public
    sock.curve_server = True
    return auth


KEY_FILES = {"server_public": "server.key", "server_secret": "server.key_secret",
             "client_public": "client.key", "client_secret": "client.key_secret"}


def make_keys(directory: Path, replace: bool = False) -> tuple[dict[str, Path], bool]:
    """Server and client CURVE key pairs; the client's public key is authorised in ``clients/``. The secret
    keys are readable by their owner only. Returns their paths, and whether they were made now: a full
    set already there is kept unless ``replace`` (new keys would lock out every client that has the old),
    so that a setup script may run this every time; part of a set is refused."""
    import os
    import shutil

    from zmq.auth import create_certificates

    paths = {key: directory / name for key, name in KEY_FILES.items()}  # as create_certificates names them
    existing = [path.name for path in paths.values() if path.exists()]
    if existing and not replace:
        if len(existing) == len(KEY_FILES):
            return paths, False
        raise FacecastError(f"{directory}: holds part of a key set ({', '.join(existing)}); --replace makes a new "
                            "set, which locks out the clients that have these")
    if directory.exists() and not directory.is_dir():
        raise FacecastError(f"{directory}: not a folder")
    old_mask = os.umask(0o077)  # the secret keys are never readable by others, not even until a chmod
    try:
        directory.mkdir(parents=True, exist_ok=True)
        server_pub, server_secret = create_certificates(str(directory), "server")
        client_pub, client_secret = create_certificates(str(directory), "client")
        os.umask(old_mask)
        for secret in (server_secret, client_secret):
            os.chmod(secret, 0o600)  # as made now; keys replaced keep the mode of the file they overwrite
        for public in (server_pub, client_pub):
            os.chmod(public, 0o666 & ~old_mask)  # public keys are for handing out
        clients = directory / "clients"
        clients.mkdir(exist_ok=True)
        shutil.copy(client_pub, clients / Path(client_pub).name)
    except OSError as exc:
        raise FacecastError(f"{directory}: cannot make keys there: {exc.strerror or exc}") from None
    finally:
        os.umask(old_mask)
    return paths, True
