"""Haar face detection on a downscaled grayscale copy: the frame's biggest cost, so scan fewer pixels."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

#: The cascade's native window: faces smaller than this in the scanned image can't be found.
CASCADE_WINDOW = 24


class Box(NamedTuple):
    """A face rectangle in frame pixels: top-left corner, width, height."""
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class DetectorSettings:
    """Sensitivity of the detector.

    ``scale_factor``: step between the scales searched (smaller finds more, costs more);
    ``min_neighbors``: overlapping hits needed to keep a face (higher = fewer false faces);
    ``min_size``: smallest face side in frame pixels; ``detect_scale``: the scan runs on the frame
    shrunk so that a ``min_size`` face becomes ``detect_face_px`` pixels (never enlarged).
    Histogram equalisation before the scan was measured and lost faces (bench/detection_rate.py).
    """
    scale_factor: float = 1.15
    min_neighbors: int = 4
    min_size: int = 48
    detect_face_px: int = 30


def cascade_path() -> str:
    """OpenCV's shipped frontal-face cascade (needs opencv<5, which still ships Haar)."""
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise RuntimeError("this OpenCV build has no Haar cascades; install opencv-python-headless>=4.10,<5")
    return cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


class FaceDetector:
    """Gray frame (H, W) uint8 -> list of face ``Box`` in that frame's pixels, largest first."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        s = self.settings
        if s.scale_factor <= 1.0:
            raise ValueError("scale_factor must be > 1")
        if s.min_neighbors < 0 or s.min_size < 1:
            raise ValueError("min_neighbors must be >= 0 and min_size >= 1")
        self._cascade = cv2.CascadeClassifier(cascade_path())
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade from {cascade_path()}")

    def shrink_factor(self) -> float:
        """How much the frame is shrunk before scanning (1.0 = not at all)."""
        s = self.settings
        return min(1.0, max(s.detect_face_px, CASCADE_WINDOW) / s.min_size)

    def detect(self, gray: np.ndarray) -> list[Box]:
        if gray.ndim != 2:
            raise ValueError(f"detect() takes a gray (H, W) image, got shape {gray.shape}")
        s = self.settings
        f = self.shrink_factor()
        small = gray if f == 1.0 else cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        # One scale step below the shrunk min size: the cascade's window sizes are 24 * factor^k,
        # so a face of exactly min_size could otherwise fall between two of them and be missed.
        min_px = max(CASCADE_WINDOW, int(s.min_size * f / s.scale_factor))
        found = self._cascade.detectMultiScale(small, scaleFactor=s.scale_factor, minNeighbors=s.min_neighbors,
                                               minSize=(min_px, min_px))
        boxes = [Box(int(round(x / f)), int(round(y / f)), int(round(w / f)), int(round(h / f)))
                 for (x, y, w, h) in (found if len(found) else [])]
        return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)
