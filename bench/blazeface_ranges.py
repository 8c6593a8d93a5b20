"""Where each BlazeFace network finds faces, and how often the default detector finds a data set's
tight crops: the figures behind ``fer.faces.detectors.two_range``'s constants, in one run.

- ``sizes``: every face of every other frame of the shared real clips (../shared/data/videos, boxes
  from bench/clip_truth.json) cut out with its surroundings so that its box side is a given fraction
  of the picture (a square, scaled to 640 px; the clip's edges mirrored where the cut runs past
  them), then looked for by short range and by full range alone (found: a box with IoU >= 0.3).
- ``crops``: a seeded random sample of each data set's test images (RAF-DB 100x100, AffectNet 96x96,
  FER2013 48x48: one face filling the picture), looked for by the default detector, by both networks
  on the picture as it is (no padded look), by short range alone, and by full range alone; with the
  median ms a picture of the default detector.

    python bench/blazeface_ranges.py [--fractions 0.1 0.13 0.16 0.2 0.25 0.3 0.4 0.5 0.6 0.7]
                                     [--crops 500] [--skip sizes|crops]

The last line printed is JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(1, str(BENCH))

import cv2  # noqa: E402

from clips import load_clip, videos_dir  # noqa: E402  (bench/clips.py)
from fer.config import IMAGE_EXTENSIONS, data_root  # noqa: E402
from fer.faces.detectors import DetectorSettings, make_detector  # noqa: E402
from fer.faces.detectors.base import Box, iou  # noqa: E402

CLIPS = ("head-pose-face-detection-female-and-male.mp4", "face-demographics-walking-and-pause.mp4")
SIDE = 640


def cut_out(frame, box: Box, fraction: float):
    """A ``SIDE``-px square around ``box`` in which the box's side is ``fraction`` of the square, and
    the box in it."""
    side = max(2, int(round(box.w / fraction)))
    cx, cy = box.x + box.w // 2, box.y + box.h // 2
    big = cv2.copyMakeBorder(frame, side, side, side, side, cv2.BORDER_REFLECT)
    x0, y0 = cx - side // 2 + side, cy - side // 2 + side
    square = cv2.resize(big[y0:y0 + side, x0:x0 + side], (SIDE, SIDE), interpolation=cv2.INTER_AREA
                        if side > SIDE else cv2.INTER_CUBIC)
    k = SIDE / side
    return square, Box(round((box.x + side - x0) * k), round((box.y + side - y0) * k), round(box.w * k),
                       round(box.h * k))


def sizes(fractions: list[float]) -> list[dict]:
    nets = {n: make_detector(DetectorSettings(name=f"blazeface-{n}", min_size=8)) for n in ("short", "full")}
    rows = []
    for name in CLIPS:
        clip = load_clip(videos_dir() / name)
        for fraction in fractions:
            found = {n: 0 for n in nets}
            total = 0
            for frame, truth in zip(clip.frames[::2], clip.truth[::2]):
                for box in truth:
                    square, where = cut_out(frame, box, fraction)
                    total += 1
                    for n, det in nets.items():
                        found[n] += any(iou(b, where) >= 0.3 for b in det.detect(square))
            row = {"clip": name, "face_side_fraction": fraction, "faces": total,
                   **{f"{n}_range_found": round(found[n] / total, 3) for n in nets}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def crops(n: int, seed: int = 0) -> list[dict]:
    det = make_detector()
    rows = []
    for name in ("rafdb", "affectnet", "fer2013"):
        root = data_root() / name / "test"
        if not root.is_dir():
            print(f"skipped {name}: {root} not found", file=sys.stderr)
            continue
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        sample = random.Random(seed).sample(files, min(n, len(files)))
        counts = {"default": 0, "both_networks_as_is": 0, "short_range": 0, "full_range": 0}
        ms = []
        for path in sample:
            image = cv2.imread(str(path))
            t = time.perf_counter()
            counts["default"] += bool(det.detect(image))
            ms.append((time.perf_counter() - t) * 1e3)
            counts["both_networks_as_is"] += bool(det._whole(image, {}))
            counts["short_range"] += bool(det.short.detect(image))
            counts["full_range"] += bool(det.full.detect(image))
        row = {"data_set": name, "images": len(sample), "size": list(cv2.imread(str(sample[0])).shape[1::-1]),
               **{f"found_{k}": round(v / len(sample), 3) for k, v in counts.items()},
               "median_ms_default": round(statistics.median(ms), 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7])
    p.add_argument("--crops", type=int, default=500, help="test images per data set")
    p.add_argument("--skip", nargs="*", default=[], choices=["sizes", "crops"])
    args = p.parse_args(argv)
    result = {}
    if "sizes" not in args.skip:
        result["sizes"] = sizes(args.fractions)
    if "crops" not in args.skip:
        result["crops"] = crops(args.crops)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
