"""The live page's WebRTC side: the per-session state, the frame callback, and the streamer itself.

The callback runs on streamlit-webrtc's processing thread, so it never calls ``st.*``: it converts
the newest frame to BGR, hands it to the engine, and converts the annotated result back.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, WebRtcStreamerContext, webrtc_streamer

from fer import cv_threads
from fer.stream.background_rescan import warm_pool
from fer.stream.live import LIVE_READ_EVERY_S, LiveSession
from fer.pipeline import FramePipeline

from . import rtc
from .stream_profile import PROFILE

log = logging.getLogger(__name__)

CAMERA_KEY = "fer-live-camera"
FILE_KEY = "fer-live-file"
_STATE_KEY = "_fer_live_state"


@dataclass
class LiveState:
    """What one browser session keeps between script runs. ``pipeline`` and ``error`` are written by
    the script thread / video thread and read by the other; plain attribute swaps are atomic."""
    session: LiveSession = field(default_factory=lambda: LiveSession(read_every_s=LIVE_READ_EVERY_S,
                                                                     background_rescans=True))
    pipeline: FramePipeline | None = None
    error: str | None = None
    upload_id: str | None = None
    upload_path: Path | None = None


def live_state() -> LiveState:
    if _STATE_KEY not in st.session_state:
        st.session_state[_STATE_KEY] = LiveState()
    return st.session_state[_STATE_KEY]


#: ``FER_WARMUP=0`` leaves the pipeline cold until the first frame (bench/live_page.py --compare-warmup
#: measures START -> first boxed frame both ways in one run).
WARMUP = os.environ.get("FER_WARMUP", "1") != "0"
_warmed: set[int] = set()
_warm_lock = threading.Lock()


def warm_for_stream(pipeline: FramePipeline | None, frame_shape: tuple[int, int, int] = (480, 640, 3)) -> None:
    """Get ``pipeline`` ready for a stream's first frame while the page waits for START, in a
    background thread: a detector built ahead for the stream's thread (a stream's frames run on a
    thread of their own, which would otherwise load its detector on the first frame: ~250 ms for
    Haar, 7-8 camera frames dropped as stale), every rescan thread's detector, and the classifier's
    first call. Once per pipeline, plus a new spare detector whenever the
    last one was taken; returns at once."""
    if pipeline is None or not WARMUP:
        return
    with _warm_lock:
        first = id(pipeline) not in _warmed
        if not first and pipeline.spare_detectors() > 0:
            return
        _warmed.add(id(pipeline))

    def warm() -> None:
        try:
            if first:  # before stocking: the rescan threads would otherwise take the spare
                warm_pool(pipeline, frame_shape)
                # One face's call. Interpreters for more faces are built when a frame has them: each
                # is one more mapping of the model file.
                pipeline.classifier.warm()
            if pipeline.spare_detectors() == 0:
                pipeline.stock_detector()
        except Exception:  # a failed warm-up only costs the first frame its speed; the stream says why
            log.exception("warming the live pipeline failed")

    threading.Thread(target=warm, name="fer-warmup", daemon=True).start()


def make_frame_callback(state: LiveState):
    """An async ``queued_video_frames_callback``: of the frames that piled up while the previous one
    was processed, only the newest is analysed; the stale ones are counted and dropped."""
    async def on_frames(frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        frame = frames[-1]
        pipeline = state.pipeline
        if pipeline is None:  # the model is still loading: show the camera as it is
            return [frame]
        cv_threads.live_frame()
        try:
            with PROFILE.stage("convert"):
                bgr = frame.to_ndarray(format="bgr24")
            with PROFILE.stage("pipeline"):
                out = state.session.process(bgr, pipeline, dropped=len(frames) - 1)
        except Exception as e:  # keep the stream alive; the page shows the message
            message = f"Processing a frame failed: {type(e).__name__}: {e}"
            if message != state.error:  # once per distinct failure, not 30 times a second
                log.exception("live frame processing failed")
            state.error = message
            return [frame]
        state.error = None
        PROFILE.frame_processed()
        with PROFILE.stage("convert"):
            return [av.VideoFrame.from_ndarray(out, format="bgr24")]
    return on_frames


def _avoid_stale_context_race(key: str) -> None:
    """streamlit-webrtc 0.77-0.79 sometimes decides, right after connecting, that its context was
    "not rendered" for a run and stops the worker (no frame is ever processed). Clearing the run
    counter it compares against only disables that multipage-orphan cleanup (WEBRTC_TESTING.md)."""
    ctx = st.session_state.get(key)
    if ctx is not None and hasattr(ctx, "_last_rendered_run_count"):
        ctx._last_rendered_run_count = None


def release_streamer(key: str) -> None:
    """Stop the streamer of the source the user just switched away from.

    With the race workaround above, streamlit-webrtc no longer cleans up a streamer that stops
    being rendered, so its worker would keep feeding this session's tracker until the browser's
    connection timed out. This is the library's own reset (private in 0.79, pinned).
    """
    ctx = st.session_state.get(key)
    if ctx is not None and ctx._get_worker() is not None:
        from streamlit_webrtc.component import _reset_context
        _reset_context(ctx)


def camera_constraints() -> dict:
    """What the page asks of the camera: ``FER_CAMERA`` as WIDTHxHEIGHT@FPS, default 640x480@30.
    Every server stage's cost grows with the pixels (decode, convert, the face scan, encode)."""
    raw = os.environ.get("FER_CAMERA", "640x480@30")
    m = re.fullmatch(r"(\d+)x(\d+)@(\d+)", raw)
    if not m or not (160 <= int(m.group(1)) <= 1920 and 120 <= int(m.group(2)) <= 1080 and 1 <= int(m.group(3)) <= 60):
        raise rtc.ConfigError(f"FER_CAMERA must look like 640x480@30 (160-1920 x 120-1080 @ 1-60), not {raw!r}")
    w, h, fps = (int(g) for g in m.groups())
    return {"width": w, "height": h, "frameRate": fps}


