"""The sidebar every page shares: which model, which face detector and how sensitive it is."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from fer.classes import FIVE, FIVE_CLASS_NOTE, SEVEN, VIEW_NAMES
from fer.faces.detectors import DEFAULT_DETECTOR, DETECTORS, DetectorSettings

from .resources import available_models


@dataclass(frozen=True)
class AppSettings:
    """What the user chose in the sidebar; pages read it with ``current_settings()``."""
    model_name: str | None
    detector: DetectorSettings
    class_view: str = SEVEN  # fer.classes view name: "seven" or "five"


_KEY = "_fer_app_settings"


def render_sidebar() -> AppSettings:
    """Draw the shared sidebar (called once per run by app.py, before the page) and remember the choice."""
    models = available_models()
    with st.sidebar:
        st.header("Model")
        if models:
            labels = {m.name: _model_label(m) for m in models}
            name = st.selectbox("Model", list(labels), format_func=labels.get, key="model_name")
        else:
            st.error("No model found in models/. Train one with `python -m fer train ...`.")
            name = None
        labels = {SEVEN: "Seven (the model's classes)", FIVE: "Five basic expressions"}
        view = st.radio("Expressions", VIEW_NAMES, format_func=labels.get, key="class_view",
                        help=f"Seven, or {FIVE_CLASS_NOTE}. Every page, chart and download follows.")
        st.header("Face detector")
        names = list(DETECTORS)
        kind = st.selectbox("Detector", names, index=names.index(DEFAULT_DETECTOR), key="det_name",
                            format_func=lambda n: DETECTORS[n].label,
                            help="BlazeFace, a small neural network, finds turned, tilted, small and "
                                 "close-up faces in a few milliseconds; Haar cascades are the seed's "
                                 "detector, slower and with false faces in real video (docs/detectors.md).")
        d = DetectorSettings()
        min_size = st.slider("Min face size (px)", 24, 200, d.min_size, 4, key="det_min_size")
        if kind == "haar":
            scale = st.slider("Scale step", 1.05, 1.5, d.scale_factor, 0.05, key="det_scale",
                              help="Smaller finds more faces but costs more time.")
            neighbours = st.slider("Min neighbours", 1, 10, d.min_neighbors, key="det_neighbors",
                                   help="Higher means fewer false faces.")
            detector = DetectorSettings(name="haar", scale_factor=scale, min_neighbors=neighbours, min_size=min_size)
        else:
            score = st.slider("Min confidence", 0.3, 0.95, d.min_score, 0.05, key="det_min_score",
                              help="Higher means fewer false faces.")
            detector = DetectorSettings(name=kind, min_size=min_size, min_score=score)
    settings = AppSettings(name, detector, view)
    st.session_state[_KEY] = settings
    return settings


def current_settings() -> AppSettings:
    """The sidebar's current choice (defaults when a page runs on its own, e.g. in AppTest)."""
    return st.session_state.get(_KEY) or AppSettings(None, DetectorSettings())


def _model_label(m) -> str:
    figs = m.headline_figures()
    if figs:
        shown = " · ".join(f"{k.replace(' test', '')} {v['accuracy']:.1%}" for k, v in figs.items())
        return f"{m.name} ({shown}{'; research licence' if m.licence else ''})"
    acc = m.test_accuracy()
    return f"{m.name} (test {acc:.1%})" if acc is not None else f"{m.name} (test accuracy not measured)"
