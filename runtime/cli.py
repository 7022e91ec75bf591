"""The ``facecast`` command line.

Every error a user can cause prints one line on stderr and exits with status 1; usage errors exit
with 2 (argparse); an interrupt exits with 130. No traceback reaches the user.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from facecast import __version__
from facecast.device import DEVICES
from facecast.errors import FacecastError
from facecast.logs import PLAIN, logging_to_stderr

DEMO_SPEECH = "sample_speech.flac"
BRIDGE_COMMANDS = ("serve", "keys", "client")  # in facecast.bridge.commands


def _convert(kind: type, text: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None


def number_arg(kind: type, what: str, low: float, high: float = math.inf, above: bool = False, multiple: int = 1):
    """An argparse type for a number from ``low`` (past it, if ``above``) to ``high``, a multiple of
    ``multiple``: a value out of range, NaN included, is a usage error (status 2) before any work, for every
    facecast command that takes numbers."""
    def parse(text: str):
        value = _convert(kind, text)
        inside = (value > low if above else value >= low) and value <= high  # False for NaN
        if not inside or (multiple > 1 and value % multiple):
            if high < math.inf:
                span = f"more than {low:g} and at most {high:g}" if above else f"between {low:g} and {high:g}"
            else:
                span = f"{'more than' if above else 'at least'} {low:g}"
            every = f", a multiple of {multiple}" if multiple > 1 else ""
            raise argparse.ArgumentTypeError(f"{what} must be {span}{every}, got {text}")
        return value
    return parse


def frame_rate_arg(low: float, high: float) -> Callable[[str], float]:
    """``number_arg`` for a frame rate, reading the NTSC rates as editors label them, to two decimals (23.98,
    29.97, 59.94), as the exact rates they name (24000/1001...): the video says so, and the motion keeps
    to that clock (at 23.98 exactly, the frames drifted from a 23.976 timeline by a quarter frame a minute)."""
    from facecast.motion_frame import ntsc_rate

    parse = number_arg(float, "frame rate", low, high)

    def rate(text: str) -> float:
        value = parse(text)
        return ntsc_rate(value, within=0.005) or value
    return rate


def output_file(suffix: str) -> Callable[[str], Path]:
    """An argparse type for a file to write, of which ``NAME{suffix}`` is an example: a path that ends in a
    separator, "." or ".." names a folder (pathlib drops the ending, so the file would be written as the
    folder's name), as does an existing folder; either is a usage error before any work."""

    def parse(text: str) -> Path:
        if os.path.basename(text) in ("", ".", "..") or os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text} names a folder: name the file to write, e.g. "
                                             f"{Path(text) / ('NAME' + suffix)}")
        return Path(text)

    return parse


# The motion controls' defaults, once: ``render --motion`` refuses controls moved off them.
MOTION_CONTROL_DEFAULTS = {"seed": 0, "emotion": "neutral", "gaze": "camera", "head_intensity": 1.0,
                           "head_distance": 0.0, "motion_intensity": 1.0}


def _control(name: str, kind: type):
    """An argparse type for one motion control, checked by ``MotionControls`` itself, so that a value out
    of its range is a usage error (status 2) like ``--fps 0``, with the same words as everywhere else."""
    def parse(text: str):
        from facecast.nonverbal import MotionControls

        value = _convert(kind, text)
        try:
            MotionControls.from_strings(**{name: value})
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    return parse


