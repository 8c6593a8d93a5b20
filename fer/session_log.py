"""What a live session saw, face by face and frame by frame, for the timeline and the CSV download.

Written from the video thread, read from the page thread: every method takes the lock. Rows are
capped (a ring buffer) so a stream left running all day can't grow memory without bound.
"""
from __future__ import annotations

import csv
import io
import threading
from collections import deque
from dataclasses import dataclass

from .config import CLASSES
from .pipeline import Face

#: About half an hour of one face at 30 fps (~16 MB); older rows fall off the front.
DEFAULT_MAX_ROWS = 60_000

@dataclass(frozen=True, slots=True)
class LogRow:
    """One face in one processed frame. ``time_s``: seconds since the session started."""
    time_s: float
    face_id: int
    box: tuple[int, int, int, int]
    probabilities: tuple[float, ...]
    label: str


def log_rows(time_s: float, faces: list[Face], classes: tuple[str, ...]) -> list[LogRow]:
    """A frame's faces as log rows (faces without a track id get id 0)."""
    return [LogRow(round(time_s, 3), f.track_id or 0, tuple(int(v) for v in f.box),
                   tuple(float(f.probabilities.get(c, 0.0)) for c in classes), f.label) for f in faces]


def csv_columns(classes: tuple[str, ...]) -> tuple[str, ...]:
    """The live CSV's header: time, face id, box, one column per class, label."""
    return ("time_s", "face_id", "x", "y", "w", "h", *classes, "label")


def csv_fields(r: LogRow) -> tuple:
    """One row's CSV fields, in ``csv_columns`` order (the live download and ``fer video`` share it)."""
    return (f"{r.time_s:.3f}", r.face_id, *r.box, *(f"{p:.4f}" for p in r.probabilities), r.label)


class SessionLog:
    """Thread-safe, bounded record of every face the live pipeline reported."""

    def __init__(self, classes: list[str] | tuple[str, ...] = CLASSES, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.classes = tuple(classes)
        self._rows: deque[LogRow] = deque(maxlen=max_rows)
        self._lock = threading.Lock()

    def add(self, time_s: float, faces: list[Face]) -> None:
        """Record a frame's faces (faces without a track id are logged as id 0)."""
        rows = log_rows(time_s, faces, self.classes)
        with self._lock:
            self._rows.extend(rows)

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header: time, face id, box, one column per class, label."""
        return csv_columns(self.classes)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def since(self, time_s: float) -> list[LogRow]:
        """Rows at or after ``time_s`` (the timeline asks for the last minute)."""
        with self._lock:
            rows = list(self._rows)
        # Rows are appended in time order, so scan back from the end.
        i = len(rows)
        while i > 0 and rows[i - 1].time_s >= time_s:
            i -= 1
        return rows[i:]

    def to_csv(self) -> str:
        """The whole session as CSV: time, face id, box, the probabilities in class order, label."""
        with self._lock:
            rows = list(self._rows)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for r in rows:
            w.writerow(csv_fields(r))
        return buf.getvalue()
