"""Frame pipeline latency on one image: detect + classify + draw, repeated; prints the median.

    python bench/latency.py FRAME.jpg [--runs 200] [--model NAME] [--json]

Also reports the classifier alone (ms per face at batch 1) and the detector alone, and the live
page's video path: the frame panned a few pixels per frame, paced at 30 fps, through a LiveSession
(full face scan every 0.25 s, only the neighbourhood of followed faces in between, tracking, drawing);
its mean is the honest per-frame cost, full scans included. The last line printed is JSON:
{"median_ms": ..., "faces": N, ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from fer.detection import DetectorSettings, FaceDetector  # noqa: E402
from fer.imageio import read_image  # noqa: E402
from fer.model import load_classifier  # noqa: E402
from fer.live import LiveSession  # noqa: E402
from fer.pipeline import FramePipeline, crop_faces, draw_faces, to_gray  # noqa: E402

#: The video path's camera: frames per second, and how far the picture pans per frame (pixels).
VIDEO_FPS = 30
VIDEO_PAN_PX = (3, 2)


def timed(fn, runs: int, warmup: int = 10) -> list[float]:
    """Milliseconds per call of ``fn`` over ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("frame")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=2, help="LiteRT threads")
    p.add_argument("--video-seconds", type=float, default=10.0, help="length of the video-path run (0 = skip)")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    p.add_argument("--record", action="store_true", help="also write the figures into the model's metadata.json")
    args = p.parse_args(argv)

    frame = read_image(args.frame)
    clf = load_classifier(args.model, num_threads=args.threads)
    pipe = FramePipeline(clf, FaceDetector(DetectorSettings()))
    faces = pipe.analyse(frame).faces

    def whole_frame():
        f = frame.copy()
        draw_faces(f, pipe.analyse(f).faces)

    frame_ms = timed(whole_frame, args.runs)
    gray = to_gray(frame)
    detect_ms = timed(lambda: pipe.detector.detect(gray), args.runs)
    one = crop_faces(gray, [f.box for f in faces][:1], clf.input_size) if faces else \
        np.zeros((1, clf.input_size, clf.input_size), np.uint8)
    clf_ms = timed(lambda: clf.predict(one), max(args.runs, 500))
    video = video_path(frame, pipe, args.video_seconds) if args.video_seconds > 0 else {}
    result = {
        "frame": args.frame, "size": [int(frame.shape[1]), int(frame.shape[0])], "faces": len(faces),
        "median_ms": round(statistics.median(frame_ms), 3),
        "p90_ms": round(float(np.percentile(frame_ms, 90)), 3),
        "detect_median_ms": round(statistics.median(detect_ms), 3),
        "classifier_ms_per_face": round(statistics.median(clf_ms), 4),
        "runs": args.runs, "model": clf.info.name, "litert_threads": args.threads, **video,
    }
    if not args.json:
        print(f"frame {result['size'][0]}x{result['size'][1]}, {len(faces)} face(s), model {clf.info.name}")
        print(f"  whole frame (detect + classify + draw): median {result['median_ms']:.2f} ms, "
              f"p90 {result['p90_ms']:.2f} ms")
        print(f"  detector alone: median {result['detect_median_ms']:.2f} ms")
        print(f"  classifier alone, batch 1: median {result['classifier_ms_per_face']:.3f} ms/face")
        if video:
            print(f"  video path ({VIDEO_FPS} fps, panning, {video['video_frames']} frames, "
                  f"{video['video_full_scan_share']:.0%} full scans): mean {video['video_mean_ms']:.2f} ms, "
                  f"median {video['video_median_ms']:.2f} ms, faces found in {video['video_face_share']:.0%} of frames")
    if args.record:
        figures = {k: v for k, v in result.items() if k != "frame"}
        path = record(clf.info.path, "latency", figures, command_line(__file__, argv))
        print(f"recorded in {path}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def command_line(script: str, argv: list[str] | None) -> str:
    """How to run ``bench/<script>`` again with these arguments (``argv=None``: this process's own)."""
    import shlex
    return shlex.join(["python", f"bench/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)])


def record(model_dir: Path, key: str, figures: dict, command: str) -> Path:
    """Write ``figures`` into the model's metadata under ``benchmarks[key]``, with the command that
    measured them, when and where: the targets' figures then travel with the model they describe."""
    import datetime
    import platform

    path = Path(model_dir) / "metadata.json"
    meta = json.loads(path.read_text())
    meta.setdefault("benchmarks", {})[key] = {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        **figures}
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def panning_frames(frame: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` frames of ``frame`` panning back and forth by VIDEO_PAN_PX a frame, like a moving camera."""
    import cv2
    h, w = frame.shape[:2]
    out = []
    for i in range(n):
        k = i % 60 - 30 if (i // 60) % 2 else 30 - i % 60
        shift = np.float32([[1, 0, k * VIDEO_PAN_PX[0]], [0, 1, k * VIDEO_PAN_PX[1]]])
        out.append(cv2.warpAffine(frame, shift, (w, h), borderMode=cv2.BORDER_REFLECT))
    return out


def live_path_ms(frames: list[np.ndarray], pipe: FramePipeline, fps: float = VIDEO_FPS) -> tuple[list[float], dict]:
    """Milliseconds per frame of a LiveSession fed ``frames`` at ``fps`` (a camera's pace, so caches
    go cold between frames as they do live), and what it did: full scans, frames with a face."""
    session = LiveSession()
    full = []
    detect = pipe.detector.detect
    pipe.detector.detect = lambda gray, **kw: full.append(1) or detect(gray, **kw)  # count the full scans
    ms, found = [], 0
    try:
        for img in frames:
            img = img.copy()
            due = time.perf_counter() + 1 / fps
            t = time.perf_counter()
            session.process(img, pipe)
            ms.append((time.perf_counter() - t) * 1e3)
            update = session.latest()
            found += bool(update and update.faces)
            time.sleep(max(0.0, due - time.perf_counter()))
    finally:
        pipe.detector.detect = detect
    return ms, {"full_scans": len(full), "frames_with_face": found}


def video_path(frame: np.ndarray, pipe: FramePipeline, seconds: float) -> dict:
    """Per-frame cost of the live path on a panning copy of ``frame``, paced like a camera."""
    n = int(seconds * VIDEO_FPS)
    ms, what = live_path_ms(panning_frames(frame, n), pipe)
    return {"video_mean_ms": round(statistics.fmean(ms), 3), "video_median_ms": round(statistics.median(ms), 3),
            "video_p90_ms": round(float(np.percentile(ms, 90)), 3), "video_frames": n,
            "video_full_scan_share": round(what["full_scans"] / n, 3),
            "video_face_share": round(what["frames_with_face"] / n, 3)}


if __name__ == "__main__":
    sys.exit(main())
