"""Where a stream's picture changed since a view last looked: the regions a rescan has to scan.

A rescan looks for faces entering the view and for followed faces the near-search lost. The cascade
gives the same answer on the same pixels, so where the picture has not changed since a view last
scanned it, that view would find nothing new: at a webcam or a fixed camera most of the frame is the
same wall from one rescan to the next. ``SceneChanges`` keeps, per view, a coarse copy of the frame it
last scanned and the faces it painted over or found there, and gives the next rescan of that view the
changed regions only (grown so that a face whose middle changed fits whole), or nothing to scan at
all. A moving camera changes everything, and the rescan covers the whole frame; so does every
FULL_EVERY-th rescan of a view, for the faces a little noise or light would let the cascade find.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Hashable, Sequence

import cv2
import numpy as np

from .base import Box, overlap

#: The frame is compared in blocks of this many pixels square (their mean grey).
CELL_PX = 8
#: A block whose mean grey moved by more than this (0-255) since the view's last scan has changed.
#: Sensor noise and the codec move a block's mean by 1-3; a head turning, by tens.
CHANGE_LEVEL = 10
#: A patch of fewer changed blocks than this is noise (a face of the smallest size, 48 px, moving
#: changes dozens); blocks under the followed faces, painted over by the scan, don't count.
MIN_BLOCKS = 3
#: A changed patch is grown on every side by this many times its own side, between MARGIN_PX and
#: MAX_MARGIN_PX: a face whose mouth or eyes alone changed must fit whole in the scanned region,
#: while a patch as large as a face already holds most of one.
GROW = 1.0
MARGIN_PX = 32
MAX_MARGIN_PX = 64
#: A region starts at a multiple of this many pixels, so that the scan's shrunk copies and window
#: grid line up with the whole frame's: a face on the edge of being found is then found (or not) as
#: in a scan of the whole frame, not lost to the crop.
ALIGN_PX = 64
#: When the changed regions cover this share of the frame or more, the whole frame is scanned.
FULL_SHARE = 0.5
#: Every this many rescans of a view (counted per view) scans the whole frame whatever changed.
FULL_EVERY = 6

Region = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


@dataclass
class _Seen:
    """What one view's last scan saw."""
    blocks: np.ndarray          # the frame's block means (int16)
    boxes: list[Box]            # faces it painted over (followed ones) or found
    since_full: int = 0         # its scans since the last whole-frame one
    shape: tuple[int, int] = (0, 0)


@dataclass
class SceneChanges:
    """One stream's memory of what each view (any hashable key) last scanned. Thread-safe; one
    stream's rescans come one at a time, but may run on a pool thread."""
    min_side: int = 96
    _seen: dict[Hashable, _Seen] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def regions(self, key: Hashable, gray: np.ndarray, skip: Sequence[Box] = ()) -> list[Region] | None:
        """The regions of ``gray`` that view ``key`` has to scan now (None: the whole frame; []:
        nothing), given that ``skip`` (the followed faces) is painted over. The frame becomes the
        view's new reference; call ``found`` with what the scan found."""
        blocks = _blocks(gray)
        with self._lock:
            last = self._seen.get(key)
            if last is None or last.shape != gray.shape or last.since_full + 1 >= FULL_EVERY:
                self._seen[key] = _Seen(blocks, list(skip), 0, gray.shape)
                return None
            self._seen[key] = _Seen(blocks, list(skip), last.since_full + 1, gray.shape)
        changed = np.abs(blocks - last.blocks) > CHANGE_LEVEL
        for b in skip:  # painted over: the scan doesn't look there, changed or not
            changed[max(0, b.y) // CELL_PX:(b.y + b.h) // CELL_PX, max(0, b.x) // CELL_PX:(b.x + b.w) // CELL_PX] = False
        h, w = gray.shape
        rects = _patches(changed)
        # Faces the view painted over or found last time and that are not painted over now: their
        # pixels may be the same, but the view never looked at them as they are now.
        rects += [(b.x, b.y, b.x + b.w, b.y + b.h) for b in last.boxes
                  if all(overlap(b, k) < 0.5 for k in skip)]
        regions = _merged([self._grown(r, w, h) for r in rects])
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions) >= FULL_SHARE * w * h:
            with self._lock:
                self._seen[key].since_full = 0
            return None
        return regions

    def found(self, key: Hashable, boxes: Sequence[Box]) -> None:
        """The faces view ``key``'s scan found: if it is not followed by the next scan, that scan
        looks at it again."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None:
                seen.boxes = [*seen.boxes, *boxes]

    def _grown(self, r: Region, w: int, h: int) -> Region:
        """``r`` grown by GROW times its side (at least MARGIN_PX) and to ``min_side``, inside the frame."""
        x0, y0, x1, y1 = r
        side = max(x1 - x0, y1 - y0)
        pad = max(MARGIN_PX, min(MAX_MARGIN_PX, int(GROW * side)), (self.min_side - side + 1) // 2)
        x0, y0 = (max(0, v - pad) // ALIGN_PX * ALIGN_PX for v in (x0, y0))
        return x0, y0, min(w, x1 + pad), min(h, y1 + pad)


def _blocks(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    small = cv2.resize(gray, (max(1, w // CELL_PX), max(1, h // CELL_PX)), interpolation=cv2.INTER_AREA)
    return small.astype(np.int16)


def _patches(changed: np.ndarray) -> list[Region]:
    """The bounding rectangles (frame pixels) of the connected patches of at least MIN_BLOCKS changed blocks."""
    if not changed.any():
        return []
    n, _, stats, _ = cv2.connectedComponentsWithStats(changed.astype(np.uint8), connectivity=8)
    return [(int(x) * CELL_PX, int(y) * CELL_PX, int(x + bw) * CELL_PX, int(y + bh) * CELL_PX)
            for x, y, bw, bh, area in stats[1:n] if area >= MIN_BLOCKS]


def _merged(rects: list[Region]) -> list[Region]:
    """Overlapping rectangles joined into their bounding rectangle, until none overlap."""
    rects = list(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    rects[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects
