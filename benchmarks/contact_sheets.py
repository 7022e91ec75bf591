"""Contact sheets: every test portrait rendered in eleven poses, to look at.

``python benchmarks/contact_sheets.py [--size 512]`` (needs facecast[portrait]) writes
``benchmarks/results/contact_<portrait>.png``: neutral, open jaw, "oo", smile, blink, gaze left and
right, yaw -20 and +20 deg, pitch -15 and +15 deg, each labelled, at half the render size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).parent))
from render_common import frame, portrait_files  # noqa: E402

from facecast.prepare import prepare_portrait  # noqa: E402
from facecast.render import Renderer, avatar_tensors  # noqa: E402

RESULTS = Path(__file__).parent / "results"
POSES = [
    ("neutral", frame()),
    ("jaw open 0.7", frame(jawOpen=0.7)),
    ('"oo"', frame(jawOpen=0.15, mouthFunnel=0.7, mouthPucker=0.6)),
    ("smile", frame(mouthSmileLeft=0.9, mouthSmileRight=0.9, cheekSquintLeft=0.5, cheekSquintRight=0.5)),
    ("blink", frame(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)),
    ("gaze left 25", frame(gaze_yaw=25)),
    ("gaze right 25", frame(gaze_yaw=-25)),
    ("yaw -20", frame(yaw=-20)),
    ("yaw +20", frame(yaw=20)),
    ("pitch -15", frame(pitch=-15)),
    ("pitch +15", frame(pitch=15)),
]
COLUMNS = 4


def contact_sheet(path: Path, renderer: Renderer, size: int) -> Image.Image:
    pack, _ = prepare_portrait(path)
    avatar = avatar_tensors(pack, size)
    frames = renderer.render(avatar, np.stack([m for _, m in POSES]))
    tile = size // 2
    rows = -(-len(POSES) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * tile, rows * tile), (40, 40, 40))
    font = ImageFont.load_default(size=max(10, tile // 16))
    for i, ((label, _), img) in enumerate(zip(POSES, frames, strict=True)):
        im = Image.fromarray(img).resize((tile, tile), Image.Resampling.LANCZOS)
        draw = ImageDraw.Draw(im)
        draw.rectangle((0, 0, tile, tile // 12 + 4), fill=(0, 0, 0))
        draw.text((4, 2), label, font=font, fill=(255, 255, 255))
        sheet.paste(im, ((i % COLUMNS) * tile, (i // COLUMNS) * tile))
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    renderer = Renderer()
    for path in portrait_files():
        out = RESULTS / f"contact_{path.stem}.png"
        contact_sheet(path, renderer, args.size).save(out)
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
