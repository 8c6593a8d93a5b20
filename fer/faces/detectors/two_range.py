"""BlazeFace with both of its networks, the product's default detector: the short-range one for faces
at webcam distance, the full-range one for the small, far faces it can't see, and a padded second
look for a face that fills the whole picture (a tight headshot, a data set's crop).

Why each part (docs/detectors.md has the figures and the commands that measure them):

- Short range (128 px input) finds every face of the head-pose clip, and 87-100 % of data set crops
  as they are, in 1.5-2.3 ms; below a face side of about a tenth of the frame's longer side it finds
  almost nothing and the boxes it gives there are often false. On the walking clip (faces 12 % of the
  width, whole bodies in view) it finds 11 % of the faces.
- Full range (192 px input, 3-4x short range's cost) finds all of the walking clip's faces, but few
  tight crops (1 % of RAF-DB's 100x100 test faces).
- A face filling the picture: short range on the picture set in a mid-gray border half its longer
  side wide finds 99-100 % of RAF-DB, AffectNet and FER2013 test crops.

So a whole-frame look (a still, a video's first frame and its periodic rescans) runs both networks
and merges their boxes, and pads and looks again only when neither found anything; the look near the
faces a video follows follows each by its template for up to two frames, then runs only the network
whose range fits its size (full range under a fifth of the frame's longer side, short range from
there): one network pass every third frame for steady faces.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Sequence

import cv2
import numpy as np

from .base import Box, Detection, DetectorSettings, HeldBoxes, clipped, iou, largest_first, overlap
from .blazeface import FULL_RANGE, NEAR_REACH, SHORT_RANGE, BlazeFaceDetector
from .follow import FOLLOW_MARGIN, FaceFollower

#: Short range's boxes with a side under this fraction of the frame's longer side are dropped: below
#: it short range misses most faces and the boxes it does give are often false.
SHORT_RANGE_MIN_SIDE = 0.1
#: Which network follows a face (box side over the frame's longer side): full range under this,
#: short range from it. Measured on the shared clips' faces cut out at each size (bench/
#: blazeface_ranges.py): short range finds 40 % of the walking clip's faces at 0.13 and 76 % at
#: 0.16, all from 0.2; full range all from 0.1 to 0.3, then 88 % (head-pose) at 0.4, 14 % at 0.6.
RANGE_SPLIT = 0.2
#: A face followed by one network stays with it until it leaves that network's sure range, so that a
#: face near RANGE_SPLIT does not switch networks (and box sizes) from frame to frame.
FULL_RANGE_MAX_SIDE = 0.3
SHORT_RANGE_SURE_SIDE = 0.15
#: Boxes from the two networks overlapping at least this much (IoU), or half of the smaller inside
#: the other, are one face: the box of the network that covers the face's size is kept.
MERGE_IOU = 0.3
#: Nothing found: look again with the picture inside a border this fraction of its longer side wide
#: on every edge (mid-gray: a black border lost 1-4 points on FER2013 crops, a replicated edge 4-5).
PAD_FRACTION = 0.5
PAD_GRAY = 128
SHORT, FULL = "short", "full"

#: A whole-frame look runs short range here while its own thread runs full range: the interpreters
#: let go of the GIL, so on two cores a look takes the longer pass's time, not both passes' (6.5 ->
#: 4.6 ms on the head-pose clip's 640x360 frame, `python bench/compare_fer.py --scene ...`). One
#: pool for every detector; each detector's networks are its own, so passes never share one.
_SHORT_PASSES = ThreadPoolExecutor(max_workers=max(1, min(4, (os.cpu_count() or 2))),
                                   thread_name_prefix="fer-blazeface")


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
        self.nets = {SHORT: BlazeFaceDetector(inner, SHORT_RANGE, num_threads),
                     FULL: BlazeFaceDetector(inner, FULL_RANGE, num_threads)}
        self._held = HeldBoxes()
        self._follower = FaceFollower()
        # detect_near's passes on its last frame: (frame, pixel sample, {network: detections}).
        self._last: tuple[np.ndarray | None, bytes, dict[str, list[Detection]]] = (None, b"", {})
        # What the last looks found each box with: its keypoints and its network.
        self._keypoints: dict[Box, tuple[tuple[float, float], ...] | None] = {}
        self._origin: dict[Box, str] = {}

    @property
    def short(self) -> BlazeFaceDetector:
        return self.nets[SHORT]

    @property
    def full(self) -> BlazeFaceDetector:
        return self.nets[FULL]

    def keypoints(self, boxes: Sequence[Box]) -> list[tuple[tuple[float, float], ...] | None]:
        """The six landmarks of each box as the last look found it (None for a box it did not find,
        such as a face held through a missed frame): the pipeline lines crops up with them."""
        return [self._keypoints.get(b) for b in boxes]

    # -- whole-frame looks -------------------------------------------------------------------------

    def detect_scored(self, frame: np.ndarray) -> list[Detection]:
        """Every face, both networks merged; the padded look when neither finds one."""
        frame = _bgr(frame)
        found = self._whole(frame, {}) or self._padded(frame)
        self._remember(found, keep=False)
        return [d for _, d in found]

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
        kept = _without([d.box for _, d in found], skip)
        self._remember([(n, d) for n, d in found if d.box in kept], keep=same)
        return kept

    # -- following faces ---------------------------------------------------------------------------

    def detect_near(self, frame: np.ndarray, previous: list[Box], hold: bool = True) -> list[Box]:
        """The previous faces re-found. A face a network found in one of the last frames is first
        followed by its template (``fer.faces.detectors.follow``, as Haar's are: a few hundredths of
        a millisecond); a network confirms each face at least every FOLLOW_FRAMES + 1 frames, and at
        once when the template matches poorly. The network is the one that found the face while its
        size stays in that network's range (a face at webcam distance costs a short-range pass, far
        ones one full-range pass for all), each face matched to the nearest box of that network; with
        ``hold`` a face not re-found keeps its box for up to HOLD_FRAMES frames in a row."""
        frame = _bgr(frame)
        h, w = frame.shape[:2]
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        longer = max(h, w)
        followed = {}
        for b in previous:
            if any(k != b and _close(b, k) for k in previous):
                continue  # two faces about to cross: a template could jump to the other one
            moved = self._follower.follow(gray, b)
            if moved is not None:
                followed[b] = clipped(moved, w, h) or b
        wanted = [self._network_for(b, longer) for b in previous]
        needed = {net for b, net in zip(previous, wanted) if b not in followed}
        passes = {net: self.nets[net].detect_scored(frame) for net in needed}
        self._last = (frame, _pixel_sample(frame), passes)
        smallest = smallest_face(self.settings, w, h)
        taken: set[Box] = set(followed.values())
        out: list[tuple[str, Detection]] = []
        for b, net in zip(previous, wanted):
            if b in followed:
                box = followed[b]
                self._held.found(b)
                out.append((self._origin.get(b, net), _moved(Detection(box, None, self._keypoints.get(b)), box,
                                                             box.x - b.x, box.y - b.y)))
                continue
            side = max(b.w, b.h)
            cx, cy = b.x + b.w / 2, b.y + b.h / 2
            dist = {d: np.hypot(d.box.x + d.box.w / 2 - cx, d.box.y + d.box.h / 2 - cy) for d in passes[net]
                    if d.box not in taken and min(d.box.w, d.box.h) >= smallest}
            near = [d for d, r in dist.items() if r <= NEAR_REACH * side]
            if near:
                self._held.found(b)
                d = min(near, key=dist.get)
                taken.add(d.box)
                self._follower.found(gray, d.box)
                out.append((net, d))
            elif hold and self._held.may_hold(b):
                out.append((self._origin.get(b, net), Detection(b, None, self._keypoints.get(b))))
        self._follower.next_frame()
        self._remember(out, keep=False)
        return largest_first([d.box for _, d in out])

    def held(self, box: Box) -> bool:
        """``box`` is one the last ``detect_near`` kept without re-finding it."""
        return self._held.holding(box)

    def hints(self, boxes: list[Box]) -> list[str | None]:
        """Which network found each box (a rescan on another thread), for ``adopt``."""
        return [self._origin.get(b) for b in boxes]

    def adopt(self, boxes: list[Box], hints: list[str | None]) -> None:
        """Boxes another copy found, with the network that found each: ``detect_near`` follows
        each with that network."""
        self._origin.update({b: n for b, n in zip(boxes, hints) if n is not None})

    # -- inside ------------------------------------------------------------------------------------

    def _network_for(self, box: Box, longer: int) -> str:
        """The network that follows ``box``: the one that found it while the face stays in its sure
        range, otherwise the one whose range its size is in."""
        side = max(box.w, box.h) / longer
        net = self._origin.get(box)
        if net == FULL and side <= FULL_RANGE_MAX_SIDE or net == SHORT and side >= SHORT_RANGE_SURE_SIDE:
            return net
        return FULL if side < RANGE_SPLIT else SHORT

    def _remember(self, found: list[tuple[str, Detection]], keep: bool) -> None:
        """Note each found box's network and keypoints (added to the last look's with ``keep``)."""
        if not keep:
            self._keypoints, self._origin = {}, {}
        for net, d in found:
            self._keypoints[d.box] = d.keypoints
            self._origin[d.box] = net

    def _whole(self, frame: np.ndarray, passes: dict[str, list[Detection]]) -> list[tuple[str, Detection]]:
        """Both networks on the whole frame (reusing the ``passes`` already made on it), merged."""
        short = None if SHORT in passes else _SHORT_PASSES.submit(self.short.detect_scored, frame)
        if FULL not in passes:
            passes[FULL] = self.full.detect_scored(frame)
        if short is not None:
            passes[SHORT] = short.result()
        return self._merge(passes, frame.shape[1], frame.shape[0])

    def _merge(self, passes: dict[str, list[Detection]], width: int, height: int) -> list[tuple[str, Detection]]:
        """One list from the networks' results: short range's boxes under its reach dropped; of two
        boxes on one face, the one from the network whose range the face's size is in (the one
        ``detect_near`` will follow it with, so the box keeps its size); faces under ``min_size``
        dropped; largest first."""
        longer = max(width, height)

        def side(d: Detection) -> float:
            return max(d.box.w, d.box.h) / longer
        short = [(SHORT, d) for d in passes.get(SHORT, []) if side(d) >= SHORT_RANGE_MIN_SIDE]
        full = [(FULL, d) for d in passes.get(FULL, [])]
        in_range = [c for c in short if side(c[1]) >= RANGE_SPLIT] + [c for c in full if side(c[1]) < RANGE_SPLIT]
        return self._kept(in_range + [c for c in short + full if c not in in_range], width, height)

    def _kept(self, candidates: list[tuple[str, Detection]], width: int, height: int) -> list[tuple[str, Detection]]:
        """``candidates`` in order of preference, less those on a face an earlier one holds (IoU at
        least MERGE_IOU, or half of the smaller inside the other) and those under ``min_size``."""
        smallest = smallest_face(self.settings, width, height)
        kept: list[tuple[str, Detection]] = []
        for net, d in candidates:
            if min(d.box.w, d.box.h) >= smallest and all(
                    iou(d.box, k.box) < MERGE_IOU and overlap(d.box, k.box) < 0.5 for _, k in kept):
                kept.append((net, d))
        return sorted(kept, key=lambda c: c[1].box.w * c[1].box.h, reverse=True)

    def _padded(self, frame: np.ndarray) -> list[tuple[str, Detection]]:
        """Short range on the frame set in a mid-gray border: the look for a face that fills the
        picture, which the network (trained on faces with some room around them) misses."""
        h, w = frame.shape[:2]
        pad = max(1, round(PAD_FRACTION * max(h, w)))
        framed = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_GRAY,) * 3)
        out = []
        for d in self.short.detect_scored(framed):
            box = clipped(Box(d.box.x - pad, d.box.y - pad, d.box.w, d.box.h), w, h)
            if box is not None:
                out.append((SHORT, _moved(d, box, -pad, -pad)))
        return self._kept(out, w, h)


def _moved(d: Detection, box: Box, dx: int, dy: int) -> Detection:
    """``d`` with its box replaced and its keypoints moved by (dx, dy)."""
    points = None if d.keypoints is None else tuple((x + dx, y + dy) for x, y in d.keypoints)
    return d._replace(box=box, keypoints=points)


def _close(a: Box, b: Box) -> bool:
    """The two faces' boxes, each grown by its template's search margin, overlap."""
    ma, mb = FOLLOW_MARGIN * max(a.w, a.h), FOLLOW_MARGIN * max(b.w, b.h)
    return (a.x - ma < b.x + b.w + mb and b.x - mb < a.x + a.w + ma and
            a.y - ma < b.y + b.h + mb and b.y - mb < a.y + a.h + ma)


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
