"""The live panel's timeline is built without Plotly's validation (it is redrawn 2.5 times a second
by every session): it must still be a figure Plotly's validating constructor accepts unchanged."""
from __future__ import annotations

import plotly.graph_objects as go

from fer.train.compose import compose
from fer.train.data import load_gray
from fer.faces.detectors import make_detector
from fer.stream.live import LiveSession
from fer.pipeline import FramePipeline
from fer_samples import stratified_sample
from ui.live_panel import timeline_figure


def test_timeline_of_a_real_session_is_a_valid_plotly_figure(classifier, fer_root):
    crops = [load_gray(p, 48) for p, c in stratified_sample(fer_root / "test", per_class=4, seed=3)
             if c in ("happy", "surprise")]
    pipeline = FramePipeline(classifier, make_detector())
    session = LiveSession(half_life_s=0.0)
    for i in range(0, len(crops) - 1, 2):
        frame, _ = compose(crops[i:i + 2], face_px=150)
        session.process(frame, pipeline)
    rows = session.log.since(0.0)
    assert {r.face_id for r in rows}, "no face was followed in frames of real faces"

    fig = timeline_figure(rows, now_s=rows[-1].time_s)
    as_dict = fig.to_dict()
    validated = go.Figure(as_dict)  # raises on any key or value Plotly doesn't know
    assert validated.to_dict()["data"] == as_dict["data"]
    assert len(as_dict["data"]) == len({r.face_id for r in rows})
    labels = {y for trace in as_dict["data"] for y in trace["y"]}
    assert labels <= {r.label for r in rows} and labels
    assert as_dict["layout"]["yaxis"]["categoryarray"][0] == "angry"


def _two_face_session(classifier, fer_root, classes="seven"):
    crops = [load_gray(p, 48) for p, c in stratified_sample(fer_root / "test", per_class=4, seed=3)
             if c in ("happy", "surprise")]
    pipeline = FramePipeline(classifier, make_detector(), classes=classes)
    # The first pair the detector finds both of (chosen by the detector alone).
    frame = next(f for f, _ in (compose(crops[i:i + 2], face_px=150) for i in range(len(crops) - 1))
                 if len(pipeline.analyse(f).faces) == 2)
    session = LiveSession(half_life_s=0.0)
    updates = []
    for _ in range(3):
        session.process(frame.copy(), pipeline)
        updates.append(session.latest())
    return session, updates


def test_the_per_face_table_lists_faces_by_track_id_whatever_order_they_come_in(classifier, fer_root):
    from dataclasses import replace

    from ui.live_panel import faces_in_order, faces_table
    _, updates = _two_face_session(classifier, fer_root)
    update = updates[-1]
    assert len(update.faces) == 2
    shuffled = replace(update, faces=list(reversed(update.faces)))
    ids = sorted(f.track_id for f in update.faces)
    assert [f.track_id for f in faces_in_order(shuffled)] == ids
    assert list(faces_table(shuffled).columns) == [f"#{i}" for i in ids]
    assert faces_table(shuffled).equals(faces_table(update))


def test_a_five_class_live_session_logs_and_shows_five_classes(classifier, fer_root):
    from ui.live_panel import faces_table
    session, updates = _two_face_session(classifier, fer_root, classes="five")
    five = ["angry", "happy", "neutral", "sad", "surprise"]
    assert list(session.log.classes) == five
    header = session.log.to_csv().splitlines()[0].split(",")
    assert header == ["timestamp", "time_s", "face_id", "x", "y", "w", "h", *five, "label"]
    assert list(faces_table(updates[-1]).index) == five
    fig = timeline_figure(session.log.since(0.0), now_s=1.0, classes=session.log.classes).to_dict()
    assert fig["layout"]["yaxis"]["categoryarray"] == five


def test_the_per_face_table_is_sized_to_fit_the_panel_with_up_to_six_faces():
    from ui.live_panel import TABLE_WIDTH_PX, table_widths
    for n in range(1, 7):
        index, face = table_widths(n)
        assert index + n * face <= TABLE_WIDTH_PX and face >= 44


