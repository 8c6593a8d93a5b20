"""Frame pipeline latency on a real frame or a real clip: detect + classify + draw, repeated; prints
medians and ranges, for each detector asked for, side by side in one run.

    python bench/latency.py FRAME.jpg|CLIP.mp4 [--detectors haar blazeface] [--runs 200]
        [--width 640] [--model NAME] [--json]

A clip's frames are timed in turn (the still figures cycle through them) and are the video path's
camera, in order, looped (instead of one frame panning). The first detector's figures are the
top-level ones (and what ``--record`` writes); every detector's are under "detectors".

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

from fer.imageio import read_image  # noqa: E402
from fer.classify.model import load_classifier  # noqa: E402
from fer.stream.live import LIVE_READ_EVERY_S, LiveSession  # noqa: E402
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


VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")


def build_detector(name: str):
    from fer.faces.detectors import DetectorSettings as Settings, make_detector
    return make_detector(Settings(name=name))


def read_frames(path: str, width: int) -> list[np.ndarray]:
    """An image as one frame, or every frame of a clip (PyAV), resized to ``width`` when given."""
    import cv2
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        import av
        with av.open(path) as c:
            frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    else:
        frames = [read_image(path)]
    if width and frames[0].shape[1] != width:
        size = (width, round(frames[0].shape[0] * width / frames[0].shape[1]))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def spread(ms: list[float]) -> dict:
    """Median and range (10th-90th percentile) of per-call milliseconds."""
    return {"median_ms": round(statistics.median(ms), 3),
            "p10_ms": round(float(np.percentile(ms, 10)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3)}


def measure(frames: list[np.ndarray], clf, detector, runs: int, video_seconds: float, clip: bool) -> dict:
    """Every figure for one detector: whole frame, detector alone, video path."""
    pipe = FramePipeline(clf, detector)
    turn = iter(range(10 ** 9))

    def next_frame() -> np.ndarray:
        return frames[next(turn) % len(frames)]

    def whole_frame():
        f = next_frame().copy()
        draw_faces(f, pipe.analyse(f).faces)

    frame_ms = timed(whole_frame, runs)
    grays = [to_gray(f) for f in frames]
    seen = grays if detector.takes == "gray" else frames
    k = iter(range(10 ** 9))
    detect_ms = timed(lambda: detector.detect(seen[next(k) % len(seen)]), runs)
    faces = [len(pipe.analyse(f).faces) for f in frames]
    out = {**spread(frame_ms), "detect_median_ms": round(statistics.median(detect_ms), 3),
           "detect_p10_ms": round(float(np.percentile(detect_ms, 10)), 3),
           "detect_p90_ms": round(float(np.percentile(detect_ms, 90)), 3),
           "faces": round(statistics.fmean(faces), 3)}
    if video_seconds > 0:
        out.update(video_path(frames[0], pipe, video_seconds, frames if clip else None))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("frame", help="an image, or a clip (.mp4, .webm, .mov, .mkv, .avi)")
    p.add_argument("--detectors", nargs="+", default=["haar"], help="haar, blazeface, blazeface-full")
    p.add_argument("--width", type=int, default=0, help="resize frames to this width first (0 = as they are)")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=2, help="LiteRT threads")
    p.add_argument("--video-seconds", type=float, default=10.0, help="length of the video-path run (0 = skip)")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    p.add_argument("--record", action="store_true", help="also write the figures into the model's metadata.json")
    args = p.parse_args(argv)

    frames = read_frames(args.frame, args.width)
    frame = frames[0]
    clip = len(frames) > 1
    clf = load_classifier(args.model, num_threads=args.threads)
    pipe = FramePipeline(clf, build_detector(args.detectors[0]))
    faces = pipe.analyse(frame).faces
    gray = to_gray(frame)
    one = crop_faces(gray, [f.box for f in faces][:1], clf.input_size) if faces else \
        np.zeros((1, clf.input_size, clf.input_size), np.uint8)
    clf_ms = timed(lambda: clf.predict(one), max(args.runs, 500))
    per = {name: measure(frames, clf, build_detector(name), args.runs, args.video_seconds, clip)
           for name in args.detectors}
    first = per[args.detectors[0]]
    result = {
        "frame": args.frame, "size": [int(frame.shape[1]), int(frame.shape[0])], "frames": len(frames),
        "faces": len(faces) if not clip else first["faces"], "detector": args.detectors[0],
        "median_ms": first["median_ms"], "p90_ms": first["p90_ms"],
        "detect_median_ms": first["detect_median_ms"],
        "classifier_ms_per_face": round(statistics.median(clf_ms), 4),
        "runs": args.runs, "model": clf.info.name, "litert_threads": args.threads,
        **{k: v for k, v in first.items() if k.startswith("video_")},
        "detectors": per,
    }
    if not args.json:
        print(f"{len(frames)} frame(s) {result['size'][0]}x{result['size'][1]}, model {clf.info.name}, "
              f"classifier alone at batch 1: median {result['classifier_ms_per_face']:.3f} ms/face")
        for name, r in per.items():
            print(f"  {name}: {r['faces']:.2f} face(s)/frame; whole frame (detect + classify + draw) median "
                  f"{r['median_ms']:.2f} ms (p10-p90 {r['p10_ms']:.2f}-{r['p90_ms']:.2f}); detector alone median "
                  f"{r['detect_median_ms']:.2f} ms (p10-p90 {r['detect_p10_ms']:.2f}-{r['detect_p90_ms']:.2f})")
            if "video_mean_ms" in r:
                print(f"    video path ({VIDEO_FPS} fps, {r['video_frames']} frames, {r['video_full_scan_share']:.0%} "
                      f"scans of the whole frame): mean {r['video_mean_ms']:.2f} ms, median {r['video_median_ms']:.2f} ms, "
                      f"p90 {r['video_p90_ms']:.2f} ms, process CPU {r['video_cpu_ms_per_frame']:.2f} ms a frame, "
                      f"faces in {r['video_face_share']:.0%} of frames")
    if args.record:
        figures = {k: v for k, v in result.items() if k not in ("frame", "detectors")}
        path = record(clf.info.path, "latency", figures, command_line(__file__, argv))
        print(f"recorded in {path}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def command_line(script: str, argv: list[str] | None) -> str:
    """How to run ``bench/<script>`` again with these arguments (``argv=None``: this process's own),
    absolute paths made relative to the repository as every recorded command is."""
    import shlex

    from fer.report import relative_command
    return relative_command(shlex.join(["python", f"bench/{Path(script).name}",
                                        *(sys.argv[1:] if argv is None else argv)]))


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


def live_path_ms(frames: list[np.ndarray], pipe: FramePipeline, fps: float = VIDEO_FPS,
                 read_every_s: float = LIVE_READ_EVERY_S, background: bool = True) -> tuple[list[float], dict]:
    """Milliseconds per frame of a LiveSession fed ``frames`` at ``fps`` (a camera's pace, so caches
    go cold between frames as they do live), and what it did: full scans and rescans, frames with a
    face, and this process's CPU per frame (all threads: with ``background`` rescans, the live
    page's way, part of the work is off the frame's own thread). ``read_every_s``: the live page's
    reading interval by default (0: every frame, as ``fer video`` reads)."""
    full = []
    detect, rescan = pipe.detector.detect, pipe.detector.rescan
    pipe.detector.detect = lambda *a, **kw: full.append(1) or detect(*a, **kw)  # count the scans
    pipe.detector.rescan = lambda *a, **kw: full.append(1) or rescan(*a, **kw)
    pool_rescan = pipe.rescan
    pipe.rescan = lambda *a, **kw: full.append(1) or pool_rescan(*a, **kw)  # background rescans, counted too
    session = LiveSession(read_every_s=read_every_s, background_rescans=background)
    ms, found = [], 0
    cpu0 = time.process_time()
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
        pipe.detector.detect, pipe.detector.rescan = detect, rescan
        del pipe.rescan
    cpu_ms = (time.process_time() - cpu0) * 1e3 / max(1, len(frames))
    return ms, {"full_scans": len(full), "frames_with_face": found, "cpu_ms_per_frame": cpu_ms}


def video_path(frame: np.ndarray, pipe: FramePipeline, seconds: float,
               clip: list[np.ndarray] | None = None) -> dict:
    """Per-frame cost of the live path, paced like a camera, on a panning copy of ``frame`` or on
    ``clip``'s frames in order (looped)."""
    n = int(seconds * VIDEO_FPS)
    frames = panning_frames(frame, n) if clip is None else [clip[i % len(clip)] for i in range(n)]
    ms, what = live_path_ms(frames, pipe)
    return {"video_mean_ms": round(statistics.fmean(ms), 3), "video_median_ms": round(statistics.median(ms), 3),
            "video_p90_ms": round(float(np.percentile(ms, 90)), 3), "video_frames": n,
            "video_full_scan_share": round(what["full_scans"] / n, 3),
            "video_cpu_ms_per_frame": round(what["cpu_ms_per_frame"], 3),
            "video_face_share": round(what["frames_with_face"] / n, 3)}


if __name__ == "__main__":
    sys.exit(main())
