"""``facecast prepare`` and ``facecast render``: portrait -> avatar pack, speech + portrait -> talking video.

``add_commands`` adds both subcommands to the ``facecast`` parser, ``run`` carries one out, and
``render_demo`` renders the bundled speech sample on the bundled portrait (for ``facecast demo``).
User errors raise ``FacecastError``; the CLI prints them as one line.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

from facecast.avatar import PACK_SUFFIX, AvatarPack, default_pack_path, is_pack, load_pack
from facecast.errors import FacecastError, not_a_file
from facecast.rig import framing
from facecast.writers import check_writable

DEMO_VIDEO = "facecast_demo.mp4"
DEFAULT_RENDER_FPS = 30.0  # what players expect, and half the work of 60
RENDER_BATCH = 4  # frames per network call: larger batches gain little on CPU and delay the first frame
# Head distance (m) beyond which a portrait's head looks the wrong size against its shoulders, which the
# render network leaves where they are: 0.05 m nearer to the 0.6 m camera is 9 % larger.
HEAD_DISTANCE_SHOWN = 0.05
UPSCALE_TOLD = 1.5  # frames more than this many times the picture's own pixels are said to be enlarged
DEFAULT_SIZE = 512  # px, frames of `facecast render`


def _face(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--face takes a number, 1 for the largest face, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("--face counts from 1 (the largest face)")
    return value


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prepare`` and ``render`` to the ``facecast`` subcommands."""
    from facecast.cli import _add_motion_options, number_arg, output_file

    p = subparsers.add_parser("prepare",
                              help="portrait picture -> avatar pack (.facecast); needs the portrait extra (mediapipe)",
                              description="Find the face in a portrait (photograph or painting; a close-up, a wide "
                              "shot or a group, the face at least 64 px wide) and store everything the renderer "
                              "needs in one .facecast file.")
    p.add_argument("portrait", type=Path, help="picture: JPEG, PNG, WebP... (EXIF rotation honoured)")
    p.add_argument("-o", "--output", type=output_file(".facecast"), default=None,
                   help="NAME.facecast (default: the picture's name)")
    p.add_argument("--face", type=_face, default=None, metavar="N",
                   help="which face when there are several: 1 = the largest (default)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")

    p = subparsers.add_parser("render", help="speech + portrait -> talking-face video (.mp4)",
                              description="Speech to an H.264 mp4 of the portrait speaking it, with the speech muxed "
                              "in; or a motion file (facecast's .json or .npz, or Live Link Face .csv, recorded or "
                              "edited), rendered as it is, with the speech or silent. Every video says in its "
                              "metadata that it is synthetic.")
    p.add_argument("--portrait", type=Path, default=None, metavar="IMG|PACK",
                   help="picture (needs the portrait extra, mediapipe) or .facecast pack "
                   "(default: the bundled portrait)")
    p.add_argument("--audio", type=Path, default=None, help="speech file: wav, flac, ogg, mp3, m4a, ...")
    p.add_argument("--motion", type=Path, default=None, metavar="FILE",
                   help="render this motion (.json, .npz or Live Link Face .csv) instead of motion made from the "
                   "speech; at the file's frame rate unless --fps is given; --audio is then optional (its sound "
                   "is muxed in)")
    p.add_argument("-o", "--output", type=output_file(".mp4"), required=True, help="OUT.mp4")
    p.add_argument("--size", type=number_arg(int, "size", 64, 2048, multiple=4), default=DEFAULT_SIZE,
                   help=f"frame size in pixels, a multiple of 4 from 64 to 2048 (default {DEFAULT_SIZE})")
    p.add_argument("--label", action="store_true", help='burn a small visible "AI-generated" mark into the frames')
    p.add_argument("--face", type=_face, default=None, metavar="N", help="face to use in a picture with several")
    _add_motion_options(p, fps=None, fps_help="output frame rate (default 30; 23.98, 29.97 and 59.94: the NTSC "
                        "rates); with --motion, the file's own, or "
                        "the file resampled to --fps, keeping lip closures and blinks (a CSV under a second, "
                        "whose timecodes cannot tell its rate, is taken to be at --fps)")
    p.set_defaults(usage_error=p.error)


def run(args: argparse.Namespace) -> None:
    """Carry out ``prepare`` or ``render``."""
    if args.command == "prepare":
        _prepare(args)
    elif args.command == "render":
        _render(args)
    else:
        raise ValueError(f"not a render command: {args.command}")


def load_portrait(path: Path | None, face: int | None = None) -> AvatarPack:
    """A pack from a .facecast file, a picture (prepared now, its ``face``-th largest face; its notes are
    printed) or, for None, the bundled portrait (``face`` means nothing for a pack or the bundled portrait:
    ``render`` refuses it there)."""
    if path is None:
        return load_pack(default_pack_path())
    if _names_a_pack(path):
        return load_pack(path)
    from facecast.prepare import prepare_portrait

    pack, notes = prepare_portrait(path, face=face)
    _tell(notes)
    return pack