def _add_motion_options(p: argparse.ArgumentParser, fps: float | None = 60.0,
                        fps_help: str = "output frame rate (default 60; 23.98, 29.97 and 59.94: the NTSC rates)"
                        ) -> None:
    from facecast.motion_frame import MAX_FPS, MIN_FPS
    from facecast.nonverbal.controls import MAX_GAZE_PITCH, MAX_GAZE_YAW  # here, inside main's Ctrl-C guard

    d = MOTION_CONTROL_DEFAULTS
    p.add_argument("--fps", type=frame_rate_arg(MIN_FPS, MAX_FPS), default=fps, help=fps_help)
    p.add_argument("--seed", type=_control("seed", int), default=d["seed"],
                   help="seed of the non-verbal motion (default 0)")
    p.add_argument("--emotion", type=_control("emotion", str), default=d["emotion"], metavar="NAME[:I]",
                   help="neutral, happy, sad, angry or surprised, with intensity 0-1 (e.g. happy:0.6)")
    p.add_argument("--gaze", type=_control("gaze", str), default=d["gaze"], metavar="camera|free|YAW,PITCH",
                   help="where the eyes look: the camera (with natural aversions), free, or a direction in degrees "
                   f"(yaw within ±{MAX_GAZE_YAW:g}, pitch within ±{MAX_GAZE_PITCH:g}; + yaw the subject's left, "
                   "+ pitch up)")
    p.add_argument("--head-intensity", type=_control("head_intensity", float), default=d["head_intensity"],
                   metavar="F", help="head motion, 0 (still, at rest whatever the emotion) to 2 (default 1)")
    p.add_argument("--head-distance", type=_control("head_distance", float), default=d["head_distance"],
                   metavar="M", help="metres toward (+) or away from (-) the camera, at most 0.3 (default 0)")
    p.add_argument("--motion-intensity", type=_control("motion_intensity", float),
                   default=d["motion_intensity"], metavar="F",
                   help="scale of all generated motion: head, eyes, brows, 0 to 2 (default 1)")
    p.add_argument("--lip-model", type=Path, default=None, metavar="PATH.onnx",
                   help="a lip-sync model exported with 'facecast export onnx --checkpoint YOURS.pt --out "
                   "PATH.onnx' (default: the shipped one)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="onnxruntime device (default auto: the render network on CUDA when onnxruntime-gpu "
                   "finds a GPU; the small lip network stays on the CPU, where it runs faster)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecast", description="Speech to a talking face.")
    parser.add_argument("--version", action="version", version=f"facecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("motion", help="speech file -> per-frame facial motion (.csv, .json or .npz)",
                       description="Speech file (wav, flac, ogg, mp3, or anything ffmpeg decodes: m4a, opus, "
                       "the sound of a video) to per-frame facial motion. The format follows the output's "
                       "extension: .csv (Live Link Face layout), .json, .npz.")
    p.add_argument("speech", type=Path, help="speech file: wav, flac, ogg, mp3, m4a, ...; any rate and channels")
    p.add_argument("-o", "--output", type=output_file(".csv"), action="append", required=True,
                   help="OUT.csv, OUT.json or OUT.npz; repeat to write several from one analysis")
    _add_motion_options(p)
    p.set_defaults(usage_error=p.error)

    from facecast.cli_render import DEFAULT_RENDER_FPS, DEFAULT_SIZE

    p = sub.add_parser("demo", help="the bundled speech sample and portrait -> facecast_demo.mp4, .csv and .json here",
                       description="The whole job on what ships in the package, offline: the bundled speech "
                       "sample's motion written as facecast_demo.csv (Live Link Face layout) and "
                       "facecast_demo.json at --fps, and the bundled portrait speaking it in "
                       f"facecast_demo.mp4 ({DEFAULT_SIZE} px, {DEFAULT_RENDER_FPS:g} fps, the speech muxed in, "
                       "marked synthetic). Files of the same names are replaced.")
    p.add_argument("--out-dir", type=Path, default=Path("."), help="where to write (default: here; made if missing)")
    _add_motion_options(p, fps_help=f"frame rate of the CSV and JSON (default 60; the video is "
                        f"{DEFAULT_RENDER_FPS:g} fps)")

    p = sub.add_parser("plot", help="draw the motion of a speech file over its waveform (PNG, SVG or PDF; needs "
                       "matplotlib)")
    p.add_argument("speech", type=Path, help="speech file: wav, flac, ogg, mp3, m4a, ...")
    p.add_argument("-o", "--output", type=output_file(".png"), required=True, help="OUT.png, OUT.svg or OUT.pdf")
    _add_motion_options(p)

    p = sub.add_parser("info", help="version, model, latency and onnxruntime devices")
    p.add_argument("--lip-model", type=Path, action="append", metavar="PATH.onnx",
                   help="describe this lip-sync model (one you exported) instead of the shipped ones; repeatable")

    from facecast.bridge.commands import add_commands as add_bridge_commands
    from facecast.cli_render import add_commands as add_render_commands

    add_render_commands(sub)
    add_bridge_commands(sub)

    sub.add_parser("export", add_help=False,
                   help="rebuild corpus / train / export the ONNX model (needs the export extra)")
    return parser


def motion_controls(args: argparse.Namespace):
    """The non-verbal controls from the command line; a bad value is one clear line."""
    from facecast.nonverbal import MotionControls

    try:
        return MotionControls.from_strings(emotion=args.emotion, gaze=args.gaze, head_intensity=args.head_intensity,
                                           head_distance=args.head_distance,
                                           motion_intensity=args.motion_intensity, seed=args.seed)
    except ValueError as exc:
        raise FacecastError(str(exc)) from None


def lip_model(args: argparse.Namespace):
    """The ``LipSyncModel`` of ``--lip-model`` (else the shipped one) on ``--device``."""
    from facecast.lipsync import LipSyncModel

    return LipSyncModel(args.lip_model, device=args.device)


def motion_pipeline(args: argparse.Namespace, model=None):
    """The ``MotionPipeline`` the motion options ask for: ``model`` (a ``LipSyncModel`` already loaded;
    else ``lip_model(args)``), at ``--fps``, with the non-verbal controls."""
    from facecast.pipeline import MotionPipeline

    controls = motion_controls(args)  # a bad control is refused before a model is loaded
    return MotionPipeline(model or lip_model(args), fps=args.fps, controls=controls)


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 frame", "0 frames"; the commands' summaries use it."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _motion(speech: Path, outputs: list[Path], args: argparse.Namespace, model=None) -> None:
    """Analyse the speech once and write its motion to every output (with ``model``, a loaded
    ``LipSyncModel``, else ``--lip-model``'s)."""
    from facecast.audio import SAMPLE_RATE
    from facecast.pipeline import load_speech
    from facecast.writers import check_output_path, write_motion

    for i, output in enumerate(outputs):
        if any(os.path.realpath(output) == os.path.realpath(other) for other in outputs[:i]):
            args.usage_error(f"{output} is given twice")  # exits 2, as contradictory flags do
        check_output_path(output)  # fail before the work, not after it
    start = time.perf_counter()
    pipeline = motion_pipeline(args, model)
    audio = load_speech(speech)
    track = pipeline.process(audio, progress=not args.quiet)
    for output in outputs:
        write_motion(track, output, source=speech.name, lip_model=pipeline.model.provenance)
        if not args.quiet:
            seconds = audio.size / SAMPLE_RATE
            mine = f", lips by {pipeline.model.path.name}" if getattr(args, "lip_model", None) else ""
            print(f"{output}: {counted(len(track), 'frame')} at {track.fps:g} fps ({seconds:.1f} s of speech{mine}) "
                  f"in {time.perf_counter() - start:.2f} s", file=sys.stderr)
        if output.suffix.lower() == ".csv" and (len(track) - 1) / track.fps < 1:
            # Its timecodes all fall in one second, which leaves its frame rate untold when it is read back.
            print(f"{output}: note: under a second, so its timecodes cannot tell its frame rate when it is read "
                  f"back: give it then ('facecast render --motion {output.name} --fps {track.fps:g}'), or write "
                  ".json or .npz, which state it", file=sys.stderr)


def _plot(args: argparse.Namespace) -> None:
    from facecast.pipeline import load_speech
    from facecast.plot import plot_format, plot_motion
    from facecast.writers import check_writable

    plot_format(args.output)  # refused before the work, not after it
    check_writable(args.output)
    audio = load_speech(args.speech)
    pipeline = motion_pipeline(args)
    track = pipeline.process(audio, progress=not args.quiet)
    plot_motion(track, audio, args.output, title=args.speech.name)
    if not args.quiet:
        print(f"{args.output}: {counted(len(track), 'frame')} plotted", file=sys.stderr)


def _demo(args: argparse.Namespace) -> None:
    from facecast.cli_render import DEFAULT_RENDER_FPS, render_demo

    speech = Path(str(resources.files("facecast") / "data" / DEMO_SPEECH))
    out_dir = args.out_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise FacecastError(f"{out_dir}: not a folder")
    motion_controls(args)  # the controls and the model are refused before the folder is made
    model = lip_model(args)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacecastError(f"{out_dir}: cannot make this folder ({exc.strerror or exc})") from None
    _motion(speech, [out_dir / f"facecast_demo{ext}" for ext in (".csv", ".json")], args, model)
    render_demo(out_dir, argparse.Namespace(**{**vars(args), "fps": DEFAULT_RENDER_FPS}), model=model)


def _info(lip_models: list[Path] | None = None) -> None:
    import onnxruntime as ort

    from facecast.lipsync import LipSyncModel, shipped_models

    print(f"facecast {__version__}")
    for path in lip_models or shipped_models().values():
        model = LipSyncModel(path)
        trained = model.info.get("train_step")
        print(f"lip model: {model.path.name} ({model.path.stat().st_size / 1e6:.1f} MB), lookahead "
              f"{model.lookahead * 10} ms, algorithmic latency {model.latency_ms:.0f} ms + chunk"
              + (f", trained {trained} steps" if trained is not None else ""))
    print(f"onnxruntime {ort.__version__}: providers {', '.join(ort.get_available_providers())}")
    from facecast.render import Renderer

    # What --device auto gets here, which the installed providers alone do not say (a CUDA provider is
    # listed whenever onnxruntime-gpu is installed, GPU or not).
    lips, renderer = LipSyncModel().providers[0], Renderer(device="auto")
    graphs = f" (CUDA graphs of {renderer.path.name}, each shape captured at its first call)" if renderer.graphs else ""
    print(f"--device auto: lip network on {lips.removesuffix('ExecutionProvider')}, "
          f"render network on {renderer.providers[0].removesuffix('ExecutionProvider')}{graphs}")


@contextlib.contextmanager
def _interrupted_on_termination() -> Iterator[None]:
    """A terminal closed or a job killed (SIGHUP, SIGTERM) stops the work as Ctrl-C does, so the partial
    output is removed by the same cleanup instead of being left beside the finished files."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]  # no HUP on Windows
    saved = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class _LossyStream:
    """A stream whose failed writes are dropped: a job whose messages cannot be written (stderr closed with
    ``2>&-``, full with ``2>/dev/full``, a job runner that gives none) still does its work and exits 0, as
    it did with ``-q``. Everything else is the wrapped stream's."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _stderr_that_exists() -> None:
    """With stderr closed (``2>&-``), Python has no ``sys.stderr``: messages went to stdout (``print``'s
    file None), progress bars failed, and the next file opened took descriptor 2, where native libraries
    log. Descriptor 2 is pointed at the null device instead."""
    try:
        os.fstat(2)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 2:
            os.dup2(fd, 2)
            os.close(fd)
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - for the rest of the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process


def main(argv: list[str] | None = None) -> int:
    """The ``facecast`` command: runs one subcommand; returns the exit status (0, 1 for an error the user
    can mend, 2 for a malformed command line, 130 when interrupted)."""
    _stderr_that_exists()
    stderr = sys.stderr
    sys.stderr = _LossyStream(stderr)
    try:  # from the start: building the parser imports the bridge, its client, numpy, zmq (a third of a second)
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        print("facecast: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stderr = stderr
        try:
            stderr.flush()
        except (OSError, ValueError):  # what is left in its buffer would fail again as Python exits
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "export":
        from facecast.export.__main__ import main as export_main

        return export_main(argv[1:], prog="facecast export")
    args = build_parser().parse_args(_negative_values_joined(argv))
    if args.command == "serve":  # it stops on its own signal handlers, and logs in JSON lines, errors too
        try:
            _run(args)
        except FacecastError:
            return 1
        return 0
    try:
        with _interrupted_on_termination(), logging_to_stderr(PLAIN):
            _run(args)
    except FacecastError as exc:
        print(f"facecast: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _negative_values_joined(argv: list[str]) -> list[str]:
    """``--gaze -10,5`` as ``--gaze=-10,5``: argparse takes a value that starts with "-" and is not a plain
    number for an option, and a gaze to the subject's right starts with one."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--gaze" and re.match(r"-\d", arg):
            out[-1] = f"--gaze={arg}"
        else:
            out.append(arg)
    return out


def _run(args: argparse.Namespace) -> None:
    if args.command == "motion":
        _motion(args.speech, args.output, args)
    elif args.command == "demo":
        _demo(args)
    elif args.command == "plot":
        _plot(args)
    elif args.command == "info":
        _info(args.lip_model)
    elif args.command in ("prepare", "render"):
        from facecast.cli_render import run as run_render

        run_render(args)
    elif args.command in BRIDGE_COMMANDS:
        from facecast.bridge.commands import run as run_bridge

        run_bridge(args)


if __name__ == "__main__":
    sys.exit(main())
