"""Build the training corpus, train the lip network, export it or the render network to ONNX
(``facecast export``, or ``python -m facecast.export``)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from facecast.device import last_line
from facecast.errors import FacecastError, not_a_file
from facecast.export import MAX_WEIGHT, in_source_checkout, shipped_checkpoints

# The shipped model's corpus is 7 h (its synthesis time is in the README); this is weeks of synthesis, and more
# only fills the memory with the job list (1e9 hours took 24 GB before the system stopped it).
MAX_CORPUS_HOURS = 1000.0
# What each command imports beyond the core install: the export extra.
NEEDS = {"corpus": ("pocketsphinx",), "train": ("torch",), "onnx": ("torch", "onnx"), "render": ("torch", "onnx")}


def main(argv: list[str] | None = None, prog: str = "python -m facecast.export") -> int:
    """The export commands; returns the exit status (0; 1 for an error; 2 for a malformed command line; 130
    when interrupted, also while torch and onnx load, which takes seconds)."""
    try:
        return _main(argv, prog)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None, prog: str) -> int:
    from facecast.cli import _interrupted_on_termination, number_arg

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="synthesize the training corpus (regenerated, not committed)")
    p.add_argument("--out", type=Path, default=Path("corpus"),
                   help="folder for train.npz, val.npz and summary.json (default: ./corpus)")
    p.add_argument("--hours", type=number_arg(float, "--hours", 0, MAX_CORPUS_HOURS, above=True), default=7.0,
                   help=f"hours of training speech, up to {MAX_CORPUS_HOURS:g}, default 7; each voice's 8 held-out "
                   "sentences are drawn after its training sentences, so they change with --hours and --seed "
                   "(compare models on one corpus)")
    p.add_argument("--seed", type=number_arg(int, "--seed", 0), default=0)
    p.add_argument("--workers", type=number_arg(int, "--workers", 1), default=2,
                   help="synthesis processes, default 2 (the corpus is the same for any number)")
    p.add_argument("--pitch", choices=["formants-kept", "plain"], default="formants-kept",
                   help="pitch augmentation: move F0 only, or the whole spectrum (sox alone)")

    p = train_parser = sub.add_parser("train", help="train the audio-to-motion network on a corpus")
    p.add_argument("--corpus", type=Path, default=Path("corpus"),
                   help="folder from `export corpus` (default: ./corpus)")
    p.add_argument("--out", type=Path, default=None,
                   help="default: export/checkpoints/lipsync_lookahead<ms>.pt, the committed checkpoint "
                   "(a smoke run needs --out)")
    p.add_argument("--config", choices=["full", "smoke"], default="full",
                   help="smoke: a few steps of a tiny network, to check the pipeline runs")
    p.add_argument("--minutes", type=number_arg(float, "--minutes", 0, above=True), default=None,
                   help="stop after about this much wall time (default 35 for the full configuration): the "
                   "schedule is sized to it from the pace of the first 20 steps, which run whatever the budget, "
                   "and the last held-out evaluation comes on top")
    p.add_argument("--seed", type=number_arg(int, "--seed", 0), default=0)
    p.add_argument("--threads", type=number_arg(int, "--threads", 1), default=None,
                   help="torch threads (default: all cores; 1 is faster on a machine shared with other work)")
    p.add_argument("--lookahead", type=number_arg(int, "--lookahead", 0), default=None,
                   help="frames of 10 ms the model hears ahead, at least 2 (facecast's head motion reads that far "
                   "ahead; default 3)")
    p.add_argument("--ceps", type=number_arg(int, "--ceps", 0), default=None,
                   help="cepstral coefficients the network hears, at most its mel bands (default 12; "
                   "0: the log-mel bands)")
    p.add_argument("--warmup", type=number_arg(int, "--warmup", 0), default=None,
                   help="outputs left out of the loss at each crop's cold start (default 0: all trained); "
                   "with --lookahead, under a crop's frames")
    p.add_argument("--segment-close", type=number_arg(float, "--segment-close", 0, MAX_WEIGHT), default=None,
                   help="weight of the per-segment loss that shuts the lips once in every /p b m/ (default 30)")
    p.add_argument("--segment-pp", type=number_arg(float, "--segment-pp", 0, MAX_WEIGHT), default=None,
                   help="weight of the per-segment loss on the most confident PP viseme of every /p b m/ (default 0.5)")

    p = sub.add_parser("onnx", help="export a checkpoint to the streaming ONNX model and verify it")
    p.add_argument("--checkpoint", type=Path, default=None, help="default: every committed checkpoint")
    p.add_argument("--out", type=Path, default=None,
                   help="NAME.onnx, with its description written beside it as NAME.json (default: the package's "
                   "model of the checkpoint's lookahead, in runtime/models, which only a checkpoint of the full "
                   "training configuration may replace)")

    p = sub.add_parser("render", help="export the render network to ONNX and verify it against PyTorch")
    p.add_argument("--out", type=Path, default=None,
                   help="default: both models shipped in the package (render.onnx, and render_gpu.onnx for CUDA)")
    p.add_argument("--whole-frame", action="store_true",
                   help="with --out: the variant without boxes, for CUDA graphs (the package's render_gpu.onnx)")
    p.add_argument("--pack", type=Path, default=None, help="avatar pack used for the check (default: the bundled one)")

    for command in sub.choices.values():  # a usage error shows its own command's usage
        command.set_defaults(usage_error=command.error)
    args = parser.parse_args(argv)
    if args.command == "render" and args.whole_frame and args.out is None:
        args.usage_error("--whole-frame picks the variant written to --out; without --out both are written")
    if args.command == "train" and args.config == "smoke" and args.out is None:
        args.usage_error("train --config smoke needs --out: by default it would replace the committed checkpoint")
    defaults = {"train": ["--out"], "onnx": ["--checkpoint", "--out"], "render": ["--out"]}.get(args.command, [])
    defaulted = [flag for flag in defaults if getattr(args, flag[2:]) is None]
    if defaulted and not in_source_checkout():
        args.usage_error(f"without {' and '.join(defaulted)}, {args.command} reads or replaces the files of "
                         "facecast's source folder (export/checkpoints, runtime/models), and this facecast is "
                         "installed, not run from one: pass them, or work in a clone installed with pip install -e "
                         "'.[export]'")
    missing = [name for name in NEEDS[args.command] if importlib.util.find_spec(name) is None]
    if missing:
        print(f"{prog} {args.command} needs {', '.join(missing)}, from facecast's export extra: pip install "
              "torch==2.13.0 onnx pocketsphinx (or pip install '.[export]' in facecast's source folder)",
              file=sys.stderr)
        return 1
    try:
        failure = _import_needed(args.command)  # seconds for torch and onnx: a Ctrl-C then is as one later
        if failure:
            print(f"{prog} {args.command}: error: {failure}", file=sys.stderr)
            return 1
        # SIGTERM and SIGHUP stop the work as Ctrl-C does, so temporary files are removed the same way
        with _interrupted_on_termination():
            if args.command == "train":
                _check_training_settings(train_parser, args)
            _run(args)
    except (FacecastError, OSError) as exc:  # one line, as every facecast command says what went wrong
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _import_needed(command: str) -> str | None:
    """Import what ``command`` needs beyond the core install; why one cannot be imported, or None."""
    with _ctrl_c_noted() as stopped:
        for name in NEEDS[command]:  # installed, but it may not load beside what else is installed
            try:
                importlib.import_module(name)
            except Exception as exc:  # ImportError, or protobuf's own TypeError about its descriptors
                if stopped:  # Ctrl-C inside onnx's import can surface as a RecursionError: it is the Ctrl-C
                    raise KeyboardInterrupt from None
                beside_mediapipe = "protobuf" in str(exc) and importlib.util.find_spec("mediapipe") is not None
                hint = (": mediapipe (facecast's portrait extra) pins protobuf below 5, which onnx cannot load "
                        "with; export in an environment without it" if beside_mediapipe else "")
                return f"{name} cannot be imported ({last_line(exc)}){hint}"
        if stopped:  # an import that caught the Ctrl-C itself and went on
            raise KeyboardInterrupt
    return None


@contextlib.contextmanager
def _ctrl_c_noted() -> Iterator[list[int]]:
    """A list that holds the signal once Ctrl-C has come (which still raises KeyboardInterrupt), where Python's
    own handler is the one installed; else it stays empty."""
    stopped: list[int] = []
    # Handlers can be set in the main thread only; export run from another (as a library) is left as it is.
    if (signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            or threading.current_thread() is not threading.main_thread()):
        yield stopped
        return

    def noted(signum: int, frame: object) -> None:
        stopped.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, noted)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_training_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Settings that only make sense together (--ceps up to the configuration's mel bands, --warmup and
    --lookahead within a crop) are usage errors too, before any work."""
    from facecast.export.train_lipsync import settings

    try:
        settings(args.config, lookahead=args.lookahead, ceps=args.ceps, warmup=args.warmup,
                 segment_close=args.segment_close, segment_pp=args.segment_pp)
    except FacecastError as exc:
        parser.error(str(exc))


