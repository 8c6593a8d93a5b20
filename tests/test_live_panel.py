"""The live panel's timeline is built without Plotly's validation (it is redrawn 2.5 times a second
by every session): it must still be a figure Plotly's validating constructor accepts unchanged."""
from __future__ import annotations

import plotly.graph_objects as go

from fer.compose import compose
from fer.data import load_gray
from fer.detection import FaceDetector
from fer.live import LiveSession
from fer.pipeline import FramePipeline
from fer_samples import stratified_sample
from ui.live_panel import timeline_figure


def test_timeline_of_a_real_session_is_a_valid_plotly_figure(classifier, fer_root):
    crops = [load_gray(p, 48) for p, c in stratified_sample(fer_root / "test", per_class=4, seed=3)
             if c in ("happy", "surprise")]
    pipeline = FramePipeline(classifier, FaceDetector())
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


def test_the_session_summary_table_and_whole_timeline_are_valid():
    from datetime import datetime

    from fer.detection import Box
    from fer.pipeline import Face
    from fer.session_log import SessionLog
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
    assert table.loc[0, "happy"] > 0.6 and abs(table.loc[0, [*CLASSES]].sum() - 1) < 1e-6
    fig = session_timeline_figure(s).to_dict()
    assert go.Figure(fig).to_dict()["data"] == fig["data"]
    assert fig["data"][0]["y"][0] == "happy" and fig["data"][0]["y"][-1] == "sad" and len(fig["data"][0]["x"]) == 10
    assert s.caption().startswith("Started 2026-12-01 09:30:00, ran 10 s: 1 face, 300 face observations")
