"""Make the bundled default avatar pack from the public-domain astronaut portrait (needs mediapipe).

``python -m facecast.export.default_avatar [--portraits ../shared/portraits]`` writes
``runtime/data/default_portrait.facecast``: Eileen Collins' NASA portrait (a work of the US federal
government), cropped to her head and shoulders and stored as a JPEG so the package stays small.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image

from facecast.avatar import default_pack_path
from facecast.prepare import prepare_portrait

SOURCE = "astronaut.png"
CROP = (45, 0, 405, 360)  # head and shoulders with room around the renderer's own framing
CREDIT = "Eileen Collins, NASA official portrait (public domain, via scikit-image's sample data), cropped"


def build_default_pack(portraits: Path, out: Path | None = None) -> Path:
    out = out or default_pack_path()
    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "default_portrait.jpg"
        Image.open(portraits / SOURCE).convert("RGB").crop(CROP).save(jpeg, quality=90)
        pack, _ = prepare_portrait(jpeg)
    pack.meta.update({"source": SOURCE, "credit": CREDIT})
    return pack.save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facecast.export.default_avatar", description=__doc__)
    parser.add_argument("--portraits", type=Path, default=Path("../shared/portraits"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    print(build_default_pack(args.portraits, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
