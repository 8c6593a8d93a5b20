"""BlazeFace with both of its networks, the product's default detector: the short-range one for faces
at webcam distance, the full-range one for the small, far faces it can't see, and a padded second
look for a face that fills the whole picture (a tight headshot, a data set's crop).

Why each part (measured with bench/detection_faces.py; docs/detectors.md has the figures):

- Short range (128 px input) finds every face of the head-pose clip, and 93 % of tight crops, in
  about 1.7 ms; below a face side of about a tenth of the frame's longer side it finds nothing and
  starts to invent boxes (0.8 false a frame at 8 %). On the walking clip (faces 12 % of the width,
  whole bodies in view) it finds 11 % of the faces.
- Full range (192 px input, ~4.5 ms) finds all of the walking clip's faces, but few tight crops
  (1 % of RAF-DB's 100x100 test faces).
- A face filling the picture: short range on the picture set in a mid-gray border half its longer
  side wide finds 99-100 % of RAF-DB, AffectNet and FER2013 test crops.

So a whole-frame look (a still, a video's first frame and its periodic rescans) runs both networks
and merges their boxes, and pads and looks again only when neither found anything; the look near the
faces a video follows runs only the network whose range fits each face's size.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import cv2
import numpy as np

from .base import Box, Detection, DetectorSettings, HeldBoxes, clipped, iou, largest_first, overlap
from .blazeface import FULL_RANGE, NEAR_REACH, SHORT_RANGE, BlazeFaceDetector

#: Short range's boxes with a side under this fraction of the frame's longer side are left to full
#: range: below it short range misses most faces and the boxes it does give are mostly false.
SHORT_RANGE_MIN_SIDE = 0.1
#: A followed face this small (side over the frame's longer side) is looked for with full range;
#: one at least SHORT_RANGE_MIN_SIDE with short range; in between, with both.
FULL_RANGE_MAX_SIDE = 0.16
#: Boxes from the two networks overlapping at least this much (IoU) are one face; short range's box
#: is kept (its box on a face is smaller than full range's, so a face would change size otherwise).
MERGE_IOU = 0.3
#: Nothing found: look again with the picture inside a border this fraction of its longer side wide
#: on every edge (mid-gray: a black border lost 1-4 points on FER2013 crops, a replicated edge 4-5).
PAD_FRACTION = 0.5
PAD_GRAY = 128


def smallest_face(settings: DetectorSettings, width: int, height: int) -> int:
    """The smallest face side kept in a ``width`` x ``height`` picture: ``settings.min_size``, but
    never more than half the picture's shorter side, so a 48x48 crop's own face is not too small."""
    return max(1, min(settings.min_size, min(width, height) // 2))


class TwoRangeBlazeFace:
    """BGR frame (H, W, 3) uint8 (gray is widened) -> face boxes, largest first; both BlazeFace
    networks behind one ``FaceFinder``. Not shared between threads (the pipeline gives each thread
    its own, as for every detector)."""

    takes = "bgr"

    def __init__(self, settings: DetectorSettings | None = None, num_threads: int = 1) -> None:
        self.settings = replace(settings or DetectorSettings(), name="blazeface")
        # The networks keep every box; min_size is applied here, once the picture's size is known.
        inner = replace(self.settings, min_size=1)
        self.short = BlazeFaceDetector(inner, SHORT_RANGE, num_threads)
        self.full = BlazeFaceDetector(inner, FULL_RANGE, num_threads)
        self._held = HeldBoxes()
        # detect_near's passes on its last frame: (frame, pixel sample, {range: detections}).
        self._last: tuple[np.ndarray | None, bytes, dict[str, list[Detection]]] = (None, b"", {})
        # The keypoints of the boxes of the last look (a rescan adds its own to detect_near's).
        self._keypoints: dict[Box, tuple[tuple[float, float], ...] | None] = {}

    def keypoints(self, boxes: Sequence[Box]) -> list[tuple[tuple[float, float], ...] | None]:
        """The six landmarks of each box as the last look found it (None for a box it did not find,
        such as a face held through a missed frame): the pipeline lines crops up with them."""
        return [self._keypoints.get(b) for b in boxes]

    # -- whole-frame looks -------------------------------------------------------------------------

    def detect_scored(self, frame: np.ndarray) -> list[Detection]:
        """Every face, both networks merged; the padded look when neither finds one."""
        frame = _bgr(frame)
        found = self._whole(frame, {})
        found = found if found else self._padded(frame)
        self._keypoints = {d.box: d.keypoints for d in found}
        return found

    def detect(self, frame: np.ndarray, skip: Sequence[Box] = ()) -> list[Box]:
        """Every face not already in ``skip``."""
        return _without([d.box for d in self.detect_scored(frame)], skip)

    def rescan(self, frame: np.ndarray, skip: Sequence[Box] = (), turn: int | None = None,
               changes: object | None = None) -> list[Box]:
        """The video's periodic whole-frame look for faces other than ``skip``: a network that
        ``detect_near`` already ran on this very frame is not run again. ``turn`` and ``changes``
        change nothing (every pass sees the whole frame)."""
        frame = _bgr(frame)
        last_frame, sample, passes = self._last
        self._last = (None, b"", {})
        same = last_frame is frame and sample == _pixel_sample(frame)  # a caller may reuse one buffer
        found = self._whole(frame, passes if same else {})
        if not found and not skip:
            found = self._padded(frame)
        kept = _without([d.box for d in found], skip)
        if not same:
            self._keypoints = {}
        self._keypoints.update({d.box: d.keypoints for d in found if d.box in kept})
        return kept

    # -- following faces ---------------------------------------------------------------------------

    def detect_near(self, frame: np.ndarray, previous: list[Box], hold: bool = True) -> list[Box]:
        """The previous faces re-found, each by the network whose range fits its size (a face at
        webcam distance costs one short-range pass), matched to the nearest new box; with ``hold``
        a face not re-found keeps its box for up to HOLD_FRAMES frames in a row."""
        frame = _bgr(frame)
        h, w = frame.shape[:2]
        longer = max(h, w)
        sides = [max(b.w, b.h) / longer for b in previous]
        passes: dict[str, list[Detection]] = {}
        if any(s >= SHORT_RANGE_MIN_SIDE for s in sides):
            passes["short"] = self.short.detect_scored(frame)
        if any(s < FULL_RANGE_MAX_SIDE for s in sides):
            passes["full"] = self.full.detect_scored(frame)
        self._last = (frame, _pixel_sample(frame), passes)
        merged = self._merge(passes, w, h)
        self._keypoints = {d.box: d.keypoints for d in merged}
        found = [d.box for d in merged]
        out: list[Box] = []
        for b in previous:
            side = max(b.w, b.h)
            cx, cy = b.x + b.w / 2, b.y + b.h / 2
            near = [n for n in found if n not in out and
                    np.hypot(n.x + n.w / 2 - cx, n.y + n.h / 2 - cy) <= NEAR_REACH * side]
            if near:
                self._held.found(b)
                out.append(min(near, key=lambda n: np.hypot(n.x + n.w / 2 - cx, n.y + n.h / 2 - cy)))
            elif hold and self._held.may_hold(b):
                out.append(b)
        return largest_first(out)

    def held(self, box: Box) -> bool:
        """``box`` is one the last ``detect_near`` kept without re-finding it."""
        return self._held.holding(box)

    def hints(self, boxes: list[Box]) -> list[None]:
        """Nothing to pass on: every pass sees the whole frame."""
        return [None] * len(boxes)

    def adopt(self, boxes: list[Box], hints: list[None]) -> None:
        """Nothing to take (see ``hints``)."""

    # -- inside ------------------------------------------------------------------------------------

    def _whole(self, frame: np.ndarray, passes: dict[str, list[Detection]]) -> list[Detection]:
        """Both networks on the whole frame (reusing the ``passes`` already made on it), merged."""
        if "short" not in passes:
            passes["short"] = self.short.detect_scored(frame)
        if "full" not in passes:
            passes["full"] = self.full.detect_scored(frame)
        return self._merge(passes, frame.shape[1], frame.shape[0])

    def _merge(self, passes: dict[str, list[Detection]], width: int, height: int) -> list[Detection]:
        """One list from the networks' results: short range's boxes under its reach dropped; of two
        boxes on one face, short range's (the one ``detect_near`` follows a near face with, so a
        face's box keeps its size whichever look found it); faces under ``min_size`` dropped;
        largest first."""
        longer = max(width, height)
        short = [d for d in passes.get("short", []) if max(d.box.w, d.box.h) >= SHORT_RANGE_MIN_SIDE * longer]
        return self._kept(short + passes.get("full", []), width, height)

    def _kept(self, candidates: list[Detection], width: int, height: int) -> list[Detection]:
        """``candidates`` in order of preference, less those on a face an earlier one holds (IoU at
        least MERGE_IOU, or half of the smaller inside the other) and those under ``min_size``."""
        smallest = smallest_face(self.settings, width, height)
        kept: list[Detection] = []
        for d in candidates:
            if min(d.box.w, d.box.h) >= smallest and all(
                    iou(d.box, k.box) < MERGE_IOU and overlap(d.box, k.box) < 0.5 for k in kept):
                kept.append(d)
        return sorted(kept, key=lambda d: d.box.w * d.box.h, reverse=True)

    def _padded(self, frame: np.ndarray) -> list[Detection]:
        """Short range on the frame set in a mid-gray border: the look for a face that fills the
        picture, which the network (trained on faces with some room around them) misses."""
        h, w = frame.shape[:2]
        pad = max(1, round(PAD_FRACTION * max(h, w)))
        framed = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_GRAY,) * 3)
        out = []
        for d in self.short.detect_scored(framed):
            box = clipped(Box(d.box.x - pad, d.box.y - pad, d.box.w, d.box.h), w, h)
            if box is not None:
                out.append(_moved(d, box, -pad, -pad))
        return self._kept(out, w, h)


def _moved(d: Detection, box: Box, dx: int, dy: int) -> Detection:
    """``d`` with its box replaced and its keypoints moved by (dx, dy)."""
    points = None if d.keypoints is None else tuple((x + dx, y + dy) for x, y in d.keypoints)
    return d._replace(box=box, keypoints=points)


def _without(boxes: list[Box], skip: Sequence[Box]) -> list[Box]:
    return largest_first([b for b in boxes if all(overlap(b, k) < 0.5 for k in skip)])


def _bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"BlazeFace takes a BGR (H, W, 3) or gray (H, W) image, got shape {frame.shape}")
    return frame


def _pixel_sample(frame: np.ndarray) -> bytes:
    """Every 16th pixel of every 16th row: tells two camera frames apart at a few microseconds."""
    return frame[::16, ::16].tobytes()
