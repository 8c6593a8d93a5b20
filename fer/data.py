"""Folder-per-class data sets (one or several roots) loaded once into in-memory uint8 arrays."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .config import CLASS_ALIASES, CLASSES, IMAGE_EXTENSIONS, IMAGE_FORMATS

log = logging.getLogger(__name__)


class ImageSetError(ValueError):
    """A data set folder that can't be used; the message says which and why."""


def canonical_class(folder_name: str) -> str:
    """Map a class folder name ("Joy", "sadness", "Surprised") to our class name; unknown names pass through lower-cased."""
    key = folder_name.strip().lower()
    return CLASS_ALIASES.get(key, key)


def class_folders(root: Path) -> dict[str, list[Path]]:
    """Canonical class name -> the sub-folders of ``root`` holding it (aliases may merge folders)."""
    root = Path(root)
    if not root.is_dir():
        raise ImageSetError(f"data set folder not found: {root}")
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found.setdefault(canonical_class(sub.name), []).append(sub)
    if not found:
        raise ImageSetError(f"{root} has no class sub-folders (expected <root>/<class>/*.jpg)")
    return found


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted for reproducibility."""
    with_ext = (e.path for e in _scandir(folder) if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(Path(p) for p in with_ext)


def _scandir(folder: Path):
    import os
    with os.scandir(folder) as it:
        yield from it


def order_classes(names: set[str] | list[str]) -> list[str]:
    """Our seven classes first in their fixed order, then any others alphabetically."""
    names = set(names)
    return [c for c in CLASSES if c in names] + sorted(names - set(CLASSES))


def load_gray(path: Path, size: int) -> np.ndarray | None:
    """Read any image file as a (size, size) uint8 grayscale array; None when unreadable."""
    buf = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if buf.size else None
    if img is None:
        try:  # formats OpenCV lacks (gif, some webp/tiff flavours)
            from PIL import Image
            with Image.open(path, formats=IMAGE_FORMATS) as im:
                img = np.asarray(im.convert("L"))
        except Exception:
            return None
    if img.shape != (size, size):
        interp = cv2.INTER_AREA if min(img.shape) > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
    return img


@dataclass
class ImageSet:
    """Images as (N, size, size) uint8, labels as indices into ``classes``, and which root each came from."""
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    roots: list[str]
    root_index: np.ndarray
    paths: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unknown_classes: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Images per class."""
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}

    def per_root_accuracy(self, predicted: np.ndarray) -> dict[str, float]:
        """Accuracy of ``predicted`` label indices within each root (e.g. human vs animated faces)."""
        correct = np.asarray(predicted) == self.labels
        return {root: float(correct[self.root_index == i].mean()) for i, root in enumerate(self.roots)}

    def root_counts(self) -> dict[str, dict[str, int]]:
        """Images per class for each root."""
        out = {}
        for r, root in enumerate(self.roots):
            mask = self.root_index == r
            out[root] = {c: int(((self.labels == i) & mask).sum()) for i, c in enumerate(self.classes)}
        return out


def load_image_set(roots: list[Path] | Path, size: int, classes: list[str] | None = None,
                   workers: int = 8) -> ImageSet:
    """Load one or more folder-per-class roots into memory.

    ``classes`` fixes the label order (e.g. a model's classes); folders whose class is not in it
    are counted in ``unknown_classes`` rather than silently dropped. Without it, classes are the
    union of the folders found.
    """
    roots = [Path(r) for r in ([roots] if isinstance(roots, (str, Path)) else roots)]
    per_root = [class_folders(r) for r in roots]
    if classes is None:
        classes = order_classes({c for f in per_root for c in f})
    index = {c: i for i, c in enumerate(classes)}
    paths: list[Path] = []
    labels: list[int] = []
    root_idx: list[int] = []
    unknown: dict[str, int] = {}
    for r, folders in enumerate(per_root):
        for cls, subs in folders.items():
            files = [p for s in subs for p in list_images(s)]
            if cls not in index:
                unknown[f"{roots[r]}:{cls}"] = len(files)
                continue
            paths += files
            labels += [index[cls]] * len(files)
            root_idx += [r] * len(files)
    if not paths:
        raise ImageSetError(f"no images of classes {classes} found under {', '.join(map(str, roots))}")
    with ThreadPoolExecutor(workers) as pool:
        images = list(pool.map(lambda p: load_gray(p, size), paths, chunksize=256))
    ok = np.array([im is not None for im in images], dtype=bool)
    unreadable = [str(p) for p, good in zip(paths, ok) if not good]
    if unreadable:
        log.warning("%d unreadable images skipped, e.g. %s", len(unreadable), unreadable[0])
    stacked = np.stack([im for im in images if im is not None]).astype(np.uint8)
    return ImageSet(
        images=stacked,
        labels=np.asarray(labels, dtype=np.int32)[ok],
        classes=list(classes),
        roots=[str(r) for r in roots],
        root_index=np.asarray(root_idx, dtype=np.int32)[ok],
        paths=[str(p) for p, good in zip(paths, ok) if good],
        unreadable=unreadable,
        unknown_classes=unknown,
    )
