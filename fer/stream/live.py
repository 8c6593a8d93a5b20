"""One live stream's state: tracker, session log, throughput figures, and the newest result for the page.

The video thread calls ``LiveSession.process`` for each frame it decides to handle; the page thread
reads ``latest()`` and the log. Nothing here knows about Streamlit or WebRTC: frames are BGR uint8
arrays in and out.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from .background_rescan import BackgroundRescan
from ..faces.detection import Box
from ..faces.detectors.base import largest_first, overlap
from ..faces.detectors.changes import SceneChanges
from ..pipeline import Face, FramePipeline, Located, draw_faces
from .session_log import SessionLog
from .tracking import DEFAULT_CONFIRM_HITS, FaceTracker

log = logging.getLogger(__name__)

#: A gap this long between two processed frames of a stream is logged (the viewer saw a freeze).
PAUSE_LOG_S = 1.0
#: Processed fps and latency are averaged over this many seconds of finished frames.
STATS_WINDOW_S = 2.0
#: While faces are followed, a rescan of the whole frame (for Haar: one view of it, the upright view
#: every second time) at most this often; in between, only the neighbourhood of the followed faces is
#: searched. A new upright face next to followed ones shows up within twice this time, and a face
#: the near-search lost is looked for again through every view within 1.5 s. With no face followed
#: every frame is rescanned. One view every 0.25 s cost 2.7 ms less server CPU a live frame
#: (bench/live_capacity.py) but found 67 % instead of 91 % of the head-pose clip's faces at 30 fps
#: (each clip frame shown 2-3 times, as the browser tests' camera shows it).
RESCAN_EVERY_S = 0.125
#: The live page classifies a followed face at most this often (every second frame at 30 fps, every
#: frame at 20 fps and below); on the frames between, the face's box is found as always and its
#: label and probabilities are its track's, as smoothed at the last reading. The classifier is
#: 1.7-3.3 ms a face on this machine's cores (one or two threads), a third of a real-footage
#: frame's pipeline with two or three faces; the smoothing's half-life (0.15 s) spans four readings.
LIVE_READ_EVERY_S = 0.045


@dataclass(frozen=True)
class LiveUpdate:
    """What the page shows after one processed frame."""
    time_s: float            # seconds since the stream started
    faces: list[Face]        # tracked (and smoothed) faces
    fps: float               # frames the pipeline finished per second, over the stats window
    latency_ms: float        # mean pipeline time per frame over the window (detect + classify + track + draw)
    processed: int           # frames processed since the stream started
    dropped: int             # stale frames skipped because a newer one had arrived


class LiveSession:
    """Per-stream state shared between the video thread (writer) and the page thread (reader)."""

    def __init__(self, half_life_s: float = 0.15, rescan_every_s: float = RESCAN_EVERY_S,
                 read_every_s: float = 0.0, background_rescans: bool = False, skip_unchanged: bool = True,
                 confirm_hits: int = DEFAULT_CONFIRM_HITS) -> None:
        """``read_every_s``: classify a followed face at most this often (0: in every frame, as
        ``fer video`` does; the live page passes LIVE_READ_EVERY_S). ``background_rescans``: run
        the rescans of wall-clocked frames beside the stream (``fer.stream.background_rescan``; the live
        page does), not inside the frame that is due. ``skip_unchanged``: a rescan scans only where
        the picture changed since its view last looked (``fer.faces.detectors.changes``; False: the whole
        frame every time, for comparisons). ``confirm_hits``: frames in a row a new face must be
        detected in before it is shown with an id (``fer.stream.tracking``; 1: at once, for comparisons)."""
        self.half_life_s = half_life_s
        self.confirm_hits = confirm_hits
        self.rescan_every_s = rescan_every_s
        self.read_every_s = read_every_s
        self._background = BackgroundRescan() if background_rescans else None
        self._searching = BackgroundRescan() if background_rescans else None  # missed faces' region searches
        self.skip_unchanged = skip_unchanged
        self.changes: SceneChanges | None = None  # what each rescan view last saw of this stream
        self.log = SessionLog()
        #: The finished sessions of this visit, oldest first, each still downloadable.
        self.earlier: list[SessionLog] = []
        self._updates: queue.Queue[LiveUpdate] = queue.Queue(maxsize=1)
        self._lock = threading.Lock()
        self._tracker: FaceTracker | None = None
        self._last_rescan = -1e9
        self._turn = 0  # this stream's rescans so far: which view the next one looks through
        self._new_stream = True
        self._t0 = 0.0
        self._processed = 0
        self._dropped = 0
        self._window: deque[tuple[float, float]] = deque()  # (finished at, ms)
        self._last_done: float | None = None

    def end_stream(self) -> None:
        """The stream stopped; the next frame starts a new session, and this one moves to ``earlier``."""
        with self._lock:
            self._new_stream = True

    def process(self, frame_bgr: np.ndarray, pipeline: FramePipeline, dropped: int = 0,
                at: float | None = None, draw: bool = True) -> np.ndarray:
        """Analyse, track, log and annotate one BGR uint8 frame (drawn in place unless ``draw`` is
        False, and returned). ``dropped``: stale frames skipped in favour of this one (counted, not
        analysed). ``at``: the frame's own time in seconds (a recorded video's presentation time),
        which then drives tracking, smoothing and the full-scan schedule instead of the wall clock,
        so a file gives the same result however fast the machine decodes it."""
        start = time.monotonic()
        clock = start if at is None else at
        with self._lock:
            classes = pipeline.classes
            if self._new_stream:
                self._start_stream(clock, classes)
            self._dropped += dropped
            if self._tracker is None or self._tracker.classes != classes:
                self._tracker = FaceTracker(classes, confirm_hits=self.confirm_hits)
            tracker = self._tracker
            tracker.half_life_s = self.half_life_s
        near, rescan = self._where_to_look(tracker, clock)
        if near is None and self._background is not None and at is None:
            found = self._first_live_frame(frame_bgr, pipeline)
        elif near is not None and self._background is not None and at is None:
            found = self._locate_with_background_rescans(frame_bgr, pipeline, near, rescan, clock)
        else:
            found = pipeline.locate(frame_bgr, near=near, rescan=rescan, turn=self._turn, changes=self.changes)
            self._turn += bool(rescan)
            if rescan and near:  # an empty room is rescanned every frame; only these count
                self._last_rescan = clock
        held = [b in found.held for b in found.boxes]
        if self.read_every_s > 0:
            due = tracker.due(found.boxes, clock, self.read_every_s)
            read = iter(pipeline.read(found, [b for b, d in zip(found.boxes, due) if d]))
            faces = [next(read) if d else Face(b, "", 0.0, {}) for b, d in zip(found.boxes, due)]
            faces = tracker.update(faces, clock, read=due, held=held)
        else:
            faces = tracker.update(pipeline.read(found, found.boxes), clock, held=held)
        if draw:
            draw_faces(frame_bgr, faces)
        done = time.monotonic()
        t = clock - self._t0
        self.log.add(t, faces)
        with self._lock:
            if at is None and self._last_done is not None and done - self._last_done >= PAUSE_LOG_S:  # live only
                log.warning("live stream %x: no frame processed for %.2f s", id(self), done - self._last_done)
            self._last_done = done
            self._processed += 1
            self._window.append((done, (done - start) * 1e3))
            while self._window and done - self._window[0][0] > STATS_WINDOW_S:
                self._window.popleft()
            update = LiveUpdate(t, faces, self._fps(done), sum(ms for _, ms in self._window) / len(self._window),
                                self._processed, self._dropped)
        self._publish(update)
        return frame_bgr

    def latest(self, timeout: float | None = None) -> LiveUpdate | None:
        """The newest update not yet taken (waits up to ``timeout`` s; None if nothing new)."""
        try:
            return self._updates.get(timeout=timeout) if timeout else self._updates.get_nowait()
        except queue.Empty:
            return None

    def _where_to_look(self, tracker: FaceTracker, now: float) -> tuple[list[Box] | None, bool]:
        """(None, False): a stream's first frame: scan the whole frame through every view, so the
        faces already in view when it starts are all found at once (with one view a frame, a face
        only an extra view sees could wait a dozen frames, or seconds once others are followed).
        ([], True): no face followed: the detector's rescan of the whole frame (for Haar one view,
        the upright one every second frame), every frame. (boxes of the followed faces, False):
        search only near them. (boxes, True): the periodic rescan is due, which catches faces
        entering the view; the followed faces re-found near their boxes are left out of it."""
        boxes = tracker.current_boxes()
        if not boxes:
            return (None, False) if self._processed == 0 else ([], True)
        return boxes, now - self._last_rescan >= self.rescan_every_s

    def _first_live_frame(self, frame_bgr: np.ndarray, pipeline: FramePipeline) -> Located:
        """A live stream's first frame: the detector's quick whole-frame rescan here (for Haar its
        upright view), the scan through every view beside the stream. Scanning every view inside the
        frame held its boxes back a quarter of a second on this machine (7-8 camera frames dropped
        as stale behind it); the faces only the other views find join a few frames later, as any
        background rescan's do."""
        found = pipeline.locate(frame_bgr, near=[], rescan=True, turn=self._turn, changes=self.changes)
        self._turn += 1
        self._background.submit_every_view(pipeline, frame_bgr)
        return found

    def _locate_with_background_rescans(self, frame_bgr: np.ndarray, pipeline: FramePipeline, near: list[Box],
                                        rescan: bool, now: float) -> Located:
        """This frame's faces: the followed ones searched for near their boxes, plus the new ones a
        background rescan finished finding since the last frame (as found, a frame or two ago; the
        next frame searches near them like any followed face). A due rescan is handed to the
        background (one at a time), and so are the region searches for the faces the near-search
        just missed (Haar's fallback, 10-15 ms; such a face keeps its box meanwhile, and a face a
        search finds replaces that box). While a search runs, misses are searched for inline."""
        new, hints = self._background.take()
        if new:
            pipeline.adopt(new, hints)
        if rescan and not self._background.busy():
            self._background.submit(pipeline, frame_bgr, near, self._turn, self.changes)
            self._turn += 1
            if near:
                self._last_rescan = now
        pairs, views = self._searching.take()
        if pairs:
            pipeline.adopt([f for _, f in pairs], views)
        searching = self._searching.busy()
        found = pipeline.locate(frame_bgr, near=near, defer_searches=not searching) if near \
            else Located(None, [], 0.0, frame_bgr)
        boxes = list(found.boxes)
        for missed, f in pairs:  # a missed face found again by its region search replaces its held box
            boxes = [k for k in boxes if k != missed and overlap(f, k) < 0.5] + [f]
        for b in new:
            if all(overlap(b, k) < 0.5 for k in boxes):
                boxes.append(b)
        if not searching:
            requests = pipeline.take_deferred()
            if requests:
                self._searching.submit_search(pipeline, found.gray_frame(), requests)
        return Located(found.gray, largest_first(boxes), found.detect_ms, frame_bgr, found.keypoints,
                       found.held & set(boxes))

    def _start_stream(self, now: float, classes: list[str]) -> None:
        self._new_stream = False
        if self._background is not None:
            self._background.reset()
            self._searching.reset()
        if len(self.log):  # an empty one is just dropped (a page may still hold it; nothing to lose)
            self.earlier.append(self.log)
        self.log = SessionLog(classes)
        self._t0 = now
        self._processed = self._dropped = 0
        self._window.clear()
        self._last_done = None
        self._tracker = None
        self._last_rescan = -1e9
        self._turn = 0
        self.changes = SceneChanges() if self.skip_unchanged else None

    def _fps(self, now: float) -> float:
        if len(self._window) < 2:
            return 0.0
        span = now - self._window[0][0]
        return (len(self._window) - 1) / span if span > 0 else 0.0

    def _publish(self, update: LiveUpdate) -> None:
        """Keep only the newest update: the page wants the present, not a backlog."""
        try:
            self._updates.get_nowait()
        except queue.Empty:
            pass
        try:
            self._updates.put_nowait(update)
        except queue.Full:
            pass