def test_the_session_summary_table_and_whole_timeline_are_valid():
    from datetime import datetime

    from fer.faces.detection import Box
    from fer.pipeline import Face
    from fer.stream.session_log import SessionLog
    from ui.live_panel import session_timeline_figure, summary_table
    from fer.config import CLASSES
    log = SessionLog(started_at=datetime(2026, 12, 1, 9, 30))
    for n in range(300):
        label = "happy" if n < 200 else "sad"
        log.add(n / 30, [Face(Box(10, 10, 80, 80), label, 0.9, {c: (0.9 if c == label else 0.1 / 6) for c in CLASSES},
                              track_id=3)])
    s = log.summary()
    table = summary_table(s)
    assert list(table["Face"]) == ["#3"] and list(table["Mostly"]) == ["happy"]
    assert table.loc[0, "happy"] > 60 and abs(table.loc[0, [*CLASSES]].sum() - 100) < 0.5
    fig = session_timeline_figure(s).to_dict()
    assert go.Figure(fig).to_dict()["data"] == fig["data"]
    assert fig["data"][0]["y"][0] == "happy" and fig["data"][0]["y"][-1] == "sad" and len(fig["data"][0]["x"]) == 10
    assert s.caption().startswith("Started 2026-12-01 09:30:00, ran 10 s: 1 face, 300 face observations")


def _rows(face_ids_by_frame, fps=10):
    from fer.faces.detection import Box
    from fer.pipeline import Face
    from fer.stream.session_log import SessionLog
    from fer.config import CLASSES
    log = SessionLog()
    for n, ids in enumerate(face_ids_by_frame):
        label = "happy" if n % 20 < 10 else "sad"
        log.add(n / fps, [Face(Box(10 + 100 * i, 10, 80, 80), label, 0.9,
                               {c: (0.9 if c == label else 0.1 / 6) for c in CLASSES}, track_id=i) for i in ids])
    return log


def test_each_face_has_its_own_line_colour_stable_per_id_and_the_expressions_keep_theirs():
    from fer.config import CLASS_COLORS_BGR, CLASSES
    from ui.live_panel import session_timeline_figure
    log = _rows([[1, 2]] * 40 + [[2]] * 40)
    both = timeline_figure(log.since(0.0), now_s=4.0).to_dict()["data"]
    later = timeline_figure(log.since(4.5), now_s=8.0).to_dict()["data"]
    colours = {t["name"]: t["line"]["color"] for t in both}
    assert len(set(colours.values())) == 2, colours  # one line colour per face, not one grey for all
    for t in both + later:
        assert t["marker"]["color"] == t["line"]["color"]  # the legend shows the line's colour
    (only_two,) = later
    assert only_two["line"]["color"] == colours["#2"]  # face #2 keeps its colour when #1 is gone
    whole = session_timeline_figure(log.summary()).to_dict()
    assert {t["name"]: t["line"]["color"] for t in whole["data"]} == colours
    ticks = timeline_figure(log.since(0.0), now_s=4.0).to_dict()["layout"]["yaxis"]["ticktext"]
    for c, text in zip(CLASSES, ticks):
        b, g, r = CLASS_COLORS_BGR[c]
        assert f"rgb({r},{g},{b})" in text and c in text


def test_the_summary_lists_faces_seen_long_enough_with_one_decimal():
    from ui.live_panel import summary_table
    log = _rows([[1]] * 50 + [[1, 9]] * 2 + [[1]] * 10)  # face #9: two frames, 0.1 s
    s = log.summary()
    assert [f.face_id for f in s.faces] == [1] and s.brief == 1
    assert "1 brief detection under 0.5 s left out" in s.caption()
    assert list(s.timeline) == [1]
    table = summary_table(s)
    assert list(table["Seen"]) == ["6.1 s"]
    assert all(round(v, 1) == v for v in table.loc[0, ["happy", "sad"]])
