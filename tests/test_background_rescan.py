"""The live page's rescans run beside the stream: the frame thread only searches near known faces,
the shared pool's threads scan whole frames, and the faces they find join the stream."""
from __future__ import annotations

import sys
import threading
import time

from fer.config import REPO_ROOT
from fer.faces.detectors import DetectorSettings, make_detector
from fer.stream.live import LIVE_READ_EVERY_S, LiveSession
from fer.pipeline import FramePipeline

sys.path.insert(0, str(REPO_ROOT / "bench"))
from clips import score  # noqa: E402

FPS = 30


def _paced(session: LiveSession, pipe: FramePipeline, clip) -> list[list]:
    """The clip at 30 fps on the wall clock (each of its 12 fps frames shown 2-3 times, as the browser
    tests' fake camera shows it); the boxes shown last for each clip frame."""
    shown = [[] for _ in clip.frames]
    for i in range(int(len(clip.frames) * FPS / clip.fps)):
        due = time.perf_counter() + 1 / FPS
        k = min(len(clip.frames) - 1, int(i * clip.fps / FPS))
        session.process(clip.frames[k].copy(), pipe)
        shown[k] = [f.box for f in session.latest().faces]
        time.sleep(max(0.0, due - time.perf_counter()))
    return shown


def test_rescans_run_off_the_frame_thread_and_their_faces_join_the_stream(walking, classifier):
    pipe = FramePipeline(classifier, make_detector())
    threads = []
    rescan = pipe.rescan
    pipe.rescan = lambda *a, **kw: threads.append(threading.current_thread().name) or rescan(*a, **kw)  # count
    session = LiveSession(read_every_s=LIVE_READ_EVERY_S, background_rescans=True)
    shown = _paced(session, pipe, walking)
    assert threads and all(name.startswith("fer-rescan") for name in threads), set(threads)
    s = score(shown, walking.truth)
    # Inline rescans on this clip at this pace: 85 % found, no false box (measured 2026-12-01).
    assert s.found_share >= 0.75 and s.false_per_frame <= 0.05, s


def test_a_new_stream_drops_the_old_streams_rescan(walking, classifier):
    """A rescan still running when the stream restarts must not put the old stream's faces into the new one."""
    pipe = FramePipeline(classifier, make_detector())
    session = LiveSession(background_rescans=True)
    session.process(walking.frames[0].copy(), pipe)  # no face followed: a rescan goes to the pool
    session.end_stream()
    blank = walking.frames[0].copy()
    blank[:] = 90
    for _ in range(5):
        session.process(blank.copy(), pipe)
        time.sleep(0.05)
    assert session.latest().faces == []


def test_missed_faces_region_searches_run_off_the_frame_thread_and_find_as_many(walking, classifier):
    """A face the near-search misses gets a region search (10-15 ms here) on the pool, not in its
    frame; what it finds replaces the held box. The faces shown match the inline way's."""
    shares, searched = {}, []
    for deferred in (True, False):
        pipe = FramePipeline(classifier, make_detector(DetectorSettings(name="haar")))  # Haar's region searches
        search, locate = pipe.search_regions, pipe.locate
        pipe.search_regions = lambda *a: searched.append((threading.current_thread().name, a[1])) or search(*a)
        if not deferred:
            pipe.locate = lambda *a, **kw: locate(*a, **{**kw, "defer_searches": False})
        session = LiveSession(read_every_s=LIVE_READ_EVERY_S, background_rescans=True)
        shares[deferred] = score(_paced(session, pipe, walking), walking.truth).found_share
        if deferred:
            assert searched and all(name.startswith("fer-rescan") for name, _ in searched), searched
            assert all(len(requests) >= 1 for _, requests in searched)
            pooled = len(searched)
        else:
            assert len(searched) == pooled, "the inline way sent region searches to the pool"
    # Paced on the wall clock, the share shown moves from run to run: 79.7-82.9 % either way
    # (2026-12-07, a loaded 2-core machine), 77-81 % with no region search at all. So this asserts
    # the pool's answers are not lost (the inline floor less 6 points, about 7 of the clip's 123
    # faces), not that they add faces on this clip.
    assert shares[True] >= 0.75 and shares[True] >= shares[False] - 0.06, shares


def test_a_live_streams_first_frame_scans_every_view_beside_the_stream(classifier):
    """The first frame's boxes come from the quick scan at once; the every-view scan that used to hold
    that frame back runs in the pool, and what it finds is on screen a few frames later. The frame:
    the head-pose clip's fourth, whose two turned heads only Haar's other views find."""
    import cv2

    from fer.faces.detectors.base import iou
    from video_clips import HEAD_POSE, real_clip
    frame = real_clip(HEAD_POSE).frames[3]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    haar = DetectorSettings(name="haar")  # the detector with views
    every_view, upright = make_detector(haar).detect(gray), make_detector(haar).rescan(gray, turn=0)
    assert len(every_view) == 2 and len(upright) < 2, "the premise: only the other views find both"
    pipe = FramePipeline(classifier, make_detector(haar))
    inline = []
    detect = pipe.detector.detect
    pipe.detector.detect = lambda *a, **kw: inline.append(1) or detect(*a, **kw)
    session = LiveSession(read_every_s=LIVE_READ_EVERY_S, background_rescans=True)
    session.process(frame.copy(), pipe)
    assert inline == [], "the every-view scan ran inside the stream's first frame"
    deadline = time.monotonic() + 30
    while session._background.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(3):
        session.process(frame.copy(), pipe)
    shown = [f.box for f in session.latest().faces]
    for box in every_view:
        assert max((iou(box, b) for b in shown), default=0) >= 0.5, (every_view, shown)
