"""How many real faces the detector keeps, and at what cost, for several scan scales.

Pastes FER2013 faces (a fixed stratified sample of ``--split``, test by default) at several sizes and places into 640x480
frames and counts a face as found when a detected box overlaps it (IoU >= 0.3). Compares scanning
the full frame against the downscaled scans the product uses.

False boxes are counted on hard negatives too: the same faces upside down and turned a quarter
either way, three to a frame at 48, 96 and 160 px. They have a photo's texture and a face's parts
but are no frontal face, so every box there is a false one. (The plain canvas of the face frames
almost never draws a false box, so it can't tell a loose setting from a strict one.)

    python bench/detection_rate.py [--per-class 30] [--sizes 48 64 96 160] [--split val]
        [--face-px 0 24 30 36] [--neighbors 4] [--scale-factor 1.15]

With ``--video CLIP...`` (the shared real clips, whose visible faces are in bench/clip_truth.json) it
measures instead, on every frame of each clip and side by side in one run: the Haar detector,
BlazeFace (the default: both networks), short range alone and full range alone, each frame on its
own (a still) and, for Haar and BlazeFace, as the live page's video path (a LiveSession fed the clip
at its frame rate: near-searches between periodic rescans, tracking, all inline, as ``fer video``
runs) and the live page's way (the clip as the browser tests' 30 fps camera shows it, rescans and
region searches on the background pool, faces read every 45 ms). Found share and false boxes per
frame are counted against the truth; times are the median ms per frame of each of ``--repeats`` runs,
printed as the median and the range of those.

    python bench/detection_rate.py --video ../shared/data/videos/*.mp4 [--width 640] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from fer.train.compose import background, iou, paste_face  # noqa: E402
from fer.config import CLASSES, fer2013_root  # noqa: E402
from fer.train.data import list_images, load_gray  # noqa: E402
from fer.faces.detectors.base import Box, DetectorSettings  # noqa: E402
from fer.faces.detectors.haar import FaceDetector  # noqa: E402


def sample_faces(per_class: int, seed: int = 3, split: str = "test") -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    root = fer2013_root() / split
    if not root.is_dir():
        sys.exit(f"FER2013 not found at {root} (set FER_DATA_DIR)")
    out = []
    for c in CLASSES:
        files = list_images(root / c)
        out += [load_gray(files[i], 48) for i in sorted(rng.permutation(len(files))[:per_class])]
    return out


def negative_frames(faces: list[np.ndarray], sizes: tuple[int, ...] = (48, 96, 160), seed: int = 5) -> list[np.ndarray]:
    """Gray 640x480 frames each holding one face turned upside down, a quarter left or right."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, crop in enumerate(faces):
        for turned in (crop[::-1], np.rot90(crop), np.rot90(crop, -1)):
            frame = background(640, 480, seed=1000 + i)
            for s in sizes:
                x, y = int(rng.integers(0, 640 - s)), int(rng.integers(0, 480 - s))
                paste_face(frame, np.ascontiguousarray(turned), Box(x, y, s, s))
            frames.append(frame[..., 1].copy())
    return frames


def still_rates(clip, detect, gray: bool) -> tuple[list[list[Box]], list[float]]:
    """Each frame on its own through ``detect``: (boxes per frame, ms per frame)."""
    from fer.pipeline import to_gray
    boxes, ms = [], []
    for frame in clip.frames:
        image = to_gray(frame) if gray else frame
        t = time.perf_counter()
        boxes.append(detect(image))
        ms.append((time.perf_counter() - t) * 1e3)
    return boxes, ms


def _paced(session, pipe, frames: list, fps: float) -> tuple[list[list[Box]], list[float]]:
    """``frames`` through ``session`` at ``fps`` on the wall clock: (boxes shown, ms) per frame."""
    boxes, ms = [], []
    for frame in frames:
        due = time.perf_counter() + 1 / fps
        t = time.perf_counter()
        session.process(frame.copy(), pipe)
        ms.append((time.perf_counter() - t) * 1e3)
        update = session.latest()
        boxes.append([f.box for f in update.faces] if update else [])
        time.sleep(max(0.0, due - time.perf_counter()))
    return boxes, ms


def video_rates(clip, pipe, skip_unchanged: bool = True) -> tuple[list[list[Box]], list[float]]:
    """The clip as the live page sees it: a LiveSession fed each frame at the clip's pace
    (detect + classify + track; drawing is on a copy, as live). ``skip_unchanged``: rescans look
    only where the picture changed (the product's way) or at the whole frame (for comparison)."""
    from fer.stream.live import LiveSession
    return _paced(LiveSession(skip_unchanged=skip_unchanged), pipe, clip.frames, clip.fps)


def _camera_frames(items: list, fps: float, camera_fps: float) -> list:
    """``items`` (a clip's frames, or their truths) as a ``camera_fps`` camera shows the clip."""
    n = int(round(len(items) / fps * camera_fps))
    return [items[min(len(items) - 1, int(i * fps / camera_fps))] for i in range(n)]


def live_rates(clip, pipe, camera_fps: float = 30.0) -> tuple[list[list[Box]], list[float]]:
    """The clip as the live page's camera shows it (each frame repeated at its own timing in a 30
    fps camera, as tests/browser/real_footage.py makes it), through a LiveSession the page's way:
    rescans and missed faces' region searches on the background pool, each face read every 45 ms,
    paced by the wall clock. Scored per camera frame against its clip frame's truth (``live_truth``):
    (boxes, ms) per camera frame."""
    from fer.stream.live import LIVE_READ_EVERY_S, LiveSession
    session = LiveSession(read_every_s=LIVE_READ_EVERY_S, background_rescans=True)
    return _paced(session, pipe, _camera_frames(clip.frames, clip.fps, camera_fps), camera_fps)


