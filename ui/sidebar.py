"""The sidebar every page shares: which model, which face detector and how sensitive it is."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from fer.classes import FIVE, FIVE_CLASS_NOTE, SEVEN, VIEW_NAMES
from fer.faces.detectors import DEFAULT_DETECTOR, DETECTORS, DetectorSettings

from fer.classify.model import ModelInfo

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
            by_name = {m.name: m for m in models}
            # The picker holds names only: a label long enough to carry figures and licence is cut
            # at the sidebar's width, so those are written out below it, where they can be read.
            name = st.selectbox("Model", list(by_name), key="model_name")
            st.markdown(model_card_markdown(by_name[name]))
        else:
            st.error("No model found in models/. Train one with `python -m fer train ...`.")
            name = None
        labels = {SEVEN: "Seven (the model's classes)", FIVE: "Five basic expressions"}
        view = st.radio("Expressions", VIEW_NAMES, format_func=labels.get, key="class_view",
                        help=f"Seven, or {FIVE_CLASS_NOTE}. Every page, chart and download follows.")
        st.header("Face detector")
        names = list(DETECTORS)
        kind = st.selectbox("Detector", names, index=names.index(DEFAULT_DETECTOR), key="det_name",
                            format_func=lambda n: detector_name(DETECTORS[n].label),
                            help="BlazeFace, a small neural network, finds turned, tilted, small and "
                                 "close-up faces in a few milliseconds; Haar cascades are the seed's "
                                 "detector, slower and with false faces in real video (docs/detectors.md).")
        if detector_detail(DETECTORS[kind].label):
            st.caption(detector_detail(DETECTORS[kind].label))
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


def detector_name(label: str) -> str:
    """A registry label's name part ("BlazeFace full range (smaller, farther faces)" -> "BlazeFace full
    range"): short enough for the picker at the sidebar's width."""
    return label.split(" (", 1)[0]


def detector_detail(label: str) -> str:
    """The part of a registry label in brackets, shown as a caption under the picker ("" if none)."""
    return label.split(" (", 1)[1].rstrip(")") if " (" in label else ""


def model_card_markdown(m: ModelInfo) -> str:
    """The chosen model in a few readable lines, all read from its metadata: its name and headline
    accuracy (FER2013 test first), its other test sets, and its licence: research-only terms of the
    data it was trained on, named with their data set, or that it has none."""
    figs = m.headline_figures()
    lines = []
    if figs:
        (first, f0), *rest = figs.items()
        lines.append(f"**{m.name}**: {first} accuracy **{f0['accuracy']:.1%}**")
        if rest:
            lines.append("Also " + " · ".join(f"{k.replace(' test', '')} {v['accuracy']:.1%}" for k, v in rest))
    else:
        acc = m.test_accuracy()
        lines.append(f"**{m.name}**: " + (f"test accuracy **{acc:.1%}**" if acc is not None
                                            else "test accuracy not measured"))
    if m.licence:
        sets = ", ".join(term.split(":", 1)[0] for term in m.licence)
        lines.append(f"Licence: **non-commercial research use only** (trained on {sets}; see the model report)")
    else:
        lines.append("Licence: no research-only training data")
    return "  \n".join(lines)
