"""The product's front door (`streamlit run app.py`): page navigation and the shared sidebar."""
# aiortc (imported by streamlit_webrtc) must load before anything can import TensorFlow: the two
# clash in one process and the server dies (../shared/WEBRTC_TESTING.md). Keep these lines first.
import streamlit_webrtc  # noqa: F401  isort: skip
from ui import rtc  # isort: skip

import logging
from pathlib import Path

import streamlit as st

from fer.native_log import install_noise_filter
from ui import replica
from ui.sidebar import render_sidebar

HERE = Path(__file__).resolve().parent


def log_warnings_to_stderr() -> None:
    """Our modules and the WebRTC stack only log to handlers someone attaches; Streamlit attaches
    none to them, so a failing frame or a dying stream would otherwise leave no trace."""
    for name in ("fer", "ui", "streamlit_webrtc", "aiortc", "aioice"):
        logger = logging.getLogger(name)
        if not any(getattr(h, "_fer", False) for h in logger.handlers):
            handler = logging.StreamHandler()
            handler._fer = True  # type: ignore[attr-defined]
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(min(logger.level or logging.WARNING, logging.WARNING))


log_warnings_to_stderr()
install_noise_filter()  # `streamlit run app.py` without deploy/launch.py: LiteRT's and TensorFlow's notes
rtc.configure_from_env()
st.set_page_config(page_title="Facial expressions", page_icon=":performing_arts:", layout="wide")
replica.notice_if_moved()

PAGES = [
    ("pages/live.py", "Live", ":material/videocam:"),
    ("pages/still_image.py", "Still images", ":material/image:"),
    ("pages/dataset_explorer.py", "Data set explorer", ":material/dataset:"),
    ("pages/model_report.py", "Model report", ":material/analytics:"),
]
# A page whose file is not there yet is left out rather than breaking the whole app.
page = st.navigation([st.Page(path, title=title, icon=icon, default=(path == "pages/live.py"))
                      for path, title, icon in PAGES if (HERE / path).is_file()])
render_sidebar()
page.run()
