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


def _every_view(pipeline, frame_bgr: np.ndarray) -> tuple[list[Box], list]:
    found = pipeline.locate(frame_bgr)  # no ``near``: the detector's full detect, every view
    return list(found.boxes), pipeline.hints(found.boxes)


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

    def submit_every_view(self, pipeline, frame_bgr: np.ndarray) -> None:
        """Scan a copy of ``frame_bgr`` through every view of the detector (a stream's first frame,
        whose quick scan looked through one); ``take`` then returns its boxes and hints."""
        self._future = _shared_pool().submit(_every_view, pipeline, frame_bgr.copy())

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


def warm_pool(pipeline, frame_shape: tuple[int, int, int] = (480, 640, 3), wait_s: float = 1.0) -> None:
    """Have every pool thread load its copy of ``pipeline``'s detector and run one rescan now, before a
    stream needs them, so a stream's first background rescans don't wait for a detector to load
    (~250 ms each for Haar). Blocks until done; each job waits up to ``wait_s`` for the others, so
    that the jobs land on different threads (a pool thread busy with a stream's rescan meanwhile is
    simply not warmed)."""
    barrier = threading.Barrier(POOL_THREADS)
    blank = np.zeros(frame_shape, np.uint8)

    def warm() -> None:
        try:
            barrier.wait(timeout=wait_s)
        except threading.BrokenBarrierError:
            pass
        pipeline.rescan(blank, [])

    for f in [_shared_pool().submit(warm) for _ in range(POOL_THREADS)]:
        f.result()
