"""``fer video`` against the clock: the whole command (start-up, decoding, detection, tracking, the
CSV) on a 640x360 30 fps one-face video, as times real time (video seconds / wall seconds), per
detector, the detectors alternating run by run in one run of this script.

The video is real footage: the woman of the shared head-pose clip (../shared/data/videos), her part
of the frame cut at 16:9 and scaled to 640x360 (her face about 200 px), each 12 fps frame shown for
2-3 frames of 30 fps, played forwards and backwards until ``--seconds`` long, written as H.264 into
bench/out/ (made once, reused).

    python bench/video_speed.py [--seconds 60] [--runs 3] [--detectors blazeface haar]

Prints each run, then per detector the median and range of times real time, the rows and the ids of
its last run, and the ratio of the medians; the last line is JSON with every figure.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import cv2  # noqa: E402

from fer.config import REPO_ROOT, data_root  # noqa: E402
from fer.offline.video import VideoReader  # noqa: E402

OUT = BENCH / "out"
CLIP = "head-pose-face-detection-female-and-male.mp4"
#: Her part of the clip's 480x270 frames (x, y, w, h): 16:9, the man outside it.
REGION = (0, 60, 192, 108)
WIDTH, HEIGHT, FPS = 640, 360, 30


def one_face_video(seconds: float, path: Path | None = None) -> Path:
    """The benchmark's video (see the module docstring), written once per length."""
    import av
    path = path or OUT / f"one_face_640x360_30fps_{seconds:g}s.mp4"
    if path.is_file():
        return path
    x, y, w, h = REGION
    with VideoReader(data_root() / "videos" / CLIP) as reader:
        src = [cv2.resize(f.image[y:y + h, x:x + w], (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
               for f in reader]
        rate = float(reader.rate)
    ping_pong = src + src[-2:0:-1]
    n = int(round(seconds * FPS))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(ping_pong[int(i * rate / FPS) % len(ping_pong)], format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.rename(path)
    return path


def run_video(video: Path, detector: str, csv_path: Path) -> float:
    """Wall seconds of ``python -m fer video`` on ``video`` with ``detector``, start to exit."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "fer", "video", str(video), "--csv", str(csv_path), "--detector",
                        detector, "--no-progress"], cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"fer video --detector {detector} failed:\n{r.stderr[-3000:]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the video")
    p.add_argument("--runs", type=int, default=3, help="runs per detector, alternating")
    p.add_argument("--detectors", nargs="+", default=["blazeface", "haar"])
    args = p.parse_args(argv)
    video = one_face_video(args.seconds)
    with VideoReader(video) as reader:
        frames = reader.info.frames or sum(1 for _ in reader)
    length_s = frames / FPS
    print(f"{video.name}: {frames} frames, {length_s:.1f} s", file=sys.stderr)
    walls: dict[str, list[float]] = {d: [] for d in args.detectors}
    rows: dict[str, dict] = {}
    for k in range(args.runs):
        order = args.detectors if k % 2 == 0 else list(reversed(args.detectors))
        for det in order:
            out = OUT / f"video_speed_{det}.csv"
            wall = run_video(video, det, out)
            walls[det].append(wall)
            with open(out, newline="") as fh:
                got = list(csv.DictReader(fh))
            rows[det] = {"rows": len(got), "ids": sorted({x["face_id"] for x in got if x["face_id"]}, key=int)}
            print(f"run {k + 1} {det:<10} {wall:6.2f} s  {length_s / wall:5.2f}x real time", file=sys.stderr)
    result = {"video": {"file": video.name, "width": WIDTH, "height": HEIGHT, "fps": FPS, "frames": frames,
                        "seconds": round(length_s, 2)}, "detectors": {}}
    for det, w in walls.items():
        speed = [length_s / x for x in w]
        result["detectors"][det] = {"median_x_real_time": round(statistics.median(speed), 2),
                                    "range_x_real_time": [round(min(speed), 2), round(max(speed), 2)],
                                    "median_wall_s": round(statistics.median(w), 2), **rows[det]}
        print(f"{det:<10} {statistics.median(speed):5.2f}x real time (runs {min(speed):.2f}-{max(speed):.2f}), "
              f"{rows[det]['rows']} rows, ids {rows[det]['ids']}")
    if len(args.detectors) >= 2:
        a, b = args.detectors[:2]
        ratio = result["detectors"][a]["median_x_real_time"] / result["detectors"][b]["median_x_real_time"]
        result["ratio_first_over_second"] = round(ratio, 2)
        print(f"{a} / {b}: {ratio:.2f}x the speed")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
