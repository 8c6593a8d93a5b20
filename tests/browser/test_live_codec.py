"""What a live session actually negotiated, read from the browser's own WebRTC stats, and the frame
code read back in the browser.

One server (default codec settings, camera asked for 480x360) and one Chromium whose fake camera is
a real clip with the frame counter stamped in (real_footage.py): START, let frames be processed,
then read getStats() from inside the streamer's iframe. The codec each way must be the one the server
prefers (H.264, ui/codecs.py), carrying the sending bitrate its answer asks for, and the frame size
the one the page asked of the camera; the browser's
frame-code reader must read a known stamped frame exactly, and the latency probe must read both the
returned and the local video.
"""
from __future__ import annotations

import base64

import cv2
import pytest

import frame_code
import latency_probe
import live_driver as drive
import real_footage
import support

pytestmark = pytest.mark.browser

CAMERA = (480, 360)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    try:
        return real_footage.build(tmp_path_factory.mktemp("footage") / "clip.y4m", clips=1)
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def session(footage, chromium_ok):
    """(negotiated stats, latency samples, JS reading of a known frame, server log)."""
    from playwright.sync_api import sync_playwright
    env = {"FER_CAMERA": f"{CAMERA[0]}x{CAMERA[1]}@30"}
    known = frame_code.stamp(real_footage.clip_frames(real_footage.clip_paths()[0])[7].copy(), 3001)
    png = base64.b64encode(cv2.imencode(".png", known)[1].tobytes()).decode()
    with sync_playwright() as p, support.streamlit_server(env=env) as url:
        browser = support.launch_chromium(p, footage.y4m)
        try:
            page = drive.new_page(browser)
            page.context.add_init_script(latency_probe.SAMPLER_JS)
            frame, _ = drive.open_live_page(page, url)
            js_known = page.evaluate("""async (png) => {
                const img = new Image(); img.src = 'data:image/png;base64,' + png; await img.decode();
                const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
                c.getContext('2d').drawImage(img, 0, 0);
                return window.__ferReadCode(c);
            }""", png)
            drive.press(frame, "Start")
            drive.wait_processed(page, 15)
            latency_probe.take(frame)
            page.wait_for_timeout(6000)  # the probe samples 5 times a second; a starved renderer fewer
            raw = latency_probe.take(frame)
            negotiated = drive.negotiated(frame)
            drive.press(frame, "Stop")
        finally:
            browser.close()
        log = url.log()
    return negotiated, raw, js_known, log


def test_both_directions_use_the_codec_the_server_prefers(session):
    negotiated = session[0]
    assert negotiated["outbound"]["mimeType"] == "video/H264", negotiated
    assert negotiated["inbound"]["mimeType"] == "video/H264", negotiated
    assert "packetization-mode=1" in negotiated["inbound"]["sdpFmtpLine"]


def test_browser_sends_at_the_bitrate_the_answer_asks_for(session):
    # The answer asks for 800 kbit/s or more, from 1500 (ui/codecs.py). On its own, Chrome starts at
    # 300 and was still near 400 after half a minute on real footage, skipping about one camera frame
    # in thirty. The codec Chrome sends with must carry them. (Its target bitrate itself is no test:
    # Chrome caps it by frame size, and at this camera's 480x360 it read 374-499 kbit/s in runs.)
    out = session[0]["outbound"]
    fmtp = out["sdpFmtpLine"] or ""
    assert "x-google-min-bitrate=800" in fmtp and "x-google-start-bitrate=1500" in fmtp, out
    assert out["targetBitrate"], out


def test_camera_sends_the_size_the_page_asked_for(session):
    negotiated, _, _, _ = session
    out, inb = negotiated["outbound"], negotiated["inbound"]
    assert (out["frameWidth"], out["frameHeight"]) == CAMERA, negotiated
    assert (inb["frameWidth"], inb["frameHeight"]) == CAMERA, negotiated  # processed at that size


def test_browser_reads_a_known_frame_code(session):
    assert session[2] == 3001


def test_latency_probe_reads_both_videos(session, footage):
    _, raw, _, _ = session
    lat = latency_probe.summarise(raw, footage.frames, real_footage.FPS)
    assert lat.samples >= 2, raw
    assert lat.unread <= lat.samples  # the returned frames keep the code through the codec
    assert 0 <= lat.median_ms < 5000, lat
