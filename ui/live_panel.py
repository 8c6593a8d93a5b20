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
#: Each face's line colour in the timelines, by track id (``face_color``): Plotly's D3 palette, ten
#: colours far enough apart to tell lines apart; the expressions keep their own colours on the axis.
FACE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf")
#: The session summary's column widths (px): the whole table fits the page's main area at 1400 px
#: with the sidebar open (tests/browser/test_screens_fit.py).
SUMMARY_WIDTHS = {"Face": 48, "Seen": 64, "From (s)": 64, "To (s)": 64, "Mostly": 72}
SUMMARY_SHARE_WIDTH = 72


def table_widths(n_faces: int) -> tuple[int, int]:
    """(expression column, each face's column) in pixels, so ``n_faces`` columns fit TABLE_WIDTH_PX
    (four faces: 72 + 4 x 69); past six faces the columns stay 44 px and the table scrolls."""
    share = (TABLE_WIDTH_PX - INDEX_WIDTH_PX) // max(n_faces, 1)
    return INDEX_WIDTH_PX, int(min(75, max(44, share)))


def _css(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"rgb({r},{g},{b})"


def face_color(face_id: int) -> str:
    """A face's line colour, the same for its id in every redraw and in the session's timeline."""
    return FACE_COLORS[(max(face_id, 1) - 1) % len(FACE_COLORS)]


def _expression_axis(classes) -> dict:
    """The y axis of a timeline: the expressions in class order, each tick label in its own colour."""
    classes = list(classes)
    return {"categoryorder": "array", "categoryarray": classes, "type": "category",
            "range": [-0.5, len(classes) - 0.5], "tickmode": "array", "tickvals": classes,
            "ticktext": [f"<span style='color:{_css(CLASS_COLORS_BGR.get(c, (128, 128, 128)))}'><b>{c}</b></span>"
                         for c in classes]}


def _face_trace(face_id: int, x: list[float], y: list[str], marker_size: int, hover: str) -> dict:
    """One face's line in its own colour (``face_color``), markers in the same colour, so its legend
    entry and its line agree; the expression is the line's height, named in its colour on the axis."""
    colour = face_color(face_id)
    return {"type": "scatter", "x": x, "y": y, "mode": "lines+markers", "name": f"#{face_id}",
            "line": {"width": 2, "color": colour, "shape": "hv"},
            "marker": {"size": marker_size, "color": colour},
            "hovertemplate": "face #" + str(face_id) + "<br>" + hover + ": %{y}<extra></extra>"}


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
    one line per face in its own colour (``face_color``, stable per track id), the expressions named
    in their colours on the y axis.

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
        traces.append(_face_trace(face_id, [r.time_s for r in thinned], [r.label for r in thinned], 6, "%{x:.1f} s"))
    layout = {"height": 260, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "showlegend": len(by_face) > 1,
              "title": {"text": "Expressions, last minute", "font": {"size": 14}},
              "xaxis": {"title": {"text": "seconds"}, "range": [max(0.0, now_s - span_s), max(now_s, 1.0)]},
              "yaxis": _expression_axis(classes)}
    return go.Figure(data=traces, layout=layout, _validate=False)


def seen_text(seconds: float) -> str:
    """Time seen, to a tenth of a second under a minute ("12.3 s"), like a person writes it above."""
    return f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)


def summary_table(summary: SessionSummary) -> pd.DataFrame:
    """One row per face of the session (brief detections left out): time seen, first and last seen
    (s), then the percentage of its time per expression (0-100)."""
    return pd.DataFrame([{"Face": f"#{f.face_id}", "Seen": seen_text(f.seen_s), "From (s)": round(f.first_s, 1),
                          "To (s)": round(f.last_s, 1), "Mostly": f.top,
                          **{c: round(v * 100, 1) for c, v in f.shares.items()}} for f in summary.faces])


def session_timeline_figure(summary: SessionSummary, classes: tuple[str, ...] | list[str] | None = None) -> go.Figure:
    """The whole session's timeline (one point per face per second), built like ``timeline_figure``."""
    traces = [_face_trace(face_id, [t for t, _ in points], [label for _, label in points], 5, "%{x:.0f} s")
              for face_id, points in summary.timeline.items()]
    if classes is None:
        classes = list(summary.faces[0].shares) if summary.faces else list(CLASSES)
    layout = {"height": 260, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "showlegend": len(traces) > 1,
              "title": {"text": "Expressions, whole session", "font": {"size": 14}},
              "xaxis": {"title": {"text": "seconds"}, "range": [0.0, max(summary.duration_s, 1.0)]},
              "yaxis": _expression_axis(classes)}
    return go.Figure(data=traces, layout=layout, _validate=False)


def render_summary(summary: SessionSummary, key: str) -> None:
    """The summary after STOP: when, how long, each face's time and expression shares, the whole timeline."""
    st.markdown("**Session summary**")
    st.caption(summary.caption())
    if not summary.faces:
        st.info("No face was seen in this session.")
        return
    st.markdown("  \n".join(f"**Face #{f.face_id}**: seen {seen_text(f.seen_s)}, mostly {f.top} "
                             f"({f.shares[f.top]:.1%} of its time)" for f in summary.faces))
    table = summary_table(summary)
    config = {c: (st.column_config.NumberColumn(c, format="%.1f", width=w) if c.endswith("(s)")
                  else st.column_config.Column(c, width=w)) for c, w in SUMMARY_WIDTHS.items()}
    config.update({c: st.column_config.ProgressColumn(c, format="%.1f %%", min_value=0.0, max_value=100.0,
                                                      width=SUMMARY_SHARE_WIDTH)
                   for c in table.columns if c not in SUMMARY_WIDTHS})
    st.dataframe(table, hide_index=True, column_config=config)
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
