"""Non-verbal motion: head pose, gaze, blinks, brows and emotion, driven by the voice.

``NonverbalGenerator`` streams beside the lip network and fills every motion-frame channel the lips do
not drive; ``animate`` does the same for a whole file. ``MotionControls`` holds what the user steers.
"""

from facecast.nonverbal.controls import EMOTIONS, HeadLimits, MotionControls, parse_emotion, parse_gaze
from facecast.nonverbal.generator import NonverbalGenerator, animate

__all__ = ["EMOTIONS", "HeadLimits", "MotionControls", "NonverbalGenerator", "animate", "parse_emotion",
           "parse_gaze"]
