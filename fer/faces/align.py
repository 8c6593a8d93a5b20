"""One framing for every face crop, in serving and in training: the eyes level, the crop's side a
fixed multiple of the eye distance, the eyes at a fixed height.

A classifier learns the framing of its training crops; fed crops framed differently it loses most of
what it learnt (a RAF-DB model lost 7 points with boxes grown by 25 %). So the pipeline and the
training data both cut faces here. Where a detector gives no landmarks (Haar, a box held through a
missed frame), the eyes are placed where BlazeFace puts them in its own boxes, so a face keeps the
same framing whichever way it was found.

Colour order is the caller's: the crop has the image's channels (BGR stays BGR, gray stays gray).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .detectors.base import Box

#: The crop's side, in eye distances. RAF-DB's own aligned crops are 2.33 eye distances wide and
#: BlazeFace's boxes (drawn as Haar's) 2.3-2.5: faces from brows to chin, little background.
SIDE_IN_EYE_DISTANCES = 2.4
#: Height of the eyes' midpoint in the crop, as a fraction of its side (RAF-DB's crops: 0.33).
EYE_LINE = 0.36
#: For a box without landmarks: the eyes' midpoint sits this fraction of the box height below its top,
#: and the eyes are the box side divided by this apart. Medians of BlazeFace's keypoints in its own
#: boxes on 600 RAF-DB and AffectNet training faces (0.43 and 2.45).
BOX_EYE_LINE = 0.43
BOX_SIDE_IN_EYE_DISTANCES = 2.45


class Eyes(NamedTuple):
    """The centres of the two eyes in image pixels: ``right`` is the person's right eye (on the
    image's left in an unmirrored photo), ``left`` the person's left."""
    right: tuple[float, float]
    left: tuple[float, float]

    @property
    def distance(self) -> float:
        return math.hypot(self.left[0] - self.right[0], self.left[1] - self.right[1])

    @property
    def tilt_degrees(self) -> float:
        """How far the eye line is turned from level (positive: the person's left eye lower)."""
        return math.degrees(math.atan2(self.left[1] - self.right[1], self.left[0] - self.right[0]))


def eyes_from_keypoints(keypoints: Sequence[tuple[float, float]] | None) -> Eyes | None:
    """BlazeFace's six landmarks (right eye, left eye, ...) -> Eyes; None stays None."""
    if keypoints is None:
        return None
    return Eyes(tuple(keypoints[0]), tuple(keypoints[1]))


def eyes_from_box(box: Box) -> Eyes:
    """Where BlazeFace would put the eyes of a face in ``box`` (level, centred)."""
    cx, cy = box.x + box.w / 2, box.y + BOX_EYE_LINE * box.h
    half = max(box.w, box.h) / BOX_SIDE_IN_EYE_DISTANCES / 2
    return Eyes((cx - half, cy), (cx + half, cy))


def align_face(image: np.ndarray, eyes: Eyes, size: int, scale: float = 1.0,
               shift: tuple[float, float] = (0.0, 0.0), turn_degrees: float = 0.0) -> np.ndarray:
    """The face with these eyes, rotated so the eyes are level, cut as a (size, size[, C]) uint8 square:
    side ``SIDE_IN_EYE_DISTANCES`` eye distances, eyes centred at height ``EYE_LINE``. Outside the
    image the edge pixels are repeated.

    ``scale`` (> 1: more around the face), ``shift`` (fractions of the side, moving the window right and
    down) and ``turn_degrees`` (the crop's rotation added to the levelling) are for training's
    augmentation and robustness checks; serving uses the defaults."""
    cx, cy, side, angle = _window(eyes, scale, shift, turn_degrees)
    # Shrinking a large face by more than 2x in one warp aliases; cut the region around it first
    # and shrink that with INTER_AREA, then rotate the small copy.
    region = side * 1.5  # covers the rotated square (side * sqrt 2) with a margin
    pre = min(1.0, 2.0 * size / side)
    roi, ox, oy = _region(image, cx, cy, region)
    if pre < 1.0:
        roi = cv2.resize(roi, (max(1, round(roi.shape[1] * pre)), max(1, round(roi.shape[0] * pre))),
                         interpolation=cv2.INTER_AREA)
        fx, fy = roi.shape[1] / (region if region > 0 else 1), roi.shape[0] / (region if region > 0 else 1)
    else:
        fx = fy = 1.0
    lcx, lcy = (cx - ox) * fx, (cy - oy) * fy
    s = size / (side * fx)
    m = cv2.getRotationMatrix2D((lcx, lcy), angle, s)
    m[0, 2] += size / 2 - lcx
    m[1, 2] += size / 2 - lcy
    return cv2.warpAffine(roi, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _window(eyes: Eyes, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
            turn_degrees: float = 0.0) -> tuple[float, float, float, float]:
    """The crop's centre (image pixels), side and rotation (degrees) for these eyes."""
    side = max(eyes.distance, 1.0) * SIDE_IN_EYE_DISTANCES * scale
    angle = eyes.tilt_degrees + turn_degrees
    mx = (eyes.right[0] + eyes.left[0]) / 2
    my = (eyes.right[1] + eyes.left[1]) / 2
    # The centre: below the eye line by (0.5 - EYE_LINE) of the side along the face's own vertical
    # axis, then moved by ``shift`` in the face's own axes.
    a = math.radians(angle)
    down, along = (-math.sin(a), math.cos(a)), (math.cos(a), math.sin(a))
    off_down, off_along = (0.5 - EYE_LINE + shift[1]) * side, shift[0] * side
    return (mx + down[0] * off_down + along[0] * off_along, my + down[1] * off_down + along[1] * off_along,
            side, angle)


def crop_point_to_image(eyes: Eyes, size: int, point: tuple[float, float], scale: float = 1.0) -> tuple[float, float]:
    """Where a pixel of ``align_face(image, eyes, size, scale)`` lies in the image."""
    cx, cy, side, angle = _window(eyes, scale)
    a, k = math.radians(angle), side / size
    u, v = (point[0] - size / 2) * k, (point[1] - size / 2) * k
    return cx + u * math.cos(a) - v * math.sin(a), cy + u * math.sin(a) + v * math.cos(a)


def _region(image: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, int, int]:
    """The square of ``side`` around (cx, cy), edges repeated where it leaves the image, and its
    top-left corner in image pixels."""
    h, w = image.shape[:2]
    n = max(2, int(math.ceil(side)))
    x0, y0 = int(math.floor(cx - n / 2)), int(math.floor(cy - n / 2))
    x1, y1 = x0 + n, y0 + n
    roi = image[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if roi.size == 0:  # wholly outside: repeat the nearest edge pixel
        yy, xx = min(max(int(cy), 0), h - 1), min(max(int(cx), 0), w - 1)
        roi = image[yy:yy + 1, xx:xx + 1]
        pad = (0, n - 1, 0, n - 1)
    if any(pad):
        roi = cv2.copyMakeBorder(roi, *pad, cv2.BORDER_REPLICATE)
    return roi, x0, y0


def align_faces(image: np.ndarray, eyes: Sequence[Eyes], size: int) -> np.ndarray:
    """``align_face`` for each face: (N, size, size[, C]) uint8."""
    shape = (len(eyes), size, size) + image.shape[2:]
    out = np.empty(shape, np.uint8)
    for i, e in enumerate(eyes):
        out[i] = align_face(image, e, size)
    return out
