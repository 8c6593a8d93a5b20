"""Live page: the webcam (or an uploaded video) classified frame by frame, with a live side panel."""
from __future__ import annotations

import time

import streamlit as st

from fer.faces.detectors import detector_label
from fer.classify.model import ModelError
from ui import rtc
from ui.live_stream import (CAMERA_KEY, FILE_KEY, camera_streamer, discard_upload, file_streamer, live_state,
                            release_streamer, store_upload, warm_for_stream)
from ui.resources import get_pipeline
from ui.sidebar import current_settings

#: The side panel is redrawn this often while playing (the issue asks for at least twice a second).
REFRESH_S = 0.4
#: No processed frame for this long while playing means the stream has stalled.
STALL_S = 4.0



def offer_session_csv(slot, state) -> bool:
    """The session's CSV download once the session has recorded a face (before, a file of only its
    header would be all there is to download: the button is shown disabled, saying so). Returns
    whether the live download is offered."""
    if not len(state.session.log):
        slot.download_button("Download session (CSV)", data=b"", disabled=True, key="live_csv_waiting",
                             help="Offered once a session has recorded a face: press START.")
        return False
    # Resolved on click, not now: a START after this run began replaces the session's log.
    slot.download_button("Download session (CSV)", data=lambda: state.session.log.to_csv_bytes(), mime="text/csv",
                         on_click="ignore", file_name="fer-session.csv", key="live_csv",
                         help="Every face seen in the session, none left out: ISO time stamp, seconds since "
                              "START, face id, box, every expression's probability (seven or five, as chosen in "
                              "the sidebar) and the label.")
    return True


st.title("Live expressions")
state = live_state()
video_col, panel_col = st.columns([3, 2], gap="medium")

# The panel's placeholders and the CSV button come first: the button's file is registered at the very
# start of every run. Streamlit drops the previous run's download file when a run ends, so a run cut
# short by the streamer's reruns before reaching a later button would leave the visible one dead
# ("Deferred file not found" on click).
with panel_col:
    slots = {"status": st.empty(), "metrics": st.empty(), "faces": st.empty(), "timeline": st.empty()}
    csv_slot = st.empty()
    csv_offered = offer_session_csv(csv_slot, state)
    if state.session.earlier:
        with st.expander(f"Earlier sessions of this visit ({len(state.session.earlier)})"):
            for i, old in enumerate(reversed(state.session.earlier)):
                st.download_button(old.summary().caption(), data=old.to_csv_bytes, mime="text/csv",
                                   file_name=f"fer-session-{old.started_at:%Y%m%d-%H%M%S}.csv", on_click="ignore",
                                   key=f"live_csv_earlier_{len(state.session.earlier) - i}", icon=":material/download:")

with video_col:
    source = st.radio("Source", ["Camera", "Video file"], horizontal=True, key="live_source",
                      help="A video file (mp4, webm, mov) plays through the same pipeline as the camera.")
    try:
        if source == "Camera":
            release_streamer(FILE_KEY)
            ctx = camera_streamer(state)
            st.caption("Press START and allow the camera. If the browser refused it, allow the camera in the "
                       "address bar's site settings, or pick **Video file** above.")
        else:
            upload = st.file_uploader("Video file", type=list(rtc.VIDEO_TYPES), key="live_upload")
            ctx = None
            release_streamer(CAMERA_KEY)
            if upload is None:
                discard_upload(state)
                st.info("Upload a video (mp4, webm or mov), then press START.")
            else:
                path, problem = store_upload(state, upload)
                if problem:
                    st.error(f"{upload.name}: {problem}")
                else:
                    ctx = file_streamer(state, path)
    except rtc.ConfigError as e:
        st.error(f"WebRTC configuration: {e}")
        st.stop()
    state.session.half_life_s = st.slider(
        "Smoothing half-life (s)", 0.0, 1.0, 0.15, 0.05, key="live_smoothing",
        help="How long an old frame keeps half its weight in each face's probabilities. "
             "0 = off (raw per-frame output). Higher is steadier but reacts later to a real change.")
summary_slot = st.empty()

# Load the model after the streamer is on the page, so START shows up without waiting for it.
settings = current_settings()
if settings.model_name is None:
    st.error("No model to run: models/ holds none. Train one with `python -m fer train ...`.")
    st.stop()
try:
    state.pipeline = get_pipeline(settings.model_name, settings.detector, classes=settings.class_view)
    warm_for_stream(state.pipeline)  # in the background, before START: the first frame finds it ready
except (ModelError, RuntimeError, ValueError) as e:
    state.pipeline = None
    st.error(f"The model could not be loaded: {e}")
    st.stop()
video_col.caption(f"Faces found by {detector_label(state.pipeline.detector.settings.name)}")

# Imported here, not at the top: pandas and Plotly are not needed to show START.
from ui.live_panel import TIMELINE_REFRESH_S, TIMELINE_SPAN_S, render_panel, render_summary  # noqa: E402


playing = ctx is not None and ctx.state.playing
if not playing:
    n = len(state.session.log)
    slots["status"].caption(f"Last session: {n:,} face observations recorded (summary below)." if n
                            else "Not streaming.")
    if n:
        with summary_slot.container():
            render_summary(state.session.log.summary(), key="live-summary-timeline")
    if state.session.log.write_error:
        st.warning(state.session.log.write_error)
    if state.error:
        st.error(state.error)

refresh = 0
last_update, last_seen, last_timeline = None, time.monotonic(), -1e9
while playing and ctx.state.playing:
    update = state.session.latest(timeout=REFRESH_S) or last_update
    now = time.monotonic()
    if update is not last_update:
        last_seen = now
    if state.error:
        slots["status"].error(state.error)
    elif state.session.log.write_error:
        slots["status"].warning(state.session.log.write_error)
    elif update is None:
        slots["status"].info("Connected; waiting for the first processed frame ...")
    elif now - last_seen > STALL_S:
        slots["status"].warning(f"No frame processed for {now - last_seen:.0f} s: the stream may have dropped. "
                                "Press STOP, then START again.")
    else:
        slots["status"].empty()
    if not csv_offered and len(state.session.log):  # the session's first face: now worth offering
        csv_offered = offer_session_csv(csv_slot, state)
    if update is not None and update is not last_update:
        timeline = now - last_timeline >= TIMELINE_REFRESH_S
        rows = state.session.log.since(update.time_s - TIMELINE_SPAN_S) if timeline else None
        render_panel(slots, update, rows, refresh, classes=state.session.log.classes)
        last_timeline = now if timeline else last_timeline
        refresh += 1
    last_update = update
    time.sleep(max(0.0, REFRESH_S - (time.monotonic() - now)))
