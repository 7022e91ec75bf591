"""Named landmark indices of mediapipe FaceMesh (478 points with irises), shared by rig, renderer and benchmarks.

Contours run from the corner on the image's left to the corner on its right, so that upper and lower
curves of one feature share their end points and can be interpolated against each other.
"Left" and "right" are the subject's, as in ARKit: the subject's left eye is on the image's right.
"""

from __future__ import annotations

NUM_LANDMARKS = 478
NUM_FACE_LANDMARKS = 468  # the rest are the two irises

LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)

RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (362, 398, 384, 385, 386, 387, 388, 466, 263)
LEFT_EYE_LOWER = (362, 382, 381, 380, 374, 373, 390, 249, 263)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first, then four points on the iris edge
LEFT_IRIS = (473, 474, 475, 476, 477)

RIGHT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)  # image-left brow, outer end first
LEFT_BROW = (336, 296, 334, 293, 300, 285, 295, 282, 283, 276)  # image-right brow, inner end first
RIGHT_BROW_INNER = (107, 66, 55, 65)
LEFT_BROW_INNER = (336, 296, 285, 295)
RIGHT_BROW_OUTER = (70, 63, 46, 53)
LEFT_BROW_OUTER = (300, 293, 276, 283)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # fmt: skip

FOREHEAD = 10
CHIN = 152
NOSE_BRIDGE = 168
NOSE_TIP = 1
RIGHT_EYE_OUTER = 33  # image left
LEFT_EYE_OUTER = 263  # image right
RIGHT_EYE_INNER = 133
LEFT_EYE_INNER = 362

# Points that do not move with the jaw or with expressions: used to measure head pose on re-detected
# landmarks (forehead, nose bridge and tip, eye corners, temples).
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 263, 362, 127, 356, 234, 454, 109, 338, 67, 297)
