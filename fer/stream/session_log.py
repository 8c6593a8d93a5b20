"""What a live session saw, face by face and frame by frame, for the timeline, the summary and the CSV.

Written from the video thread, read from the page thread: every method takes the lock.

Nothing is dropped: every row goes to an unnamed temporary file on disk (a one-hour session with four
faces at 30 fps is ~430,000 rows, ~45 MB), which the CSV download reads back whole. Memory holds only
the recent rows the live timeline draws and the running summary (``fer.stream.session_summary``), so a
stream left running all day can't grow the server's memory without bound. If the disk refuses a
write, the failure is kept in ``write_error`` for the page to show, never swallowed.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
from collections import deque
from datetime import datetime, timedelta

from ..config import CLASSES
from ..pipeline import Face
from .session_summary import LogRow, SessionSummary, SummaryTally

#: Rows kept in memory for the live timeline (its last minute with four faces at 30 fps is 7,200).
RECENT_ROWS = 10_000


def log_rows(time_s: float, faces: list[Face], classes: tuple[str, ...]) -> list[LogRow]:
    """A frame's faces as log rows (faces without a track id get id 0)."""
    return [LogRow(round(time_s, 3), f.track_id or 0, tuple(int(v) for v in f.box),
                   tuple(float(f.probabilities.get(c, 0.0)) for c in classes), f.label) for f in faces]


def csv_columns(classes: tuple[str, ...]) -> tuple[str, ...]:
    """The rows' CSV header after the live log's absolute timestamp: time since start, face id, box,
    one column per class, label (``fer video`` writes these after its source, frame and pts)."""
    return ("time_s", "face_id", "x", "y", "w", "h", *classes, "label")


def csv_fields(r: LogRow) -> tuple:
    """One row's CSV fields, in ``csv_columns`` order (the live download and ``fer video`` share it)."""
    return (f"{r.time_s:.3f}", r.face_id, *r.box, *(f"{p:.4f}" for p in r.probabilities), r.label)


class SessionLog:
    """Thread-safe, complete, disk-backed record of every face the live pipeline reported.

    ``started_at``: the wall-clock moment of ``time_s == 0`` (timezone-aware), so each CSV row also
    carries an absolute ISO 8601 timestamp.
    """

    def __init__(self, classes: list[str] | tuple[str, ...] = CLASSES, started_at: datetime | None = None,
                 recent_rows: int = RECENT_ROWS, directory: str | None = None) -> None:
        self.classes = tuple(classes)
        self.started_at = (started_at or datetime.now()).astimezone()
        self.write_error: str | None = None
        self._recent: deque[LogRow] = deque(maxlen=recent_rows)
        self._tally = SummaryTally(self.classes)
        self._rows = 0
        self._lock = threading.Lock()
        # Unnamed (unlinked at once on POSIX): the OS reclaims it when the log is dropped or the
        # server dies, so no session leaves files behind.
        self._file = tempfile.TemporaryFile(prefix="fer-session-", dir=directory)
        self._text = io.TextIOWrapper(self._file, encoding="utf-8", newline="", write_through=False)
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._write([self.columns])

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header: absolute time, seconds since start, face id, box, one column per class, label."""
        return ("timestamp", *csv_columns(self.classes))

    def add(self, time_s: float, faces: list[Face]) -> None:
        """Record a frame's faces (faces without a track id are logged as id 0). A frame without faces
        writes no row but still counts for the summary's duration."""
        rows = log_rows(time_s, faces, self.classes)
        stamp = (self.started_at + timedelta(seconds=time_s)).isoformat(timespec="milliseconds")
        data = [(stamp, *csv_fields(r)) for r in rows]
        with self._lock:
            self._recent.extend(rows)
            self._tally.add(time_s, rows)
            if rows:
                self._write(data)
                self._rows += len(rows)

    def __len__(self) -> int:
        """Rows recorded in the whole session (all of them are in the CSV)."""
        with self._lock:
            return self._rows

    def since(self, time_s: float) -> list[LogRow]:
        """Recent rows at or after ``time_s`` (the live timeline asks for the last minute)."""
        with self._lock:
            rows = list(self._recent)
        # Rows are appended in time order, so scan back from the end.
        i = len(rows)
        while i > 0 and rows[i - 1].time_s >= time_s:
            i -= 1
        return rows[i:]

    def summary(self) -> SessionSummary:
        """Per face: time seen, share of that time per expression, and the whole session's timeline."""
        with self._lock:
            return self._tally.summary(self.started_at, self._rows)

    def to_csv_bytes(self) -> bytes:
        """The whole session as UTF-8 CSV, every row since the start."""
        with self._lock:
            self._text.flush()
            self._file.flush()
            size = self._file.tell()
        # pread leaves the writer's file position alone, so the video thread can go on appending.
        return os.pread(self._file.fileno(), size, 0)

    def to_csv(self) -> str:
        return self.to_csv_bytes().decode("utf-8")

    def close(self) -> None:
        """Release the disk file (the log can no longer be downloaded)."""
        with self._lock:
            self._text.close()

    def _write(self, rows: list) -> None:
        if self.write_error is not None:
            return
        try:
            self._csv.writerows(rows)
        except (OSError, ValueError) as e:  # disk full, file closed: say so rather than lose rows silently
            self.write_error = (f"The session log could not be written after {self._rows:,} rows ({e}); "
                                "later rows are missing from the CSV.")
