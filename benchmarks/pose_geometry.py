"""Where the head-pose error comes from: the renderer's geometry, or mediapipe's reading of the picture.

    python benchmarks/pose_geometry.py [PORTRAIT_NAME ...]

Needs mediapipe (like bench_render.py) and torch (the render network's PyTorch definition, for the
head motion alone): the environment `.ci/run` makes for the portrait tests has both.

For each shared portrait and each commanded yaw (+-20 deg) and pitch (+-15 deg), the head pose of
``render_common.head_pose`` is fitted twice against the re-detected neutral face: to the rig's own
landmarks moved by the head exactly as the render network moves them ("geometry"), and to the
landmarks mediapipe re-detects in the rendered frame ("re-detected"). The geometry is fitted on the
rigid points the rig keeps at their own place: a landmark the picture does not show (the far side of a
turned face) is moved by the surface in front of it. The re-detected face is also read in 3D, as
mediapipe's face-geometry module reads a pose (``render_common.head_pose_3d``). It also reports how many
of the rigid points the rig's depth cap (``facecast.rig.PARALLAX_SLOPE``) lowers, and by how much, and
how many landmarks the rig brings forward as hidden. The table it prints is kept in
``benchmarks/results/pose_geometry.md`` (``python benchmarks/pose_geometry.py > benchmarks/results/pose_geometry.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from render_common import Redetector, frame, head_pose, head_pose_3d, portrait_files  # noqa: E402

from facecast import face_topology as ft  # noqa: E402
from facecast.export.render_model import CELL, RenderNet, rotation_matrix  # noqa: E402
from facecast.prepare import prepare_portrait  # noqa: E402
from facecast.render import Renderer, avatar_tensors  # noqa: E402

POSES = (("yaw", -20), ("yaw", 20), ("pitch", -15), ("pitch", 15))


def moved_landmarks(tensors: dict, yaw: float, pitch: float) -> np.ndarray:
    """The rig's vertices turned by the head pose alone, as the network turns them (in perspective)."""
    t = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()
         if k in ("vertices", "head_weight", "pivot", "face_scale")}
    rot = rotation_matrix(torch.tensor([float(pitch)]), torch.tensor([float(yaw)]), torch.zeros(1))
    centre, distance = RenderNet.camera(tensors["tri_index"].shape[-1] * CELL, t["face_scale"])
    moved = RenderNet._head(t["vertices"], t["head_weight"], rot, t["pivot"], torch.zeros(1, 3), centre, distance)
    return moved[0].numpy()


def depth_changes(pack, tensors: dict) -> tuple[np.ndarray, float, float]:
    """How the rig changed the landmarks' depth: which landmarks it brought forward as hidden, the share of
    rigid points it lowered (the cap), and the largest cut among them in eye widths."""
    rig = tensors["vertices"][0][: ft.NUM_LANDMARKS]
    raw = pack.landmarks.astype(np.float64)
    k = np.polyfit(raw[:, 0], rig[:, 0], 1)[0]  # the crop's scale from portrait to output pixels
    cut = -raw[:, 2] * k - rig[:, 2]  # > 0 lowered, < 0 brought forward
    rigid = list(ft.RIGID)
    eye = np.linalg.norm(rig[ft.RIGHT_EYE_OUTER, :2] - rig[ft.LEFT_EYE_OUTER, :2])
    return cut < -1, float(np.mean(cut[rigid] > 1)), float(max(cut[rigid].max(), 0) / eye)


def main() -> int:
    files = portrait_files()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("portraits", nargs="*", metavar="PORTRAIT_NAME",
                        help="file names in ../shared/portraits (default: all of them)")
    names = set(parser.parse_args().portraits)
    unknown = sorted(names - {p.name for p in files})
    if unknown:
        parser.error(f"not in ../shared/portraits: {', '.join(unknown)} (there: {', '.join(p.name for p in files)})")
    renderer, detect = Renderer(threads=2), Redetector()
    print("| portrait | command | geometry reads (yaw / pitch) | re-detected reads | re-detected, 3D | "
          "rigid points capped | landmarks brought forward |")
    print("|---|---|---|---|---|---|---|")
    for path in files:
        if names and path.name not in names:
            continue
        pack, _ = prepare_portrait(path)
        avatar = avatar_tensors(pack, 512)
        neutral = detect(renderer.render(avatar, frame()[None])[0])
        if neutral is None:
            print(f"| {path.name} | mediapipe finds no face in the neutral frame | | | | | |")
            continue
        hidden, capped, worst = depth_changes(pack, avatar.tensors)
        own = [i for i in ft.RIGID if not hidden[i]]
        for kind, value in POSES:
            yaw, pitch = (value, 0) if kind == "yaw" else (0, value)
            geometry = head_pose(neutral, moved_landmarks(avatar.tensors, yaw, pitch), own)
            found = detect(renderer.render(avatar, frame(yaw=yaw, pitch=pitch)[None])[0])
            missing = (float("nan"),) * 2
            seen = head_pose(neutral, found) if found is not None else missing
            seen_3d = head_pose_3d(neutral, found) if found is not None else missing
            print(f"| {path.name} | {kind} {value:+d} | {geometry[0]:+.1f} / {geometry[1]:+.1f} | "
                  f"{seen[0]:+.1f} / {seen[1]:+.1f} | {seen_3d[0]:+.1f} / {seen_3d[1]:+.1f} | "
                  f"{capped:.0%}, up to {worst:.2f} eye widths | {hidden.sum()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
