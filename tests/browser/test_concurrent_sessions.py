"""Three browser sessions stream the live page at once from one `streamlit run app.py` server.

One run (module fixture): three browser contexts (three Streamlit sessions) open the live page with
the fake camera of a real happy face, all press START, stream together for ``FER_CONCURRENT_WATCH_S``
seconds (30 by default) while each panel is read every second and the server's memory every few
seconds, then all press STOP and the server is shut down. The tests assert on what that run recorded.
The 10-minute version of the same run is ``python bench/soak.py``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import pytest

import live_driver as drive
import support

pytestmark = pytest.mark.browser

SESSIONS = 3
#: Streaming time after warm-up, in seconds (CI default; raise it locally to soak longer).
WATCH_S = float(os.environ.get("FER_CONCURRENT_WATCH_S", "30"))
#: Each session must have processed this many frames before watching starts.
WARM_UP_FRAMES = 30
#: The target per session on this machine ...
TARGET_FPS = 20.0
#: ... or, when 2 cores can't give three streams that, an even share: the slowest session's median fps
#: at least this fraction of the fastest's (one session getting less than 60 % of another's rate is
#: being starved, not sharing) and never below FLOOR_FPS. Here Chromium's three tabs (each encoding its
#: fake camera and decoding the returned video) take over a core of the 2, and three sessions measured
#: 8-11 fps each, one session alone 30 fps: the floor catches a collapse, not a slow machine. On a
#: busier 2-core machine three sessions measured 3.6-4.7 fps each (a 4.0 floor failed 2 runs in 3):
#: the floor is 3.
EVEN_RATIO = 0.6
FLOOR_FPS = 3.0
#: A session whose processed-frame count does not rise for this long has stalled: the page's own
#: definition (pages/live.py STALL_S, after which it tells the user). The panel is read once a second
#: and redrawn every 0.4 s; with the 2 cores saturated the longest gaps measured were 2.0-2.3 s.
STALL_S = 4.0
#: Server memory growth allowed over the watch (ConcurrentRun.rss_trend_mb).
RSS_GROWTH_MB = 50.0
RSS_EVERY_S = 2.0


def _network_files() -> list[str]:
    """The network files the default model serves from: its own ``model.tflite``, or for an ensemble
    each member's (as ``NAME/model.tflite``, the end of the mapped path)."""
    from fer.classify.model import resolve_model
    info = resolve_model(None)
    members = (info.metadata.get("ensemble") or {}).get("members")
    return [f"{m['model']}/model.tflite" for m in members] if members else [f"{info.name}/model.tflite"]


MODEL_FILES = _network_files()
#: streamlit-webrtc's frontend ends the stream on these peer-connection states.
ENDED_STATES = ("disconnected", "failed", "closed")


@dataclass
class ConcurrentRun:
    sessions: list[drive.Session] = field(default_factory=list)
    summaries: dict[str, dict] = field(default_factory=dict)
    model_mappings_loaded: int = -1
    model_mappings_end: int = -1
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds since watching began, MB)
    rss_before_start_mb: float = 0.0
    #: sessions whose browser reported the peer connection ended before STOP was pressed
    stopped_before_stop: list[str] = field(default_factory=list)
    stop_click_failed: list[str] = field(default_factory=list)
    status_after_stop: dict[str, str] = field(default_factory=dict)
    processed_after_stop: dict[str, list[int | None]] = field(default_factory=dict)
    group_alive_after_exit: bool = True
    leftover_pids: list[int] = field(default_factory=list)
    server_log: str = ""
    #: Gaps between two processed frames of one stream while watching, as the server logged them
    #: (fer.stream.live logs every gap of PAUSE_LOG_S or more).
    pauses_s: list[float] = field(default_factory=list)

    @property
    def rss_growth_mb(self) -> float:
        """The end-of-watch RSS minus the end-of-warm-up RSS."""
        return self.rss[-1][1] - self.rss[0][1]

    @property
    def rss_trend_mb(self) -> float:
        """Growth over the watch along the least-squares line through every sample: the allocator's
        ups and downs of +-40 MB from one sample to the next (frames of three streams in flight,
        glibc's per-thread arenas) cancel out, while a leak (the unbounded relay's ~200 MB a minute)
        shows in full."""
        ts, mbs = [t for t, _ in self.rss], [mb for _, mb in self.rss]
        mt, mm = sum(ts) / len(ts), sum(mbs) / len(mbs)
        var = sum((t - mt) ** 2 for t in ts)
        slope = sum((t - mt) * (mb - mm) for t, mb in zip(ts, mbs)) / var if var else 0.0
        return slope * (ts[-1] - ts[0])


