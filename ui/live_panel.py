"""The live page's side panel: throughput figures, each tracked face's expression, and a timeline.

Figure and table builders are pure functions of the engine's results, so they can be tested
without a browser; ``render_panel`` draws them into containers the page owns.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fer.config import CLASS_COLORS_BGR, CLASSES
from fer.stream.live import LiveUpdate
from fer.report import format_duration
from fer.stream.session_log import LogRow
from fer.stream.session_summary import SessionSummary

#: The timeline shows this many seconds of history.
TIMELINE_SPAN_S = 60.0
#: ...with at most this many points per face per second...
TIMELINE_POINTS_PER_S = 4
#: ...redrawn this often (the figures and the faces' table beside it every refresh, 0.4 s). Each
#: redraw is a new Plotly chart in the browser: at every refresh it took half a core of the viewer's
#: browser (1.08 against 0.54 cores for the whole Chromium with no redraw; bench/live_capacity.py),
#: which on this 2-core machine cost the stream 3-5 processed fps.
TIMELINE_REFRESH_S = 2.0
#: The per-face table must fit this width: the panel of a 1400 px window with the sidebar open
#: (measured: 358 px inside the table's frame, tests/browser/test_live_panel_browser.py).
TABLE_WIDTH_PX = 350
#: The expression names' column; each face's column gets a share of the rest, 44-75 px.
INDEX_WIDTH_PX = 72


def table_widths(n_faces: int) -> tuple[int, int]:
    """(expression column, each face's column) in pixels, so ``n_faces`` columns fit TABLE_WIDTH_PX
    (four faces: 72 + 4 x 69); past six faces the columns stay 44 px and the table scrolls."""
    share = (TABLE_WIDTH_PX - INDEX_WIDTH_PX) // max(n_faces, 1)
    return INDEX_WIDTH_PX, int(min(75, max(44, share)))


def _css(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"rgb({r},{g},{b})"


def faces_in_order(update: LiveUpdate) -> list:
    """The update's faces by track id: a face keeps its place in the panel while others come and go
    (the detector lists faces largest first, which reshuffles as they move)."""
    return sorted(update.faces, key=lambda f: (f.track_id is None, f.track_id or 0))


def faces_table(update: LiveUpdate) -> pd.DataFrame:
    """One row per expression (the classes the faces report: seven or five), one column per tracked
    face ("#1", "#2", ... by track id), probabilities 0-1."""
    faces = faces_in_order(update)
    classes = list(faces[0].probabilities) if faces else list(CLASSES)
    return pd.DataFrame({f"#{f.track_id}": [f.probabilities.get(c, 0.0) for c in classes] for f in faces},
                        index=pd.Index(classes, name="Expression"))


def timeline_figure(rows: list[LogRow], now_s: float, span_s: float = TIMELINE_SPAN_S,
                    classes: tuple[str, ...] | list[str] = CLASSES) -> go.Figure:
    """Each face's expression over the last ``span_s`` seconds: time on x, expression on y,
    one marker trace per face, each point in its expression's colour.

    Built from plain dicts without Plotly's validation: it is redrawn every 0.4 s by every live
    session, and the validating constructors cost ~19 ms of Python per redraw (vs ~1 ms), which with
    three streams took most of the server's GIL away from the video threads. The keys are fixed
    here and covered by the tests, so validating them on every redraw buys nothing.
    """
    by_face: dict[int, list[LogRow]] = {}
    for r in rows:
        by_face.setdefault(r.face_id, []).append(r)
    traces = []
    for face_id, face_rows in sorted(by_face.items()):
        thinned = _thin(face_rows, TIMELINE_POINTS_PER_S)
        traces.append({
            "type": "scatter", "x": [r.time_s for r in thinned], "y": [r.label for r in thinned],
            "mode": "lines+markers", "name": f"#{face_id}",
            "line": {"width": 1, "color": "rgba(128,128,128,0.4)", "shape": "hv"},
            "marker": {"size": 7, "color": [_css(CLASS_COLORS_BGR.get(r.label, (255, 255, 255))) for r in thinned]},
            "hovertemplate": "face #" + str(face_id) + "<br>%{x:.1f} s: %{y}<extra></extra>"})
    layout = {"height": 260, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "showlegend": len(by_face) > 1,
              "title": {"text": "Expressions, last minute", "font": {"size": 14}},
              "xaxis": {"title": {"text": "seconds"}, "range": [max(0.0, now_s - span_s), max(now_s, 1.0)]},
              "yaxis": {"categoryorder": "array", "categoryarray": list(classes), "type": "category",
                        "range": [-0.5, len(classes) - 0.5]}}
    return go.Figure(data=traces, layout=layout, _validate=False)


def summary_table(summary: SessionSummary) -> pd.DataFrame:
    """One row per face seen: time seen, first and last seen (s), then the share of its time per expression."""
    return pd.DataFrame([{"Face": f"#{f.face_id}", "Seen": format_duration(f.seen_s), "From (s)": round(f.first_s, 1),
                          "To (s)": round(f.last_s, 1), "Mostly": f.top, **f.shares} for f in summary.faces])


def session_timeline_figure(summary: SessionSummary) -> go.Figure:
    """The whole session's timeline (one point per face per second), built like ``timeline_figure``."""
    traces = []
    for face_id, points in summary.timeline.items():
        traces.append({
            "type": "scatter", "x": [t for t, _ in points], "y": [label for _, label in points],
            "mode": "lines+markers", "name": f"#{face_id}",
            "line": {"width": 1, "color": "rgba(128,128,128,0.4)", "shape": "hv"},
            "marker": {"size": 6, "color": [_css(CLASS_COLORS_BGR.get(label, (255, 255, 255))) for _, label in points]},
            "hovertemplate": "face #" + str(face_id) + "<br>%{x:.0f} s: %{y}<extra></extra>"})
    layout = {"height": 260, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "showlegend": len(traces) > 1,
              "title": {"text": "Expressions, whole session", "font": {"size": 14}},
              "xaxis": {"title": {"text": "seconds"}, "range": [0.0, max(summary.duration_s, 1.0)]},
              "yaxis": {"categoryorder": "array", "categoryarray": list(CLASSES), "type": "category",
                        "range": [-0.5, len(CLASSES) - 0.5]}}
    return go.Figure(data=traces, layout=layout, _validate=False)


def render_summary(summary: SessionSummary, key: str) -> None:
    """The summary after STOP: when, how long, each face's time and expression shares, the whole timeline."""
    st.markdown("**Session summary**")
    st.caption(summary.caption())
    if not summary.faces:
        st.info("No face was seen in this session.")
        return
    st.markdown("  \n".join(f"**Face #{f.face_id}**: seen {format_duration(f.seen_s)}, mostly {f.top} "
                             f"({f.shares[f.top]:.0%} of its time)" for f in summary.faces))
    table = summary_table(summary)
    st.dataframe(table, hide_index=True, column_config={
        c: st.column_config.ProgressColumn(c, format="percent", min_value=0.0, max_value=1.0) for c in CLASSES
        if c in table.columns})
    st.plotly_chart(session_timeline_figure(summary), key=key, config={"displayModeBar": False})


def _thin(rows: list[LogRow], per_s: int) -> list[LogRow]:
    """Keep the last row of each 1/per_s-second bucket (the newest state of that instant)."""
    out: dict[int, LogRow] = {}
    for r in rows:
        out[int(r.time_s * per_s)] = r
    return list(out.values())


def render_panel(slots: dict, update: LiveUpdate, rows: list[LogRow] | None, refresh: int,
                 classes: tuple[str, ...] | list[str] = CLASSES) -> None:
    """Draw one refresh of the panel into the page's placeholders (``slots``: metrics, faces, timeline).

    ``rows``: the timeline's log rows, or None to leave the timeline as it is (it is redrawn every
    TIMELINE_REFRESH_S, the rest every refresh). ``refresh`` numbers the redraws of one script run:
    Plotly charts need a fresh key each time they are redrawn in the same run. ``classes``: the
    session log's classes (the timeline's rows).
    """
    with slots["metrics"].container():
        a, b = st.columns(2)
        a.metric("Processed fps", f"{update.fps:.1f}")
        b.metric("Latency (ms)", f"{update.latency_ms:.0f}")
        st.caption(f"Frames processed: {update.processed} · stale frames dropped: {update.dropped}")
    with slots["faces"].container():
        if update.faces:
            st.markdown("  \n".join(f"**Face #{f.track_id}: {f.label}** ({f.score:.0%})"
                                     for f in faces_in_order(update)))
            table = faces_table(update)
            widths = table_widths(len(table.columns))
            config = {"_index": st.column_config.Column(width=widths[0])}
            config.update({col: st.column_config.ProgressColumn(col, format="percent", min_value=0.0, max_value=1.0,
                                                                width=widths[1]) for col in table.columns})
            st.dataframe(table, column_config=config)
        else:
            st.info("No face in view.")
    if rows is None:
        return
    slots["timeline"].plotly_chart(timeline_figure(rows, update.time_s, classes=classes),
                                   key=f"live-timeline-{refresh}",
                                   config={"displayModeBar": False})
