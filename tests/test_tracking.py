"""Tracking, smoothing, the session log and the live session's bookkeeping (no browser)."""
from __future__ import annotations

import csv
import io
import time

import numpy as np
import pytest

from fer.config import CLASSES
from fer.faces.detection import Box
from fer.pipeline import Face
from fer.stream.session_log import SessionLog
from fer.stream.tracking import DEFAULT_CONFIRM_HITS, FaceTracker, centre_shift, ema_weight, iou

FPS = 30.0


def face(x: int, y: int, side: int = 100, label: str = "happy", p: float = 0.9) -> Face:
    rest = (1 - p) / (len(CLASSES) - 1)
    probs = {c: (p if c == label else rest) for c in CLASSES}
    return Face(Box(x, y, side, side), label, p, probs)


def test_iou_and_centre_shift_of_simple_boxes():
    a = Box(0, 0, 10, 10)
    assert iou(a, a) == 1.0
    assert iou(a, Box(20, 20, 10, 10)) == 0.0
    assert iou(a, Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert centre_shift(a, Box(10, 0, 10, 10)) == pytest.approx(1.0)


def test_ema_weight_is_one_when_off_and_half_after_one_half_life():
    assert ema_weight(1 / FPS, 0.0) == 1.0
    assert ema_weight(0.2, 0.2) == pytest.approx(0.5)


def test_a_face_drifting_keeps_its_id_once_confirmed():
    tr = FaceTracker(list(CLASSES))
    out = [tr.update([face(200 + 3 * i, 150 - 2 * i)], i / FPS) for i in range(60)]
    assert out[0] == out[1] == []  # seen in 1 and 2 frames: not yet a track
    assert {f.track_id for frame in out[2:] for f in frame} == {1} and all(len(f) == 1 for f in out[2:])


def test_a_face_seen_in_one_frame_never_gets_an_id_nor_a_row():
    """A detector's one-frame false face (or one it only held afterwards) is never shown, and the
    next real face still gets id 1."""
    tr = FaceTracker(list(CLASSES))
    assert tr.update([face(300, 100)], 0.0) == []
    assert tr.update([face(300, 100)], 1 / FPS, held=[True]) == []  # the detector only kept its box
    assert tr.update([], 2 / FPS) == [] and tr.active_ids == []
    out = [tr.update([face(50, 100)], (3 + i) / FPS) for i in range(3)]
    assert out[2][0].track_id == 1 and tr.active_ids == [1]


def test_a_held_box_keeps_a_confirmed_face_shown_where_it_was():
    tr = FaceTracker(list(CLASSES))
    for i in range(3):
        tr.update([face(100 + 4 * i, 100)], i / FPS)
    kept = tr.update([face(108, 100)], 3 / FPS, held=[True])
    assert [f.track_id for f in kept] == [1] and kept[0].box == Box(108, 100, 100, 100)


def test_two_faces_keep_distinct_ids_when_their_order_in_the_list_swaps():
    tr = FaceTracker(list(CLASSES))
    for i in range(3):
        first = tr.update([face(50, 100), face(400, 100)], i / FPS)
    swapped = tr.update([face(402, 101), face(52, 99)], 3 / FPS)
    assert [f.track_id for f in first] == [1, 2]
    assert [f.track_id for f in swapped] == [2, 1]


def test_a_fast_move_without_overlap_is_matched_by_centre_distance():
    tr = FaceTracker(list(CLASSES))
    for i in range(3):
        tr.update([face(100, 100, side=60)], i / FPS)
    jumped = tr.update([face(120, 120, side=60)], 3 / FPS)  # IoU 0.29, centre 28 px of 60 away
    assert [f.track_id for f in jumped] == [1]


def test_two_faces_crossing_keep_their_ids():
    """Two faces walking towards each other, one passing in front of the other (the one behind is
    not detected for a few frames): each keeps its id, by the motion of its track."""
    tr = FaceTracker(list(CLASSES))
    ids = {"left": set(), "right": set()}
    for i in range(40):
        left, right = face(40 + 10 * i, 100, side=80), face(440 - 10 * i, 104, side=80)
        hidden = 18 <= i <= 22  # the right face passes behind the left one
        faces = tr.update([left] if hidden else [left, right], i / FPS)
        for f in faces:
            ids["left" if f.box == left.box else "right"].add(f.track_id)
    assert ids == {"left": {1}, "right": {2}}, ids


def test_a_face_missing_for_one_frame_keeps_its_id_but_a_long_absence_gets_a_new_one():
    tr = FaceTracker(list(CLASSES))
    for i in range(3):
        tr.update([face(100, 100)], i / FPS)
    tr.update([], 3 / FPS)
    assert tr.update([face(101, 100)], 4 / FPS)[0].track_id == 1
    for i in range(5, 45):  # over a second without the face
        tr.update([], i / FPS)
    back = [tr.update([face(101, 100)], (45 + i) / FPS) for i in range(3)]
    assert back[0] == back[1] == [] and back[2][0].track_id == 2


def test_slow_processing_does_not_expire_a_track_that_is_still_in_view():
    """At 1 processed frame per second every gap is over max_age_s, yet the face never left."""
    tr = FaceTracker(list(CLASSES))
    ids = {f.track_id for i in range(6) for f in tr.update([face(100, 100)], float(i))}
    assert ids == {1}


def test_smoothing_off_returns_the_raw_probabilities():
    tr = FaceTracker(list(CLASSES), half_life_s=0.0, confirm_hits=1)
    tr.update([face(100, 100, label="happy")], 0.0)
    out = tr.update([face(100, 100, label="sad", p=0.8)], 1 / FPS)[0]
    assert out.label == "sad" and out.probabilities["sad"] == pytest.approx(0.8)


def test_smoothing_ignores_a_single_frame_flicker():
    tr = FaceTracker(list(CLASSES), half_life_s=0.15)
    for i in range(30):
        tr.update([face(100, 100, label="happy")], i / FPS)
    out = tr.update([face(100, 100, label="sad")], 30 / FPS)[0]
    assert out.label == "happy"
    assert sum(out.probabilities.values()) == pytest.approx(1.0)


def test_default_smoothing_follows_a_real_change_within_a_fifth_of_a_second():
    """The lag a user could see: frames from the change until the label flips, at 30 fps."""
    tr = FaceTracker(list(CLASSES))
    for i in range(30):
        tr.update([face(100, 100, label="happy")], i / FPS)
    flipped_after = None
    for k in range(1, 31):
        if tr.update([face(100, 100, label="surprise")], (29 + k) / FPS)[0].label == "surprise":
            flipped_after = k / FPS
            break
    assert flipped_after is not None and flipped_after <= 0.2


def test_smoothing_is_the_same_in_seconds_at_any_frame_rate():
    def flip_time(fps: float) -> float:
        tr = FaceTracker(list(CLASSES), half_life_s=0.3, confirm_hits=1)
        t = 0.0
        for _ in range(int(fps)):
            tr.update([face(100, 100, label="happy")], t)
            t += 1 / fps
        start = t
        while tr.update([face(100, 100, label="sad")], t)[0].label != "sad":
            t += 1 / fps
        return t - start
    assert abs(flip_time(30) - flip_time(10)) <= 0.1 + 1e-9


def test_session_log_csv_has_one_row_per_face_with_all_probabilities():
    log = SessionLog()
    tr = FaceTracker(list(CLASSES), confirm_hits=1)  # every face shown from its first frame
    log.add(0.0, tr.update([face(10, 20), face(300, 20, label="sad")], 0.0))
    log.add(0.033, tr.update([face(11, 20), face(301, 20, label="sad")], 0.033))
    rows = list(csv.DictReader(io.StringIO(log.to_csv())))
    assert len(rows) == 4
    assert list(rows[0]) == ["timestamp", "time_s", "face_id", "x", "y", "w", "h", *CLASSES, "label"]
    assert {r["face_id"] for r in rows} == {"1", "2"}
    for r in rows:
        assert sum(float(r[c]) for c in CLASSES) == pytest.approx(1.0, abs=1e-3)
        assert r["label"] == max(CLASSES, key=lambda c: float(r[c]))


def test_session_log_memory_is_bounded_and_since_returns_the_tail():
    log = SessionLog(recent_rows=100)
    for i in range(250):
        log.add(i / 10, [face(0, 0)])
    assert len(log) == 250 and len(log.since(0.0)) == 100
    tail = log.since(24.0)
    assert [r.time_s for r in tail] == [24.0, 24.1, 24.2, 24.3, 24.4, 24.5, 24.6, 24.7, 24.8, 24.9]


def test_live_session_processes_a_real_frame_and_reports_figures(classifier):
    """The real pipeline on a synthetic frame: a face-free frame still counts as processed."""
    from fer.faces.detection import FaceDetector
    from fer.stream.live import LiveSession
    from fer.pipeline import FramePipeline
    session = LiveSession()
    pipeline = FramePipeline(classifier, FaceDetector())
    frame = np.full((480, 640, 3), 96, np.uint8)
    for _ in range(3):
        out = session.process(frame, pipeline)
    assert out.shape == (480, 640, 3)
    update = session.latest()
    assert update is not None and update.processed == 3 and update.faces == []
    assert update.latency_ms > 0
    session.end_stream()
    session.process(frame, pipeline)
    assert session.latest().processed == 1  # a new stream starts counting again


def test_live_session_scans_the_whole_frame_only_periodically_and_finds_new_faces(classifier, fer_root):
    """Between full scans the session searches only near the faces it follows (cheap), yet a face
    entering the view is picked up by the next periodic full scan."""
    from fer.train.compose import compose
    from fer.train.data import load_gray
    from fer.faces.detection import FaceDetector
    from fer.stream.live import LiveSession
    from fer.pipeline import FramePipeline
    from fer_samples import stratified_sample
    crops = [load_gray(p, 48) for p, c in stratified_sample(fer_root / "test", per_class=8, seed=5) if c == "happy"]
    pipeline = FramePipeline(classifier, FaceDetector())
    found_one = [c for c in crops if len(pipeline.analyse(compose([c], face_px=150)[0]).faces) == 1]
    assert len(found_one) >= 2, "need two test faces the detector finds"
    one, _ = compose([found_one[0]], face_px=150)
    two, _ = compose(found_one[:2], face_px=150)

    full_scans = []
    detect, rescan = pipeline.detector.detect, pipeline.detector.rescan
    pipeline.detector.detect = lambda gray, **kw: full_scans.append(1) or detect(gray, **kw)  # count, don't change
    pipeline.detector.rescan = lambda gray, **kw: full_scans.append(1) or rescan(gray, **kw)  # the periodic scans
    session = LiveSession(rescan_every_s=0.25)
    t0 = time.monotonic()
    for _ in range(20):
        session.process(one.copy(), pipeline)
    elapsed = time.monotonic() - t0
    assert len(session.latest().faces) == 1
    assert len(full_scans) <= elapsed / 0.25 + 2, f"{len(full_scans)} full scans in {elapsed:.2f} s"
    assert len(full_scans) < 20
    t1 = time.monotonic()
    while time.monotonic() - t1 < 0.3:
        session.process(two.copy(), pipeline)
    for _ in range(DEFAULT_CONFIRM_HITS - 1):  # the frames after the scan that confirm the new face
        session.process(two.copy(), pipeline)
    assert len(session.latest().faces) == 2, "the second face was not picked up by a periodic full scan"


def test_live_session_logs_a_pause_between_processed_frames(classifier, caplog, monkeypatch):
    """A stream that goes PAUSE_LOG_S without a processed frame says so in the server's log (the
    concurrency test reads these lines to find stalls by the server's clock)."""
    import fer.stream.live
    from fer.faces.detection import FaceDetector
    from fer.stream.live import LiveSession
    from fer.pipeline import FramePipeline
    monkeypatch.setattr(fer.stream.live, "PAUSE_LOG_S", 0.2)
    session = LiveSession()
    pipeline = FramePipeline(classifier, FaceDetector())
    frame = np.full((240, 320, 3), 96, np.uint8)
    with caplog.at_level("WARNING", logger="fer.stream.live"):
        session.process(frame.copy(), pipeline)
        session.process(frame.copy(), pipeline)
        assert not caplog.records
        time.sleep(0.3)
        session.process(frame.copy(), pipeline)
    assert len(caplog.records) == 1 and "no frame processed for 0.3" in caplog.records[0].getMessage()
    caplog.clear()
    session.end_stream()
    time.sleep(0.3)
    with caplog.at_level("WARNING", logger="fer.stream.live"):
        session.process(frame.copy(), pipeline)  # a new stream: its first frame is no pause
    assert not caplog.records


def test_a_followed_face_is_read_again_only_after_the_reading_interval():
    """``due`` says which boxes need the classifier: a new face always, a followed one once its
    last reading is ``every_s`` old. An unread face moves with its box and keeps its track's
    probabilities, and the next reading is smoothed over the time since the last one."""
    tr = FaceTracker(list(CLASSES), confirm_hits=1)  # every face shown from its first frame
    assert tr.due([Box(100, 100, 100, 100)], 0.0, 0.045) == [True]
    tr.update([face(100, 100, label="happy")], 0.0)
    assert tr.due([Box(102, 100, 100, 100), Box(400, 100, 100, 100)], 1 / FPS, 0.045) == [False, True]
    unread = Face(Box(102, 100, 100, 100), "", 0.0, {})
    out = tr.update([unread, face(400, 100, label="sad")], 1 / FPS, read=[False, True])
    assert [f.track_id for f in out] == [1, 2]
    assert out[0].box == Box(102, 100, 100, 100) and out[0].label == "happy"
    assert out[0].probabilities["happy"] == pytest.approx(0.9)
    assert tr.due([Box(104, 100, 100, 100), Box(400, 100, 100, 100)], 2 / FPS, 0.045) == [True, False]
    with pytest.raises(ValueError, match="matches no track"):
        tr.update([Face(Box(0, 300, 50, 50), "", 0.0, {})], 2 / FPS, read=[False])


def test_reading_every_second_frame_still_follows_a_real_change_within_a_fifth_of_a_second():
    """The live page reads a followed face every second frame at 30 fps: the label a user sees
    still flips within 0.2 s of a real change of expression."""
    from fer.stream.live import LIVE_READ_EVERY_S
    tr = FaceTracker(list(CLASSES), confirm_hits=1)  # every face shown from its first frame

    def step(i: int, label: str) -> Face:
        t = i / FPS
        due = tr.due([Box(100, 100, 100, 100)], t, LIVE_READ_EVERY_S)
        f = face(100, 100, label=label) if due[0] else Face(Box(100, 100, 100, 100), "", 0.0, {})
        return tr.update([f], t, read=due)[0]
    reads = 0
    for i in range(30):
        reads += tr.due([Box(100, 100, 100, 100)], i / FPS, LIVE_READ_EVERY_S)[0]
        step(i, "happy")
    assert reads == 15
    flipped_after = next((k / FPS for k in range(1, 31) if step(29 + k, "surprise").label == "surprise"), None)
    assert flipped_after is not None and flipped_after <= 0.2, flipped_after


def test_the_live_page_session_classifies_each_followed_face_about_every_second_frame(walking, classifier):
    """On a real clip paced at 30 fps, a session with the live page's reading interval labels every
    face it boxes in every frame, with about half the classifier's work of reading every frame."""
    from fer.faces.detectors import make_detector
    from fer.stream.live import LIVE_READ_EVERY_S, LiveSession
    from fer.pipeline import FramePipeline

    def run(every_s: float) -> tuple[int, int, list[int]]:
        pipe = FramePipeline(classifier, make_detector())
        read = pipe.read
        crops = []
        pipe.read = lambda gray, boxes: crops.append(len(boxes)) or read(gray, boxes)  # count, don't change
        session = LiveSession(read_every_s=every_s)
        boxed = []
        for i, frame in enumerate(walking.frames):
            session.process(frame.copy(), pipe, at=i / FPS)
            faces = session.latest().faces
            assert all(f.label in CLASSES and sum(f.probabilities.values()) == pytest.approx(1.0) for f in faces)
            boxed.append(len(faces))
        return sum(crops), sum(boxed), boxed
    every_read, every_boxed, _ = run(0.0)
    some_read, some_boxed, boxed = run(LIVE_READ_EVERY_S)
    # Reading every frame: one crop per boxed face, and per face read in the frames that confirm it.
    assert every_read == every_boxed + (DEFAULT_CONFIRM_HITS - 1) * 3  # three people
    assert some_boxed >= 0.9 * every_boxed
    assert 0.4 * some_boxed <= some_read <= 0.65 * some_boxed, (some_read, some_boxed)


def _tracking_bench():
    import sys
    from fer.config import REPO_ROOT
    if str(REPO_ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "bench"))
    import tracking_ids
    return tracking_ids