def _stream(browser, url, run: ConcurrentRun) -> None:
    run.sessions = drive.open_sessions(browser, url, SESSIONS)
    for s in run.sessions:
        # Shown only once the page's script has loaded the model (pages/live.py), before any START.
        s.page.get_by_text("Not streaming.").wait_for(timeout=180_000)
    run.model_mappings_loaded = max(support.group_file_mappings(url.pgid, f) for f in MODEL_FILES)
    run.rss_before_start_mb = support.group_rss_mb(url.pgid)
    for s in run.sessions:
        drive.press(s.frame, "Start")
    for s in run.sessions:
        drive.wait_processed(s.page, WARM_UP_FRAMES, timeout_s=180)
    run.rss.append((0.0, support.group_rss_mb(url.pgid)))

    def sample_rss(t: float) -> None:
        if t - run.rss[-1][0] >= RSS_EVERY_S:
            run.rss.append((round(t, 1), support.group_rss_mb(url.pgid)))

    log_from = len(url.log())
    drive.watch_sessions(run.sessions, WATCH_S, on_tick=sample_rss)
    run.pauses_s = drive.server_pauses_s(url.log()[log_from:])
    run.rss.append((WATCH_S, support.group_rss_mb(url.pgid)))
    run.model_mappings_end = min(support.group_file_mappings(url.pgid, f) for f in MODEL_FILES)
    run.summaries = {s.name: {**drive.summarise(s.ticks), "page_stall_s": s.gaps} for s in run.sessions}
    for s in run.sessions:
        if any(state in ENDED_STATES for _, state in s.connection_states):
            run.stopped_before_stop.append(s.name)
        try:  # generous: with the cores saturated a page can take seconds to act on a click
            s.frame.get_by_role("button", name="Stop").click(timeout=60_000)
        except Exception:  # no STOP button: "Last session:" below fails with the reason
            run.stop_click_failed.append(s.name)
    for s in run.sessions:
        s.page.get_by_text("Last session:").wait_for(timeout=60_000)
        run.status_after_stop[s.name] = s.page.locator('[data-testid="stMain"]').inner_text()
    for _ in range(3):  # nothing may be processed once stopped
        for s in run.sessions:
            run.processed_after_stop.setdefault(s.name, []).append(drive.read_panel(s.page).processed)
        time.sleep(0.5)


def _report(run: ConcurrentRun) -> dict:
    rss = [mb for _, mb in run.rss]
    return {"sessions": run.summaries,
            "connection_states": {s.name: s.connection_log() for s in run.sessions},
            "stopped_before_stop": run.stopped_before_stop, "stop_click_failed": run.stop_click_failed,
            "start_visible_s": {s.name: round(s.start_visible_s, 1) for s in run.sessions},
            "rss_mb": {"before_start": round(run.rss_before_start_mb, 1), "after_warm_up": round(rss[0], 1),
                       "end": round(rss[-1], 1), "max": round(max(rss), 1),
                       "growth": round(run.rss_growth_mb, 1),
                       "trend": round(run.rss_trend_mb, 1)} if rss else {},
            "model_mappings": {"loaded": run.model_mappings_loaded, "end": run.model_mappings_end},
            "server_pauses_s": run.pauses_s,
            "watch_s": WATCH_S}


