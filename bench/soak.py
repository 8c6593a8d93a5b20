"""Soak the live page: several browser sessions stream at once from one `streamlit run app.py` for
minutes, the way tests/browser/test_concurrent_sessions.py does for 30 s in CI.

One server, ``--sessions`` headless Chromium contexts (separate Streamlit sessions) with a fake
30 fps 640x480 camera of one real happy face, all START, stream for ``--minutes``, all STOP.
Prints every ``--report-every`` seconds each session's processed fps and latency (panel medians
over that interval), its processed-frame rate from the panel's counts, its longest stall in the
interval, and the server's RSS; then a table for the whole run; the last line is JSON.

    python bench/soak.py                      # 3 sessions, 10 minutes
    python bench/soak.py --minutes 2 --sessions 3

Runs in a loopback-only network namespace when started as root (as the browser tests do).
Figures measured while something else loads the CPU (e.g. training) say little about the product.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from live_page import build_videos  # bench/live_page.py; also puts the repo and tests/browser on sys.path

import live_driver as drive  # noqa: E402
import support  # noqa: E402

WARM_UP_FRAMES = 30
#: A session whose processed-frame count does not rise for this long has stalled (the page's own
#: definition, pages/live.py STALL_S, as in tests/browser/test_concurrent_sessions.py).
STALL_S = 4.0


def keep_worst(worst: dict[str, float], gaps: dict[str, float]) -> None:
    """Raise each of ``worst``'s longest stalls to ``gaps``' where that is longer."""
    for k, v in gaps.items():
        worst[k] = max(v, worst.get(k, 0.0))


def interval_line(sessions: list[drive.Session], since: float, until: float, rss_mb: float,
                  gaps: dict[str, dict[str, float]]) -> str:
    """One report line; ``gaps``: each session's longest stalls in the interval by its page's clock."""
    parts = []
    for s in sessions:
        ticks = [t for t in s.ticks if since <= t.t <= until]
        x = drive.summarise(ticks)
        g = gaps.get(s.name, {})
        parts.append(f"{s.name}: {x['median_fps']:5.1f} fps ({x['counted_fps']:5.1f} counted, "
                     f"{x['returned_fps']:4.1f} returned) "
                     f"{x['median_latency_ms'] or 0:5.0f} ms stall {g.get('processed', -1):.1f} s "
                     f"(video {g.get('decoded', -1):.1f} s)")
    return f"{until:6.0f} s | " + " | ".join(parts) + f" | RSS {rss_mb:.0f} MB"


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in support.process_group_members(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by the live descendants of ``root`` (here: the server, the Playwright
    driver and Chromium), so the rest of the machine's load can be told apart."""
    children: dict[int, list[int]] = {}
    times: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = int(fields[11]) + int(fields[12])
    total, todo = 0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / os.sysconf("SC_CLK_TCK"), sum(v) / os.sysconf("SC_CLK_TCK")


