"""How each training source's images are framed compared with the crops the pipeline cuts around a
detected face: each image is upscaled to 200 px, given a replicated border, run through the
product's Haar detector, and the pipeline's crop side (box plus CROP_MARGIN) is divided by the
image side. A source whose ratio differs from FER2013's is brought to FER2013's framing with
``train --framing SOURCE=SCALE`` (SCALE = its ratio / FER2013's).

    python bench/crop_framing.py [--n 300]
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer.config import CROP_MARGIN, data_root  # noqa: E402
from fer.faces.detection import DetectorSettings, FaceDetector  # noqa: E402


def ratios(files: list[Path], det: FaceDetector) -> np.ndarray:
    out = []
    for f in files:
        g = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        up = cv2.resize(g, (200, 200), interpolation=cv2.INTER_LINEAR)
        boxes = det.detect(cv2.copyMakeBorder(up, 100, 100, 100, 100, cv2.BORDER_REPLICATE))
        if boxes:
            b = max(boxes, key=lambda b: b.w * b.h)
            out.append(max(b.w, b.h) * (1 + 2 * CROP_MARGIN) / 200)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="images sampled per source (train split)")
    args = ap.parse_args()
    det = FaceDetector(DetectorSettings(min_size=20))
    ref = None
    for name in ("fer2013", "rafdb", "affectnet"):
        files = sorted((data_root() / name / "train").glob("*/*.jpg"))
        random.Random(0).shuffle(files)
        r = ratios(files[:args.n], det)
        med = float(np.median(r))
        ref = ref or med
        print(f"{name:10s} faces found {len(r)}/{args.n}  pipeline crop / image side: median {med:.2f} "
              f"(p25 {np.percentile(r, 25):.2f}, p75 {np.percentile(r, 75):.2f})  -> --framing {name}={med / ref:.3f}")


if __name__ == "__main__":
    main()
