"""The live serving path without a browser: no TensorFlow, ICE configuration, the loopback switch,
and the looping file source."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if "tensorflow" in sys.modules and "aiortc" not in sys.modules:
    pytest.skip("TensorFlow is already loaded in this process, and importing aiortc after it crashes",
                allow_module_level=True)
import aiortc  # noqa: E402,F401  at collection time, before any test can load TensorFlow

REPO = Path(__file__).resolve().parents[1]


def test_live_path_serves_frames_without_importing_tensorflow(classifier):
    """TensorFlow next to aiortc crashes the server; the live path must run on LiteRT alone."""
    code = """
import sys, numpy as np
import streamlit_webrtc
from ui import rtc, live_stream, live_panel
from fer.faces.detection import FaceDetector
from fer.stream.live import LiveSession
from fer.classify.model import load_classifier
from fer.pipeline import FramePipeline
session = LiveSession()
session.process(np.full((480, 640, 3), 90, np.uint8), FramePipeline(load_classifier(), FaceDetector()))
assert session.latest().processed == 1
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))
print('IMPORTED', bad)
sys.exit(1 if bad else 0)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_ice_servers_default_to_none(monkeypatch):
    from ui import rtc
    monkeypatch.delenv("FER_ICE_SERVERS", raising=False)
    assert rtc.rtc_configuration() == {"iceServers": []}


def test_ice_servers_come_from_the_environment(monkeypatch):
    from ui import rtc
    servers = [{"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "p"}]
    monkeypatch.setenv("FER_ICE_SERVERS", json.dumps(servers))
    assert rtc.ice_servers() == servers


@pytest.mark.parametrize("raw", ["not json", '{"urls": "stun:x"}', '[{"url": "stun:x"}]'])
def test_bad_ice_configuration_is_a_clear_error(monkeypatch, raw):
    from ui import rtc
    monkeypatch.setenv("FER_ICE_SERVERS", raw)
    with pytest.raises(rtc.ConfigError, match="FER_ICE_SERVERS"):
        rtc.ice_servers()


def test_loopback_switch_makes_aioice_offer_only_127_0_0_1(monkeypatch):
    import aioice.ice
    from ui import rtc
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    rtc.enable_loopback_ice()
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]

    async def host_candidates() -> list[str]:
        conn = aioice.Connection(ice_controlling=False, components=1)
        await conn.gather_candidates()
        hosts = [c.host for c in conn.local_candidates]
        await conn.close()
        return hosts
    assert asyncio.run(host_candidates()) == ["127.0.0.1"]


def _write_video(path: Path, frames: int, fps: int = 30) -> Path:
    import av
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), i * 20 % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def test_file_source_loops_with_increasing_timestamps_at_the_file_rate(tmp_path):
    from ui.rtc import LoopingFileTrack, probe_video
    path = _write_video(tmp_path / "clip.mp4", frames=10)
    assert probe_video(path) is None

    async def play(n: int) -> tuple[list[int], float]:
        track = LoopingFileTrack(path)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        pts = [(await track.recv()).pts for _ in range(n)]
        track.stop()
        return pts, loop.time() - t0
    pts, took = asyncio.run(play(25))  # two and a half passes of the clip
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert 24 / 30 * 0.9 <= took <= 24 / 30 + 1.0


def test_a_file_that_is_not_a_video_is_refused_with_a_reason(tmp_path):
    from ui.rtc import probe_video
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"this is not a video")
    problem = probe_video(bad)
    assert "not a video" in problem
    # words, not FFmpeg's error number, exception class or the upload's temporary path
    assert "Errno" not in problem and "Error" not in problem and str(tmp_path) not in problem, problem
    assert not any(ch.isdigit() for ch in problem), problem


def test_a_video_cut_short_is_refused_in_words(tmp_path):
    from ui.rtc import probe_video
    from fer.config import fer2013_root
    real = sorted((fer2013_root().parent / "videos").glob("*.mp4"))
    if not real:
        pytest.skip("no clip in ../shared/data/videos")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(real[0].read_bytes()[:2000])
    problem = probe_video(cut)
    assert problem and ("not a video we can play" in problem or "no frames" in problem), problem
    assert "Errno" not in problem and str(tmp_path) not in problem, problem


def test_frame_callback_analyses_only_the_newest_frame_and_counts_the_stale_ones(classifier):
    import av

    from fer.faces.detection import FaceDetector
    from fer.pipeline import FramePipeline
    from ui.live_stream import LiveState, make_frame_callback
    state = LiveState(pipeline=FramePipeline(classifier, FaceDetector()))
    callback = make_frame_callback(state)
    frames = [av.VideoFrame.from_ndarray(np.full((480, 640, 3), v, np.uint8), format="bgr24") for v in (10, 20, 30)]
    out = asyncio.run(callback(frames))
    assert len(out) == 1
    assert out[0].to_ndarray(format="bgr24")[240, 320, 0] in range(25, 36)  # the newest frame, not a stale one
    update = state.session.latest()
    assert (update.processed, update.dropped) == (1, 2)


def test_frame_callback_passes_frames_through_until_the_model_is_loaded():
    import av

    from ui.live_stream import LiveState, make_frame_callback
    frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
    assert asyncio.run(make_frame_callback(LiveState())([frame])) == [frame]


def _relay_run(kind: str, relay_class=None) -> tuple[int, int]:
    """A source track that produces 50 frames at once; a consumer that reads one, lets the source run
    ahead, then reads again. Returns the two frames' pts."""
    import av
    from aiortc.mediastreams import MediaStreamTrack

    from ui.rtc import LatestFrameRelay

    class Burst(MediaStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.kind = kind
            self.n = 0

        async def recv(self):
            if self.n >= 50:
                await asyncio.sleep(3600)  # the camera went quiet
            self.n += 1
            await asyncio.sleep(0)
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), self.n, np.uint8), format="bgr24")
            frame.pts = self.n
            return frame

    async def run() -> tuple[int, int]:
        relay = (relay_class or LatestFrameRelay)()
        proxy = relay.subscribe(Burst())
        first = await proxy.recv()
        await asyncio.sleep(0.2)  # the source runs ahead while the consumer (an encoder) is busy
        second = await proxy.recv()
        proxy.stop()
        return first.pts, second.pts

    return asyncio.run(run())


def test_the_relay_hands_a_slow_video_consumer_only_the_newest_frame():
    """streamlit-webrtc relays every track; aiortc's default proxy queues every frame a slow consumer
    has not taken (three streams grew the server by ~200 MB a minute). Ours keeps only the newest
    video frame, and keeps audio (where a gap is audible) queued."""
    from aiortc.contrib.media import MediaRelay
    assert _relay_run("video") == (1, 50)
    assert _relay_run("audio") == (1, 2)  # queued: nothing skipped
    assert _relay_run("video", MediaRelay) == (1, 2)  # aiortc's own: the backlog this replaces

