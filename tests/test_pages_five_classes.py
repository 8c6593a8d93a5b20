"""The still page in the five-class view (the sidebar's choice): the chart and the
probability line carry five renormalised probabilities, on a real FER2013 face."""
from __future__ import annotations

import json
import sys

import cv2
import pytest

if "tensorflow" not in sys.modules:  # aiortc first: importing it after TensorFlow segfaults (fer/classify/explain.py)
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass

from streamlit.testing.v1 import AppTest

from fer.config import REPO_ROOT
from fer.faces.detection import DetectorSettings
from ui.sidebar import AppSettings

FIVE = ["angry", "happy", "neutral", "sad", "surprise"]


def test_the_still_page_follows_the_five_class_choice(fer_root):
    face = cv2.imread(str(sorted((fer_root / "val" / "surprise").iterdir())[0]), cv2.IMREAD_GRAYSCALE)
    ok, buf = cv2.imencode(".png", face)
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "still_image.py"), default_timeout=300)
    at.session_state["_fer_app_settings"] = AppSettings(None, DetectorSettings(), "five")
    at.run()
    at.checkbox(key="still_whole").set_value(True)
    at.checkbox(key="still_heatmaps").set_value(False)
    at.file_uploader(key="still_uploads").set_value([("face.png", buf.tobytes(), "image/png")])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (chart,) = at.get("plotly_chart")
    bars = json.loads(chart.proto.spec)["data"][0]
    assert list(bars["y"]) == FIVE
    assert sum(bars["x"]) == pytest.approx(100, abs=0.1)
    line = next(c.value for c in at.caption if "happy" in c.value and "%" in c.value)
    assert "disgust" not in line and "fear" not in line
