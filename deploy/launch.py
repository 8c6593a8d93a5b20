"""`streamlit run app.py`, with the live page's heavy libraries loaded before the server answers.

    python deploy/launch.py [--verbose] [streamlit run options, e.g. --server.port 8502]

The terminal shows the server's address, warnings and errors; the native libraries' start-up notes
and Streamlit's external-address note are filtered out (fer/native_log.py). ``--verbose`` (or
``FER_VERBOSE=1``) shows everything.

Streamlit runs a page's code only when a browser opens it, so the first visitor of a fresh server
also waited for aiortc, PyAV, OpenCV, LiteRT, pandas and Plotly to load before START could show:
3.4-3.6 s from opening the page to START against 2.7-3.0 s with them loaded here (fresh server and
browser each time, bench/live_page.py's camera; later visitors of a running server see 2.5-2.8 s
either way). Only libraries that need no Streamlit runtime are loaded here: a module that creates
Streamlit caches or elements at import (ui/, streamlit_webrtc) must wait for the server.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def preload() -> None:
    """Import what the first run of the live page would, and load the default model. aiortc comes
    first: TensorFlow loaded before it crashes the server (../shared/WEBRTC_TESTING.md); nothing
    here loads TensorFlow (the classifier runs on LiteRT)."""
    import aiortc  # noqa: F401
    import av  # noqa: F401

    import fer.faces.detectors  # noqa: F401  (fer first: it sets OpenCV's thread-pool options before cv2 loads)
    import fer.stream.live  # noqa: F401
    import fer.pipeline  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    from ai_edge_litert import interpreter  # noqa: F401

    from fer.classify.model import ModelError, load_classifier, server_threads
    try:  # the default model, once per process: the page's first START then finds it loaded and run
        clf = load_classifier(None, num_threads=server_threads())
        clf.warm()
    except (ModelError, ValueError, RuntimeError):
        pass  # no usable default model: the page says so to whoever opens it


def main() -> None:
    os.chdir(REPO)  # .streamlit/config.toml is read from the working directory
    sys.path.insert(0, str(REPO))
    args = sys.argv[1:]
    if "--verbose" in args:
        args.remove("--verbose")
        os.environ["FER_VERBOSE"] = "1"  # app.py's filter, in this same process, stays off too
    from fer.native_log import install_noise_filter
    install_noise_filter()
    preload()
    from streamlit.web import cli
    sys.argv = ["streamlit", "run", "app.py", *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
