"""The live page through AppTest, up to where the WebRTC component needs a browser: the session CSV's
download is offered only once a session has recorded a face (tests/browser/test_live_page.py
downloads it during and after a real stream)."""
from __future__ import annotations

import streamlit_webrtc  # noqa: F401  isort: skip  (aiortc before anything that may load TensorFlow)

from streamlit.testing.v1 import AppTest

from fer.config import CLASSES, REPO_ROOT
from fer.faces.detection import Box
from fer.pipeline import Face

PAGE = str(REPO_ROOT / "pages" / "live.py")


def _csv_buttons(at: AppTest) -> list:
    return [b.proto for b in at.get("download_button") if b.proto.label == "Download session (CSV)"]


def test_the_session_csv_is_not_offered_before_a_session_and_is_once_one_recorded_a_face():
    from ui.live_stream import _STATE_KEY, LiveState
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()  # the streamer itself fails without a browser, after the panel is drawn
    (button,) = _csv_buttons(at)
    assert button.disabled and "once a session has recorded a face" in button.help

    state = LiveState()
    state.session.log.add(0.0, [Face(Box(10, 10, 80, 80), "happy", 0.9, dict.fromkeys(CLASSES, 1 / 7), track_id=1)])
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state[_STATE_KEY] = state
    at.run()
    (button,) = _csv_buttons(at)
    assert not button.disabled