def test_a_real_face_planted_in_single_frames_never_gets_an_id(classifier):
    """The head-pose clip on the video path with a real face pasted into two frames, one frame each
    (what a detector's one-frame false face is to the tracker): the detector finds the planted face
    there, yet the only ids are the clip's two people; shown at once, a planted face gets an id."""
    from fer.faces.detectors import make_detector
    from fer.faces.detectors.base import iou
    from fer.pipeline import FramePipeline
    tb = _tracking_bench()
    from clips import id_score
    try:
        frames, people, fps = tb.planted()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    pipe = FramePipeline(classifier, make_detector())
    first, plant = next(iter(tb.PLANTS.items()))
    assert any(iou(f.box, plant) >= 0.3 for f in pipe.analyse(frames[first]).faces)
    s = id_score(tb.track(frames, fps, pipe), people)
    assert s.ids == 2 and s.false_tracks == 0 and s.ids_per_person == [1, 1] and s.switches == 0, s
    at_once = id_score(tb.track(frames, fps, FramePipeline(classifier, make_detector()), confirm_hits=1), people)
    assert at_once.false_tracks >= 1, at_once


def test_two_real_faces_crossing_keep_their_ids(classifier):
    """Two RAF-DB faces crossing over a real room on the video path, the one behind hidden for a few
    frames: one id each, no switch, each face boxed in most frames it shows in."""
    from fer.faces.detectors import make_detector
    from fer.pipeline import FramePipeline
    tb = _tracking_bench()
    from clips import id_score
    try:
        frames, people, fps = tb.crossing()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    s = id_score(tb.track(frames, fps, FramePipeline(classifier, make_detector())), people)
    assert s.ids == 2 and s.ids_per_person == [1, 1] and s.switches == 0 and s.false_tracks == 0, s
    assert s.found_share >= 0.9, s
