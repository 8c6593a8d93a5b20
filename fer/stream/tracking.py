"""Faces across frames: a stable id per person while they stay in view, and smoothed probabilities.

Boxes jitter, detectors miss a face now and then or see one for a single frame where there is none,
and the classifier's top label flickers between neighbouring frames. Confirming a new face over a few
frames, matching each new box to where each track's motion puts it (IoU, or centre distance for fast
moves) and blending each track's probabilities with an exponential moving average keeps ids and
labels steady, one id per person.

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

#: A confirmed track survives this long without a matching detection (a face turned away, someone
#: walking past in front of it)...
DEFAULT_MAX_AGE_S = 1.0
#: ...and at least this many processed frames: on a slow machine 1 s may be a single frame.
DEFAULT_MAX_MISSED = 3
#: A new face becomes a track with an id once it has been detected in this many frames (a frame in
#: which the detector only held its box neither counts nor breaks the row); a face missed before
#: that is dropped unseen. A detector's one-frame false face so never gets an id, never reaches the
#: session log, and ids count people.
DEFAULT_CONFIRM_HITS = 3
#: Boxes overlapping at least this much (intersection over union) are the same face.
DEFAULT_MIN_IOU = 0.3
#: ...or whose centres are closer than this fraction of the track's box side (from where the track's
#: motion puts the face now)...
DEFAULT_MAX_CENTRE_SHIFT = 0.5
#: ...plus this much more for each frame the track has gone unseen (up to MAX_SEARCH_GROWTH frames).
SHIFT_PER_MISSED_FRAME = 0.1
MAX_SEARCH_GROWTH = 5
#: A track's motion is extrapolated for at most this long.
MAX_PREDICT_S = 0.5
#: A track's velocity is its centre's displacement over its sightings of the last this many seconds:
#: boxes jitter by a tenth of their side from frame to frame, which over one frame at 30 fps would
#: read as a fast move.
VELOCITY_WINDOW_S = 0.4


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
    track_id: int | None  # None until confirmed
    box: Box              # where the face was last detected (a held box does not move it)
    probs: np.ndarray
    last_seen: float      # when it was last detected
    read_at: float        # when the classifier last read this face (``last_seen`` may be later: box only)
    missed: int = 0
    hits: int = 1         # frames in a row it was detected in, while tentative
    trail: list[tuple[float, float, float]] = field(default_factory=list)  # (time, centre x, centre y)

    @property
    def velocity(self) -> tuple[float, float]:
        """Centre velocity (pixels per second) over the trail; 0 until it spans a frame or two."""
        if len(self.trail) < 2 or self.trail[-1][0] - self.trail[0][0] < 0.05:
            return 0.0, 0.0
        (t0, x0, y0), (t1, x1, y1) = self.trail[0], self.trail[-1]
        return (x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)

    @property
    def confirmed(self) -> bool:
        return self.track_id is not None

    def predicted(self, now: float) -> Box:
        """Where the track's motion puts its box at ``now``."""
        dt = min(max(0.0, now - self.last_seen), MAX_PREDICT_S)
        vx, vy = self.velocity
        return self.box._replace(x=int(round(self.box.x + vx * dt)), y=int(round(self.box.y + vy * dt)))

    def moved_to(self, box: Box, now: float) -> None:
        """A detection at ``now``: the box, and a point of the trail."""
        if not self.trail:
            self.trail.append((self.last_seen, self.box.x + self.box.w / 2, self.box.y + self.box.h / 2))
        self.trail.append((now, box.x + box.w / 2, box.y + box.h / 2))
        while len(self.trail) > 2 and now - self.trail[0][0] > VELOCITY_WINDOW_S:
            self.trail.pop(0)
        self.box, self.last_seen = box, now