def _names_a_pack(path: Path) -> bool:
    """A portrait given as an avatar pack: named as one, or holding one (renamed without its suffix)."""
    return path.suffix.lower() == PACK_SUFFIX or is_pack(path)


def _tell(notes: list[str]) -> None:
    """A portrait's notes (several faces, transparency...): warnings, told even when quiet."""
    for note in notes:
        print(note, file=sys.stderr)


def _detail_side(pack: AvatarPack) -> float:
    """The side, in the picture's pixels, of the part a frame shows: frames larger than it enlarge it."""
    return framing(pack.landmarks, *pack.size)[2]


def _prepare(args: argparse.Namespace) -> None:
    from facecast.prepare import prepare_portrait

    output = args.output or Path(args.portrait.stem + PACK_SUFFIX)
    if output.is_dir():
        raise FacecastError(f"{output}: is a folder; name the pack, e.g. {output / (args.portrait.stem + PACK_SUFFIX)}")
    if output.suffix.lower() != PACK_SUFFIX:
        raise FacecastError(f"{output}: an avatar pack is named .facecast")
    check_writable(output)  # before the face is looked for, not after
    start = time.perf_counter()
    pack, notes = prepare_portrait(args.portrait, face=args.face)
    pack.save(output)
    _tell(notes)
    if not args.quiet:
        w, h = pack.size
        side = _detail_side(pack)
        picture = f"{w}x{h}"
        if "cropped_from" in pack.meta:
            picture = "{}x{}, the {}x{} about the head kept".format(*pack.meta["cropped_from"]["size"], w, h)
        print(f"{output}: avatar of {args.portrait.name} ({picture}, face {pack.meta['face_width_px']:.0f} px wide, "
              f"{len(pack.rig.vertices)} mesh points; full detail in frames up to {side:.0f} px) in "
              f"{time.perf_counter() - start:.2f} s", file=sys.stderr)


def render_video(pack: AvatarPack, audio: Path | None, output: Path, args: argparse.Namespace,
                 track=None, cut_sound: bool = False, model=None,
                 motion_source: str | None = None) -> tuple[Path, object]:
    """Render ``audio`` spoken by ``pack`` to ``output``; returns the video path and the motion track used.

    ``track`` (a ``MotionTrack``; the video takes its frame rate) is rendered instead of motion made from
    ``audio``: a caller that already has it, or a motion file. ``audio`` None makes a silent video;
    ``cut_sound`` ends a longer sound with the last frame. ``model``: a ``LipSyncModel`` already loaded
    (default: ``--lip-model``'s). ``motion_source`` says in the video's metadata what made a ``track`` given
    (motion made here names its lip model there).
    """
    from tqdm import tqdm

    from facecast.render import Renderer
    from facecast.video import VideoWriter, check_video_path

    check_video_path(output)
    if track is None:
        from facecast.cli import motion_pipeline

        if abs(args.head_distance) > HEAD_DISTANCE_SHOWN:  # said before the work
            print(f"--head-distance {args.head_distance:g}: in a portrait only the head comes nearer or goes "
                  f"further, so past ±{HEAD_DISTANCE_SHOWN:g} m it looks too large or too small for its shoulders "
                  "(the control is made for engine rigs)", file=sys.stderr)
        pipeline = motion_pipeline(args, model)
        track = pipeline.process_file(audio, progress=not args.quiet)
        motion_source = f"lips by {pipeline.model.provenance}"
    renderer = Renderer(device=args.device)
    avatar = renderer.avatar(pack, args.size)
    source = avatar.source or "portrait"
    # disable=None shows the bar on a terminal only, so logs and pipes do not fill with its redraws.
    duration = len(track) / track.fps if cut_sound else None
    with VideoWriter(output, args.size, track.fps, audio, source, label=getattr(args, "label", False),
                     duration=duration, motion_source=motion_source) as video, \
            tqdm(total=len(track), unit="frame", desc="render", disable=True if args.quiet else None,
                 file=sys.stderr) as bar:
        for frames in renderer.frames(avatar, np.asarray(track.data), batch=RENDER_BATCH):
            video.write(frames)
            bar.update(len(frames))
    return output, track


