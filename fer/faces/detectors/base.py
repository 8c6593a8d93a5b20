"""What every face detector shares: the box type, the settings, and the protocol the pipeline and the
video path call (a full scan, a scan that leaves known faces out, a cheap search near known faces)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, Sequence

import numpy as np


class Box(NamedTuple):
    """A face rectangle in frame pixels: top-left corner, width, height."""
    x: int
    y: int
    w: int
    h: int


class Detection(NamedTuple):
    """A box and the detector's confidence in it (0..1), or None where the detector has no score (Haar);
    ``keypoints``: the detector's facial landmarks in frame pixels ((x, y) pairs; BlazeFace's six:
    right eye, left eye, nose tip, mouth, right ear, left ear, "right" being the person's right),
    or None where the detector gives none."""
    box: Box
    score: float | None = None
    keypoints: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class DetectorSettings:
    """Which detector, and how sensitive it is.

    ``name``: a key of ``fer.faces.detectors.DETECTORS`` ("blazeface", the default, "haar", ...).
    ``min_size``: smallest face side in frame pixels (every detector; BlazeFace caps it at half the
    picture's shorter side, so that a small crop's own face counts).
    Haar only: ``scale_factor``, step between the scales searched (smaller finds more, costs more);
    ``min_neighbors``, overlapping hits needed to keep a face (higher = fewer false faces);
    ``detect_face_px``, the scan starts on the frame shrunk so that a ``min_size`` face becomes this
    many pixels (never enlarged); ``tilts``, in-plane head tilts (degrees) scanned on rotated copies
    besides upright; ``profiles``, also scan with the profile cascade and its mirror image;
    ``border``, replicate this fraction of a scanned copy's window around it, so a face filling the
    image or cut by its edge still fits the window (no tilts, no profiles and border 0: one plain upright scan).
    BlazeFace only: ``min_score``, the confidence a box needs.

    The Haar defaults were chosen on FER2013 val faces pasted into 640x480 frames at 12 sizes from 48
    to 200 px, with false boxes counted on the same faces turned upside down or sideways (``python
    bench/detection_rate.py --split val``): 68.8 % found in 4.0 ms, against 64.5 % in 6.6 ms for a
    single scan at 1.1 steps and 4 neighbours, for more false boxes (56 against 32 in 1,050 frames).
    The coarse-to-fine scan moves its window in 2-pixel steps where the single scan moved in 1 on
    large faces, so a face collects fewer overlapping hits: 1 neighbour there is about as strict as 4
    were. Histogram equalisation before the scan was measured and lost faces (bench/detection_rate.py).
    Tilts of 25 and 45 degrees (not 20 and 40) reach heads tilted 50-60 degrees: on 60 RAF-DB train
    faces turned by each angle, 62 % against 56 % found at 50 degrees and 46 % against 21 % at 60, the
    same within 4 points below 40 (and the head-pose clip's stills: 96 % against 80 %).
    """
    scale_factor: float = 1.15
    min_neighbors: int = 1
    min_size: int = 48
    detect_face_px: int = 24
    tilts: tuple[float, ...] = (-25.0, 25.0, -45.0, 45.0)
    profiles: bool = True
    border: float = 0.25
    name: str = "blazeface"
    min_score: float = 0.5


class FaceFinder(Protocol):
    """A face detector as the pipeline and the video path use it.

    ``takes``: "gray" (an (H, W) uint8 frame) or "bgr" (an (H, W, 3) uint8 frame); the pipeline passes
    the one it asks for, converted once. Every result is in frame pixels, largest box first.
    """
    settings: DetectorSettings
    takes: str

    def detect(self, frame: np.ndarray, skip: Sequence[Box] = ()) -> list[Box]:
        """Every face in the frame except those overlapping ``skip`` (faces already accounted for)."""
        ...

    def detect_scored(self, frame: np.ndarray) -> list[Detection]:
        """Every face in the frame, with the detector's score where it has one."""
        ...

    def rescan(self, frame: np.ndarray, skip: Sequence[Box] = (), turn: int | None = None,
               changes: object | None = None) -> list[Box]:
        """A video's periodic full scan for faces other than ``skip``; may spread a costly search over
        several calls (a new face then shows up within a few scans). ``turn``: which of those calls
        this is (a stream's own count, when streams share a detector); None: the detector counts.
        ``changes``: the stream's ``fer.faces.detectors.changes.SceneChanges``, for a detector that can
        leave out what did not change since it last looked (Haar); others ignore it."""
        ...

    def detect_near(self, frame: np.ndarray, previous: list[Box], hold: bool = True) -> list[Box]:
        """The faces of ``previous`` (last frame's boxes) re-found near where they were; with ``hold``
        a face not re-found keeps its old box for up to HOLD_FRAMES frames in a row (``HeldBoxes``)."""
        ...

    def held(self, box: Box) -> bool:
        """``box`` came out of the last ``detect_near`` as a held box (kept, not re-found): the
        tracker must not count it as a sighting of a face it has yet to confirm."""
        ...

    def hints(self, boxes: list[Box]) -> list[object]:
        """What this detector knows about how it found each of its recent ``boxes`` (Haar: the view),
        for another copy of the detector to ``adopt`` (a rescan run on another thread)."""
        ...

    def adopt(self, boxes: list[Box], hints: list[object]) -> None:
        """Take ``boxes`` found by another copy of this detector, with that copy's ``hints``, so that
        ``detect_near`` searches for them as that copy would have."""
        ...


#: A followed face that ``detect_near`` misses keeps its last box for at most this many frames in a
#: row (Haar misses a face in some frames; BlazeFace, seldom): long enough to bridge a few misses and
#: the rescans that look through another view, short enough that a face that left is gone in ~0.2 s.
HOLD_FRAMES = 6


class HeldBoxes:
    """How many frames in a row each held box has been missed, for ``detect_near``'s ``hold``."""

    def __init__(self) -> None:
        self._misses: dict[Box, int] = {}

    def found(self, box: Box) -> None:
        """``box`` was re-found: its count starts again."""
        self._misses.pop(box, None)

    def holding(self, box: Box) -> bool:
        """``box`` is a held box: it was missed in the frame before and kept."""
        return box in self._misses

    def may_hold(self, box: Box) -> bool:
        """``box`` was missed: True (and counted) while it has been missed under HOLD_FRAMES times."""
        n = self._misses.pop(box, 0)
        if n >= HOLD_FRAMES:
            return False
        if len(self._misses) > 256:
            self._misses.clear()
        self._misses[box] = n + 1
        return True


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


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (1.0 when one box holds the other)."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy / max(1, min(a.w * a.h, b.w * b.h))


def clipped(box: Box, width: int, height: int) -> Box | None:
    """``box`` cut to the frame (None if nothing of it is left inside)."""
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(width, box.x + box.w), min(height, box.y + box.h)
    return Box(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None