def soak(playwright, video: Path, sessions: int, seconds: float, report_every: float, every_s: float) -> dict:
    browser = support.launch_chromium(playwright, video)
    try:
        with support.streamlit_server() as url:
            opened = drive.open_sessions(browser, url, sessions)
            for s in opened:
                s.page.get_by_text("Not streaming.").wait_for(timeout=180_000)  # the model is loaded
            mappings_loaded = support.group_file_mappings(url.pgid, "model.tflite")
            rss_before = support.group_rss_mb(url.pgid)
            for s in opened:
                drive.press(s.frame, "Start")
            for s in opened:
                drive.wait_processed(s.page, WARM_UP_FRAMES, timeout_s=180)
            rss = [(0.0, support.group_rss_mb(url.pgid))]
            cpu0, busy0, wall0 = group_cpu_s(url.pgid), machine_busy_s(), time.monotonic()
            tree0 = tree_cpu_s(os.getpid())
            print(f"{sessions} sessions streaming; server RSS {rss_before:.0f} MB before START, "
                  f"{rss[0][1]:.0f} MB after warm-up; model.tflite mappings {mappings_loaded}", flush=True)
            state = {"reported": 0.0, "cpu": (machine_busy_s()[0], tree_cpu_s(os.getpid()), time.monotonic())}
            worst: dict[str, dict[str, float]] = {s.name: {} for s in opened}  # longest page-clock stalls

            def on_tick(t: float) -> None:
                if t - rss[-1][0] >= 5.0:
                    rss.append((round(t, 1), support.group_rss_mb(url.pgid)))
                if t - state["reported"] >= report_every:
                    busy, ours, at = machine_busy_s()[0], tree_cpu_s(os.getpid()), time.monotonic()
                    b0, o0, a0 = state["cpu"]
                    mine, others = (ours - o0) / (at - a0), (busy - b0 - ours + o0) / (at - a0)
                    cpu = f" | cores: this run {mine:.2f}, others {max(0.0, others):.2f}"
                    gaps = {s.name: drive.take_gaps(s) for s in opened}
                    for name, g in gaps.items():
                        keep_worst(worst[name], g)
                    print(interval_line(opened, state["reported"], t, rss[-1][1], gaps) + cpu, flush=True)
                    state["reported"], state["cpu"] = t, (busy, ours, at)

            log_from = len(url.log())
            drive.watch_sessions(opened, seconds, every_s=every_s, on_tick=on_tick)
            pauses = drive.server_pauses_s(url.log()[log_from:])
            for s in opened:  # the stretch after the last report
                keep_worst(worst[s.name], s.gaps)
            rss.append((round(seconds, 1), support.group_rss_mb(url.pgid)))
            wall = time.monotonic() - wall0
            server_cores = (group_cpu_s(url.pgid) - cpu0) / wall
            ours_cores = (tree_cpu_s(os.getpid()) - tree0) / wall
            busy1 = machine_busy_s()
            machine_cores = (busy1[0] - busy0[0]) / wall
            mappings_end = support.group_file_mappings(url.pgid, "model.tflite")
            for s in opened:
                drive.press(s.frame, "Stop")
            for s in opened:
                s.page.get_by_text("Last session:").wait_for(timeout=60_000)
            for s in opened:
                s.page.context.close()
            pgid, port = url.pgid, url.rsplit(":", 1)[1]
            traceback = "Traceback" in url.log()
    finally:
        browser.close()
    mb = [m for _, m in rss]
    return {
        "sessions": {s.name: {**drive.summarise(s.ticks),
                              "page_stall_s": worst[s.name],
                              "start_visible_s": round(s.start_visible_s, 1)} for s in opened},
        "seconds": seconds,
        # gaps of fer.stream.live.PAUSE_LOG_S or more between two processed frames of a stream, by the server's clock
        "server_pauses_s": pauses,
        "rss_mb": {"before_start": round(rss_before, 1), "start": round(mb[0], 1), "end": round(mb[-1], 1),
                   "max": round(max(mb), 1), "growth": round(mb[-1] - mb[0], 1)},
        "model_mappings": {"loaded": mappings_loaded, "end": mappings_end},
        # Cores in use while streaming: the server's own, and the whole machine's (Chromium, the
        # driver and anything else running). On 2 cores, machine ~2.0 means the streams were CPU-bound.
        # "browser": Chromium and the Playwright driver; "others": every process this run did not start
        # (a large figure means the run was measured on a busy machine).
        "cpu_cores": {"server": round(server_cores, 2), "browser": round(ours_cores - server_cores, 2),
                      "others": round(max(0.0, machine_cores - ours_cores), 2),
                      "machine": round(machine_cores, 2), "machine_total": os.cpu_count()},
        "server_log_traceback": traceback,
        "leftover_processes": support.processes_with_arg(f"--server.port={port}")
        + (support.process_group_members(pgid) if support.process_group_alive(pgid) else []),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="streaming time after warm-up")
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--report-every", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--sample-every", type=float, default=1.0, help="seconds between looks at each panel")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    if not support.in_loopback_only_netns():
        try:
            support.enter_loopback_netns()
        except OSError as e:
            print(f"note: staying on the host network ({e})", file=sys.stderr)
    from playwright.sync_api import sync_playwright
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fer-soak-") as tmp:
        video = build_videos([1], Path(tmp))[1]
        with sync_playwright() as p:
            result = soak(p, video, args.sessions, args.minutes * 60, args.report_every, args.sample_every)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    print("\nsession | median fps | min fps | counted fps | returned fps | latency ms | processed | "
          "longest stall s (page clock) | video stall s (page clock) | longest gap between this bench's reads s")
    for name, s in result["sessions"].items():
        g = s["page_stall_s"]
        print(f"{name} | {s['median_fps']} | {s['min_fps']} | {s['counted_fps']} | {s['returned_fps']} | "
              f"{s['median_latency_ms']} | {s['processed']} | {g.get('processed')} | {g.get('decoded')} | "
              f"{s['longest_stall_s']}")
    stalled = [n for n, s in result["sessions"].items() if max(s["page_stall_s"].values(), default=0) >= STALL_S]
    print(f"sessions whose page saw a stall of {STALL_S:.0f} s or more: {', '.join(stalled) or 'none'}; "
          f"gaps of 1 s or more between processed frames by the server's clock: {result['server_pauses_s'] or 'none'}")
    r = result["rss_mb"]
    print(f"server RSS: {r['before_start']} MB before START, {r['start']} after warm-up, {r['end']} at the end, "
          f"max {r['max']}, growth {r['growth']} MB; model.tflite mappings {result['model_mappings']}; "
          f"leftover processes {result['leftover_processes']}")
    c = result["cpu_cores"]
    print(f"cores busy while streaming: server {c['server']}, browser {c['browser']}, other processes "
          f"{c['others']}; whole machine {c['machine']} of {c['machine_total']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