def _render(args: argparse.Namespace) -> None:
    from facecast.video import check_video_path

    # Usage errors (status 2, as argparse's) before the others, as argparse reports them before any work.
    if args.audio is None and args.motion is None:
        args.usage_error("needs --audio SPEECH, --motion FILE, or both")
    if args.face is not None and args.portrait is None:
        args.usage_error("--face chooses a face in a --portrait picture; the bundled portrait has one face")
    if args.face is not None and _names_a_pack(args.portrait):
        args.usage_error("--face chooses a face in a picture; an avatar pack holds one face already")
    check_video_path(args.output)  # fail before the work, not after it
    if args.audio is not None and not args.audio.is_file():
        raise FacecastError(not_a_file(args.audio, "an audio file"))
    track = _motion_file(args) if args.motion is not None else None
    if track is None and args.fps is None:
        args.fps = DEFAULT_RENDER_FPS
    start = time.perf_counter()
    pack = load_portrait(args.portrait, args.face)
    side = _detail_side(pack)
    # The bundled portrait is small on purpose (the package ships it): told only past the default size.
    bundled = args.portrait is None
    if args.size > UPSCALE_TOLD * side and (not bundled or args.size > DEFAULT_SIZE):
        name, hint = ("the bundled portrait", ": give one with --portrait") if bundled else (args.portrait, "")
        print(f"{name}: the frame shows {side:.0f} px of the picture, enlarged to {args.size} px with no more detail "
              f"(a larger picture of the face gives more{hint})", file=sys.stderr)
    motion_source = None
    if args.motion is not None:
        from facecast.readers import motion_lip_model

        lips = motion_lip_model(args.motion)
        motion_source = f"motion from {args.motion.name}" + (f", lips by {lips}" if lips else "")
    _, track = render_video(pack, args.audio, args.output, args, track, cut_sound=args.motion is not None,
                            motion_source=motion_source)
    if not args.quiet:
        print_summary(args.output, track, args.size, time.perf_counter() - start)


def print_summary(output: Path, track, size: int, took: float) -> None:
    """The one line a finished video gets: its frames, size, rate and length, and how fast it was made."""
    from facecast.cli import counted

    seconds = len(track) / track.fps
    print(f"{output}: {counted(len(track), 'frame')} at {size} px, {track.fps:g} fps ({seconds:.1f} s) "
          f"in {took:.1f} s ({seconds / took:.1f}x real time)", file=sys.stderr)


def _motion_file(args: argparse.Namespace):
    """The track of ``--motion``, after refusing the options that only shape motion made from speech."""
    from facecast.cli import MOTION_CONTROL_DEFAULTS
    from facecast.readers import read_motion, same_rate

    given = [f"--{name.replace('_', '-')}" for name, default in {**MOTION_CONTROL_DEFAULTS, "lip_model": None}.items()
             if getattr(args, name) != default]
    if given:  # exits 2, as argparse does
        args.usage_error(f"{', '.join(given)} {'shapes' if len(given) == 1 else 'shape'} motion made from speech; "
                         "--motion renders the file's motion as it is")
    track = read_motion(args.motion, untold_fps=args.fps)
    if args.fps is not None and not same_rate(track.fps, args.fps):
        from facecast.retime import retime

        # As motion made from speech is: lip closures and blinks shorter than a frame still reach one.
        if not args.quiet:
            print(f"{args.motion}: {track.fps:g} fps motion resampled to {args.fps:g} fps", file=sys.stderr)
        track = retime(track, args.fps)
    if args.audio is not None:
        from facecast.audio import SAMPLE_RATE, load_audio

        speech = len(load_audio(args.audio)) / SAMPLE_RATE  # also a clear error for sound it cannot read
        motion = len(track) / track.fps
        # Motion made from this very speech is within a frame of it; more than that, a likely mix-up.
        if abs(speech - motion) > max(0.1, 2 / track.fps):  # a warning, told even when quiet
            ends = "the speech is cut there" if speech > motion else "the rest is silent"
            print(f"{args.motion}: {motion:.1f} s of motion for {speech:.1f} s of speech; the video runs as "
                  f"long as the motion ({ends})", file=sys.stderr)
    return track


def render_demo(out_dir: Path, args: argparse.Namespace, track=None, model=None) -> Path:
    """Render the bundled speech sample on the bundled portrait to ``out_dir/facecast_demo.mp4``, with the
    summary line ``render`` prints unless ``args.quiet``.

    ``args`` carries the motion options (fps, seed, emotion...); ``size`` and ``label`` default to 512 and
    False when absent. ``track`` reuses a motion track of the sample already computed at ``args.fps``;
    ``model``, a ``LipSyncModel`` already loaded, makes it otherwise (default: ``--lip-model``'s).
    """
    from facecast.cli import DEMO_SPEECH

    start = time.perf_counter()
    speech = Path(str(resources.files("facecast") / "data" / DEMO_SPEECH))
    demo_args = argparse.Namespace(**{"size": DEFAULT_SIZE, "label": False, **vars(args)})
    output, track = render_video(load_pack(default_pack_path()), speech, Path(out_dir) / DEMO_VIDEO, demo_args,
                                 track, model=model)
    if not getattr(args, "quiet", False):
        print_summary(output, track, demo_args.size, time.perf_counter() - start)
    return output