@pytest.fixture(scope="module")
def concurrent_run(chromium_ok, fake_media, tmp_path_factory) -> ConcurrentRun:
    from playwright.sync_api import sync_playwright
    run = ConcurrentRun()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with sync_playwright() as p:
        browser = support.launch_chromium(p, fake_media.camera_y4m)
        try:
            with support.streamlit_server(log_path=log) as url:
                try:
                    _stream(browser, url, run)
                except Exception as e:
                    shots = []
                    for i, s in enumerate(run.sessions):
                        shot = log.with_name(f"session{i + 1}.png")
                        try:
                            s.page.screenshot(path=str(shot), full_page=True)
                            shots.append(str(shot))
                        except Exception:
                            pass
                    states = {s.name: s.connection_log() for s in run.sessions}
                    raise RuntimeError(f"{e}\n(screenshots: {shots})\n(browser connection states, s since "
                                       f"watching began: {states})\n--- server log, last lines ---\n"
                                       + "\n".join(url.log().splitlines()[-40:])) from e
                finally:
                    for s in run.sessions:
                        s.page.context.close()
                server = url
        finally:
            browser.close()
    run.server_log, run.group_alive_after_exit, run.leftover_pids = support.aftermath(server)
    report = _report(run)
    (log.parent / "concurrent.json").write_text(json.dumps(report, indent=2))
    print("\nconcurrent sessions:", json.dumps(report))
    return run


def test_every_session_gets_processed_frames(concurrent_run):
    for name, s in concurrent_run.summaries.items():
        assert s["processed"] > WARM_UP_FRAMES and s["counted_fps"] > 0, (name, s)
        # Nearly every once-a-second look found the panel with its figures.
        assert s["readings"] >= 0.8 * s["ticks"], (name, s)


def test_no_session_stalls(concurrent_run):
    """After warm-up, no stream goes STALL_S seconds without a processed frame (by the server's clock),
    each keeps processing to the end, and no stream ends before STOP."""
    run = concurrent_run
    ended = {s.name: s.connection_log() for s in run.sessions if s.name in run.stopped_before_stop}
    assert not ended, f"streams ended before STOP (browser connection states, s since watching began): {ended}"
    # By the server's clock: every gap between two processed frames of a stream of PAUSE_LOG_S or more
    # is in the server's log. (The browser's view is reported, not asserted: with Chromium's three
    # renderers, the server and this test on 2 cores, the pages' own timers and this test's reads fall
    # seconds behind, so a gap seen from the page can't be told from a starved page.)
    assert max(run.pauses_s, default=0.0) < STALL_S, run.pauses_s
    for name, s in concurrent_run.summaries.items():
        assert s["processed"] > WARM_UP_FRAMES + WATCH_S * FLOOR_FPS / 2, (name, s)  # it kept going to the end


def test_each_session_keeps_20_fps_or_all_degrade_evenly(concurrent_run):
    fps = {name: s["median_fps"] for name, s in concurrent_run.summaries.items()}
    if min(fps.values()) >= TARGET_FPS:
        return
    assert min(fps.values()) >= FLOOR_FPS, fps
    assert min(fps.values()) >= EVEN_RATIO * max(fps.values()), fps


def test_server_memory_grows_less_than_50_mb(concurrent_run):
    assert len(concurrent_run.rss) >= 5, concurrent_run.rss
    assert concurrent_run.rss_trend_mb < RSS_GROWTH_MB, concurrent_run.rss


def test_model_is_loaded_once_for_all_sessions(concurrent_run):
    """Every interpreter LiteRT builds from a path mmaps the model file once, and a Classifier builds
    its batch-1 interpreter when it loads: one mapping after three sessions have each run the page
    (which loads the model before showing "Not streaming.") means one Classifier for all of them;
    a model loaded per session would show three. (Streaming may add one interpreter per other batch
    size the shared Classifier meets, so the count at the end is reported, not pinned.) For an
    ensemble, each member's file is counted: the most-mapped one must be mapped once."""
    assert concurrent_run.model_mappings_loaded == 1, concurrent_run.model_mappings_loaded
    assert concurrent_run.model_mappings_end >= 1, concurrent_run.model_mappings_end  # still loaded


def test_stop_ends_every_session(concurrent_run):
    for name, text in concurrent_run.status_after_stop.items():
        assert "Last session:" in text, (name, text)
    assert len(concurrent_run.processed_after_stop) == SESSIONS
    for name, counts in concurrent_run.processed_after_stop.items():
        assert all(c is None for c in counts), (name, counts)


def test_server_shuts_down_leaving_no_process(concurrent_run):
    assert not concurrent_run.group_alive_after_exit
    assert concurrent_run.leftover_pids == []


def test_server_log_has_no_traceback(concurrent_run):
    assert "Traceback" not in concurrent_run.server_log, concurrent_run.server_log[-3000:]
