"""OpenCV's thread switch: one thread while live frames come, the default back for a still photo
once the stream has been quiet for STREAM_IDLE_S, and a still photo's result the same either way."""
from __future__ import annotations

import cv2

from fer import cv_threads
from fer.faces.detectors import DetectorSettings, make_detector

HAAR = DetectorSettings(name="haar")  # the detector whose scans run on OpenCV's threads


def test_live_frames_take_one_thread_and_a_still_gets_the_default_back_once_streams_stop(monkeypatch, head_pose):
    default = cv_threads._DEFAULT
    assert default >= 1
    clock = [1000.0]
    monkeypatch.setattr(cv_threads.time, "monotonic", lambda: clock[0])
    try:
        gray = cv2.cvtColor(head_pose.frames[0], cv2.COLOR_BGR2GRAY)
        cv_threads.live_frame()
        assert cv2.getNumThreads() == 1
        clock[0] += cv_threads.STREAM_IDLE_S / 2
        assert cv_threads.still_work() == 1  # a stream is still running: its cores are taken
        one_thread = make_detector(HAAR).detect(gray)
        clock[0] += cv_threads.STREAM_IDLE_S
        assert cv_threads.still_work() == default == cv2.getNumThreads()
        assert make_detector(HAAR).detect(gray) == one_thread and one_thread
    finally:
        cv2.setNumThreads(default)
        cv_threads._last_live_frame = float("-inf")