@dataclass
class FaceTracker:
    """Assign ids to each frame's faces and smooth their probabilities.

    A face gets an id only once it has been detected in ``confirm_hits`` frames in a row; until then
    it is followed (``current_boxes``) but left out of ``update``'s result. A confirmed track keeps
    its id through ``max_age_s`` (and ``max_missed`` frames) without a detection; each frame's boxes
    are matched to where each track's own motion puts it, confirmed tracks first, so two faces that
    cross keep their ids and a new face next to a known one can't take the known one's id.

    Not thread-safe by itself: one tracker belongs to one video stream (one browser session),
    whose frames arrive one at a time.
    """
    classes: list[str]
    half_life_s: float = 0.15
    max_age_s: float = DEFAULT_MAX_AGE_S
    max_missed: int = DEFAULT_MAX_MISSED
    min_iou: float = DEFAULT_MIN_IOU
    max_centre_shift: float = DEFAULT_MAX_CENTRE_SHIFT
    confirm_hits: int = DEFAULT_CONFIRM_HITS
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, faces: list[Face], now: float, read: list[bool] | None = None,
               held: list[bool] | None = None) -> list[Face]:
        """Faces of the frame taken at ``now`` (seconds, monotonic) -> the faces of confirmed tracks,
        in the given order, with ``track_id`` set and, when smoothing is on, probabilities/label/score
        replaced by the track's smoothed ones. ``read``: per face, whether its probabilities are a new
        reading; a face marked False (its box found, not classified: see ``due``) takes its track's
        probabilities as they are. ``held``: per face, whether the detector only kept its previous
        box (``FaceFinder.held``): it keeps a confirmed track shown where it was, but is no sighting
        (no motion, no step towards confirming a new track, which waits unseen while it is held and
        is dropped at its first frame neither found nor held)."""
        self._expire(now)
        pairs = self._match([f.box for f in faces], now)
        for t in self._tracks:
            t.missed += 1
        out = []
        for i, face in enumerate(faces):
            fresh = read is None or read[i]
            kept = bool(held and held[i])
            raw = np.array([face.probabilities[c] for c in self.classes], np.float64) if fresh else None
            t = pairs.get(i)
            if t is None:
                if not fresh:
                    raise ValueError(f"face {i} was not read, but it matches no track (ask due() first)")
                if kept:
                    continue  # a held box whose track is gone: nothing to show
                t = _Track(None, face.box, raw, now, now)
                self._tracks.append(t)
            elif kept and not t.confirmed:
                t.missed = 0  # kept waiting while the detector holds its box: no sighting, not a miss
                continue
            else:
                if fresh:
                    w = ema_weight(now - t.read_at, self.half_life_s)
                    t.probs = w * raw + (1 - w) * t.probs
                    t.read_at = now
                if not kept:
                    t.moved_to(face.box, now)
                    t.hits += 1
            t.missed = 0
            if not t.confirmed and t.hits >= self.confirm_hits:
                t.track_id = self._next_id
                self._next_id += 1
            if t.confirmed:
                out.append(self._face_from_track(face, t, raw=fresh))
        return out

    def due(self, boxes: list[Box], now: float, every_s: float) -> list[bool]:
        """For each box of the frame taken at ``now``: True when its face must be classified (a new
        face, or one last read ``every_s`` or more ago), False when its track's probabilities may
        stand for this frame. ``update`` with the same boxes and time matches them the same way."""
        self._expire(now)
        pairs = self._match(boxes, now)
        return [i not in pairs or now - pairs[i].read_at >= every_s for i in range(len(boxes))]

    def reset(self) -> None:
        """Forget every track (a new stream starts; ids start at 1 again)."""
        self._tracks.clear()
        self._next_id = 1

    @property
    def active_ids(self) -> list[int]:
        """The ids of the confirmed tracks."""
        return [t.track_id for t in self._tracks if t.confirmed]

    def current_boxes(self) -> list[Box]:
        """Boxes of the faces matched in the latest update, tentative ones too (where to look in
        the next frame)."""
        return [t.box for t in self._tracks if t.missed == 0]

    def _expire(self, now: float) -> None:
        """Forget the confirmed tracks unseen for longer than max_age_s and max_missed frames, and
        the tentative ones missed once."""
        self._tracks = [t for t in self._tracks if (t.missed == 0 if not t.confirmed else
                                                    t.missed < self.max_missed or now - t.last_seen <= self.max_age_s)]

    def _match(self, boxes: list[Box], now: float) -> dict[int, _Track]:
        """Boxes to tracks, greedy: by IoU with where each track's motion puts it, the confirmed
        tracks first, then the tentative ones; then, for what is left, by centre distance (from
        there or from where the track was last seen, whichever is nearer; a longer reach for a track
        unseen for a few frames), again confirmed tracks first. A face followed closely by a
        tentative track so keeps it, while a confirmed track that lost its face can't be taken over
        by a new one next to it.

        Greedy is enough here: a frame holds a handful of faces, and a face moves far less than its
        own width between frames.
        """
        pairs: dict[int, _Track] = {}
        taken: set[int] = set()  # track indices
        groups = ([k for k, t in enumerate(self._tracks) if t.confirmed],
                  [k for k, t in enumerate(self._tracks) if not t.confirmed])
        where = [t.predicted(now) for t in self._tracks]
        for group in groups:
            cands = sorted(((iou(where[k], b), k, bi) for k in group for bi, b in enumerate(boxes)), reverse=True)
            for score, k, bi in cands:
                if score < self.min_iou:
                    break
                if k not in taken and bi not in pairs:
                    pairs[bi] = self._tracks[k]
                    taken.add(k)
        for group in groups:
            rest = sorted((min(centre_shift(where[k], b), centre_shift(self._tracks[k].box, b)), k, bi)
                          for k in group if k not in taken for bi, b in enumerate(boxes) if bi not in pairs)
            for shift, k, bi in rest:
                t = self._tracks[k]
                reach = self.max_centre_shift + SHIFT_PER_MISSED_FRAME * min(t.missed, MAX_SEARCH_GROWTH)
                if shift <= reach and k not in taken and bi not in pairs:
                    pairs[bi] = t
                    taken.add(k)
        return pairs

    def _face_from_track(self, face: Face, t: _Track, raw: bool = True) -> Face:
        if self.half_life_s <= 0 and raw:
            return replace(face, track_id=t.track_id)
        p = t.probs / max(float(t.probs.sum()), 1e-12)
        k = int(np.argmax(p))
        return replace(face, track_id=t.track_id, label=self.classes[k], score=float(p[k]),
                       probabilities={c: float(v) for c, v in zip(self.classes, p)})
