"""Two replicas behind nginx (`python deploy/serve.py --replicas 2`), two browsers streaming, one
replica stopped.

Each browser context is its own visitor (its own affinity cookie); contexts are opened until one
lands on each replica (nginx names the replica in ``X-FER-Replica``). Both press START and stream.
Then replica A gets SIGTERM, as a deploy or a crash-looping host would stop it. Asserted: A's viewer
is told what happened, B's stream never stalls meanwhile, and A's viewer, after a reload, is on B and
streams again. Everything deploy/serve.py started is gone afterwards.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import live_driver as drive
import support

pytestmark = pytest.mark.browser

NOTICE = "The server that was running your session"
#: The page's own stall definition (pages/live.py STALL_S).
STALL_S = 4.0
#: B is watched this long before A is stopped, for the stalls of normal streaming on this machine.
BASELINE_S = 8


@dataclass
class Deployment:
    url: str
    proc: subprocess.Popen
    started: list[dict]
    log_path: Path

    def replica_pid(self, addr: str) -> int:
        port = int(addr.rsplit(":", 1)[1])
        return next(s["pid"] for s in self.started if s["name"].startswith("replica") and s["port"] == port)


def start_deployment(tmp: Path, timeout: float = 240.0) -> Deployment:
    port, first = support.free_port(), support.free_port()
    state, log_path = tmp / "state.json", tmp / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CLOUDFLARE_TURN_")) and k != "HF_TOKEN"}
    env.update(FER_ICE_LOOPBACK="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(support.REPO_ROOT / "deploy" / "serve.py"), "--replicas", "2", "--host", "127.0.0.1",
           "--port", str(port), "--first-port", str(first), "--run-dir", str(tmp / "run"), "--state", str(state)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not state.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            support.kill_process_group(proc)
            pytest.fail(f"deploy/serve.py did not come up:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.5)
    return Deployment(f"http://127.0.0.1:{port}", proc, json.loads(state.read_text()), log_path)


def stop_deployment(d: Deployment) -> list[int]:
    """SIGTERM serve.py (it stops what it started); return the pids of its children still alive."""
    if d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    alive = [s["pid"] for s in d.started if support.process_group_alive(s["pid"])]
    for pid in alive:  # leave nothing running, even when the test fails
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    support.kill_process_group(d.proc, grace=1)
    return alive


@dataclass
class Visitor:
    page: object
    frame: object
    replica: str


@dataclass
class Failover:
    visitors: dict[str, Visitor] = field(default_factory=dict)  # "A" (replica stopped), "B"
    processed_before: dict[str, int] = field(default_factory=dict)
    notice_after_s: float | None = None
    b_longest_stall_s: float = 0.0
    b_gaps: dict = field(default_factory=dict)
    b_gaps_before: dict = field(default_factory=dict)
    b_processed_during: int = 0
    reload_replica: str = ""
    notice_after_reload: bool = True
    processed_after_reload: int = 0
    leftover_pids: list[int] = field(default_factory=list)
    log: str = ""
    replica_logs: dict = field(default_factory=dict)
    b_index: int = 0  # replica number of B (its log is replica{b_index}.log)


def open_visitor(browser, url: str) -> Visitor:
    page = drive.new_page(browser)
    response = page.goto(url, wait_until="commit")
    replica = response.headers.get("x-fer-replica", "")
    return Visitor(page, drive.streamer_frame(page, 180), replica)


@pytest.fixture(scope="module")
def failover(fake_media, chromium_ok, tmp_path_factory) -> Failover:
    from playwright.sync_api import sync_playwright
    run = Failover()
    d = start_deployment(tmp_path_factory.mktemp("deploy"))
    try:
        with sync_playwright() as p:
            # Two browser processes, as two viewers on two machines: in one process, the tab that
            # reconnects after its replica stops starves the other's renderer on 2 busy cores.
            browsers = [support.launch_chromium(p, fake_media.camera_y4m) for _ in range(2)]
            try:
                by_replica: dict[str, Visitor] = {}
                for attempt in range(10):  # each new visitor lands on either replica with even odds
                    v = open_visitor(browsers[min(attempt, 1)], d.url)
                    if v.replica in by_replica:
                        v.page.context.close()
                        continue
                    by_replica[v.replica] = v
                    if len(by_replica) == 2:
                        break
                assert len(by_replica) == 2, f"ten visitors all landed on {list(by_replica)}"
                (addr_a, a), (addr_b, b) = sorted(by_replica.items())
                run.visitors = {"A": a, "B": b}
                run.b_index = 1 + sorted(s["port"] for s in d.started if s["name"].startswith("replica")).index(
                    int(addr_b.rsplit(":", 1)[1]))
                for v in (a, b):
                    drive.press(v.frame, "Start")
                for name, v in run.visitors.items():
                    run.processed_before[name] = drive.wait_processed(v.page, 10, 180).processed
                b_session = drive.Session("B", b.page, b.frame, 0.0)
                drive.take_gaps(b_session)  # B's page-side stall clocks: a baseline of normal streaming ...
                b.page.wait_for_timeout(BASELINE_S * 1000)
                run.b_gaps_before = drive.take_gaps(b_session)  # ... then restarted for the failover
                b_start = drive.read_panel(b.page).processed or 0
                os.killpg(d.replica_pid(addr_a), signal.SIGTERM)
                t0 = time.monotonic()
                last_b = b_start
                while time.monotonic() - t0 < 90:
                    try:
                        reading = drive.read_panel(b.page).processed
                    except Exception:  # noqa: BLE001 - mid-rerun
                        reading = None
                    now = time.monotonic()
                    if reading is not None and reading > last_b:
                        last_b = reading
                    if run.notice_after_s is None and a.page.get_by_text(NOTICE).count():
                        run.notice_after_s = round(now - t0, 1)
                    if run.notice_after_s is not None and now - t0 > run.notice_after_s + 3:
                        break
                    a.page.wait_for_timeout(300)
                # By B's page's own clock (this loop also waits on A's page, so its own timing of
                # B's progress would count A's reconnection as B's stall).
                run.b_gaps = drive.take_gaps(b_session)
                run.b_longest_stall_s = run.b_gaps.get("processed", float("inf"))
                run.b_processed_during = last_b - b_start
                response = a.page.reload(wait_until="commit")
                run.reload_replica = response.headers.get("x-fer-replica", "")
                frame = drive.streamer_frame(a.page, 180)
                run.notice_after_reload = bool(a.page.get_by_text(NOTICE).count())
                drive.press(frame, "Start")
                run.processed_after_reload = drive.wait_processed(a.page, 10, 180).processed
            finally:
                for browser in browsers:
                    browser.close()
    finally:
        run.leftover_pids = stop_deployment(d)
        run.log = d.log_path.read_text(errors="replace")
        run.replica_logs = {p.name: p.read_text(errors="replace") for p in (d.log_path.parent / "run").glob("replica*.log")}
    return run


def test_both_replicas_stream(failover):
    assert set(failover.visitors) == {"A", "B"}
    assert failover.visitors["A"].replica != failover.visitors["B"].replica
    assert all(n >= 10 for n in failover.processed_before.values()), failover.processed_before


def test_viewer_of_the_stopped_replica_is_told(failover):
    assert failover.notice_after_s is not None, "no notice within 90 s of stopping the replica"


def test_other_viewer_never_stalls(failover):
    """By B's server's clock (fer.stream.live logs every gap of 1 s or more between two processed frames):
    the pages' own clocks are reported but not asserted, because on 2 saturated cores a starved page
    can't be told from a stalled stream (docs/benchmarks.md, "The live page"); here B's page measured
    up to 9-15 s without a redraw under a training run while its server logged no gap over 1.5 s."""
    assert failover.b_processed_during > 0
    b_log = failover.replica_logs.get(f"replica{failover.b_index}.log", "")
    pauses = drive.server_pauses_s(b_log)
    assert all(p < STALL_S for p in pauses), (pauses, "page-side:", failover.b_gaps, "before:", failover.b_gaps_before)


def test_reload_lands_on_the_other_replica_and_streams(failover):
    assert failover.reload_replica == failover.visitors["B"].replica
    assert not failover.notice_after_reload
    assert failover.processed_after_reload >= 10


def test_nothing_left_running(failover):
    assert failover.leftover_pids == [], failover.log
