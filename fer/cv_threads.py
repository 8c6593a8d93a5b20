"""OpenCV's thread count by what the process is doing right now: one thread while live streams run,
OpenCV's default (a thread per core) otherwise.

Why: a live stream makes many small cascade calls (near-searches on ~100 px windows, one-view
rescans beside the stream); split over two threads they cost 20-25 % more CPU for the same work
(13.9 -> 12.1 and 23.1 -> 19.3 ms of process CPU a frame on the shared clips at 30 fps), CPU a
server with streams and browsers on the same cores does not have. A still photo's seven-view scan,
alone on the machine, runs 1.7x faster on two threads, so it gets them back once no live frame has
come for STREAM_IDLE_S. ``cv2.setNumThreads`` is process-wide, hence the one switch here.
"""
from __future__ import annotations

import time

import cv2

#: Seconds without a live frame after which the process counts as not streaming.
STREAM_IDLE_S = 2.0

_DEFAULT = cv2.getNumThreads()
_last_live_frame = float("-inf")


def live_frame() -> None:
    """Called for each live frame: one OpenCV thread from now on."""
    global _last_live_frame
    _last_live_frame = time.monotonic()
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def still_work() -> int:
    """Called before a still analysis: OpenCV's default threads unless a live stream ran in the last
    STREAM_IDLE_S (its cores are taken then); returns the count in force."""
    if time.monotonic() - _last_live_frame > STREAM_IDLE_S and cv2.getNumThreads() != _DEFAULT:
        cv2.setNumThreads(_DEFAULT)
    return cv2.getNumThreads()
