"""The mouth and jaw channels the lip network predicts, and how they map onto ARKit blendshapes.

The network predicts symmetric shapes once (``mouthSmile``) and the runtime writes them to both sides
(``mouthSmileLeft``, ``mouthSmileRight``): speech is left-right symmetric, and predicting one value
halves what the network has to learn.
"""

from __future__ import annotations

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
