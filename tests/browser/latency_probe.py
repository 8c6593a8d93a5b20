"""Glass-to-glass latency in the browser: the frame code of the returned video vs the local camera's.

An init script (after live_driver's, which keeps the camera stream in a hidden <video>) reads, a few
times a second and at the same instant, the counter stamped into the local camera frame and into the
frame the server sent back (frame_code.py). The difference, in frames of the fake camera, times its
frame period is the delay a viewer sees from camera to returned picture (plus the few ms of the local
preview's own display path, which this leaves out).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import frame_code

SAMPLER_JS = frame_code.READER_JS + r"""
(() => {
  if (window.__ferLatency) return;
  const lat = window.__ferLatency = {samples: [], unread: 0};
  setInterval(() => {
    const fer = window.__fer;
    if (!fer || !fer.local) return;
    const remote = [...document.querySelectorAll('video')].find(v => !v.__ferLocal && v.videoWidth);
    if (!remote || !fer.local.videoWidth) return;
    const local = window.__ferReadCode(fer.local), returned = window.__ferReadCode(remote);
    if (local === null || returned === null) { lat.unread++; return; }
    lat.samples.push([Date.now(), local, returned]);
    if (lat.samples.length > 5000) lat.samples.splice(0, 1000);
  }, 200);
  lat.take = () => { const s = lat.samples, u = lat.unread; lat.samples = []; lat.unread = 0; return {samples: s, unread: u}; };
})();
"""


@dataclass(frozen=True)
class Latency:
    """Glass-to-glass delay over a window of samples (ms)."""
    samples: int
    unread: int      # samples where a code could not be read (e.g. raw frames before processing)
    median_ms: float | None
    p90_ms: float | None


def take(frame) -> dict:
    """Samples since the last call, from the streamer's iframe: {samples: [[t, local, returned]], unread}."""
    return frame.evaluate("window.__ferLatency ? window.__ferLatency.take() : {samples: [], unread: 0}")


def summarise(raw: dict, period_frames: int, fps: float) -> Latency:
    """Delays of ``raw`` (from ``take``) in ms, given the fake camera's cycle and frame rate."""
    ms = sorted(frame_code.frames_behind(local, returned, period_frames) * 1000 / fps
                for _, local, returned in raw["samples"])
    if not ms:
        return Latency(0, raw["unread"], None, None)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return Latency(len(ms), raw["unread"], round(statistics.median(ms), 1), round(p90, 1))
