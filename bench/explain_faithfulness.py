"""Which heat map explains the served model best: deletion and insertion areas on FER2013 val crops.

For each crop, the class the served (LiteRT) model predicts is explained by every method; each map's
deletion curve (most blamed pixels greyed out first; lower area = more faithful) and insertion curve
(most blamed pixels revealed first on a grey crop; higher area = more faithful) are measured on the
served model (fer/classify/faithfulness.py). Two maps that know nothing are measured alongside: a random smooth
map (6x6 noise upsampled, the texture of a CAM) and a centred blob (a map that always says "the middle
of the face"). Also printed: how often the hottest pixel sits in the crop's outer band (the 1/8 of the
side along each edge) and the share of the heat in the central 44 % of the crop.

    python bench/explain_faithfulness.py [--split val] [--per-class 25] [--steps 20] [--json out.json]

Val, not test: the default method is chosen on these figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if "tensorflow" not in sys.modules:  # aiortc before TensorFlow (fer/classify/explain.py)
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer.config import CLASSES, fer2013_root  # noqa: E402
from fer.train.data import list_images, load_gray  # noqa: E402
from fer.classify.explain import GRAD_CAM, HIRESCAM, OCCLUSION, SMOOTHGRAD, explain_face  # noqa: E402
from fer.classify.faithfulness import deletion_insertion  # noqa: E402
from fer.classify.model import load_classifier  # noqa: E402

RANDOM = "random smooth map"
CENTRE = "centred blob"


def sample(split: str, per_class: int, seed: int) -> list[tuple[np.ndarray, str]]:
    root = fer2013_root() / split
    if not root.is_dir():
        sys.exit(f"FER2013 not found at {root} (set FER_DATA_DIR)")
    rng = np.random.default_rng(seed)
    out = []
    for c in CLASSES:
        files = list_images(root / c)
        out += [(load_gray(files[i], 48), c) for i in sorted(rng.permutation(len(files))[:per_class])]
    return out


def random_smooth(side: int, rng: np.random.Generator) -> np.ndarray:
    return cv2.resize(rng.random((6, 6)).astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)


def centred_blob(side: int) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side] - (side - 1) / 2
    return np.exp(-(xx ** 2 + yy ** 2) / (2 * (side / 4) ** 2)).astype(np.float32)


def outer_band(heat: np.ndarray) -> bool:
    side = heat.shape[0]
    b = max(1, side // 8)
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return min(y, x) < b or max(y, x) >= side - b


def centre_share(heat: np.ndarray) -> float:
    side = heat.shape[0]
    m = round(side * (1 - 0.44 ** 0.5) / 2)  # a central square of 44 % of the area
    total = float(heat.sum())
    return float(heat[m:side - m, m:side - m].sum()) / total if total > 0 else float("nan")


def quartiles(v: list[float]) -> str:
    q = np.percentile(v, [25, 50, 75])
    return f"{q[1]:.3f} [{q[0]:.3f}-{q[2]:.3f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", help="FER2013 split to sample (default: val)")
    ap.add_argument("--per-class", type=int, default=25, help="crops per class (default: 25)")
    ap.add_argument("--steps", type=int, default=20, help="points per curve (default: 20)")
    ap.add_argument("--seed", type=int, default=11, help="sample seed (default: 11)")
    ap.add_argument("--model", help="model name or folder (default: the shipped model)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    clf = load_classifier(args.model)
    crops = sample(args.split, args.per_class, args.seed)
    rng = np.random.default_rng(0)
    methods = [OCCLUSION, HIRESCAM, GRAD_CAM, RANDOM, CENTRE]
    dele = {m: [] for m in methods}
    ins = {m: [] for m in methods}
    band = {m: 0 for m in methods}
    share = {m: [] for m in methods}
    ms = {m: [] for m in methods}
    fallbacks = {m: 0 for m in methods}
    explain_face(clf, crops[0][0], method=HIRESCAM)  # load TensorFlow and the Keras model outside the timings
    for n_done, (crop, _) in enumerate(crops):
        if n_done % 25 == 0:
            print(f"  {n_done}/{len(crops)} crops ...", file=sys.stderr, flush=True)
        k = int(np.argmax(clf.predict(crop[None])[0]))
        for m in methods:
            t0 = time.perf_counter()
            if m == RANDOM:
                heat = random_smooth(crop.shape[0], rng)
            elif m == CENTRE:
                heat = centred_blob(crop.shape[0])
            else:
                ex = explain_face(clf, crop, class_index=k, method=m)
                heat = ex.heatmap
                fallbacks[m] += ex.method == SMOOTHGRAD
            ms[m].append((time.perf_counter() - t0) * 1e3)
            c = deletion_insertion(clf.predict, crop, heat, k, steps=args.steps)
            dele[m].append(c.deletion_auc)
            ins[m].append(c.insertion_auc)
            band[m] += int(outer_band(heat))
            share[m].append(centre_share(heat))

    n = len(crops)
    print(f"model {clf.info.name}, FER2013 {args.split}: {n} crops ({args.per_class} per class), "
          f"{args.steps} steps per curve, explaining the served model's top class")
    print(f"{'method':<20} {'deletion AUC (lower better)':>29} {'insertion AUC (higher better)':>31} "
          f"{'ins-del':>8} {'hottest in outer band':>22} {'heat in central 44%':>20} {'ms/map':>8}")
    rows = {}
    for m in methods:
        gap = float(np.mean(ins[m]) - np.mean(dele[m]))
        rows[m] = {"deletion_auc_median": float(np.median(dele[m])), "deletion_auc_mean": float(np.mean(dele[m])),
                   "insertion_auc_median": float(np.median(ins[m])), "insertion_auc_mean": float(np.mean(ins[m])),
                   "insertion_minus_deletion": gap, "hottest_in_outer_band": int(band[m]), "n": n,
                   "central_heat_share_median": float(np.nanmedian(share[m])),
                   "ms_per_map_median": float(statistics.median(ms[m])), "smoothgrad_fallbacks": int(fallbacks[m])}
        print(f"{m:<20} {quartiles(dele[m]):>29} {quartiles(ins[m]):>31} {gap:8.3f} {band[m]:>15d} of {n:<4d}"
              f" {np.nanmedian(share[m]):>19.0%} {statistics.median(ms[m]):8.1f}")
    print("(median [quartiles] over crops; ins-del = mean insertion - mean deletion; ms/map under the shared load)")
    for m in (HIRESCAM, GRAD_CAM, RANDOM, CENTRE):
        wins_d = float(np.mean(np.array(dele[OCCLUSION]) < np.array(dele[m])))
        wins_i = float(np.mean(np.array(ins[OCCLUSION]) > np.array(ins[m])))
        rows[OCCLUSION][f"beats_{m}_deletion"] = wins_d
        rows[OCCLUSION][f"beats_{m}_insertion"] = wins_i
        print(f"{OCCLUSION} beats {m} on {wins_d:.0%} of crops (deletion), {wins_i:.0%} (insertion)")
    for m in (HIRESCAM, GRAD_CAM):
        if fallbacks[m]:
            print(f"{m}: no positive evidence on {fallbacks[m]} crops (SmoothGrad fallback used)")
    if args.json:
        Path(args.json).write_text(json.dumps({"split": args.split, "per_class": args.per_class,
                                               "steps": args.steps, "model": clf.info.name, "methods": rows},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
