"""The shared sidebar: the chosen model's name, licence and headline accuracy written out below the
picker (read from its metadata), and pickers whose option labels fit the sidebar."""
from __future__ import annotations

import sys

if "tensorflow" not in sys.modules:  # aiortc first: importing it after TensorFlow segfaults (fer/explain.py)
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass

import pytest
from streamlit.testing.v1 import AppTest

from fer.classify.model import list_models

#: Characters an option label may have and still show whole in the sidebar's picker (its default
#: width holds about 30 at Streamlit's font size).
PICKER_CHARS = 28


def sidebar_app():
    from ui.sidebar import render_sidebar
    render_sidebar()


def sidebar_text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption])


def test_the_chosen_models_licence_and_accuracy_are_written_out_under_the_picker():
    models = {m.name: m for m in list_models()}
    licensed = next((m for m in models.values() if m.licence), None)
    free = next((m for m in models.values() if not m.licence and m.headline_figures()), None)
    if licensed is None or free is None:
        pytest.skip("needs a model with research-licensed training data and one without in models/")
    at = AppTest.from_function(sidebar_app, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    picker = at.selectbox(key="model_name")
    for option in picker.options:
        assert len(option) <= PICKER_CHARS, option
    for m in (licensed, free):
        at.selectbox(key="model_name").set_value(m.name)
        at.run()
        text = sidebar_text(at)
        label, fig = next(iter(m.headline_figures().items()))
        assert f"**{m.name}**" in text and f"{label} accuracy **{fig['accuracy']:.1%}**" in text
        if m.licence:
            assert "non-commercial research use only" in text
            for term in m.licence:
                assert term.split(":")[0] in text  # each research-licensed data set named
        else:
            assert "non-commercial" not in text


def test_the_detector_picker_shows_short_names_and_the_detail_below():
    from fer.faces.detectors import DETECTORS
    at = AppTest.from_function(sidebar_app, default_timeout=60)
    at.run()
    picker = at.selectbox(key="det_name")
    for option in picker.options:
        assert len(option) <= PICKER_CHARS, option
    for name, entry in DETECTORS.items():
        at.selectbox(key="det_name").set_value(name)
        at.run()
        shown = sidebar_text(at)
        if "(" in entry.label:
            assert entry.label.split("(", 1)[1].rstrip(")") in shown
