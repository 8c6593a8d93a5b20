"""Live serving capacity on real footage: processed fps per session, the server's CPU per processed
frame split into decode / convert / pipeline / encode / rest, and glass-to-glass latency, for 1, 2
and 3 concurrent sessions, for several server configurations side by side in one run.

The fake camera is ../shared/data/videos (both clips back to back, letterboxed to 640x480, 30 fps,
looped by Chromium) with a frame counter stamped in the corner (tests/browser/frame_code.py). Each
(configuration, session count) gets a fresh `streamlit run app.py` and a fresh Chromium with one
browser context per session; all press START, warm up, then are watched for ``--seconds``.

Configurations (``--configs``, any of):
  vp8       VP8, codec threads as the library picks, repeats re-encoded (the WebRTC library's defaults)
  h264      the product's defaults: H.264 preferred (x264 ultrafast), one thread per codec, repeats skipped
  h264-360  the same, with the camera asked for 480x360
  h264-lt1  the same, with the classifier's LiteRT interpreter at one thread (FER_LITERT_THREADS)
  h264-rate0  the same, with the browser's own sending bitrate (no floor or start asked for in the answer)

    python bench/live_capacity.py                            # vp8 h264, 1 2 3 sessions, 60 s each
    python bench/live_capacity.py --configs vp8 h264 --sessions 1 --seconds 20

Runs in a loopback-only network namespace when started as root (as the browser tests do). The
machine's other load (e.g. a training run) depresses every figure: compare the rows of one run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "browser")]

import latency_probe  # noqa: E402
import live_driver as drive  # noqa: E402
import real_footage  # noqa: E402
import support  # noqa: E402
from ui import stream_profile  # noqa: E402

CONFIGS = {
    "vp8": {"FER_VIDEO_CODEC": "vp8", "FER_CODEC_THREADS": "0", "FER_SKIP_REPEATS": "0"},
    "h264": {"FER_VIDEO_CODEC": "h264"},
    "h264-360": {"FER_VIDEO_CODEC": "h264", "FER_CAMERA": "480x360@30"},
    "h264-lt1": {"FER_VIDEO_CODEC": "h264", "FER_LITERT_THREADS": "1"},
    "h264-rate0": {"FER_VIDEO_CODEC": "h264", "FER_SEND_MIN_KBPS": "0", "FER_SEND_START_KBPS": "0"},
}


@dataclass
class Row:
    config: str
    sessions: int
    fps: list[float]                 # processed fps of each session (from the panel's frame counts)
    returned_fps: list[float]        # returned frames each browser decoded per second
    server_cores: float              # server CPU seconds per second
    cpu_ms_per_frame: float          # server CPU per processed frame (all sessions)
    split: dict | None               # stream_profile.CpuSplit (None if the profile was not written)
    latency: dict                    # latency_probe.Latency over all sessions
    negotiated: list[dict] = field(default_factory=list)
    longest_stall_s: float = 0.0
    server_pauses_s: list[float] = field(default_factory=list)
    #: with --py-spy: share of the server's on-CPU samples by where they were (see py_spy_shares)
    py_spy: dict | None = None


#: py-spy stack substrings -> where the time goes; the first match wins (innermost-first order is
#: not needed: each names a distinct layer).
SPY_BUCKETS = [
    ("decode", ("TimedDecoder.decode", "decoder_worker")),
    ("encode", ("TimedEncoder.encode", "_encode_frame")),
    ("pipeline", ("LiveSession.process", "process (fer/stream/live.py)")),
    ("convert", ("to_ndarray", "from_ndarray")),
    ("page script", ("pages/live.py", "live_panel", "render_panel", "script_runner", "exec_func_with_error_handling")),
    ("streamlit server", ("tornado", "websocket", "forward_msg", "app_session", "runtime.py")),
    ("rtp/srtp/ice", ("aioice", "rtcrtp", "rtcdtls", "rtcsctp", "pylibsrtp", "jitterbuffer", "rtp.py", "rtcicetransport")),
    ("relay/tracks", ("relay", "process.py", "mediastreams", "streamlit_webrtc")),
]

#: Leaf frames that are waits, not work.
SPY_IDLE = ("select", "wait (", "Condition.wait", "sleep", "Queue.get", "polling_path_watcher.py:90", "_worker (")


def start_py_spy(pid: int, seconds: float, out: Path):
    """Sample the server's threads (on-CPU only) for ``seconds`` into a collapsed-stack file."""
    cmd = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "50",
           "--format", "raw", "--nonblocking", "--threads", "--output", str(out)]
    exe = Path(sys.executable).with_name("py-spy")
    cmd[0] = str(exe) if exe.exists() else "py-spy"
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def py_spy_shares(spy) -> dict:
    proc, out = spy
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    counts: dict[str, int] = {}
    for line in out.read_text(errors="replace").splitlines() if out.exists() else []:
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        if any(k in leaf for k in SPY_IDLE):  # py-spy's idle detection misses some waits
            continue
        bucket = next((b for b, keys in SPY_BUCKETS if any(k in stack for k in keys)), "other")
        counts[bucket] = counts.get(bucket, 0) + int(n)
    total = sum(counts.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def run_one(playwright, footage: real_footage.Footage, config: str, n: int, seconds: float, warm_s: float,
            tmp: Path, py_spy: Path | None = None) -> Row:
    env = dict(CONFIGS[config])
    profile_path = tmp / f"profile-{config}-{n}.json"
    env[stream_profile.ENV] = str(profile_path)
    from fer.config import data_root
    env.setdefault("FER_DATA_DIR", str(data_root()))
    browser = support.launch_chromium(playwright, footage.y4m)
    try:
        with support.streamlit_server(env=env) as url:
            sessions = []
            for i in range(n):
                page = drive.new_page(browser)
                page.context.add_init_script(latency_probe.SAMPLER_JS)
                frame, visible = drive.open_live_page(page, url, 180)
                sessions.append(drive.Session(f"session {i + 1}", page, frame, visible))
            for s in sessions:
                drive.press(s.frame, "Start")
            for s in sessions:
                drive.wait_processed(s.page, 10, 180)
            time.sleep(warm_s)
            for s in sessions:
                latency_probe.take(s.frame)  # drop the warm-up's samples
            a_cpu, a_t = support.group_cpu_s(url.pgid), time.monotonic()
            a_prof = stream_profile.read_snapshot(profile_path) if profile_path else None
            spy = start_py_spy(url.proc.pid, seconds, py_spy / f"spy-{config}-{n}.txt") if py_spy else None
            drive.watch_sessions(sessions, seconds)
            b_cpu, b_t = support.group_cpu_s(url.pgid), time.monotonic()
            b_prof = stream_profile.read_snapshot(profile_path) if profile_path else None
            raw = {"samples": [], "unread": 0}
            negotiated = []
            for s in sessions:
                got = latency_probe.take(s.frame)
                raw["samples"] += got["samples"]
                raw["unread"] += got["unread"]
                try:
                    negotiated.append(drive.negotiated(s.frame))
                except Exception as e:  # noqa: BLE001 - a figure missing is reported, not fatal
                    negotiated.append({"error": str(e)})
            summaries = [drive.summarise(s.ticks) for s in sessions]
            for s in sessions:
                try:
                    drive.press(s.frame, "Stop")
                except Exception:  # noqa: BLE001
                    pass
            log = url.log()
    finally:
        browser.close()
    where = py_spy_shares(spy) if spy else None
    fps = [x["counted_fps"] for x in summaries]
    processed_s = sum(fps) * (b_t - a_t)
    split = asdict(stream_profile.split(a_prof, b_prof)) if a_prof and b_prof else None
    return Row(config, n, fps, [x["returned_fps"] for x in summaries], round((b_cpu - a_cpu) / (b_t - a_t), 2),
               round((b_cpu - a_cpu) * 1e3 / max(1.0, processed_s), 1), split,
               asdict(latency_probe.summarise(raw, footage.frames, real_footage.FPS)), negotiated,
               max(x["longest_stall_s"] for x in summaries), drive.server_pauses_s(log), where)


def print_table(rows: list[Row]) -> None:
    for r in rows:
        if r.py_spy:
            print(f"py-spy, {r.config}, {r.sessions} session(s): share of server samples: {r.py_spy}")
    print("\nconfig | sessions | processed fps each | returned fps each | server cores | CPU ms/frame "
          "| decode | convert | pipeline | encode | rest | latency median / p90 ms | codec in/out (browser)")
    for r in rows:
        s = r.split or {}
        codecs = ", ".join(f"{(x.get('inbound') or {}).get('mimeType')}/{(x.get('outbound') or {}).get('mimeType')}"
                           for x in r.negotiated[:1])
        print(" | ".join(str(v) for v in (
            r.config, r.sessions, r.fps, r.returned_fps, r.server_cores, r.cpu_ms_per_frame,
            *(s.get(k, "-") for k in ("decode_ms", "convert_ms", "pipeline_ms", "encode_ms", "rest_ms")),
            f"{r.latency['median_ms']} / {r.latency['p90_ms']} (n={r.latency['samples']})", codecs)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=["vp8", "h264"], choices=list(CONFIGS))
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=float, default=60.0, help="watched streaming time per row")
    ap.add_argument("--warm", type=float, default=8.0, help="seconds streamed before watching")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--py-spy", type=Path, metavar="DIR",
                    help="also sample the server with py-spy (where 'rest' goes), keeping the stacks in DIR")
    args = ap.parse_args()
    if not support.in_loopback_only_netns():
        try:
            support.enter_loopback_netns()
        except OSError as e:
            print(f"note: staying on the host network ({e})", file=sys.stderr)
    from playwright.sync_api import sync_playwright
    rows = []
    with tempfile.TemporaryDirectory(prefix="fer-capacity-") as tmp_s:
        tmp = Path(tmp_s)
        if args.py_spy:
            args.py_spy.mkdir(parents=True, exist_ok=True)
        footage = real_footage.build(tmp / "footage.y4m")
        print(f"footage: {footage.frames} frames ({', '.join(footage.clips)}), 640x480 at 30 fps", flush=True)
        with sync_playwright() as p:
            # Interleave the configurations per session count, so a change in the machine's load
            # hits them alike.
            for n in args.sessions:
                for config in args.configs:
                    rows.append(run_one(p, footage, config, n, args.seconds, args.warm, tmp, args.py_spy))
                    print(json.dumps(asdict(rows[-1])), flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