def live_truth(clip, camera_fps: float = 30.0) -> list[list[Box]]:
    """``live_rates``' truth: each camera frame's clip frame's faces."""
    return _camera_frames(clip.truth, clip.fps, camera_fps)


def video_main(args: argparse.Namespace) -> int:
    """The ``--video`` comparison (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from clips import load_clip, score
    from fer.faces.detectors import DetectorSettings as Settings, make_detector
    from fer.classify.model import load_classifier
    from fer.pipeline import FramePipeline

    clf = load_classifier(args.model)
    detectors = {name: make_detector(Settings(name=name))
                 for name in ("haar", "blazeface", "blazeface-short", "blazeface-full")}
    runs = []
    for name, det in detectors.items():
        runs.append((name, "still", lambda c, d=det: still_rates(c, d.detect, gray=d.takes == "gray")))
    for name in ("haar", "blazeface"):
        pipe = FramePipeline(clf, make_detector(Settings(name=name)))
        runs.append((name, "video path", lambda c, p=pipe: video_rates(c, p)))
    pipe = FramePipeline(clf, make_detector(Settings(name="haar")))
    runs.append(("haar", "video path, whole-frame rescans",
                 lambda c, p=pipe: video_rates(c, p, skip_unchanged=False)))
    for name in ("haar", "blazeface"):
        pipe = FramePipeline(clf, make_detector(Settings(name=name)))
        runs.append((name, "live page's way, 30 fps", lambda c, p=pipe: live_rates(c, p)))
    for path in args.video:
        clip = load_clip(path, args.width)
        for name, mode, run in runs:
            medians, means, scores = [], [], []
            for _ in range(args.repeats):
                boxes, ms = run(clip)
                medians.append(statistics.median(ms))
                means.append(statistics.mean(ms))
                scores.append(score(boxes, live_truth(clip) if mode.startswith("live") else clip.truth))
            sc = scores[-1]
            row = {"clip": clip.name, "size": list(clip.frames[0].shape[1::-1]), "detector": name, "mode": mode,
                   "found_share": round(sc.found_share, 3), "false_per_frame": round(sc.false_per_frame, 3),
                   "found_share_range": [round(min(x.found_share for x in scores), 3),
                                         round(max(x.found_share for x in scores), 3)],
                   "median_ms": round(statistics.median(medians), 2),
                   "median_ms_range": [round(min(medians), 2), round(max(medians), 2)],
                   "mean_ms": round(statistics.median(means), 2),
                   "frames": len(boxes), "repeats": args.repeats}
            print(json.dumps(row), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", nargs="+", help="real clips with truth in bench/clip_truth.json (see above)")
    p.add_argument("--width", type=int, default=640, help="--video: frames resized to this width (0 = as is)")
    p.add_argument("--repeats", type=int, default=3, help="--video: runs per detector and clip")
    p.add_argument("--model", help="--video: the classifier of the video path (default: the shipped model)")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--sizes", type=int, nargs="+", default=[48, 64, 96, 160])
    p.add_argument("--face-px", type=int, nargs="+", default=[0, 24, 30, 36],
                   help="scan scales: a min-size face becomes this many pixels (0 = full frame)")
    p.add_argument("--neighbors", type=int, nargs="+", default=[DetectorSettings().min_neighbors])
    p.add_argument("--scale-factor", type=float, nargs="+", default=[DetectorSettings().scale_factor])
    p.add_argument("--split", default="test", help="FER2013 split the faces come from: choose settings on val, "
                                                   "report test")
    args = p.parse_args(argv)
    if args.video:
        return video_main(args)
    faces = sample_faces(args.per_class, split=args.split)
    rng = np.random.default_rng(11)
    frames = []
    for i, crop in enumerate(faces):
        for s in args.sizes:
            x, y = int(rng.integers(0, 640 - s)), int(rng.integers(0, 480 - s))
            frames.append((paste_face(background(640, 480, seed=i), crop, Box(x, y, s, s)), Box(x, y, s, s), s))
    negatives = negative_frames(faces)
    rows = []
    grid = [(px, nb, sf) for px in args.face_px for nb in args.neighbors for sf in args.scale_factor]
    for px, nb, sf in grid:
        settings = DetectorSettings(detect_face_px=px if px else 48, min_neighbors=nb, scale_factor=sf)
        det = FaceDetector(settings)
        found = {s: 0 for s in args.sizes}
        false = 0
        ms = []
        for frame, truth, s in frames:
            gray = frame[..., 1]
            t = time.perf_counter()
            boxes = det.detect(gray)
            ms.append((time.perf_counter() - t) * 1e3)
            hit = [b for b in boxes if iou(b, truth) >= 0.3]
            found[s] += bool(hit)
            false += len(boxes) - len(hit)
        n = len(faces)
        row = {"scan": "full frame" if not px else f"min face -> {px}px (x{det.shrink_factor():.2f})",
               "min_neighbors": nb, "scale_factor": sf,
               "median_ms": round(statistics.median(ms), 2),
               "detection_rate": {s: round(found[s] / n, 3) for s in args.sizes},
               "overall_rate": round(sum(found.values()) / len(frames), 3), "false_boxes": false,
               "false_boxes_on_turned_faces": sum(len(det.detect(g)) for g in negatives),
               "turned_frames": len(negatives)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
