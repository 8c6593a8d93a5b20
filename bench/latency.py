"""Frame pipeline latency on one image: detect + classify + draw, repeated; prints the median.

    python bench/latency.py FRAME.jpg [--runs 200] [--model NAME] [--json]

Also reports the classifier alone (ms per face at batch 1) and the detector alone. The last line
printed is JSON: {"median_ms": ..., "faces": N, ...}.
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

from fer.detection import DetectorSettings, FaceDetector  # noqa: E402
from fer.imageio import read_image  # noqa: E402
from fer.model import load_classifier  # noqa: E402
from fer.pipeline import FramePipeline, crop_faces, draw_faces, to_gray  # noqa: E402


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
    p.add_argument("--json", action="store_true", help="print only the JSON line")
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
    result = {
        "frame": args.frame, "size": [int(frame.shape[1]), int(frame.shape[0])], "faces": len(faces),
        "median_ms": round(statistics.median(frame_ms), 3),
        "p90_ms": round(float(np.percentile(frame_ms, 90)), 3),
        "detect_median_ms": round(statistics.median(detect_ms), 3),
        "classifier_ms_per_face": round(statistics.median(clf_ms), 4),
        "runs": args.runs, "model": clf.info.name, "litert_threads": args.threads,
    }
    if not args.json:
        print(f"frame {result['size'][0]}x{result['size'][1]}, {len(faces)} face(s), model {clf.info.name}")
        print(f"  whole frame (detect + classify + draw): median {result['median_ms']:.2f} ms, "
              f"p90 {result['p90_ms']:.2f} ms")
        print(f"  detector alone: median {result['detect_median_ms']:.2f} ms")
        print(f"  classifier alone, batch 1: median {result['classifier_ms_per_face']:.3f} ms/face")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