def camera_streamer(state: LiveState) -> WebRtcStreamerContext:
    """The webcam, sent to the server and returned annotated."""
    _avoid_stale_context_race(CAMERA_KEY)
    rtc.use_latest_frame_relay()
    return webrtc_streamer(
        key=CAMERA_KEY, mode=WebRtcMode.SENDRECV, rtc_configuration=rtc.rtc_configuration(),
        media_stream_constraints={"video": camera_constraints(), "audio": False},
        queued_video_frames_callback=make_frame_callback(state), on_video_ended=state.session.end_stream,
        async_processing=True)


def file_streamer(state: LiveState, path: Path) -> WebRtcStreamerContext:
    """An uploaded video played on the server (looping), through the same pipeline, to the browser."""
    _avoid_stale_context_race(FILE_KEY)
    rtc.use_latest_frame_relay()
    return webrtc_streamer(
        key=FILE_KEY, mode=WebRtcMode.RECVONLY, rtc_configuration=rtc.rtc_configuration(),
        media_stream_constraints={"video": True, "audio": False},
        player_factory=rtc.file_player_factory(path),
        queued_video_frames_callback=make_frame_callback(state), on_video_ended=state.session.end_stream,
        async_processing=True)


def store_upload(state: LiveState, upload) -> tuple[Path | None, str | None]:
    """Write an uploaded video to a temporary file (FFmpeg needs a path) once per upload;
    returns (path, None) or (None, why it can't be played)."""
    if state.upload_id != upload.file_id or state.upload_path is None or not state.upload_path.exists():
        discard_upload(state)
        suffix = Path(upload.name).suffix.lower() or ".mp4"
        with tempfile.NamedTemporaryFile(prefix="fer-upload-", suffix=suffix, delete=False) as f:
            f.write(upload.getbuffer())
        state.upload_id, state.upload_path = upload.file_id, Path(f.name)
    problem = rtc.probe_video(state.upload_path)
    return (None, problem) if problem else (state.upload_path, None)


def discard_upload(state: LiveState) -> None:
    if state.upload_path is not None:
        state.upload_path.unlink(missing_ok=True)
    state.upload_id = state.upload_path = None
