"""Where a face's eyes are: in a picture that is one face (a data set image, a crop a user uploads),
and more precisely for a tilted head.

BlazeFace misses a face that fills the whole picture and faces a few dozen pixels wide, so the
picture is enlarged when small and given a border before the search (RAF-DB's tight crops: 87 % of
faces found as they are, 99 % with a border of a quarter of the side; FER2013's 48x48: 99 %).
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

from .align import Eyes, align_face, crop_point_to_image, eyes_from_keypoints

#: Pictures smaller than this are enlarged before the search.
MIN_SEARCH_SIDE = 128
#: Border added around the picture before the search, as a fraction of its longer side.
SEARCH_PAD = 0.25
#: BlazeFace's eyes on a tilted head are rough (a head turned by 30 degrees read as 17 to 37): beyond this
#: tilt, the eyes are looked for again in an upright window cut around the first guess.
REFINE_BEYOND_DEGREES = 8.0
#: That window: this many times the crop's framing, at this many pixels (BlazeFace's input is 128).
REFINE_SCALE, REFINE_SIDE = 2.0, 192

_local = threading.local()


def _detector():
    """This thread's BlazeFace (short range), built on first use: LiteRT interpreters are not shared
    between threads."""
    d = getattr(_local, "detector", None)
    if d is None:
        from .detectors import DetectorSettings
        from .detectors.blazeface import BlazeFaceDetector
        d = _local.detector = BlazeFaceDetector(DetectorSettings(name="blazeface", min_size=8))
    return d


def find_eyes(image_bgr: np.ndarray, detector=None) -> Eyes | None:
    """The eyes of the largest face in a picture that is mostly one face, in the picture's own
    pixels (BGR or gray uint8); None when no face is found. ``detector``: a BlazeFace detector to use
    instead of this thread's own."""
    h, w = image_bgr.shape[:2]
    f = max(1.0, MIN_SEARCH_SIDE / max(h, w))
    img = cv2.resize(image_bgr, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC) if f > 1 else image_bgr
    p = int(round(SEARCH_PAD * max(img.shape[:2])))
    padded = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
    found = (detector or _detector()).detect_scored(padded)
    if not found or found[0].keypoints is None:
        return None
    e = eyes_from_keypoints(found[0].keypoints)
    e = Eyes(((e.right[0] - p) / f, (e.right[1] - p) / f), ((e.left[0] - p) / f, (e.left[1] - p) / f))
    return refined_eyes(image_bgr, e, detector)


def refined_eyes(image_bgr: np.ndarray, eyes: Eyes, detector=None, looks: int = 2) -> Eyes:
    """``eyes`` as found again in an upright window around them while the head seems tilted more than
    ``REFINE_BEYOND_DEGREES`` (a BlazeFace pass a look, at most ``looks``: BlazeFace under-reads a
    tilt, and reads an upright face's eyes best); as given when a look finds no face."""
    for _ in range(looks):
        if abs(eyes.tilt_degrees) <= REFINE_BEYOND_DEGREES:
            break
        window = align_face(image_bgr, eyes, REFINE_SIDE, scale=REFINE_SCALE)
        found = (detector or _detector()).detect_scored(window)
        if not found or found[0].keypoints is None:
            break
        near = eyes_from_keypoints(found[0].keypoints)
        # BlazeFace's eyes of an upright face agree with its first look's where that one was upright
        # too (median eye distance 1.002x, midpoints 0.01 eye distances apart, 79 RAF-DB and AffectNet faces).
        eyes = Eyes(crop_point_to_image(eyes, REFINE_SIDE, near.right, REFINE_SCALE),
                    crop_point_to_image(eyes, REFINE_SIDE, near.left, REFINE_SCALE))
        if abs(near.tilt_degrees) <= REFINE_BEYOND_DEGREES / 2:
            break  # the window was upright enough for BlazeFace to read the tilt
    return eyes
