"""The bridge's command-line verbs: `facecast serve`, `facecast keys`, `facecast client`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from facecast.bridge.protocol import DEFAULT_AVATAR, DEFAULT_ENDPOINT, MAX_FPS, MAX_SIZE
from facecast.device import DEVICES
from facecast.errors import FacecastError

# While it streams, `facecast client` takes a server that has sent nothing (not even the heartbeat it
# sends every 2 s) for this long to have gone.
SERVER_QUIET_S = 5.0


def add_commands(sub: argparse._SubParsersAction) -> None:
    # A value the server would refuse is a usage error here, before any audio is read.
    from facecast.cli import number_arg, output_file

    p = sub.add_parser("serve", help="serve motion to engine clients over ZeroMQ + msgpack",
                       description="Serve per-frame motion to engine clients (protocol: bridge/PROTOCOL.md).")
    p.add_argument("--bind", default=DEFAULT_ENDPOINT, help=f"endpoint (default {DEFAULT_ENDPOINT}: loopback only)")
    p.add_argument("--curve", type=Path, help="folder from `facecast keys`: encrypt and authenticate clients")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without CURVE (warns)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="onnxruntime device (default auto: textures rendered on CUDA when onnxruntime-gpu "
                   "finds a GPU; the lip network stays on the CPU, where it runs faster)")
    p.add_argument("--avatars", type=Path, help="folder of .facecast packs texture sessions may ask for by name "
                   "(looked up when asked for, so packs added, replaced or removed while it runs are seen by the next "
                   "session; packs it cannot read are logged at start)")
    p.add_argument("--lip-model", type=Path, action="append", metavar="PATH.onnx",
                   help="a lip-sync model exported with 'facecast export onnx --checkpoint YOURS.pt --out "
                   "PATH.onnx', served instead of the shipped ones; repeat for several, each of its own lookahead "
                   "(sessions choose by lookahead)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info",
                   help="least level of the JSON log lines on stderr (default info)")
    p.set_defaults(usage_error=p.error)

    p = sub.add_parser("keys", help="make CURVE key pairs for `facecast serve --curve`",
                       description="Make a server and a client CURVE key pair in DIR (secret keys readable by "
                       "you only) and admit the client's public key in DIR/clients. Give each engine "
                       "client server.key and a client key pair; add further clients' .key files to DIR/clients. "
                       "Keys already in DIR are kept (run again, it says so and succeeds) unless --replace.")
    p.add_argument("directory", type=Path, metavar="DIR")
    p.add_argument("--replace", action="store_true",
                   help="replace keys already in DIR (locks out every client that has the old ones)")

    p = sub.add_parser("client", help="stream a speech file to a server in real time and report latency")
    p.add_argument("--audio", type=Path, required=True, help="speech file (wav, flac, ogg, mp3, m4a, ...)")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help=f"the server's address (default {DEFAULT_ENDPOINT})")
    p.add_argument("--fps", type=number_arg(float, "frame rate", 1, MAX_FPS), default=30.0,
                   help=f"motion frame rate, 1-{MAX_FPS} fps, the bridge's limit (default 30)")
    p.add_argument("--chunk-ms", type=number_arg(float, "chunk length", 1, 1000), default=20.0,
                   help="audio chunk length, 1-1000 ms (default 20 ms)")
    p.add_argument("--curve", type=Path, help="folder from `facecast keys` (uses client.key_secret, server.key)")
    p.add_argument("--save", type=output_file(".csv"), help="write the received motion (.csv, .json or .npz)")
    p.add_argument("--save-video", type=output_file(".mp4"), metavar="OUT.mp4",
                   help="with --texture: write the received textures as an mp4 with the speech")
    p.add_argument("--texture", action="store_true", help="ask for rendered JPEG textures too")
    p.add_argument("--avatar", default=None, metavar="NAME",
                   help="with --texture: the server's avatar to render (one of `serve --avatars`; default: its own)")
    p.add_argument("--size", type=number_arg(int, "texture size", 64, MAX_SIZE, multiple=4), default=None,
                   help=f"with --texture: texture size in pixels, 64-{MAX_SIZE}, a multiple of 4 (default 512)")
    p.add_argument("--lookahead-ms", type=int, default=None, metavar="MS",
                   help="lip model lookahead to ask for (default: the server's least, for the lowest latency)")
    p.set_defaults(usage_error=p.error)


def run(args: argparse.Namespace) -> None:
    if args.command == "serve":
        _serve(args)
    elif args.command == "keys":
        from facecast.bridge.server import make_keys

        paths, made = make_keys(args.directory, replace=args.replace)
        if not made:
            print(f"{args.directory}: holds keys already; kept (--replace makes new ones, which locks out the "
                  "clients that have these)", file=sys.stderr)
        for name, path in paths.items():
            print(f"{name}: {path}")
    elif args.command == "client":
        _client(args)


def _serve(args: argparse.Namespace) -> None:
    from facecast.logs import JsonFormatter, logging_to_stderr

    if args.curve is not None and args.insecure:  # exits 2, as argparse does
        args.usage_error("--curve and --insecure contradict each other: with --curve every client is encrypted "
                         "and must hold an admitted key")
    # Every facecast logger, not only the server's: a GPU that cannot run is logged by the device module.
    with logging_to_stderr(JsonFormatter(), args.log_level.upper()):
        try:
            _run_server(args)
        except FacecastError as exc:  # why it cannot start, as its last JSON line (the caller prints nothing)
            logging.getLogger("facecast.serve").error("error", extra={"fields": {"error": str(exc)}})
            raise


def _run_server(args: argparse.Namespace) -> None:
    import zmq

    from facecast.bridge.server import BridgeServer
    from facecast.lipsync import LipSyncModel

    try:
        if args.avatars is not None and not args.avatars.is_dir():
            raise FacecastError(f"{args.avatars}: no such folder")
        # None: the server loads every shipped model
        models = [LipSyncModel(path, device=args.device, threads=1) for path in args.lip_model or []] or None
        server = BridgeServer(args.bind, models, curve_dir=args.curve,
                              insecure=args.insecure, avatars_dir=args.avatars, device=args.device)
    except zmq.ZMQError as exc:
        raise FacecastError(f"cannot bind {args.bind}: {exc}") from None
    server.serve_forever()


def _client(args: argparse.Namespace) -> None:
    from facecast.audio import load_audio
    from facecast.bridge.client import BridgeError, Client, LatencyMeter
    from facecast.motion_frame import MotionTrack
    from facecast.writers import check_output_path, write_motion

    texture_only = [flag for flag, value in (("--avatar", args.avatar), ("--size", args.size),
                                             ("--save-video", args.save_video)) if value is not None]
    if not args.texture and texture_only:  # exits 2, as argparse does
        args.usage_error(f"{texture_only[0]} needs --texture: without it the server sends no textures")
    if args.save is not None:
        check_output_path(args.save)
    if args.save_video is not None:
        from facecast.video import check_video_path

        check_video_path(args.save_video)
    audio = load_audio(args.audio)
    chunk = max(1, int(args.chunk_ms * 16))
    meter, texture_meter = LatencyMeter(), LatencyMeter()
    frames: list[np.ndarray] = []
    textures: list[tuple[int, bytes]] = []
    counts = {"motion": 0, "texture": 0}
    failure: BridgeError | None = None
    picture = lips = None
    try:
        with Client(args.endpoint, curve=args.curve, name="facecast-client") as client:
            extra = {} if args.lookahead_ms is None else {"lookahead_ms": args.lookahead_ms}
            if args.texture:
                extra.update(size=args.size or 512, encoding="jpeg",
                             **({} if args.avatar is None else {"avatar": args.avatar}))
            session = client.open(fps=args.fps, mode="both" if args.texture else "motion", **extra)
            picture = client.opened[session].get("avatar_source")
            lips = client.opened[session].get("lip_model")
            lips = lips if isinstance(lips, str) else None  # None from a server that does not say
            start = time.monotonic()
            sent = 0
            while sent < audio.size:
                due = start + sent / 16000
                while True:  # receive until the next chunk is due, so frames are timed when they arrive
                    wait = due - time.monotonic()
                    message = client.recv(timeout=max(0.0, wait)) if wait > 0 else None
                    if message is None:
                        break
                    _take(message, meter, frames, texture_meter, textures, counts)
                if time.monotonic() - client.last_heard > SERVER_QUIET_S:
                    raise BridgeError(f"the server has sent nothing for {SERVER_QUIET_S:g} s: it has gone",
                                      "timeout")
                part = audio[sent : sent + chunk]
                client.send_audio(session, part)
                sent += part.size
                meter.sent(sent, time.monotonic())
                texture_meter.sent(sent, time.monotonic())
            client.end(session)
            for message in client.messages(until="ended", timeout=5.0):
                _take(message, meter, frames, texture_meter, textures, counts)
            client.close(session)
    except BridgeError as exc:
        if exc.code not in ("timeout", "hello_first"):
            raise  # the server refused something (an unknown avatar, say): the connection is fine
        failure = exc  # the connection failed: what came before is still reported and saved
    from facecast.cli import counted

    if failure is not None and not any(counts.values()):
        raise failure  # nothing came (no server there, say): the error alone says it
    summary = meter.summary()
    print(f"received {counted(counts['motion'], 'frame')} for {audio.size / 16000:.1f} s of speech"
          + (" before the connection failed" if failure else ""))
    if summary["frames"]:
        print(f"latency p50 {summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms, "
              f"p99 {summary['p99_ms']:.0f} ms, max {summary['max_ms']:.0f} ms")
    if args.texture:
        t = texture_meter.summary()
        latency = f": latency p50 {t['p50_ms']:.0f} ms, p95 {t['p95_ms']:.0f} ms" if t["frames"] else ""
        print(f"received {counted(counts['texture'], 'texture')}{latency}")
    if args.save is not None and frames:
        write_motion(MotionTrack(np.concatenate(frames), args.fps), args.save, source=args.audio.name,
                     lip_model=lips)
        print(f"written {args.save}" + (" (the frames received before the failure)" if failure else ""))
    if args.save_video is not None and textures:
        n = sum(len(f) for f in frames) or 1 + max(round(pos * args.fps / 16000) for pos, _ in textures)
        _write_received_video(args.save_video, textures, n, args.fps, args.audio, args.avatar or DEFAULT_AVATAR,
                              picture, lips)
        print(f"written {args.save_video}: {len(textures)} textures received for {n} frames")
    if failure is not None:
        raise failure


def _write_received_video(path: Path, textures: list[tuple[int, bytes]], n_frames: int, fps: float,
                          audio: Path, avatar: str, picture: str | None, lips: str | None = None) -> None:
    """The received textures on the frame clock, each held until the next (latest-wins skips some).
    ``picture``: the file name the server's avatar was prepared from, and ``lips`` its lip model (None from a
    server that does not say), named in the video's metadata as ``render`` names them."""
    import io

    from PIL import Image

    from facecast.video import VideoWriter

    by_frame = {min(n_frames - 1, round(pos * fps / 16000)): data for pos, data in textures}
    first = min(by_frame)
    size = Image.open(io.BytesIO(by_frame[first])).size[0]
    # The portrait is the server's avatar, not the speech file.
    source = (f"{picture}, " if picture else "") + f"avatar '{avatar}' of facecast serve"
    with VideoWriter(path, size, fps, audio, source=source,
                     motion_source=f"lips by {lips} of facecast serve" if lips else None) as video:
        current = None
        for i in range(n_frames):
            data = by_frame.get(i if i >= first else first)
            if data is not None:
                current = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            video.write(current[None])


def _take(message: dict, meter, frames: list[np.ndarray], texture_meter, textures: list[tuple[int, bytes]],
          counts: dict[str, int]) -> None:
    if message["type"] in counts:
        counts[message["type"]] += message.get("count", 1)
    if message["type"] == "texture":
        texture_meter.received([message["sample_pos"]], time.monotonic())
        if message["utterance"] > 0 and message["encoding"] in ("jpeg", "png"):
            textures.append((message["sample_pos"], message["data"]))
    elif message["type"] == "motion":
        meter.received(message["sample_pos"], time.monotonic())
        if message["utterance"] > 0:
            frames.append(message["track"].data)
    elif message["type"] == "error":
        raise FacecastError(f"server error {message['code']}: {message['message']}")
