"""Training crops cut the way the pipeline cuts faces: each data set image is searched with BlazeFace
(padded, since data set images are tight crops), lined up by its eyes with ``fer.faces.align`` and
kept as a larger "context" crop, from which training cuts its randomly scaled and shifted crops.

Why: a classifier learns the framing of its training crops. RAF-DB's own crops are tighter than
AffectNet's and FER2013's are looser; cut all three the pipeline's way, a model sees every source
framed as live faces will be framed.

The crops of one split are cached as one ``.npz`` (uint8 arrays, a few hundred MB for the largest)
outside the repository; building all three data sets takes a few minutes on two cores.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.config import CLASSES, data_root
from fer.faces.align import SIDE_IN_EYE_DISTANCES, Eyes, align_face
from fer.faces.tight import SEARCH_PAD, find_eyes
from fer.train.data import class_folders, list_images

#: Context crops hold this many times the pipeline's framing, so training can zoom out to 1.3x and
#: shift without running out of picture.
CONTEXT = 1.5


@dataclass
class CropSet:
    """One split's context crops: images (N, S, S, 3) uint8 RGB, labels (N,) class indices, paths
    relative to the data folder, and which images BlazeFace found a face in (the rest were cut at
    the split's median eye position)."""
    images: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    found: np.ndarray


def context_side(size: int) -> int:
    """The context crop's side for a model input of ``size``."""
    return int(round(size * CONTEXT))


def _read_rgb(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # gray files come back as three equal channels
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def build_crops(root: Path, size: int, limit_per_class: int | None = None, log=print) -> CropSet:
    """Every image of a folder-per-class split, cut as a context crop for a model of input ``size``."""
    folders = class_folders(root)
    items = []
    for c, subs in folders.items():
        if c in CLASSES:
            files = [p for sub in subs for p in list_images(sub)]
            items += [(p, CLASSES.index(c)) for p in (files[:limit_per_class] if limit_per_class else files)]
    side = context_side(size)
    images = np.zeros((len(items), side, side, 3), np.uint8)
    labels = np.array([c for _, c in items], np.int16)
    found = np.zeros(len(items), bool)
    eyes_rel: list[tuple[float, float, float, float] | None] = []
    t0 = time.time()
    pictures = []
    for i, (path, _) in enumerate(items):
        rgb = _read_rgb(path)
        pictures.append(rgb)
        e = find_eyes(rgb[..., ::-1]) if rgb is not None else None
        if e is None:
            eyes_rel.append(None)
        else:
            h, w = rgb.shape[:2]
            eyes_rel.append((e.right[0] / w, e.right[1] / h, e.left[0] / w, e.left[1] / h))
            found[i] = True
            images[i] = align_face(rgb, e, side, scale=CONTEXT)
            pictures[i] = None  # no longer needed
        if (i + 1) % 2000 == 0:
            log(f"  {root}: {i + 1}/{len(items)} ({time.time() - t0:.0f} s, {found[:i + 1].mean():.1%} found)")
    # Faces BlazeFace missed: cut at the split's median eye position (its images share one framing).
    known = np.array([r for r in eyes_rel if r is not None]) if any(found) else np.array([[0.33, 0.4, 0.67, 0.4]])
    median = np.median(known, axis=0)
    for i, rgb in enumerate(pictures):
        if rgb is None or found[i]:
            continue
        h, w = rgb.shape[:2]
        images[i] = align_face(rgb, Eyes((median[0] * w, median[1] * h), (median[2] * w, median[3] * h)),
                               side, scale=CONTEXT)
    unreadable = sum(p is None and not f for p, f in zip(pictures, found))
    if unreadable:
        log(f"  {root}: {unreadable} unreadable images (left black, label kept)")
    base = data_root()
    paths = np.array([str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p, _ in items])
    return CropSet(images, labels, paths, found)


def cache_path(cache_dir: Path, root: Path, size: int, limit_per_class: int | None = None) -> Path:
    """Where one split's crops are cached: named by data set, split and size, plus a hash of the
    framing constants so a change of framing never reuses old crops."""
    tag = hashlib.sha1(f"{SIDE_IN_EYE_DISTANCES}|{CONTEXT}|{SEARCH_PAD}".encode()).hexdigest()[:8]
    limit = f"_first{limit_per_class}" if limit_per_class else ""
    return cache_dir / f"{root.parent.name}_{root.name}_{size}{limit}_{tag}.npz"


def _larger_cache(cache_dir: Path, root: Path, size: int, limit_per_class: int | None) -> Path | None:
    """The cached crops of the same split at the smallest input size above ``size``, if any."""
    bigger = [n for n in range(size + 1, 4 * size + 1)
              if cache_path(cache_dir, root, n, limit_per_class).is_file()]
    return cache_path(cache_dir, root, bigger[0], limit_per_class) if bigger else None


def load_or_build(root: Path, size: int, cache_dir: Path, log=print, limit_per_class: int | None = None) -> CropSet:
    """The cached crops of a split (its first ``limit_per_class`` images of each class when given),
    built first if missing."""
    path = cache_path(cache_dir, root, size, limit_per_class)
    if path.is_file():
        z = np.load(path)
        return CropSet(z["images"], z["labels"], z["paths"], z["found"])
    larger = _larger_cache(cache_dir, root, size, limit_per_class)
    if larger is not None:
        # The same faces at a higher resolution: the framing depends on the eyes alone, so shrinking
        # those crops gives what cutting the split again would, without running BlazeFace again.
        log(f"shrinking {larger.name} into {path.name} ...")
        z = np.load(larger)
        side = context_side(size)
        images = np.stack([cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in z["images"]])
        s = CropSet(images, z["labels"], z["paths"], z["found"])
    else:
        log(f"cutting {root} into {path} ...")
        s = build_crops(root, size, limit_per_class, log=log)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=s.images, labels=s.labels, paths=s.paths, found=s.found)
    tmp.replace(path)
    log(f"  {len(s.labels)} crops, BlazeFace found {s.found.mean():.1%}")
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Cut and cache aligned training crops of data set splits.")
    ap.add_argument("roots", nargs="+", type=Path)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--cache", type=Path, required=True)
    a = ap.parse_args(argv)
    for r in a.roots:
        load_or_build(r, a.size, a.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
