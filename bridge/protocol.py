"""The facecast bridge protocol, version 1: message types, limits and validation (see PROTOCOL.md).

Every ZeroMQ message is one frame holding one msgpack map with a ``"type"`` string. This module turns
raw bytes into validated dicts and back, and is shared by the server and the Python client so both
speak exactly what PROTOCOL.md says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from facecast.motion_frame import FRAME_BYTES, FRAME_VERSION

PROTOCOL_VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_AVATAR = "default"  # a texture session's avatar when it names none: the bundled portrait
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # what the server takes from a client
MAX_SIZE = 1024  # a texture's side, pixels
MAX_STR_BYTES = 64 * 1024  # a string in any message
MAX_ECHO_BYTES = 1024  # a value the server sends back as it came (`request`, a ping's `t`), packed
MAX_NAME_CHARS = 255  # a name the server tells (an avatar's source picture, its lip model)
MAX_CONTAINERS = 4096  # maps and arrays in one message: decoding millions of empty ones took seconds
MAX_MAP_KEYS = 1024  # keys in one map
MAX_ARRAY_ITEMS = 65536  # items in one array
# What a client must take from the server: a raw rgba8 texture at the largest size is 4 MiB of pixels
# before its fields, past the 4 MiB a client may send.
MAX_SERVER_MESSAGE_BYTES = MAX_SIZE * MAX_SIZE * 4 + MAX_STR_BYTES
MAX_SESSIONS = 64
MAX_SESSIONS_PER_CLIENT = 32
MAX_BUFFERED_SECONDS = 10.0  # audio a session may queue ahead of inference before it is refused
CLIENT_TIMEOUT_S = 30.0  # a client silent for this long (no message, not even a ping) is dropped
SAMPLE_FORMATS = {"pcm16": 2, "f32": 4}
MODES = ("motion", "texture", "both")
ENCODINGS = ("rgb8", "rgba8", "jpeg", "png")
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 8
MAX_FPS = 120

CLIENT_TYPES = ("hello", "open", "audio", "end", "interrupt", "controls", "close", "ping", "stats")


class ErrorCode:
    BAD_MESSAGE = "bad_message"  # not a msgpack map with a type
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"  # a field is missing, of the wrong type or out of range
    PROTOCOL_VERSION = "protocol_version"
    HELLO_FIRST = "hello_first"  # a client must say hello before anything else
    UNKNOWN_SESSION = "unknown_session"
    LIMIT = "limit"  # too many sessions, or too much audio queued
    UNSUPPORTED = "unsupported"  # a capability this server does not have
    INTERNAL = "internal"


class ProtocolError(Exception):
    """A message the server refuses; becomes an ``error`` message to the client, never a crash."""

    def __init__(self, code: str, message: str, session: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.session = code, message, session


def endpoint_problem(endpoint: str) -> str | None:
    """What is wrong with an address as written, or None: libzmq says only "Invalid argument" of one
    without its transport (``localhost:5555``)."""
    if "://" not in endpoint:
        return (f"{endpoint}: an address is TRANSPORT://WHERE, such as tcp://127.0.0.1:5555 or "
                "ipc:///tmp/facecast.sock")
    return None


def is_ipv6(endpoint: str) -> bool:
    """A tcp endpoint on an IPv6 address (``tcp://[::1]:5555``): libzmq binds and connects over IPv4 only
    unless the socket is told (``zmq.IPV6``)."""
    return endpoint.startswith("tcp://[")


def pack(message: dict[str, Any]) -> bytes:
    """One message as msgpack; numpy's scalars (``fps=np.float32(30)``) go as the numbers they are."""
    return msgpack.packb(message, use_bin_type=True, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send a {type(value).__name__} in a message")


def controls_fields(controls: Any, seed: bool = True) -> dict[str, Any]:
    """The wire form of a ``facecast.nonverbal.MotionControls`` (``open.controls``, ``controls.controls``);
    a dict is taken as it is. The head limits are the server's: controls with others are refused.
    ``seed=False`` leaves the seed out, as a session's seed is fixed when it opens."""
    if isinstance(controls, dict):
        return controls
    from facecast.nonverbal import MotionControls
    from facecast.nonverbal.controls import HeadLimits

    if not isinstance(controls, MotionControls):
        raise TypeError(f"controls must be a dict or a MotionControls, got {type(controls).__name__}")
    if controls.limits != HeadLimits():
        raise ValueError("head limits are the server's: a session cannot set them (leave MotionControls.limits)")
    gaze = controls.gaze if isinstance(controls.gaze, str) else list(controls.gaze)
    fields = {"emotion": f"{controls.emotion}:{controls.emotion_intensity!r}", "gaze": gaze,
              "head_intensity": controls.head_intensity, "head_distance": controls.head_distance,
              "motion_intensity": controls.motion_intensity}
    return {**fields, "seed": controls.seed} if seed else fields


def unpack(payload: bytes, limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Decode one message of at most ``limit`` bytes (a client's to the server, by default); raises
    ``ProtocolError`` for anything that is not a map with a string type."""
    if len(payload) > limit:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"message of {len(payload)} bytes exceeds {limit}")
    containers = 0

    def counted(value):
        nonlocal containers
        containers += 1
        if containers > MAX_CONTAINERS:
            raise ValueError(f"more than {MAX_CONTAINERS} maps and arrays")
        return value

    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=True, max_bin_len=limit,
                                  max_str_len=MAX_STR_BYTES, max_array_len=MAX_ARRAY_ITEMS, max_map_len=MAX_MAP_KEYS,
                                  list_hook=counted, object_hook=counted)
    except Exception as exc:  # msgpack raises many types for hostile input; its words say which rule broke,
        # ours where it has none
        reason = str(exc)[:120] or _UNWORDED.get(type(exc).__name__, type(exc).__name__)
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"not one msgpack map with string keys within the limits: "
                                                   f"{reason}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a message must be a msgpack map with a string 'type'")
    return message


_UNWORDED = {"FormatError": "not msgpack (a byte no msgpack value starts with)",
             "StackError": "maps and arrays nested too deeply"}


#: Python's types by the names msgpack gives them, for messages to clients in any language.
_WIRE_NAMES = {type(None): "nil", str: "str", bytes: "bin", int: "int", float: "float", bool: "bool", dict: "map",
               list: "array"}


def echoed(message: dict, name: str) -> Any:
    """A field the server sends back as it came (``request``, a ping's ``t``), at most ``MAX_ECHO_BYTES``
    packed: a client that never read its replies could otherwise fill the server with 4 MiB echoes."""
    value = message.get(name)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # Strings and bytes are measured without packing them again (0.1 s for 4 MiB): a header of 5 at most.
    size = len(value) if isinstance(value, bytes) else len(value.encode()) if isinstance(value, str) else None
    if (size + 5 if size is not None else len(pack(value))) > MAX_ECHO_BYTES:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"field '{name}' is echoed back: at most {MAX_ECHO_BYTES} bytes "
                            "packed")
    return value


def field(message: dict, name: str, kind: type | tuple[type, ...], default: Any = ..., *,
          low: float | None = None, high: float | None = None, choices: tuple | None = None) -> Any:
    """One validated field: type, range and allowed values; ``default`` makes it optional."""
    session = message.get("session")
    session = session if isinstance(session, int) and not isinstance(session, bool) else None
    if name not in message:
        if default is ...:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'{message['type']}' needs field '{name}'", session)
        return default
    value = message[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if int in kinds and float not in kinds and isinstance(value, float) and value.is_integer():
        value = int(value)  # 512.0: how a client that keeps every number as a double sends an int
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(_WIRE_NAMES.get(k, k.__name__) for k in kinds)
        raise ProtocolError(ErrorCode.BAD_FIELD, f"field '{name}' must be {names}", session)
    if choices is not None and value not in choices:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"field '{name}' must be one of {', '.join(map(str, choices))}",
                            session)
    # Written as "not within" so that NaN, which compares false with everything, is refused too.
    if low is not None and not value >= low or high is not None and not value <= high:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"field '{name}' must be within {low}..{high}", session)
    return value


#: What an ``open`` may hold.
OPEN_FIELDS = frozenset({"type", "request", "mode", "fps", "avatar", "size", "encoding", "quality", "sample_rate",
                         "sample_format", "channels", "controls", "idle", "lookahead_ms"})


@dataclass(frozen=True)
class SessionSpec:
    """What a client asked for when opening a session, validated."""

    mode: str
    fps: float
    sample_rate: int
    sample_format: str
    channels: int
    controls: dict
    idle: bool
    avatar: str | None
    size: int
    encoding: str
    quality: int
    lookahead_ms: int | None  # None: the server's least (lowest latency)

    @classmethod
    def from_open(cls, message: dict) -> SessionSpec:
        unknown = sorted(map(str, set(message) - OPEN_FIELDS))
        if unknown:  # a misspelt field (sampleRate) would leave its default in place without a word
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'open' has no field {', '.join(map(repr, unknown))}; it takes "
                                f"{', '.join(sorted(OPEN_FIELDS - {'type'}))}")
        return cls(
            mode=field(message, "mode", str, "motion", choices=MODES),
            fps=float(field(message, "fps", (int, float), 30, low=1, high=MAX_FPS)),
            sample_rate=field(message, "sample_rate", int, 16000, low=MIN_RATE, high=MAX_RATE),
            sample_format=field(message, "sample_format", str, "pcm16", choices=tuple(SAMPLE_FORMATS)),
            channels=field(message, "channels", int, 1, low=1, high=MAX_CHANNELS),
            controls=field(message, "controls", dict, {}),
            idle=field(message, "idle", bool, False),
            avatar=field(message, "avatar", (str, type(None)), None),
            size=field(message, "size", int, 512, low=64, high=MAX_SIZE),
            encoding=field(message, "encoding", str, "jpeg", choices=ENCODINGS),
            quality=field(message, "quality", int, 85, low=1, high=100),
            lookahead_ms=field(message, "lookahead_ms", (int, type(None)), None),
        )


def motion_controls(controls: dict, session: int | None = None, base=None):
    """``open.controls`` / ``controls.controls`` -> MotionControls; bad values are ``bad_field`` errors.

    Fields left out keep their value in ``base`` (the session's current controls), or the defaults.
    """
    from dataclasses import replace

    from facecast.nonverbal import MotionControls, parse_emotion, parse_gaze

    allowed = {"emotion", "gaze", "head_intensity", "head_distance", "motion_intensity", "seed"}
    unknown = set(controls) - allowed
    if unknown:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"unknown control(s): {', '.join(sorted(map(str, unknown)))}",
                            session)
    try:
        fields: dict[str, Any] = {}
        if "emotion" in controls:
            if not isinstance(controls["emotion"], str):
                raise ValueError("emotion must be a string such as 'happy:0.6'")
            fields["emotion"], fields["emotion_intensity"] = parse_emotion(controls["emotion"])
        if "gaze" in controls:
            gaze = controls["gaze"]
            if isinstance(gaze, (list, tuple)) and len(gaze) == 2:
                gaze = f"{gaze[0]},{gaze[1]}"
            if not isinstance(gaze, str):
                raise ValueError("gaze must be 'camera', 'free' or [yaw, pitch] in degrees")
            fields["gaze"] = parse_gaze(gaze)
        for name in ("head_intensity", "head_distance", "motion_intensity", "seed"):
            if name in controls:
                value = controls[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{name} must be a number")
                fields[name] = value
        return replace(base or MotionControls(), **fields)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"controls: {exc}", session) from None


def welcome(server: str, capabilities: dict) -> dict:
    return {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        "server": server,
        "capabilities": capabilities,
        "limits": {
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "max_sessions": MAX_SESSIONS,
            "max_sessions_per_client": MAX_SESSIONS_PER_CLIENT,
            "max_buffered_seconds": MAX_BUFFERED_SECONDS,
            "client_timeout_s": CLIENT_TIMEOUT_S,
        },
        "frame": {"layout_version": FRAME_VERSION, "frame_bytes": FRAME_BYTES},
    }


def error(code: str, message: str, session: int | None = None, ref: str | None = None,
          request: Any = None) -> dict:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if session is not None:
        out["session"] = session
    if ref is not None:
        out["ref"] = ref
    if request is not None:
        out["request"] = request
    return out
