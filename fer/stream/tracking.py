"""Faces across frames: a stable id per person while they stay in view, and smoothed probabilities.

Haar boxes jitter and the classifier's top label flickers between neighbouring frames; matching
each new box to last frame's tracks (IoU, or centre distance for fast moves) and blending each
track's probabilities with an exponential moving average keeps ids and labels steady.

Smoothing is expressed as a *half-life in seconds*, not a per-frame factor, so the same setting
behaves the same at 10 fps and at 30 fps (a per-frame alpha would lag three times longer on a slow
machine). 0 means off: every frame's raw probabilities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..faces.detection import Box, iou
from ..pipeline import Face

#: A track survives this long without a matching detection (Haar misses single frames)...
DEFAULT_MAX_AGE_S = 0.5
#: ...and at least this many processed frames: on a slow machine 0.5 s may be a single frame.
DEFAULT_MAX_MISSED = 3
#: Boxes overlapping at least this much (intersection over union) are the same face.
DEFAULT_MIN_IOU = 0.3
#: ...or whose centres are closer than this fraction of the track's box side.
DEFAULT_MAX_CENTRE_SHIFT = 0.5


def centre_shift(a: Box, b: Box) -> float:
    """Distance between box centres, in units of ``a``'s larger side."""
    dx = (a.x + a.w / 2) - (b.x + b.w / 2)
    dy = (a.y + a.h / 2) - (b.y + b.h / 2)
    return math.hypot(dx, dy) / max(a.w, a.h, 1)


def ema_weight(dt_s: float, half_life_s: float) -> float:
    """Weight of the *new* observation after ``dt_s`` seconds for a given half-life (1.0 = no smoothing)."""
    if half_life_s <= 0 or dt_s <= 0:
        return 1.0
    return 1.0 - 0.5 ** (dt_s / half_life_s)


@dataclass
class _Track:
    track_id: int
    box: Box
    probs: np.ndarray
    last_seen: float
    read_at: float  # when the classifier last read this face (``last_seen`` may be later: box only)
    missed: int = 0


@dataclass
class FaceTracker:
    """Assign ids to each frame's faces and smooth their probabilities.

    Not thread-safe by itself: one tracker belongs to one video stream (one browser session),
    whose frames arrive one at a time.
    """
    classes: list[str]
    half_life_s: float = 0.15
    max_age_s: float = DEFAULT_MAX_AGE_S
    max_missed: int = DEFAULT_MAX_MISSED
    min_iou: float = DEFAULT_MIN_IOU
    max_centre_shift: float = DEFAULT_MAX_CENTRE_SHIFT
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, faces: list[Face], now: float, read: list[bool] | None = None) -> list[Face]:
        """Faces of the frame taken at ``now`` (seconds, monotonic) -> the same faces with ``track_id``
        set and, when smoothing is on, probabilities/label/score replaced by the track's smoothed ones.
        ``read``: per face, whether its probabilities are a new reading; a face marked False (its
        box found, not classified: see ``due``) takes its track's probabilities as they are."""
        self._expire(now)
        pairs = self._match([f.box for f in faces])
        for t in self._tracks:
            t.missed += 1
        out = []
        for i, face in enumerate(faces):
            fresh = read is None or read[i]
            raw = np.array([face.probabilities[c] for c in self.classes], np.float64) if fresh else None
            t = pairs.get(i)
            if t is None:
                if not fresh:
                    raise ValueError(f"face {i} was not read, but it matches no track (ask due() first)")
                t = _Track(self._next_id, face.box, raw, now, now)
                self._next_id += 1
                self._tracks.append(t)
            else:
                if fresh:
                    w = ema_weight(now - t.read_at, self.half_life_s)
                    t.probs = w * raw + (1 - w) * t.probs
                    t.read_at = now
                t.box, t.last_seen = face.box, now
            t.missed = 0
            out.append(self._face_from_track(face, t, raw=fresh))
        return out

    def due(self, boxes: list[Box], now: float, every_s: float) -> list[bool]:
        """For each box of the frame taken at ``now``: True when its face must be classified (a new
        face, or one last read ``every_s`` or more ago), False when its track's probabilities may
        stand for this frame. ``update`` with the same boxes and time matches them the same way."""
        self._expire(now)
        pairs = self._match(boxes)
        return [i not in pairs or now - pairs[i].read_at >= every_s for i in range(len(boxes))]

    def reset(self) -> None:
        """Forget every track (a new stream starts; ids start at 1 again)."""
        self._tracks.clear()
        self._next_id = 1

    @property
    def active_ids(self) -> list[int]:
        return [t.track_id for t in self._tracks]

    def current_boxes(self) -> list[Box]:
        """Boxes of the faces matched in the latest update (where to look in the next frame)."""
        return [t.box for t in self._tracks if t.missed == 0]

    def _expire(self, now: float) -> None:
        """Forget the tracks unseen for longer than max_age_s and max_missed frames."""
        self._tracks = [t for t in self._tracks if t.missed < self.max_missed or now - t.last_seen <= self.max_age_s]

    def _match(self, boxes: list[Box]) -> dict[int, _Track]:
        """Greedy matching, best IoU first, then centre distance for what is left.

        Greedy is enough here: a webcam frame holds a handful of faces, and a face moves far less
        than its own width between frames.
        """
        free = set(range(len(self._tracks)))
        pairs: dict[int, _Track] = {}
        cands = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self._tracks)
                        for bi, b in enumerate(boxes)), reverse=True)
        for score, ti, bi in cands:
            if score < self.min_iou:
                break
            if ti in free and bi not in pairs:
                pairs[bi] = self._tracks[ti]
                free.discard(ti)
        rest = sorted((centre_shift(self._tracks[ti].box, b), ti, bi) for ti in free
                      for bi, b in enumerate(boxes) if bi not in pairs)
        for shift, ti, bi in rest:
            if shift > self.max_centre_shift:
                break
            if ti in free and bi not in pairs:
                pairs[bi] = self._tracks[ti]
                free.discard(ti)
        return pairs

    def _face_from_track(self, face: Face, t: _Track, raw: bool = True) -> Face:
        if self.half_life_s <= 0 and raw:
            return replace(face, track_id=t.track_id)
        p = t.probs / max(float(t.probs.sum()), 1e-12)
        k = int(np.argmax(p))
        return replace(face, track_id=t.track_id, label=self.classes[k], score=float(p[k]),
                       probabilities={c: float(v) for c, v in zip(self.classes, p)})
