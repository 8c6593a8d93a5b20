"""Benchmark the live page the way a user meets it: a real server (deploy/launch.py), headless Chromium
with a fake 30 fps 640x480 camera of 1, 2 and 4 real faces (``--clips``: also the shared real clips,
without colour), START, watch, STOP.

Prints, per face count: START visible after page open, first processed frame after START,
processed fps (the page's own figure), browser fps (inbound-rtp framesPerSecond), pipeline latency,
and the server's RSS at the start and the end (``--minutes 5 --faces 1`` is the memory run).

    python bench/live_page.py                 # 1, 2, 4 faces, 20 s each
    python bench/live_page.py --minutes 5 --faces 1
    python bench/live_page.py --faces 1 --clips --seconds 10
    python bench/live_page.py --faces 1 --seconds 3 --compare-warmup --repeat 3   # START -> first boxed frame,
                                                                                 # cold pipeline vs warmed

Runs in a loopback-only network namespace when started as root (as the browser tests do).
Figures measured while something else loads the CPU (e.g. training) say little about the product.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "browser")]

import fake_camera  # noqa: E402
import live_driver as drive  # noqa: E402
import real_footage  # noqa: E402
import support  # noqa: E402
from support import group_rss_mb  # noqa: E402


@dataclass
class Result:
    faces: int | str  # "clips": the real footage
    start_visible_s: float
    first_processed_s: float | None
    processed_fps: float
    browser_fps: float
    latency_ms: float
    frames_processed: int
    rss_start_mb: float
    rss_end_mb: float
    rss_max_mb: float
    seconds: float


def build_videos(counts: list[int], out: Path) -> dict[int, Path]:
    from fer.faces.detection import FaceDetector
    from fer.classify.model import load_classifier
    picked = fake_camera.pick_faces(load_classifier(), FaceDetector(), "happy", n=max(counts))
    videos = {}
    for n in counts:
        frames = fake_camera.frames([p.image for p in picked[:n]], seconds=5.0)
        videos[n] = fake_camera.write_y4m(out / f"faces{n}.y4m", frames)
    return videos


def run_one(playwright, video: Path, faces: int | str, seconds: float, env: dict | None = None,
            code: Path | None = None) -> Result:
    browser = support.launch_chromium(playwright, video)
    try:
        with support.streamlit_server(env=env, cwd=code) as url:
            page = drive.new_page(browser)
            frame, start_visible = drive.open_live_page(page, url)
            rss_start = group_rss_mb(url.pgid)
            drive.press(frame, "Start")
            drive.wait_processed(page, 1)
            t_end = time.monotonic() + seconds
            readings, browser_fps, rss = [], [], [rss_start]
            next_rss = time.monotonic() + 30
            while time.monotonic() < t_end:
                page.wait_for_timeout(1000)
                try:
                    readings.append(drive.read_panel(page))
                except Exception:
                    pass
                browser_fps.append(drive.stats(frame)["framesPerSecond"])
                if time.monotonic() >= next_rss:
                    rss.append(group_rss_mb(url.pgid))
                    print(f"  {faces} face(s), {seconds - (t_end - time.monotonic()):.0f} s: RSS {rss[-1]:.0f} MB",
                          flush=True)
                    next_rss += 30
            a = drive.annotation(frame)
            rss_end = group_rss_mb(url.pgid)
            drive.press(frame, "Stop")
            page.context.close()
    finally:
        browser.close()
    steady = [r for r in readings[len(readings) // 4:] if r.fps is not None]  # skip the warm-up quarter
    first = (a["firstAnnotated"] - a["start"]) / 1000 if a["firstAnnotated"] and a["start"] else None
    return Result(faces, round(start_visible, 2), None if first is None else round(first, 2),
                  round(statistics.median(r.fps for r in steady), 1) if steady else 0.0,
                  round(statistics.median(browser_fps[len(browser_fps) // 4:]), 1) if browser_fps else 0.0,
                  round(statistics.median(r.latency_ms for r in steady if r.latency_ms is not None), 1)
                  if steady else 0.0,
                  max((r.processed or 0) for r in readings) if readings else 0,
                  round(rss_start, 1), round(rss_end, 1), round(max(rss + [rss_end]), 1), seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, nargs="+", default=[1, 2, 4], choices=[1, 2, 3, 4])
    ap.add_argument("--seconds", type=float, default=20.0, help="streaming time per face count")
    ap.add_argument("--minutes", type=float, help="streaming time per face count, in minutes (memory run)")
    ap.add_argument("--clips", action="store_true",
                    help="also a row with ../shared/data/videos as the camera (gray, so annotations show)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--compare-warmup", action="store_true",
                    help="each run twice, alternately: FER_WARMUP=0 (the pipeline cold until the first frame) and 1")
    ap.add_argument("--compare-code", type=Path, metavar="DIR",
                    help="each run twice, alternately: the server from DIR (another checkout, e.g. a `git worktree` "
                         "of the commit before a change) and from this one")
    ap.add_argument("--repeat", type=int, default=1, help="runs per face count (and per variant compared)")
    args = ap.parse_args()
    seconds = args.minutes * 60 if args.minutes else args.seconds
    if not support.in_loopback_only_netns():
        try:
            support.enter_loopback_netns()
        except OSError as e:
            print(f"note: staying on the host network ({e})", file=sys.stderr)
    from playwright.sync_api import sync_playwright
    results = []
    with tempfile.TemporaryDirectory(prefix="fer-bench-") as tmp:
        videos: dict = build_videos(args.faces, Path(tmp))
        if args.clips:
            videos["clips"] = real_footage.build(Path(tmp) / "clips.y4m", gray=True).y4m
        with sync_playwright() as p:
            for n, video in videos.items():
                if args.compare_warmup:
                    variants = [("cold", {"FER_WARMUP": "0"}, None), ("warm", {"FER_WARMUP": "1"}, None)]
                elif args.compare_code:
                    variants = [(f"code {args.compare_code}", None, args.compare_code), ("this code", None, None)]
                else:
                    variants = [("this code", None, None)]
                firsts: dict[str, list[float]] = {label: [] for label, _, _ in variants}
                for _ in range(args.repeat):
                    for label, env, code in variants:
                        results.append(run_one(p, video, n, seconds, env, code))
                        print(json.dumps({"variant": label, **asdict(results[-1])}), flush=True)
                        if results[-1].first_processed_s is not None:
                            firsts[label].append(results[-1].first_processed_s)
                if len(variants) == 2 and all(firsts.values()):
                    (a, fa), (b, fb) = firsts.items()
                    ma, mb = statistics.median(fa), statistics.median(fb)
                    print(f"{n} face(s), START -> first boxed frame: {a} median {ma:.2f} s ({min(fa):.2f}-{max(fa):.2f}), "
                          f"{b} median {mb:.2f} s ({min(fb):.2f}-{max(fb):.2f}), {b} / {a} {mb / ma:.2f}", flush=True)
            cols = [("faces", "faces"), ("START visible s", "start_visible_s"), ("first frame s", "first_processed_s"),
            ("processed fps", "processed_fps"), ("browser fps", "browser_fps"), ("latency ms", "latency_ms"),
            ("RSS start MB", "rss_start_mb"), ("RSS end MB", "rss_end_mb"), ("RSS max MB", "rss_max_mb")]
    print("\n" + " | ".join(c for c, _ in cols))
    for r in results:
        print(" | ".join(str(getattr(r, k)) for _, k in cols))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
