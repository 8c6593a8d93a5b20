"""Plotly figure builders shared by the pages: plain data in, ``go.Figure`` out, no Streamlit calls.

Every chart uses the class colours of ``fer.config`` so an expression has one colour across the
live overlay, the still page, the explorer and the report.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
# Plotly looks pandas up in sys.modules without importing it; if another script thread is midway
# through importing pandas, plotly gets the half-built module ("partially initialized module 'pandas'
# has no attribute 'Series'", seen in the browser test). Importing it here waits for that import.
import pandas  # noqa: F401
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer.config import CLASS_COLORS_BGR

_FALLBACK = "#888888"
_MARGIN = dict(l=10, r=10, t=40, b=10)


def class_color(cls: str) -> str:
    """A class's colour as ``#rrggbb`` (the config stores BGR for OpenCV)."""
    bgr = CLASS_COLORS_BGR.get(cls)
    return f"#{bgr[2]:02x}{bgr[1]:02x}{bgr[0]:02x}" if bgr else _FALLBACK


def probability_bars(probabilities: Mapping[str, float], title: str | None = None, height: int = 260) -> go.Figure:
    """Horizontal bars, one per class in the model's order, 0-100 %, the top class outlined."""
    classes = list(probabilities)
    values = [float(probabilities[c]) * 100 for c in classes]
    top = int(np.argmax(values)) if values else -1
    fig = go.Figure(go.Bar(
        x=values, y=classes, orientation="h", marker_color=[class_color(c) for c in classes],
        marker_line_width=[2.5 if i == top else 0 for i in range(len(classes))], marker_line_color="#000000",
        text=[f"{v:.1f}%" for v in values], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=_MARGIN, showlegend=False,
                      xaxis=dict(range=[0, 110], title="probability (%)", fixedrange=True),
                      yaxis=dict(autorange="reversed", fixedrange=True))
    return fig


def class_counts(counts: Mapping[str, Mapping[str, int]], title: str = "Images per class") -> go.Figure:
    """Grouped bars: one group per class, one bar per split (``counts[split][class]``)."""
    classes: list[str] = []
    for per_class in counts.values():
        classes += [c for c in per_class if c not in classes]
    fig = go.Figure([go.Bar(name=split, x=classes, y=[per_class.get(c, 0) for c in classes],
                            text=[per_class.get(c, 0) for c in classes], textposition="outside")
                     for split, per_class in counts.items()])
    fig.update_layout(title=title, barmode="group", margin=_MARGIN, height=360, yaxis_title="images",
                      legend_title_text="split", showlegend=len(counts) > 1)
    return fig


def counter_bars(items: Sequence[tuple[str, int]], title: str, x_title: str = "") -> go.Figure:
    """Bars for a short list of (label, count), e.g. image sizes or colour modes."""
    fig = go.Figure(go.Bar(x=[str(k) for k, _ in items], y=[v for _, v in items], text=[v for _, v in items],
                           textposition="outside", marker_color="#4c78a8"))
    fig.update_layout(title=title, margin=_MARGIN, height=300, xaxis_title=x_title, yaxis_title="images",
                      xaxis_type="category")
    return fig


def confusion_heatmap(confusion: Sequence[Sequence[int]], classes: Sequence[str], normalise: bool = True,
                      title: str = "Confusion matrix", clickable: bool = False) -> go.Figure:
    """Rows = true class, columns = predicted. With ``normalise`` the colour is each row's share (so
    rare classes read as clearly as common ones); the cell text always shows the count.

    ``clickable`` lays an invisible marker on every cell: Plotly heat maps emit no selection events in
    Streamlit (streamlit/streamlit#8760), scatter points do, so a click reports ``x`` = predicted and
    ``y`` = true class through ``st.plotly_chart(on_select=...)``.
    """
    cm = np.asarray(confusion, dtype=float)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    z = shares if normalise else cm
    text = [[f"{int(cm[i, j])}" + (f"<br>{shares[i, j]:.0%}" if normalise else "") for j in range(cm.shape[1])]
            for i in range(cm.shape[0])]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(classes), y=list(classes), text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1 if normalise else None, colorbar=dict(title="row share" if normalise else "count"),
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    if clickable:
        xs = [c for _ in classes for c in classes]
        ys = [r for r in classes for _ in classes]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(symbol="square", size=40, opacity=0),
                                 showlegend=False, hovertemplate="true %{y}, predicted %{x}: click to see the images"
                                                                 "<extra></extra>"))
    fig.update_layout(title=title, margin=_MARGIN, height=480,
                      xaxis=dict(title="predicted", side="bottom", type="category"),
                      yaxis=dict(title="true", autorange="reversed", type="category"))
    return fig


def per_class_recall(per_class: Mapping[str, Mapping[str, float]], title: str = "Recall per class") -> go.Figure:
    """Bars of each class's recall (the share of its images the model gets right), with support."""
    classes = list(per_class)
    recall = [float(per_class[c]["recall"]) * 100 for c in classes]
    support = [int(per_class[c].get("support", 0)) for c in classes]
    fig = go.Figure(go.Bar(x=classes, y=recall, marker_color=[class_color(c) for c in classes],
                           text=[f"{r:.0f}%" for r in recall], textposition="outside", customdata=support,
                           hovertemplate="%{x}: recall %{y:.1f}% of %{customdata} images<extra></extra>"))
    fig.update_layout(title=title, margin=_MARGIN, height=340, yaxis=dict(range=[0, 110], title="recall (%)"),
                      showlegend=False)
    return fig


def training_curves(history: Sequence[Mapping[str, float]]) -> go.Figure:
    """Loss and accuracy per epoch, train and validation, side by side (from ``history.csv`` rows)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    epochs = [int(float(r.get("epoch", i))) + 1 for i, r in enumerate(history)]
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, dash in (("", "train", "solid"), ("val_", "validation", "dash")):
            key = prefix + metric
            if any(key in r and r[key] not in ("", None) for r in history):
                fig.add_trace(go.Scatter(x=epochs, y=[_float(r.get(key)) for r in history], mode="lines+markers",
                                         name=f"{name} {metric}", line=dict(dash=dash)), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(margin=_MARGIN, height=360, legend=dict(orientation="h", y=-0.2))
    return fig


def _float(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
