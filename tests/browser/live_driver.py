"""Drive the live page in a real browser and measure what only real processing produces.

Shared by the browser tests and bench/live_page.py. An init script (runs in every frame, so also in
the streamer's iframe) keeps every RTCPeerConnection for getStats(), notes when START is clicked,
and watches the returned <video>: a frame with coloured pixels is an annotated one, because the
fake camera is gray (see fake_camera.py).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

INIT_SCRIPT = r"""
(() => {
  if (window.__fer) return;
  const fer = window.__fer = {pcs: [], start: null, firstAnnotated: null, annotated: 0, sampled: 0};
  const Orig = window.RTCPeerConnection;
  if (Orig) {
    const Wrapped = function (...args) { const pc = new Orig(...args); fer.pcs.push(pc); return pc; };
    Wrapped.prototype = Orig.prototype;
    Object.setPrototypeOf(Wrapped, Orig);
    window.RTCPeerConnection = Wrapped;
  }
  fer.stats = async () => {
    const out = {framesDecoded: 0, framesReceived: 0, framesPerSecond: 0};
    for (const pc of fer.pcs) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach(r => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') {
          out.framesDecoded += r.framesDecoded || 0;
          out.framesReceived += r.framesReceived || 0;
          out.framesPerSecond = Math.max(out.framesPerSecond, r.framesPerSecond || 0);
        }
      });
    }
    return out;
  };
  // What the session actually negotiated, from the browser's own stats: codec and frame size each way.
  fer.negotiated = async () => {
    const out = {};
    for (const pc of fer.pcs) {
      if (pc.connectionState === 'closed') continue;
      const reports = await pc.getStats(), byId = {};
      reports.forEach(r => { byId[r.id] = r; });
      reports.forEach(r => {
        if ((r.type === 'inbound-rtp' || r.type === 'outbound-rtp') && r.kind === 'video') {
          const codec = byId[r.codecId] || {};
          out[r.type === 'inbound-rtp' ? 'inbound' : 'outbound'] = {
            mimeType: codec.mimeType || null, sdpFmtpLine: codec.sdpFmtpLine || null,
            frameWidth: r.frameWidth || null, frameHeight: r.frameHeight || null,
            framesPerSecond: r.framesPerSecond || null,
            implementation: r.encoderImplementation || r.decoderImplementation || null,
            targetBitrate: r.targetBitrate || null};
        }
      });
    }
    return out;
  };
  // The camera stream the page got, kept in a hidden <video>: the "local preview" that the returned
  // video's frame code is compared with (frame_code.py).
  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = async (c) => {
      const stream = await gum(c);
      if (stream.getVideoTracks().length) {
        const v = document.createElement('video');
        v.muted = true; v.autoplay = true; v.playsInline = true; v.srcObject = stream; v.__ferLocal = true;
        v.style.cssText = 'position:fixed;left:-10000px;width:64px;height:48px';
        (document.body || document.documentElement).appendChild(v);
        v.play().catch(() => {});
        fer.local = v;
      }
      return stream;
    };
  }
  window.addEventListener('click', e => {  // window: the iframe's first document is replaced, its window is not
    const b = e.target && e.target.closest && e.target.closest('button');
    if (b && /start/i.test(b.textContent || '') && fer.start === null) fer.start = performance.now();
  }, true);
  const W = 320, H = 240;
  const canvas = document.createElement('canvas'); canvas.width = W; canvas.height = H;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const watch = (video) => {
    let last = 0;
    const step = () => {
      // At most 10 samples a second: enough to see annotations, light on a busy renderer.
      if (video.videoWidth && performance.now() - last >= 100) {
        last = performance.now();
        g.drawImage(video, 0, 0, W, H);
        const d = g.getImageData(0, 0, W, H).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          const mx = Math.max(d[i], d[i + 1], d[i + 2]), mn = Math.min(d[i], d[i + 1], d[i + 2]);
          if (mx - mn > 60) n++;
        }
        fer.sampled++;
        if (n > 40) { fer.annotated++; if (fer.firstAnnotated === null) fer.firstAnnotated = performance.now(); }
      }
      video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
  };
  // Progress clocks kept in the page, so a stall is measured by the page's own clock, not by how often
  // a (possibly CPU-starved) test process gets round to reading it: the longest time a counter did not
  // rise. Top document: the panel's processed-frame count; the streamer's iframe: decoded frames.
  fer.progress = {};
  fer.track = (name, value) => {
    const now = Date.now(), p = fer.progress[name];
    if (!p || value < p.value) { fer.progress[name] = {value, lastRise: now, maxGap: 0}; return; }  // new stream
    if (value > p.value) { p.maxGap = Math.max(p.maxGap, now - p.lastRise); p.value = value; p.lastRise = now; }
  };
  fer.takeGaps = () => {  // longest gap (s) of each counter since the last call, the current one included
    const now = Date.now(), out = {};
    for (const [k, p] of Object.entries(fer.progress)) { out[k] = Math.max(p.maxGap, now - p.lastRise) / 1000; p.maxGap = 0; }
    return out;
  };
  setInterval(() => {
    for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
      const m = /Frames processed: (\d+)/.exec(el.textContent || '');
      if (m) { fer.track('processed', +m[1]); break; }
    }
  }, 250);
  setInterval(() => {
    if (fer.pcs.length) fer.stats().then(s => { if (s.framesDecoded) fer.track('decoded', s.framesDecoded); });
  }, 500);
  setInterval(() => document.querySelectorAll('video').forEach(v => {
    if (!v.__ferWatched && !v.__ferLocal) { v.__ferWatched = true; watch(v); }
  }), 100);
})();
"""

FRAMES_RE = re.compile(r"Frames processed: (\d+)")
#: The line fer.stream.live logs for a gap of PAUSE_LOG_S or more between two processed frames of a stream.
PAUSE_RE = re.compile(r"live stream [0-9a-f]+: no frame processed for ([0-9.]+) s")
FACE_RE = re.compile(r"Face #(\d+): (\w+)")


@dataclass
class PanelReading:
    """One look at the side panel."""
    processed: int | None
    fps: float | None
    latency_ms: float | None
    faces: dict[int, str] = field(default_factory=dict)


def new_page(browser):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    context.add_init_script(INIT_SCRIPT)
    # Generous: a CI machine busy with other work can take many seconds per click.
    context.set_default_timeout(60_000)
    return context.new_page()


def streamer_frame(page, timeout_s: float = 120.0):
    """The streamlit-webrtc iframe (its URL contains 'webrtc') once its START button is visible."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "webrtc" in frame.url:
                try:
                    frame.get_by_role("button", name="Start").wait_for(state="visible", timeout=500)
                    return frame
                except Exception:  # Playwright's TimeoutError, or the frame was replaced
                    pass
        page.wait_for_timeout(100)
    raise TimeoutError(f"no START button in a webrtc iframe within {timeout_s:.0f} s")


