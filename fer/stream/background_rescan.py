"""A live stream's periodic rescans, run beside the stream instead of inside one of its frames.

A rescan scans the whole frame for faces entering the view (one Haar view, 10-15 ms of a 640x480
real-footage frame on this machine); the frames between only search near the followed faces
(2-5 ms). Done inside the frame, every rescan made that frame late and the next camera frame was
dropped: one real-footage session processed 26.7 fps with rescans, 28.8 with none (bench/
live_capacity.py). Here the frame that is due for a rescan hands a copy of itself to a small pool of
threads shared by every stream (OpenCV's cascade releases the GIL) and carries on; the faces the
rescan found join the near-search of the first frame after it finished. A new face therefore shows
up a frame or two later than with an inline rescan, and the CPU spent is the same.

Only for live streams: a recorded video (``fer video``) rescans inline, so that a file gives the
same faces however fast the machine runs.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..faces.detectors.base import Box

log = logging.getLogger(__name__)

#: Threads doing every stream's rescans (each with its own copy of the detector).
POOL_THREADS = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="fer-rescan")
        return _pool


class BackgroundRescan:
    """One stream's rescan in flight (at most one)."""

    def __init__(self) -> None:
        self._future: Future | None = None

    def busy(self) -> bool:
        """A rescan is still running."""
        return self._future is not None and not self._future.done()

    def submit(self, pipeline, frame_bgr: np.ndarray, skip: list[Box], turn: int, changes=None) -> None:
        """Rescan a copy of ``frame_bgr`` for faces other than ``skip`` (the followed ones); ``turn``:
        the stream's own rescan count (streams share the pool's detectors, so the detector's own
        count would give each stream an arbitrary subset of the views); ``changes``: the stream's
        ``SceneChanges``."""
        frame = frame_bgr.copy()  # the caller draws on its frame next
        self._future = _shared_pool().submit(pipeline.rescan, frame, skip, turn, changes)

    def submit_search(self, pipeline, gray: np.ndarray, requests: list) -> None:
        """Run ``pipeline.search_regions`` (missed faces' region searches, noted on the frame
        ``gray``; the caller must not write to it) instead of a rescan; ``take`` then returns
        (missed box, found box) pairs."""
        self._future = _shared_pool().submit(pipeline.search_regions, gray, requests)

    def take(self) -> tuple[list[Box], list]:
        """The boxes of the rescan that finished since the last call, and the detector's hints about
        them (``FramePipeline.rescan``); nothing if none finished, or it failed."""
        if self._future is None or not self._future.done():
            return [], []
        future, self._future = self._future, None
        try:
            boxes, hints = future.result()
            return list(boxes), list(hints)
        except Exception:  # a failed rescan must not stop the stream; the next one may do better
            log.exception("background rescan failed")
            return [], []

    def reset(self) -> None:
        """A new stream: a rescan of the old one's frames is dropped."""
        self._future = None
