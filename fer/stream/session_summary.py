"""A live session in a few numbers: per face, how long it was seen and what share of that time it showed
each expression, plus a coarse timeline of the whole session (one point per face per second).

Kept as a running tally updated with every frame, so the summary after STOP costs nothing however
long the session ran, and needs none of the rows on disk.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

#: A gap between two processed frames longer than this (a stalled stream) counts as this much time.
MAX_FRAME_GAP_S = 1.0
#: The summary timeline keeps one point per face per this many seconds.
TIMELINE_STEP_S = 1.0
#: A face seen for less than this is a brief detection (a false face, a track lost and found again),
#: not a face of the session: it is counted but left out of the per-face summary and its timeline.
MIN_SEEN_S = 0.5


@dataclass(frozen=True, slots=True)
class LogRow:
    """One face in one processed frame: a row of the session log (``fer.stream.session_log``), kept here
    because the summary tallies them. ``time_s``: seconds since the session started."""
    time_s: float
    face_id: int
    box: tuple[int, int, int, int]
    probabilities: tuple[float, ...]
    label: str


@dataclass(frozen=True)
class FaceSummary:
    """One tracked face. ``shares``: fraction of ``seen_s`` per expression (sums to 1 when seen_s > 0)."""
    face_id: int
    seen_s: float
    first_s: float
    last_s: float
    shares: dict[str, float]

    @property
    def top(self) -> str:
        return max(self.shares, key=self.shares.get)


@dataclass(frozen=True)
class SessionSummary:
    """``faces``: the faces seen for at least ``MIN_SEEN_S``; ``brief``: how many tracks were seen for
    less and left out. ``timeline``: per listed face id, (seconds since start, label) one point per
    ``TIMELINE_STEP_S``."""
    started_at: datetime
    duration_s: float
    rows: int
    faces: list[FaceSummary]
    timeline: dict[int, list[tuple[float, str]]]
    brief: int = 0

    def caption(self) -> str:
        """'Started 2026-12-01 10:12:03, ran 4 min 10 s: 2 faces, 28,000 face observations.' (plus the
        brief detections left out, when there were any)."""
        from ..report import format_duration
        n = len(self.faces)
        brief = (f" ({self.brief} brief detection{'s' if self.brief != 1 else ''} under {MIN_SEEN_S:g} s left out)"
                 if self.brief else "")
        return (f"Started {self.started_at:%Y-%m-%d %H:%M:%S}, ran {format_duration(self.duration_s)}: "
                f"{n} face{'s' if n != 1 else ''}{brief}, {self.rows:,} face observations.")


class SummaryTally:
    """Running totals behind ``SessionSummary`` (not thread-safe: ``SessionLog`` holds the lock)."""

    def __init__(self, classes: tuple[str, ...]) -> None:
        self.classes = classes
        self._first: float | None = None
        self._last: float | None = None
        self._seen: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(classes, 0.0))
        self._frames: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(classes, 0))
        self._span: dict[int, list[float]] = {}
        self._timeline: dict[int, dict[int, tuple[float, str]]] = defaultdict(dict)

    def add(self, time_s: float, rows: list[LogRow]) -> None:
        """One processed frame at ``time_s`` and its faces' rows. The time since the previous frame is
        credited to the faces (and labels) of this frame."""
        dt = 0.0 if self._last is None else min(max(time_s - self._last, 0.0), MAX_FRAME_GAP_S)
        if self._first is None:
            self._first = time_s
        self._last = time_s
        for r in rows:
            if r.label in self._seen[r.face_id]:
                self._seen[r.face_id][r.label] += dt
                self._frames[r.face_id][r.label] += 1
            span = self._span.setdefault(r.face_id, [time_s, time_s])
            span[1] = time_s
            self._timeline[r.face_id][int(time_s // TIMELINE_STEP_S)] = (r.time_s, r.label)

    def summary(self, started_at: datetime, rows: int) -> SessionSummary:
        faces, brief = [], 0
        for face_id in sorted(self._span):
            per_class = self._seen[face_id]
            seen = sum(per_class.values())
            if seen > 0:
                shares = {c: t / seen for c, t in per_class.items()}
            else:  # seen in a single frame: no duration to share, so share its frames
                frames = self._frames[face_id]
                shares = {c: n / max(1, sum(frames.values())) for c, n in frames.items()}
            first, last = self._span[face_id]
            if seen < MIN_SEEN_S:
                brief += 1
                continue
            faces.append(FaceSummary(face_id, seen, first, last, shares))
        duration = 0.0 if self._first is None else self._last - self._first
        listed = {f.face_id for f in faces}
        timeline = {fid: list(points.values()) for fid, points in sorted(self._timeline.items()) if fid in listed}
        return SessionSummary(started_at, duration, rows, faces, timeline, brief)
