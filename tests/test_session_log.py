"""The live session log keeps everything: every row in the CSV however long the session, absolute
timestamps, a summary per face, and the earlier sessions of a visit (no browser)."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from fer.config import CLASSES
from fer.faces.detection import Box
from fer.pipeline import Face
from fer.stream.session_log import SessionLog

FPS = 30


def _face(track_id: int, label: str, p: float = 0.8) -> Face:
    rest = (1 - p) / (len(CLASSES) - 1)
    return Face(Box(100 * track_id, 50, 90, 90), label, p, {c: (p if c == label else rest) for c in CLASSES},
                track_id=track_id)


def test_an_hour_with_four_faces_downloads_in_full():
    """An hour of four faces is ~430,000 rows: every one of them is in the download, none dropped."""
    log = SessionLog()
    faces = [_face(i, label) for i, label in enumerate(("happy", "sad", "neutral", "surprise"), start=1)]
    frames = 3600 * FPS
    for n in range(frames):
        log.add(n / FPS, faces)
    assert len(log) == frames * 4 == 432_000
    assert len(log.since(0.0)) <= 10_000, "memory must hold only the recent rows"
    data = log.to_csv_bytes()
    lines = data.count(b"\n")
    assert lines == 432_000 + 1  # header + every row
    last = data[data.rindex(b"\n", 0, len(data) - 1) + 1:].decode().split(",")
    assert float(last[1]) == pytest.approx((frames - 1) / FPS, abs=1e-3) and last[-1].strip() == "surprise"
    assert log.write_error is None


def test_csv_rows_carry_absolute_iso_timestamps():
    start = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
    log = SessionLog(started_at=start)
    log.add(0.0, [_face(1, "happy")])
    log.add(61.25, [_face(1, "sad")])
    rows = list(csv.DictReader(io.StringIO(log.to_csv())))
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    assert all(s.tzinfo is not None for s in stamps), "timestamps must say their time zone"
    assert stamps == [start, start + timedelta(seconds=61.25)]
    assert [r["time_s"] for r in rows] == ["0.000", "61.250"]


def test_summary_gives_each_face_its_time_seen_and_share_per_expression():
    log = SessionLog()
    # face 1: 10 s happy then 5 s sad; face 2 joins at 10 s, neutral for 5 s; 2 s without anyone.
    for n in range(15 * FPS + 1):
        t = n / FPS
        faces = [_face(1, "happy" if t < 10 else "sad")] + ([_face(2, "neutral")] if t >= 10 else [])
        log.add(t, faces)
    for n in range(1, 2 * FPS + 1):
        log.add(15 + n / FPS, [])
    s = log.summary()
    assert s.duration_s == pytest.approx(17.0, abs=0.05)
    assert s.rows == len(log)
    one, two = s.faces
    assert (one.face_id, two.face_id) == (1, 2)
    assert one.seen_s == pytest.approx(15.0, abs=0.05)
    assert one.shares["happy"] == pytest.approx(10 / 15, abs=0.01) and one.shares["sad"] == pytest.approx(5 / 15, abs=0.01)
    assert sum(one.shares.values()) == pytest.approx(1.0)
    assert two.seen_s == pytest.approx(5.0, abs=0.05) and two.top == "neutral" and two.first_s == pytest.approx(10.0)
    # the whole session's timeline, one point per face per second, not only the last minute
    assert [int(t) for t, _ in s.timeline[1]] == list(range(16))
    assert s.timeline[1][0][1] == "happy" and s.timeline[1][-1][1] == "sad"
    assert len(s.timeline[2]) == 6


def test_a_stalled_stream_does_not_count_the_stall_as_time_seen():
    log = SessionLog()
    log.add(0.0, [_face(1, "happy")])
    log.add(0.1, [_face(1, "happy")])
    log.add(600.0, [_face(1, "happy")])  # ten minutes without a processed frame
    assert log.summary().faces[0].seen_s == pytest.approx(1.1)


def test_a_write_failure_is_reported_not_swallowed():
    log = SessionLog()
    log.add(0.0, [_face(1, "happy")])
    log._text.close()  # what a full disk or a vanished temp dir amounts to for the writer
    log.add(0.1, [_face(1, "happy")])
    assert log.write_error and "could not be written after 1 rows" in log.write_error


def test_a_new_stream_keeps_the_previous_session_downloadable(classifier, fer_root):
    """A second START in the same visit keeps the first session's log downloadable."""
    from fer.train.compose import compose
    from fer.train.data import load_gray
    from fer.faces.detection import FaceDetector
    from fer.stream.live import LiveSession
    from fer.pipeline import FramePipeline
    from fer_samples import stratified_sample
    pipeline = FramePipeline(classifier, FaceDetector())
    crops = [load_gray(p, 48) for p, c in stratified_sample(fer_root / "test", 12, seed=2) if c == "happy"]
    frames = [compose([c], face_px=160)[0] for c in crops]
    frame = next(f for f in frames if [x.label for x in pipeline.analyse(f.copy()).faces] == ["happy"])
    session = LiveSession()
    for i in range(5):  # a second of stream: long enough to be a face of the summary, not a brief detection
        session.process(frame.copy(), pipeline, at=i * 0.25)
    first = session.log
    first_csv = first.to_csv()
    assert len(first) > 0 and session.earlier == []
    session.end_stream()
    session.process(np.full_like(frame, 90), pipeline)
    session.process(frame.copy(), pipeline)
    assert session.earlier == [first] and session.log is not first
    assert first.to_csv() == first_csv, "the earlier session's rows must survive the new one"
    assert session.log.started_at > first.started_at
    assert first.summary().faces and first.summary().faces[0].top == "happy"
