"""The mouth and jaw channels the lip network predicts, and how they map onto ARKit blendshapes.

The network predicts symmetric shapes once (``mouthSmile``) and the runtime writes them to both sides
(``mouthSmileLeft``, ``mouthSmileRight``): speech is left-right symmetric, and predicting one value
halves what the network has to learn.
"""

from __future__ import annotations

import numpy as np

from facecast.motion_frame import BLENDSHAPE_INDEX

LIP_CHANNELS: tuple[str, ...] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile", "mouthStretch", "mouthPress",
    "mouthRollLower", "mouthRollUpper", "mouthUpperUp", "mouthLowerDown", "mouthShrugUpper",
    "mouthShrugLower", "jawForward", "tongueOut",
)  # fmt: skip

LIP_CHANNEL_INDEX: dict[str, int] = {n: i for i, n in enumerate(LIP_CHANNELS)}


def blendshape_targets(channel: str) -> tuple[int, ...]:
    """The ARKit blendshape indices one lip channel drives (both sides for symmetric shapes)."""
    if channel in BLENDSHAPE_INDEX:
        return (BLENDSHAPE_INDEX[channel],)
    return (BLENDSHAPE_INDEX[channel + "Left"], BLENDSHAPE_INDEX[channel + "Right"])


#: For each lip channel, the blendshape columns it fills; computed once for fast scattering.
LIP_TO_BLENDSHAPES: tuple[tuple[int, ...], ...] = tuple(blendshape_targets(c) for c in LIP_CHANNELS)


#: The lips pressed shut, as in the middle of every /p b m/ in the training targets.
CLOSED_LIPS: dict[str, float] = {"jawOpen": 0.10, "mouthClose": 0.10, "mouthPress": 0.35, "mouthRollLower": 0.10,
                                 "mouthRollUpper": 0.05}
CLOSED_LIP_POSE = np.array([CLOSED_LIPS.get(c, 0.0) for c in LIP_CHANNELS], dtype=np.float32)


def close_for_bilabials(pose: np.ndarray, pp_probability: np.ndarray) -> np.ndarray:
    """Blend the predicted pose toward shut lips as the PP viseme becomes likely.

    The pose regressor, trained with a squared error, averages over uncertain frames and leaves the
    lips a little apart in a /p b m/; the viseme classifier is more decisive. Bilabials must close the
    lips, so the classifier's confidence in PP (from 0.3 to 0.7) carries the pose to the closed one.
    """
    weight = np.clip((pp_probability - 0.3) / 0.4, 0.0, 1.0)[:, None]
    return ((1.0 - weight) * pose + weight * CLOSED_LIP_POSE).astype(np.float32)
