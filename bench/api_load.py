"""Load on ``python -m fer serve``: requests per second and latency with concurrent clients, the same
work through the CLI (a process per image) for the ratio, a WebSocket camera at 30 fps, and on demand
a soak and a storm of hostile requests. Server and clients share this machine's cores: the figures
are this machine's, under whatever else runs (the load average is printed before and after).

    python bench/api_load.py [--clients 8] [--seconds 20] [--cli-runs 3] [--ws-seconds 20]
        [--soak [--soak-minutes 10] [--soak-rate 40] [--force]] [--hostile N] [--detector NAME] [--json]

The image is bench/make_frame.py's: 640x480, one real FER2013 test face at 160 px, as a JPEG.
Targets (issue 27): >= 80 requests/s and p99 <= 150 ms with 8 clients; the stream >= 29 answers/s at
30 fps with a median round trip <= 40 ms; the soak 0 errors and RSS growth < 30 MB; hostile requests
no 5xx and the server still answering.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402
from api_server import ApiServer  # noqa: E402

from fer.config import fer2013_root  # noqa: E402
from fer.train.compose import compose  # noqa: E402
from fer.train.data import list_images, load_gray  # noqa: E402

JPEG = {"Content-Type": "image/jpeg"}


def one_face_jpeg() -> bytes:
    folder = fer2013_root() / "test" / "happy"
    if not folder.is_dir():
        sys.exit(f"FER2013 not found at {folder.parent.parent} (set FER_DATA_DIR)")
    frame, _ = compose([load_gray(list_images(folder)[0], 48)], 640, 480, face_px=160)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- HTTP: concurrent clients, closed loop --------------------------------------------------------


def http_load(server: ApiServer, image: bytes, clients: int, seconds: float) -> dict:
    """``clients`` threads each posting the image back to back for ``seconds``; also the CPU the server
    and this client process spent per request (the figure a shared machine's load doesn't inflate as
    much as it does the wall-clock ones)."""
    url = server.url
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as s:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    r = s.post(url + "/v1/predict", data=image, headers=JPEG, timeout=30)
                    ok = r.status_code == 200 and len(r.json()["faces"]) == 1
                    err = None if ok else f"{r.status_code} {r.text[:80]}"
                except requests.RequestException as e:
                    err = type(e).__name__
                with lock:
                    (errors.append(err) if err else latencies.append((time.perf_counter() - t0) * 1e3))

    t0, server_cpu0, client_cpu0 = time.monotonic(), server.cpu_s(), time.process_time()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    wall = time.monotonic() - t0
    n = max(len(latencies), 1)
    return {"clients": clients, "seconds": round(wall, 1), "requests": len(latencies), "errors": len(errors),
            "error_examples": errors[:3], "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(pct(latencies, 50), 1), "p99_ms": round(pct(latencies, 99), 1),
            "server_cpu_ms_per_request": round((server.cpu_s() - server_cpu0) * 1e3 / n, 1),
            "client_cpu_ms_per_request": round((time.process_time() - client_cpu0) * 1e3 / n, 1)}


def cli_per_image(path: Path, runs: int) -> dict:
    """``python -m fer predict --json IMAGE``, a process per image, as a program without the API would."""
    import resource
    times, cpu = [], []
    for _ in range(runs):
        t0, children0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-m", "fer", "predict", "--json", str(path)], capture_output=True,
                             cwd=Path(__file__).resolve().parent.parent, check=True).stdout
        times.append(time.perf_counter() - t0)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime)
        assert len(json.loads(out)[0]["faces"]) == 1
    return {"runs": runs, "median_s": round(statistics.median(times), 2), "range_s": [round(min(times), 2),
            round(max(times), 2)], "images_per_s": round(1 / statistics.median(times), 3),
            "cpu_s_median": round(statistics.median(cpu), 2)}


# --- WebSocket: a camera at 30 fps -----------------------------------------------------------------


async def _ws_camera(url: str, image: bytes, fps: float, seconds: float) -> dict:
    from websockets.asyncio.client import connect
    sent: dict[int, float] = {}
    rtts: list[float] = []
    answered = dropped = 0
    async with connect(url + "/v1/stream", max_size=None) as ws:
        async def send() -> None:
            start = time.perf_counter()
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / fps - time.perf_counter()))
                sent[i] = time.perf_counter()
                await ws.send(image)

        total = int(seconds * fps)
        sender = asyncio.create_task(send())
        t0 = last = time.perf_counter()
        while True:  # the newest frame always gets its answer, so the last one sent ends the run
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            except asyncio.TimeoutError:
                break
            answered += 1
            dropped = msg["dropped"]
            last = time.perf_counter()
            rtts.append((last - sent[msg["frame"]]) * 1e3)
            if msg["frame"] == total - 1:
                break
        await sender
    wall = last - t0
    return {"fps_sent": fps, "frames_sent": len(sent), "answered": answered, "dropped": dropped,
            "answered_per_s": round(answered / wall, 1), "rtt_median_ms": round(pct(rtts, 50), 1),
            "rtt_p90_ms": round(pct(rtts, 90), 1)}


# --- soak: a steady rate for minutes ---------------------------------------------------------------


def soak(server: ApiServer, image: bytes, minutes: float, rate: float) -> dict:
    """``rate`` requests/s, paced (open loop over 4 client threads), for ``minutes``; the server's RSS
    after a warm-up minute's worth of requests and at the end."""
    for _ in range(int(rate * 5)):
        requests.post(server.url + "/v1/predict", data=image, headers=JPEG, timeout=30)
    rss0 = server.rss_mb()
    threads = 4
    per_thread = rate / threads
    stop = time.monotonic() + minutes * 60
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    latencies: list[float] = []

    def client(k: int) -> None:
        with requests.Session() as s:
            start = time.monotonic() + k / rate
            i = 0
            while (due := start + i / per_thread) < stop:
                time.sleep(max(0.0, due - time.monotonic()))
                t0 = time.perf_counter()
                try:
                    ok = s.post(server.url + "/v1/predict", data=image, headers=JPEG, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    counts["ok" if ok else "errors"] += 1
                    latencies.append((time.perf_counter() - t0) * 1e3)
                i += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client, range(threads)))
    rss1 = server.rss_mb()
    return {"minutes": minutes, "rate": rate, **counts, "p50_ms": round(pct(latencies, 50), 1),
            "p99_ms": round(pct(latencies, 99), 1), "rss_start_mb": round(rss0, 1), "rss_end_mb": round(rss1, 1),
            "rss_growth_mb": round(rss1 - rss0, 1)}


