"""Folder-per-class data sets (one or several roots) loaded once into in-memory uint8 arrays."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import cv2
import numpy as np

from ..config import CLASS_ALIASES, CLASSES, IMAGE_EXTENSIONS, IMAGE_FORMATS

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


def reframe(img: np.ndarray, scale: float) -> np.ndarray:
    """Show ``scale`` times the image's side around its centre: above 1 adds a replicated border
    (zooms out: a tight crop made to look like a looser one), below 1 cuts a centred crop."""
    if abs(scale - 1.0) < 1e-3:
        return img
    h, w = img.shape[:2]
    if scale > 1:
        py, px = int(round(h * (scale - 1) / 2)), int(round(w * (scale - 1) / 2))
        return cv2.copyMakeBorder(img, py, py, px, px, cv2.BORDER_REPLICATE)
    ch, cw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return img[y0:y0 + ch, x0:x0 + cw]


def load_gray(path: Path, size: int, framing: float = 1.0) -> np.ndarray | None:
    """Read any image file as a (size, size) uint8 grayscale array, ``framing`` applied first
    (see ``reframe``); None when unreadable."""
    buf = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if buf.size else None
    if img is None:
        try:  # formats OpenCV lacks (gif, some webp/tiff flavours)
            from PIL import Image
            with Image.open(path, formats=IMAGE_FORMATS) as im:
                img = np.asarray(im.convert("L"))
        except Exception:
            return None
    img = reframe(img, framing)
    if img.shape != (size, size):
        interp = cv2.INTER_AREA if min(img.shape) > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
    return img


@dataclass
class ImageSet:
    """Images as (N, size, size[, 3]) uint8, labels as indices into ``classes``, and which root each came from."""
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    roots: list[str]
    root_index: np.ndarray
    paths: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unknown_classes: dict[str, int] = field(default_factory=dict)

    def subset(self, keep: np.ndarray) -> "ImageSet":
        """The images where the bool mask (or index array) ``keep`` selects them."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return ImageSet(self.images[idx], self.labels[idx], self.classes, self.roots, self.root_index[idx],
                        [self.paths[i] for i in idx] if self.paths else [], self.unreadable,
                        self.unknown_classes)

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
                   workers: int = 8, framing: dict[str, float] | None = None,
                   reader: Callable[[Path], np.ndarray | None] | None = None) -> ImageSet:
    """Load one or more folder-per-class roots into memory.

    ``classes`` fixes the label order (e.g. a model's classes); folders whose class is not in it
    are counted in ``unknown_classes`` rather than silently dropped. Without it, classes are the
    union of the folders found. ``framing`` maps a root (as given) to its ``reframe`` scale, so
    sources cropped tighter or looser than the pipeline's face crops are brought to its framing.
    ``reader``: reads one file as the model's input (None when unreadable), instead of ``load_gray``
    (a colour model's eyes-level crops: ``FramePipeline.whole_crop``).
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
    framing = {str(Path(k)): float(v) for k, v in (framing or {}).items()}
    unknown_roots = set(framing) - {str(r) for r in roots}
    if unknown_roots:
        raise ImageSetError(f"framing given for {sorted(unknown_roots)}, which are not among the roots")
    scales = [framing.get(str(roots[r]), 1.0) for r in root_idx]
    with ThreadPoolExecutor(workers) as pool:
        read = (lambda ps: reader(ps[0])) if reader else (lambda ps: load_gray(ps[0], size, ps[1]))
        images = list(pool.map(read, zip(paths, scales), chunksize=256))
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


def hold_out(s: ImageSet, root: str, fraction: float) -> tuple[ImageSet, ImageSet]:
    """Split ``root``'s images of ``s`` into (the rest of ``s``, a held-out part of ``fraction``),
    stratified by nothing but a stable hash of each file's name, so the split never changes
    between runs, resumes or machines (for sets such as RAF-DB that have no val split)."""
    if not 0 < fraction < 1:
        raise ImageSetError(f"hold-out fraction must be between 0 and 1, got {fraction}")
    roots = [str(Path(r)) for r in s.roots]
    key = str(Path(root))
    if key not in roots:
        raise ImageSetError(f"hold-out root {root} is not among the training roots {s.roots}")
    r = roots.index(key)
    held = (s.root_index == r) & held_out_mask(s.paths, fraction)
    return s.subset(~held), s.subset(held)


def held_out_mask(paths, fraction: float) -> np.ndarray:
    """Which of ``paths`` a hold-out of ``fraction`` takes: a stable hash of each file's name below the
    fraction, so the held-out part is the same in every run, resume, machine and training script."""
    import hashlib
    cut = int(fraction * 2**32)
    return np.array([int.from_bytes(hashlib.sha1(Path(p).name.encode()).digest()[:4], "big") < cut
                     for p in paths], dtype=bool)


def source_name(root: str | Path) -> str:
    """A short name for a data root: ``../shared/data/rafdb/train`` -> ``rafdb``, other folders by name."""
    base, _, tag = str(root).partition("#")
    if tag:
        return f"{source_name(base)}_{tag}"
    p = Path(base)
    return p.parent.name if p.name.lower() in {"train", "val", "valid", "validation", "test"} and p.parent.name else p.name


def concat(sets: list[ImageSet], names: list[str] | None = None) -> ImageSet:
    """One set of several (same classes and size); each part becomes a root of its own, named by
    ``names`` where given (a held-out part of a training root needs a name of its own)."""
    if not sets:
        raise ImageSetError("nothing to join")
    classes = sets[0].classes
    if any(s.classes != classes for s in sets):
        raise ImageSetError("cannot join sets with different classes")
    roots: list[str] = []
    root_index = []
    for k, s in enumerate(sets):
        base = len(roots)
        if names and names[k]:
            roots.append(names[k])
            root_index.append(np.full(len(s.labels), base, dtype=np.int32))
        else:
            roots += s.roots
            root_index.append(s.root_index + base)
    return ImageSet(np.concatenate([s.images for s in sets]), np.concatenate([s.labels for s in sets]),
                    classes, roots, np.concatenate(root_index), [p for s in sets for p in s.paths],
                    [u for s in sets for u in s.unreadable],
                    {k: v for s in sets for k, v in s.unknown_classes.items()})


V = TypeVar("V")


def values_per_root(values: dict[str, V], roots: list[str], option: str | None = None) -> dict[str, V]:
    """The value for each of ``roots`` of a per-source option (framing, source weight, teacher):
    given per source (``rafdb``) or per root path. With ``option`` (its flag, for the message), a key
    that names none of ``roots`` is an error."""
    out, matched = {}, set()
    for r in roots:
        for key, v in values.items():
            if key in (r, source_name(r)):
                out[r] = v
                matched.add(key)
    if option:
        unknown = [key for key in values if key not in matched]
        if unknown:
            raise ValueError(f"{option} given for {sorted(unknown)}, which are not among the training roots")
    return out


def model_crop_reader(classifier) -> Callable[[Path], np.ndarray | None] | None:
    """For a model of eyes-level crops (a ``fer.classify.model.Classifier``): a reader of data set
    files as such crops, the face found and lined up as ``predict --no-detect`` does (None for an
    unreadable file). None for a gray model, whose crops are the whole image resized (``load_gray``)."""
    if classifier.framing != "eyes":
        return None
    from ..imageio import ImageError, decode_image
    from ..pipeline import FramePipeline
    pipe = FramePipeline(classifier)

    def read(path: Path) -> np.ndarray | None:
        try:
            return pipe.whole_crop(decode_image(Path(path).read_bytes(), str(path)))[0]
        except (ImageError, OSError):
            return None
    return read
