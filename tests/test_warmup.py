"""The live pipeline warmed before START: a stream's thread finds a detector built for it, the rescan
threads and the classifier's batch sizes are ready (bench/live_page.py --compare-warmup measures
START -> first boxed frame with and without)."""
from __future__ import annotations

import threading
import time

import streamlit_webrtc  # noqa: F401  isort: skip  (aiortc first)

from fer.faces.detectors import DetectorSettings, make_detector
from fer.pipeline import FramePipeline


def _in_new_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_a_new_thread_takes_the_detector_built_ahead_instead_of_loading_one(classifier):
    pipe = FramePipeline(classifier, make_detector(DetectorSettings()))
    pipe.stock_detector()
    assert pipe.spare_detectors() == 1
    stocked = pipe._spares.get_nowait()
    pipe._spares.put(stocked)
    assert _in_new_thread(pipe._thread_detector) is stocked and pipe.spare_detectors() == 0
    other = _in_new_thread(pipe._thread_detector)  # none left: that thread loads its own, as before
    assert other is not stocked and other.settings == stocked.settings


def test_warming_for_a_stream_stocks_a_detector_and_the_classifiers_batch_sizes(classifier):
    from ui.live_stream import warm_for_stream
    pipe = FramePipeline(classifier, make_detector(DetectorSettings()))
    warm_for_stream(pipe)
    deadline = time.monotonic() + 60
    while (pipe.spare_detectors() == 0 or not {1, 2, 3, 4} <= set(classifier._interpreters)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pipe.spare_detectors() == 1
    assert {1, 2, 3, 4} <= set(classifier._interpreters)
    _in_new_thread(pipe._thread_detector)  # a stream took it ...
    warm_for_stream(pipe)  # ... and the page's next run stocks another
    while pipe.spare_detectors() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pipe.spare_detectors() == 1