# --- hostile requests --------------------------------------------------------------------------------


def _png_bomb(side: int = 30_000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1) * 8)) + chunk(b"IEND", b""))


def _raw(port: int, data: bytes, half_close: bool = False, wait_s: float = 10.0) -> int | None:
    """Send ``data`` on a fresh connection (then close our side if ``half_close``); the status code the
    server answered, or None when it closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            head = s.recv(64)
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            return None
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None


def hostile_kinds(image: bytes, max_body: int) -> dict:
    """Each kind of hostile request: a function (port, rng) -> the status code (None: connection closed)."""
    rng_bytes = lambda rng, n: rng.randbytes(n)  # noqa: E731
    url = lambda port: f"http://127.0.0.1:{port}"  # noqa: E731

    def post(port, path, **kw):
        try:
            return requests.post(url(port) + path, timeout=30, **kw).status_code
        except requests.ConnectionError:
            return None

    bomb = _png_bomb()
    part_head = b"--b\r\nContent-Disposition: form-data; name=i; filename=a\r\n\r\n"
    head = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
    return {
        "garbage": lambda port, rng: post(port, "/v1/predict", data=rng_bytes(rng, rng.randint(1, 5000)), headers=JPEG),
        "flipped bytes": lambda port, rng: post(port, "/v1/predict", data=bytes(
            b ^ (rng.random() < 0.01) * rng.randint(1, 255) for b in image), headers=JPEG),
        "truncated": lambda port, rng: post(port, "/v1/predict", data=image[: rng.randint(0, len(image) - 1)],
                                            headers=JPEG),
        "bomb": lambda port, rng: post(port, "/v1/predict", data=bomb, headers={"Content-Type": "image/png"}),
        "huge declared": lambda port, rng: _raw(port, (head + f"Content-Length: {10**9}\r\n\r\n").encode()),
        "huge sent": lambda port, rng: post(port, "/v1/predict", data=b"\0" * (max_body + 1), headers=JPEG),
        "huge chunked": lambda port, rng: post(port, "/v1/predict", headers=JPEG,
                                               data=iter([b"\0" * 65536] * (max_body // 65536 + 2))),
        "wrong type": lambda port, rng: post(port, "/v1/predict", data=image, headers={"Content-Type": rng.choice(
            ["text/plain", "application/json", "image/svg+xml", "", "video/mp4",
             "application/x-www-form-urlencoded"])}),
        "broken multipart": lambda port, rng: post(
            port, rng.choice(["/v1/predict", "/v1/predict/batch"]),
            data=part_head + image[: rng.randint(0, len(image))],
            headers={"Content-Type": "multipart/form-data; boundary=b"}),
        "bad options": lambda port, rng: post(port, "/v1/predict?" + rng.choice(
            ["flip=2", "detector=../../etc/passwd", "classes=%00", "name=" + "x" * 5000, "model=/etc/passwd"]),
            data=image, headers=JPEG),
        "half-closed head": lambda port, rng: _raw(port, (head + "Content-Le").encode(), half_close=True),
        "half-closed body": lambda port, rng: _raw(port, (head + "Content-Length: 5000\r\n\r\n").encode()
                                                   + image[:100], half_close=True),
        "bad request line": lambda port, rng: _raw(port, rng_bytes(rng, 200) + b"\r\n\r\n"),
    }


def hostile(server: ApiServer, image: bytes, n: int, max_body: int, workers: int = 8) -> dict:
    kinds = hostile_kinds(image, max_body)
    names = list(kinds)
    before = requests.post(server.url + "/v1/predict", data=image, headers=JPEG, timeout=30).json()
    rss0 = server.rss_mb()
    by_kind: dict[str, dict[str, int]] = {k: {} for k in names}
    lock = threading.Lock()

    def one(i: int) -> None:
        rng = random.Random(i)
        kind = names[i % len(names)]
        try:
            status = kinds[kind](server.port, rng)
        except Exception as e:  # noqa: BLE001 (a client-side failure is counted, not fatal)
            status = f"client {type(e).__name__}"
        with lock:
            by_kind[kind][str(status)] = by_kind[kind].get(str(status), 0) + 1

    t0 = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    after = requests.post(server.url + "/v1/predict", data=image, headers=JPEG, timeout=30)
    five_xx = sum(c for counts in by_kind.values() for s, c in counts.items() if s.startswith("5"))
    return {"requests": n, "seconds": round(time.monotonic() - t0, 1), "5xx": five_xx, "by_kind": by_kind,
            "server_alive": server.alive(), "still_answers_same": after.status_code == 200 and after.json() == before,
            "rss_growth_mb": round(server.rss_mb() - rss0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20.0, help="length of the HTTP load run")
    p.add_argument("--runs", type=int, default=3, help="HTTP load runs (median and range reported)")
    p.add_argument("--cli-runs", type=int, default=3)
    p.add_argument("--ws-seconds", type=float, default=20.0)
    p.add_argument("--soak", action="store_true", help="also the soak (only on a quiet machine unless --force)")
    p.add_argument("--soak-minutes", type=float, default=10.0)
    p.add_argument("--soak-rate", type=float, default=40.0)
    p.add_argument("--force", action="store_true", help="soak even when the machine is busy")
    p.add_argument("--hostile", type=int, default=0, metavar="N", help="also N hostile requests")
    p.add_argument("--only", choices=["load", "ws", "soak", "hostile"], action="append",
                   help="run only these parts (default: load and ws, plus what --soak/--hostile ask)")
    p.add_argument("--detector", help="the server's detector (default: the registry's default)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object at the end")
    args = p.parse_args(argv)
    parts = set(args.only or ["load", "ws"] + (["soak"] if args.soak else []) + (["hostile"] if args.hostile else []))
    image = one_face_jpeg()
    out: dict = {"cpus": os.cpu_count(), "load_average_before": load_average(), "image_bytes": len(image)}
    print(f"{os.cpu_count()} CPUs, load average {out['load_average_before']} before; image 640x480 JPEG "
          f"{len(image)} bytes, one face", flush=True)
    max_body_mb = 1.0
    server_args = ["--max-body-mb", str(max_body_mb), "--stall-timeout", "2"]
    if args.detector:
        server_args += ["--detector", args.detector]
    with ApiServer(*server_args) as server:
        out["detector"] = requests.get(server.url + "/v1/health").json()["detector"]
        print(f"server detector: {out['detector']}", flush=True)
        requests.post(server.url + "/v1/predict", data=image, headers=JPEG, timeout=60)
        if "load" in parts:
            runs = [http_load(server, image, args.clients, args.seconds) for _ in range(args.runs)]
            rps = [r["requests_per_s"] for r in runs]
            out["http"] = {"runs": runs, "requests_per_s_median": statistics.median(rps), "range": [min(rps), max(rps)],
                           "p50_ms_median": statistics.median(r["p50_ms"] for r in runs),
                           "p99_ms_median": statistics.median(r["p99_ms"] for r in runs),
                           "server_cpu_ms_median": statistics.median(r["server_cpu_ms_per_request"] for r in runs)}
            for r in runs:
                print(f"HTTP {r['clients']} clients {r['seconds']} s: {r['requests_per_s']} req/s, "
                      f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, {r['errors']} errors; CPU per request: server "
                      f"{r['server_cpu_ms_per_request']} ms, clients {r['client_cpu_ms_per_request']} ms", flush=True)
            import tempfile
            with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
                f.write(image)
                f.flush()
                out["cli"] = cli_per_image(Path(f.name), args.cli_runs)
            out["api_over_cli"] = round(out["http"]["requests_per_s_median"] / out["cli"]["images_per_s"], 1)
            out["api_over_cli_cpu"] = round(out["cli"]["cpu_s_median"] * 1e3 / out["http"]["server_cpu_ms_median"], 1)
            print(f"CLI a process per image: {out['cli']['median_s']} s median (range {out['cli']['range_s']}), "
                  f"{out['cli']['cpu_s_median']} s CPU -> API/CLI: throughput {out['api_over_cli']}x, "
                  f"CPU per image {out['api_over_cli_cpu']}x less", flush=True)
        if "ws" in parts:
            out["ws"] = asyncio.run(_ws_camera(server.ws_url, image, 30.0, args.ws_seconds))
            w = out["ws"]
            print(f"WS 30 fps for {args.ws_seconds:g} s: {w['answered_per_s']} answered/s ({w['answered']} of "
                  f"{w['frames_sent']}, {w['dropped']} dropped), round trip median {w['rtt_median_ms']} ms, "
                  f"p90 {w['rtt_p90_ms']} ms", flush=True)
        if "soak" in parts:
            busy = os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
            if busy and not args.force:
                out["soak"] = f"not run: the machine is busy (load average {load_average()}); --force to run anyway"
            else:
                out["soak"] = soak(server, image, args.soak_minutes, args.soak_rate)
            print(f"soak: {out['soak']}", flush=True)
        if "hostile" in parts:
            out["hostile"] = hostile(server, image, args.hostile, int(max_body_mb * 2**20))
            h = out["hostile"]
            print(f"hostile: {h['requests']} in {h['seconds']} s, {h['5xx']} 5xx, server alive {h['server_alive']}, "
                  f"same answer after {h['still_answers_same']}, RSS {h['rss_growth_mb']:+} MB", flush=True)
            for kind, counts in h["by_kind"].items():
                print(f"  {kind:18} {counts}")
    out["load_average_after"] = load_average()
    print(f"load average {out['load_average_after']} after")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