def open_live_page(page, url: str, timeout_s: float = 120.0) -> tuple[object, float]:
    """Open the app; return (the streamer iframe, seconds from navigation to START visible)."""
    t0 = time.monotonic()
    page.goto(url, wait_until="commit")
    frame = streamer_frame(page, timeout_s)
    return frame, time.monotonic() - t0


def press(frame, name: str) -> None:
    frame.get_by_role("button", name=name).click()


def stats(frame) -> dict:
    return frame.evaluate("window.__fer.stats()")


def negotiated(frame) -> dict:
    """{"inbound": {...}, "outbound": {...}}: the codec (mimeType, sdpFmtpLine), frame size, fps and
    codec implementation of the video each way, as the browser's getStats() reports them."""
    return frame.evaluate("window.__fer.negotiated()")


def annotation(frame) -> dict:
    """{start, firstAnnotated (ms, the iframe's clock), annotated, sampled} from the video watcher."""
    return frame.evaluate("({start: __fer.start, firstAnnotated: __fer.firstAnnotated, "
                          "annotated: __fer.annotated, sampled: __fer.sampled})")


PANEL_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const metrics = {};
  document.querySelectorAll('[data-testid="stMetric"]').forEach(m => {
    const label = m.querySelector('[data-testid="stMetricLabel"]');
    const value = m.querySelector('[data-testid="stMetricValue"]');
    if (label && value) metrics[label.innerText.trim()] = value.innerText.trim();
  });
  return {text: main ? main.innerText : '', metrics};
}"""


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def read_panel(page) -> PanelReading:
    """One consistent snapshot of the panel (read in a single script, so a redraw can't split it)."""
    snap = page.evaluate(PANEL_JS)
    m = FRAMES_RE.search(snap["text"])
    return PanelReading(int(m.group(1)) if m else None, _number(snap["metrics"].get("Processed fps")),
                        _number(snap["metrics"].get("Latency (ms)")),
                        {int(i): lab for i, lab in FACE_RE.findall(snap["text"])})


def wait_processed(page, at_least: int, timeout_s: float = 120.0) -> PanelReading:
    """Poll the panel until it reports ``at_least`` processed frames."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = read_panel(page)
        except Exception:  # the page is mid-rerun
            last = None
        if last and last.processed is not None and last.processed >= at_least:
            return last
        page.wait_for_timeout(250)
    raise TimeoutError(f"the page never reported {at_least} processed frames (last reading: {last})")


def sample_panel(page, seconds: float, every_s: float = 0.5) -> list[PanelReading]:
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out.append(read_panel(page))
        except Exception:
            pass
        page.wait_for_timeout(int(every_s * 1000))
    return out


#: After the CSV button is enabled, wait this long before clicking: a script rerun that STOP or START
#: set off replaces the button's deferred file, and a click landing on the replaced one gets
#: Streamlit's "Deferred file ... not found".
DOWNLOAD_SETTLE_MS = 1000


def download_csv(page, timeout_s: float = 60.0) -> str:
    """Click the CSV download button, once it is enabled and the page has settled, and return the file's text."""
    button = page.get_by_role("button", name="Download session (CSV)")
    deadline = time.monotonic() + timeout_s
    while not button.is_enabled() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.wait_for_timeout(DOWNLOAD_SETTLE_MS)
    with page.expect_download(timeout=timeout_s * 1000) as info:
        button.click()
    path = info.value.path()
    with open(path, encoding="utf-8") as f:
        return f.read()


def choose_video_file(page, path, timeout_s: float = 120.0):
    """Switch the source to an uploaded file and upload ``path``; return the new streamer iframe."""
    page.get_by_test_id("stRadioGroup").get_by_text("Video file", exact=True).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    # The camera iframe goes away and the file streamer's iframe takes its place.
    page.wait_for_timeout(500)
    return streamer_frame(page, timeout_s)


# --- several sessions at once (tests/browser/test_concurrent_sessions.py, bench/soak.py) ----------

@dataclass
class Tick:
    """One look at one session while several stream."""
    t: float                      # seconds since watching began
    reading: PanelReading | None  # None: the panel could not be read (the page was mid-rerun)
    frames_decoded: int | None    # returned frames the browser decoded so far (None: not read)


@dataclass
class Session:
    """One browser context (its own cookies, so its own Streamlit session) on the live page."""
    name: str
    page: object
    frame: object
    start_visible_s: float
    ticks: list[Tick] = field(default_factory=list)
    #: (time.monotonic(), state) of every peer-connection state change streamlit-webrtc's frontend
    #: logged; it ends the stream on "disconnected", "failed" or "closed".
    connection_states: list[tuple[float, str]] = field(default_factory=list)
    watch_t0: float | None = None  # time.monotonic() when watching began
    #: Longest stalls the page's own clock saw during the last watch (s): "processed" (the panel's
    #: count) and "decoded" (returned frames); see ``take_gaps``.
    gaps: dict[str, float] = field(default_factory=dict)

    def connection_log(self) -> list[tuple[float, str]]:
        """The connection state changes, timed in seconds since watching began (negative: before)."""
        t0 = self.watch_t0 if self.watch_t0 is not None else 0.0
        return [(round(t - t0, 1), state) for t, state in self.connection_states]


def open_sessions(browser, url: str, n: int, timeout_s: float = 180.0) -> list[Session]:
    """``n`` live pages, each in a new browser context, each waited for until its START shows."""
    sessions = []
    for i in range(n):
        page = new_page(browser)
        session = Session(f"session {i + 1}", page, None, 0.0)

        def on_console(msg, s=session):
            text = msg.text
            if text.startswith("connectionstatechange"):
                s.connection_states.append((time.monotonic(), text.split(" ", 1)[-1]))

        page.on("console", on_console)  # the streamer iframe's console.debug lines come here too
        session.frame, session.start_visible_s = open_live_page(page, url, timeout_s)
        sessions.append(session)
    return sessions


def server_pauses_s(server_log: str) -> list[float]:
    """The gaps between processed frames (s) that the server logged, by its own clock."""
    return [float(x) for x in PAUSE_RE.findall(server_log)]


def take_gaps(session: Session) -> dict[str, float]:
    """The longest time (s) each progress counter did not rise since the last call, by the page's own
    clock: "processed" from the panel, "decoded" from the streamer's peer connection."""
    out = {}
    for where in (session.page, session.frame):
        try:
            out.update(where.evaluate("window.__fer.takeGaps()"))
        except Exception:  # the document is being replaced; the counter is read next time
            pass
    return {k: round(v, 2) for k, v in out.items()}


def watch_sessions(sessions: list[Session], seconds: float, every_s: float = 1.0, on_tick=None) -> None:
    """Read every session's panel and browser frame count every ``every_s`` for ``seconds``,
    appending a Tick to each; ``on_tick(t)`` is called after each round (e.g. to sample RSS).
    Each session's ``gaps`` gets the longest stalls its page measured during the watch."""
    t0 = time.monotonic()
    for s in sessions:
        s.watch_t0 = t0
        take_gaps(s)  # start the pages' stall clocks afresh
    due = t0
    while time.monotonic() - t0 < seconds:
        for s in sessions:
            try:
                reading = read_panel(s.page)
            except Exception:  # mid-rerun, or the page is busy
                reading = None
            try:
                decoded = int(stats(s.frame)["framesDecoded"])
            except Exception:
                decoded = None
            s.ticks.append(Tick(round(time.monotonic() - t0, 2), reading, decoded))
        if on_tick is not None:
            on_tick(time.monotonic() - t0)
        due += every_s
        sessions[0].page.wait_for_timeout(max(0.0, due - time.monotonic()) * 1000)
    for s in sessions:
        s.gaps = take_gaps(s)


def _processed(tick: Tick) -> int | None:
    return tick.reading.processed if tick.reading is not None else None


def longest_stall_s(ticks: list[Tick], count=_processed) -> float:
    """The longest time a counter (default: the panel's processed frames) did not rise: from a reading
    where it rose (or the first tick) to the next reading above it (or the last tick). Unreadable
    ticks count as no progress."""
    if not ticks:
        return 0.0
    last_rise, best, longest = ticks[0].t, None, 0.0
    for tick in ticks:
        value = count(tick)
        if value is None:
            continue
        if best is None:
            best, last_rise = value, ticks[0].t
        elif value > best:
            longest = max(longest, tick.t - last_rise)
            best, last_rise = value, tick.t
    return round(max(longest, ticks[-1].t - last_rise), 2)


def summarise(ticks: list[Tick]) -> dict:
    """Medians of the panel's processed fps and latency, the processing rate its frame counts imply,
    the rate of returned frames the browser decoded, and the longest stalls of processing (panel)
    and of the returned video (browser)."""
    import statistics
    readings = [(t.t, t.reading) for t in ticks if t.reading is not None and t.reading.processed is not None]
    fps = [r.fps for _, r in readings if r.fps is not None]
    latency = [r.latency_ms for _, r in readings if r.latency_ms is not None]
    counted = None
    if len(readings) >= 2 and readings[-1][0] > readings[0][0]:
        counted = (readings[-1][1].processed - readings[0][1].processed) / (readings[-1][0] - readings[0][0])
    decoded = [(t.t, t.frames_decoded) for t in ticks if t.frames_decoded is not None]
    returned = None
    if len(decoded) >= 2 and decoded[-1][0] > decoded[0][0]:
        returned = (decoded[-1][1] - decoded[0][1]) / (decoded[-1][0] - decoded[0][0])
    return {
        "median_fps": round(statistics.median(fps), 1) if fps else 0.0,
        "min_fps": round(min(fps), 1) if fps else 0.0,
        "counted_fps": round(counted, 1) if counted is not None else 0.0,
        "median_latency_ms": round(statistics.median(latency), 1) if latency else None,
        "returned_fps": round(returned, 1) if returned is not None else 0.0,  # frames the browser decoded
        "processed": readings[-1][1].processed if readings else 0,
        "readings": len(readings), "ticks": len(ticks),
        "longest_stall_s": longest_stall_s(ticks),
        "longest_video_stall_s": longest_stall_s(ticks, lambda t: t.frames_decoded),
    }
