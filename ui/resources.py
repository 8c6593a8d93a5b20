"""Engine objects cached once per server process and shared by every session and page.

Nothing here imports TensorFlow: the classifier runs on LiteRT. (TensorFlow imported before
aiortc crashes the server, so Keras is only loaded lazily for explanations.)
"""
from __future__ import annotations

import streamlit as st

from fer.classes import SEVEN
from fer.faces.detectors import DetectorSettings, make_detector
from fer.classify.model import Classifier, ModelInfo, list_models, load_classifier, server_threads
from fer.pipeline import FramePipeline


@st.cache_resource(show_spinner="Loading the model ...")
def get_classifier(model_name: str | None) -> Classifier:
    """The classifier for a model in models/ (None = the shipped default); loaded once per process
    (deploy/launch.py may have loaded the default already), with ``server_threads()`` threads."""
    return load_classifier(model_name, num_threads=server_threads())


@st.cache_resource(show_spinner=False, max_entries=32)  # every slider position is a new entry
def get_pipeline(model_name: str | None, detector: DetectorSettings, flip: bool = False,
                 classes: str = SEVEN) -> FramePipeline:
    """The frame pipeline for these settings, shared by every session: one instance per settings means
    one shared classifier and detector settings (each thread gets its own copy of the detector).
    ``classes``: the class view (``fer.classes``)."""
    return FramePipeline(get_classifier(model_name), make_detector(detector), flip=flip, classes=classes)


@st.cache_data(ttl=30)
def available_models() -> list[ModelInfo]:
    """Every model folder in models/, default first."""
    return list_models()
