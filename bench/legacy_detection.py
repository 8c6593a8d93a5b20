"""The Haar detector as shipped before fer/detectors (commit 2773d3b, fer/faces/detection.py), kept verbatim so the
benchmarks can measure the old code against the new in one run. Not used by the product."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import cv2
import numpy as np

#: The cascade's native window: faces smaller than this in the scanned image can't be found.
CASCADE_WINDOW = 24
#: ``detect_near`` searches a known face's box grown by this fraction of its side on every edge...
NEAR_MARGIN = 0.5
#: ...shrunk so that the face is about this many pixels (at 36-40 the face is re-found in 74-89 % of
#: frames instead of 93 %), for sizes between these fractions of the old one, in steps of
#: NEAR_SCALE_FACTOR, keeping a hit with NEAR_MIN_NEIGHBORS overlapping ones (the known position
#: already rules out most false faces). Chosen on FER2013 val faces panning in 640x480 frames: 1.05 ms
#: a search, 93 % re-found, against 1.52 ms and 92 % for (0.7-1.4, the full scan's 1.15 step, 2).
NEAR_FACE_PX = 48
NEAR_SIZE_RANGE = (0.8, 1.25)
NEAR_SCALE_FACTOR = 1.2
NEAR_MIN_NEIGHBORS = 1
#: How close two candidate boxes must be to count as one face (OpenCV's own detectMultiScale value).
GROUP_EPS = 0.2


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
    ``min_size``: smallest face side in frame pixels; ``detect_face_px``: the scan starts on the frame
    shrunk so that a ``min_size`` face becomes this many pixels (never enlarged).
    Histogram equalisation before the scan was measured and lost faces (bench/detection_rate.py).
    The defaults were chosen on FER2013 val faces pasted into 640x480 frames at 12 sizes from 48 to
    200 px, with false boxes counted on the same faces turned upside down or sideways (README, "What
    the detector keeps"): 68.8 % found in 4.0 ms, against 64.5 % in 6.6 ms for the single scan of the
    previous defaults (1.1 steps, 4 neighbours), for more false boxes (56 against 32 in 1,050 frames).
    The coarse-to-fine scan moves its window in 2-pixel steps where the single scan moved in 1 on
    large faces, so a face collects fewer overlapping hits: 1 neighbour there is about as strict as 4
    were.
    """
    scale_factor: float = 1.15
    min_neighbors: int = 1
    min_size: int = 48
    detect_face_px: int = 24


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

    def detect(self, gray: np.ndarray, skip: Sequence[Box] = ()) -> list[Box]:
        """Every face in the frame, found coarse to fine over a pyramid of halved copies.

        Each copy is scanned only for faces of 1-2 cascade windows (``_octaves``): OpenCV moves its
        window one pixel at a time once a scale exceeds twice the window, two below, so a single scan
        of the big copy spent 4x the windows on large faces. Faces found in a coarse copy are painted
        flat in the finer ones: a face's inside sets off deep cascade stages at every smaller scale.
        The candidates of all copies are grouped together, as one ``detectMultiScale`` would.
        ``skip``: faces already accounted for (a video's followed faces, just re-found by
        ``detect_near``), painted flat everywhere, so that only other faces are looked for."""
        if gray.ndim != 2:
            raise ValueError(f"detect() takes a gray (H, W) image, got shape {gray.shape}")
        s = self.settings
        rects: list[list[int]] = []
        found: list[Box] = []
        for small, f, lo, hi in self._octaves(gray):
            small = _painted(small, f, [*skip, *found])
            raw = self._cascade.detectMultiScale(small, scaleFactor=s.scale_factor, minNeighbors=0,
                                                 minSize=(lo, lo), maxSize=(hi, hi))
            if len(raw):  # regroup only when this copy added hits
                rects += [[int(round(v / f)) for v in r] for r in raw]
                found = [Box(*map(int, r)) for r in cv2.groupRectangles(rects, s.min_neighbors, GROUP_EPS)[0]]
        found = [b for b in found if all(_overlap(b, k) < 0.5 for k in skip)]
        return largest_first(found)

    def _octaves(self, gray: np.ndarray) -> list[tuple[np.ndarray, float, int, int]]:
        """(copy, its scale, smallest and largest window side to scan in it), coarsest copy first.
        The first copy is the frame shrunk so that a ``min_size`` face is ``detect_face_px``; each
        next one is half the last, scanned from where the last one's windows stopped. The smallest
        copy takes every window that fits."""
        s = self.settings
        f = self.shrink_factor()
        small = gray if f == 1.0 else cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        # One scale step below the shrunk min size: the window sides are 24 * factor^k, so a face of
        # exactly min_size could otherwise fall between two of them and be missed.
        lo = max(CASCADE_WINDOW, int(s.min_size * f / s.scale_factor))
        top = 2 * CASCADE_WINDOW
        out = []
        while True:
            last = min(small.shape) < 2 * top
            # At least one scale, should a large detect_face_px put the first window past ``top``.
            out.append((small, f, lo, max(small.shape) if last else max(top, int(lo * s.scale_factor) + 1)))
            if last:
                return out[::-1]
            small = cv2.resize(small, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
            f *= 0.5
            lo = CASCADE_WINDOW

    def detect_near(self, gray: np.ndarray, previous: list[Box], hold: bool = True) -> list[Box]:
        """Re-find known faces in small windows around where they just were: for the video frames
        between full scans. Each search covers about a hundred pixels square at a handful of scales,
        a small fraction of ``detect``'s cost. Haar misses a face in some frames: with ``hold`` such
        a face keeps its previous box (the caller's periodic full scan decides whether it is gone).
        The known position already rules out most false faces, so fewer neighbours are required."""
        if gray.ndim != 2:
            raise ValueError(f"detect_near() takes a gray (H, W) image, got shape {gray.shape}")
        s = self.settings
        h, w = gray.shape
        found: list[Box] = []
        for b in previous:
            side = max(b.w, b.h)
            pad = int(side * NEAR_MARGIN)
            x0, y0 = max(0, b.x - pad), max(0, b.y - pad)
            x1, y1 = min(w, b.x + b.w + pad), min(h, b.y + b.h + pad)
            if x1 - x0 < CASCADE_WINDOW or y1 - y0 < CASCADE_WINDOW:
                continue
            box = self._refind(gray[y0:y1, x0:x1], b, x0, y0)
            if box is None and hold:
                box = b
            if box is not None and all(_overlap(box, other) < 0.5 for other in found):  # two found one face
                found.append(box)
        return largest_first(found)

    def _refind(self, roi: np.ndarray, b: Box, x0: int, y0: int) -> Box | None:
        """The detection in ``roi`` (whose top-left is frame pixel x0, y0) nearest to box ``b``."""
        s = self.settings
        side = max(b.w, b.h)
        f = min(1.0, NEAR_FACE_PX / side)
        small = roi if f == 1.0 else cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        lo = max(CASCADE_WINDOW, int(side * f * NEAR_SIZE_RANGE[0]))
        hi = max(lo + 1, int(side * f * NEAR_SIZE_RANGE[1]))
        hits = self._cascade.detectMultiScale(small, scaleFactor=NEAR_SCALE_FACTOR,
                                              minNeighbors=min(s.min_neighbors, NEAR_MIN_NEIGHBORS),
                                              minSize=(lo, lo), maxSize=(hi, hi))
        if not len(hits):
            return None
        cx, cy = (b.x + b.w / 2 - x0) * f, (b.y + b.h / 2 - y0) * f
        x, y, bw, bh = min(hits, key=lambda r: (r[0] + r[2] / 2 - cx) ** 2 + (r[1] + r[3] / 2 - cy) ** 2)
        return Box(x0 + int(round(x / f)), y0 + int(round(y / f)), int(round(bw / f)), int(round(bh / f)))


def _painted(small: np.ndarray, f: float, boxes: Sequence[Box]) -> np.ndarray:
    """``small`` (the frame at scale ``f``) with each box filled with its mean grey; a copy if any."""
    if not boxes:
        return small
    small = small.copy()
    for b in boxes:
        x0, y0 = max(0, int(b.x * f)), max(0, int(b.y * f))
        x1, y1 = int(np.ceil((b.x + b.w) * f)), int(np.ceil((b.y + b.h) * f))
        patch = small[y0:y1, x0:x1]
        if patch.size:
            patch[...] = int(patch.mean())
    return small


def largest_first(boxes: list[Box]) -> list[Box]:
    """Boxes by area, largest first: the order every detection result is given in."""
    return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, 0..1."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy / max(1, min(a.w * a.h, b.w * b.h))