def _run(args: argparse.Namespace) -> None:
    if args.command == "corpus":
        from facecast.export.corpus import build_corpus

        summary = build_corpus(args.out, hours=args.hours, seed=args.seed, workers=args.workers,
                               keep_formants=args.pitch == "formants-kept")
        print(json.dumps({k: summary[k] for k in ("train", "val")}, indent=2))
    elif args.command == "train":
        from facecast.export.train_lipsync import train

        summary = train(args.corpus, args.out, config=args.config, minutes=args.minutes, seed=args.seed,
                        threads=args.threads, lookahead=args.lookahead, ceps=args.ceps, warmup=args.warmup,
                        segment_close=args.segment_close, segment_pp=args.segment_pp)
        print(json.dumps(summary, indent=2))
    elif args.command == "render":
        from facecast.export.render_export import export_render

        if args.out:
            reports = [export_render(args.out, args.pack, args.whole_frame)]
        else:
            reports = _export_both_render_networks(args.pack)
        print(json.dumps(reports, indent=2, default=str))
    elif args.command == "onnx":
        from facecast.export.onnx_export import export_onnx

        checkpoints = [args.checkpoint] if args.checkpoint else shipped_checkpoints()
        if not checkpoints:
            args.usage_error("no checkpoint in export/checkpoints; train one or pass --checkpoint")
        if args.out and len(checkpoints) > 1:
            args.usage_error("--out needs --checkpoint: there are several committed checkpoints")
        for checkpoint in checkpoints:
            if not Path(checkpoint).is_file():
                raise FacecastError(not_a_file(checkpoint, "a checkpoint", "no such checkpoint"))
            print(json.dumps(export_onnx(checkpoint, args.out), indent=2))


def _export_both_render_networks(pack: Path | None) -> list[dict]:
    """The shipped render.onnx and render_gpu.onnx, each replaced only once both are exported and verified:
    they are one network, and a failure must not leave them out of step."""
    import os
    import tempfile

    from facecast.export.render_export import export_render
    from facecast.render import default_model_path
    from facecast.writers import check_writable

    finals = {whole: default_model_path(whole) for whole in (False, True)}
    for path in finals.values():
        check_writable(path)
    with tempfile.TemporaryDirectory(dir=finals[False].parent) as tmp:
        reports = [export_render(Path(tmp) / path.name, pack, whole) for whole, path in finals.items()]
        for report, path in zip(reports, finals.values(), strict=True):
            os.replace(report["path"], path)
            report["path"] = str(path)
    return reports


if __name__ == "__main__":
    sys.exit(main())
