"""What a folder-per-class data set really holds: splits, class counts, image sizes and colour modes,
corrupt files, exact duplicates (and duplicates shared between splits, i.e. train/test leakage), a
paged listing, and where a model disagrees with the labels.

Everything works from an index of file *names* built with ``os.scandir`` (no ``stat``, no decoding),
so listing FER2013's 35,887 files takes a fraction of a second and a page of thumbnails only ever
touches the files on that page. The full content scan (hashing and decoding every file) is a
separate, explicit step with a progress callback.

Paths are confined: the explorer only reads inside its configured roots. Relative paths that climb
(``..``), absolute paths, and symlinks whose target lies outside the root are refused with
``PathRefused``.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from ..config import DATA_SET_NAMES, IMAGE_EXTENSIONS, IMAGE_FORMATS, MAX_IMAGE_PIXELS, data_root
from .data import canonical_class, load_gray, model_crop_reader, order_classes

#: Environment variable listing extra explorer roots, separated by ``os.pathsep``.
ROOTS_ENV = "FER_EXPLORER_ROOTS"

#: Sub-folder names recognised as splits (case-insensitive) -> the name we show.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}
#: A data set without split sub-folders is shown as one split of this name.
SINGLE_SPLIT = "all"

#: ``progress(done, total)``; called from the calling thread only.
Progress = Callable[[int, int], None]


class PathRefused(ValueError):
    """A path that would leave the explorer's configured roots; the message says which and why."""


# ---------------------------------------------------------------- roots and confinement

def data_folder_sets(folder: Path | None = None) -> list[Path]:
    """Every data set in the shared data folder (``fer.config.data_root()``): each sub-folder that holds
    folders (splits or classes; the videos folder holds files only), FER2013 first, then by name."""
    folder = data_root() if folder is None else folder
    if not folder.is_dir():
        return []
    found = [d for d in folder.iterdir() if d.is_dir() and any(c.is_dir() for c in d.iterdir())]
    return sorted(found, key=lambda d: (d.name != "fer2013", d.name))


def configured_roots(environ: dict[str, str] | None = None) -> list[Path]:
    """The folders the explorer may read: every data set of the data folder plus ``FER_EXPLORER_ROOTS``.

    Only existing directories are returned, resolved (so later containment checks compare real
    paths), without duplicates and in configuration order.
    """
    env = os.environ if environ is None else environ
    candidates = data_folder_sets() + [Path(p) for p in env.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    out: list[Path] = []
    for c in candidates:
        c = c.expanduser()
        if c.is_dir():
            r = c.resolve()
            if r not in out:
                out.append(r)
    return out


def root_label(root: Path) -> str:
    """A data set as the explorer names it: its name and where it is, relative to the data folder
    ("RAF-DB · rafdb"); a folder outside the data folder by its own name and path."""
    base = data_root().resolve()
    root = Path(root)
    if root.is_relative_to(base):
        rel = root.relative_to(base).as_posix()
        return f"{DATA_SET_NAMES.get(root.name.lower(), root.name)} · {rel}"
    return f"{root.name} · {root}"


def _is_within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def confine(root: Path, relative: str | os.PathLike[str]) -> Path:
    """``root / relative``, refused unless the real (symlink-resolved) result stays inside ``root``.

    ``relative`` is what a user or a URL supplies: absolute paths (POSIX or Windows style) and any
    ``..`` component are refused outright, before the file system is consulted; then symlinks are
    resolved and the target must still be inside the root.
    """
    root = Path(root).resolve()
    text = os.fspath(relative)
    if "\x00" in text:
        raise PathRefused(f"{text!r}: contains a NUL byte")
    posix, win = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or win.is_absolute() or win.drive or text.startswith(("/", "\\", "~")):
        raise PathRefused(f"{text!r}: absolute paths are not allowed; give a path inside {root}")
    if ".." in posix.parts or ".." in win.parts:
        raise PathRefused(f"{text!r}: '..' is not allowed; the explorer stays inside {root}")
    target = (root / posix).resolve()
    if not _is_within(target, root):
        raise PathRefused(f"{text!r}: resolves to {target}, outside {root} (a symlink leaving the root)")
    return target


# ---------------------------------------------------------------- the file-name index

@dataclass
class DataSetIndex:
    """Every image file of a data set, by split and class, as sorted paths relative to ``root``.

    ``files[split][class]`` lists POSIX-style relative paths; ``refused`` lists symlinks that leave
    the root (never followed); ``other_files`` counts non-image files seen in class folders.
    """
    root: Path
    files: dict[str, dict[str, list[str]]]
    refused: list[str] = field(default_factory=list)
    other_files: int = 0

    @property
    def splits(self) -> list[str]:
        return list(self.files)

    def classes(self, split: str | None = None) -> list[str]:
        """Classes in a split (or in any split), our seven first in their fixed order."""
        names = set(self.files[split]) if split else {c for s in self.files.values() for c in s}
        return order_classes(names)

    def counts(self) -> dict[str, dict[str, int]]:
        """split -> class -> number of images."""
        return {s: {c: len(self.files[s][c]) for c in self.classes(s)} for s in self.files}

    def total(self) -> int:
        return sum(len(v) for s in self.files.values() for v in s.values())

    def count(self, split: str, cls: str) -> int:
        return len(self.files.get(split, {}).get(cls, []))

    def page(self, split: str, cls: str, page: int, per_page: int) -> list[Path]:
        """Absolute paths of one page (0-based) of a class; only these files need to be opened."""
        if per_page < 1 or page < 0:
            raise ValueError("page must be >= 0 and per_page >= 1")
        names = self.files.get(split, {}).get(cls, [])
        return [self.root / n for n in names[page * per_page:(page + 1) * per_page]]

    def pages(self, split: str, cls: str, per_page: int) -> int:
        return max(1, -(-self.count(split, cls) // per_page))

    def labelled(self, split: str) -> list[tuple[str, str]]:
        """(relative path, class) for every image of a split, class by class."""
        return [(n, c) for c in self.classes(split) for n in self.files[split][c]]

    def path(self, relative: str) -> Path:
        """The absolute path of a relative one, confined to the root."""
        return confine(self.root, relative)


def _split_folders(root: Path) -> dict[str, Path]:
    """Sub-folders that are splits (train/val/test and aliases), train first; empty when none."""
    found: dict[str, Path] = {}
    with os.scandir(root) as it:
        for e in sorted(it, key=lambda e: e.name):
            name = SPLIT_ALIASES.get(e.name.lower())
            if name and e.is_dir(follow_symlinks=False) and name not in found:
                found[name] = Path(e.path)
    order = ["train", "val", "test"]
    return {k: found[k] for k in order if k in found}


def _list_class_folder(root: Path, folder: Path, refused: list[str]) -> tuple[list[str], int]:
    """Image files directly in ``folder`` as root-relative POSIX paths; symlinks leaving the root are
    recorded in ``refused`` and skipped. Uses only ``scandir``'s directory entries (no stat)."""
    rel_dir = folder.relative_to(root).as_posix()
    names, other = [], 0
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if not e.name.lower().endswith(IMAGE_EXTENSIONS):
                other += e.is_file()
                continue
            if e.is_symlink():
                real = Path(os.path.realpath(e.path))
                if not _is_within(real, root) or not real.is_file():
                    refused.append(f"{rel_dir}/{e.name}")
                    continue
            elif not e.is_file(follow_symlinks=False):
                continue
            names.append(f"{rel_dir}/{e.name}")
    names.sort()
    return names, other


def index_dataset(root: str | os.PathLike[str]) -> DataSetIndex:
    """Index a folder-per-class data set: ``root/<split>/<class>/*`` or ``root/<class>/*``.

    Class folder names are mapped to our class names (``Joy`` -> ``happy``); folders that alias the
    same class are merged. Raises ``FileNotFoundError`` for a missing root.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data set folder not found: {root}")
    splits = _split_folders(root) or {SINGLE_SPLIT: root}
    files: dict[str, dict[str, list[str]]] = {}
    refused: list[str] = []
    other = 0
    for split, folder in splits.items():
        per_class: dict[str, list[str]] = {}
        with os.scandir(folder) as it:
            subs = sorted((Path(e.path) for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
                           and not (folder == root and e.name.lower() in SPLIT_ALIASES)))
        for sub in subs:
            names, n_other = _list_class_folder(root, sub, refused)
            other += n_other
            per_class.setdefault(canonical_class(sub.name), []).extend(names)
        for v in per_class.values():
            v.sort()
        files[split] = {c: per_class[c] for c in order_classes(per_class)}
    return DataSetIndex(root=root, files=files, refused=sorted(refused), other_files=other)


def index_signature(root: str | os.PathLike[str]) -> tuple:
    """A cheap fingerprint of a data set's folders (their paths and modification times), for cache
    keys: adding, removing or renaming a file changes its folder's mtime."""
    root = Path(root).resolve()
    sig = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        try:
            sig.append((dirpath, os.stat(dirpath).st_mtime_ns))
        except OSError:
            continue
    return tuple(sig)


def thumbnail(path: str | os.PathLike[str], side: int = 96) -> np.ndarray | None:
    """An RGB uint8 thumbnail (longer side <= ``side``, aspect kept) or None when unreadable.

    JPEG ``draft`` decodes at a reduced scale, so a thumbnail of a 12 MP photo costs a fraction of
    a full decode; images over the pixel limit are refused from their header.
    """
    from PIL import Image
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as im:
            if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                return None
            im.draft("RGB", (side, side))
            im = im.convert("RGB")
            im.thumbnail((side, side))
            return np.asarray(im)
    except Exception:  # noqa: BLE001  (any failure means "can't show it"; the audit says why)
        return None


# ---------------------------------------------------------------- content scan

@dataclass(frozen=True)
class FileFacts:
    """What reading one file found: its content hash, pixel size, PIL mode and format, or an error."""
    relative: str
    digest: str | None
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    error: str | None = None


def inspect_file(root: Path, relative: str) -> FileFacts:
    """Hash the bytes and decode the image fully (a truncated file only fails when decoded).

    The pixel count is checked from the header before decoding, as for uploads.
    """
    from PIL import Image, UnidentifiedImageError
    try:
        data = confine(root, relative).read_bytes()
    except (OSError, PathRefused) as e:
        return FileFacts(relative, None, error=f"unreadable: {e}")
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if not data:
        return FileFacts(relative, digest, error="empty file")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                return FileFacts(relative, digest, w, h, im.mode, im.format or "", f"{w}x{h} is over the pixel limit")
            im.load()
            return FileFacts(relative, digest, w, h, im.mode, im.format or "")
    except UnidentifiedImageError:
        return FileFacts(relative, digest, error="not an image (or a format we can't read)")
    except Exception as e:  # noqa: BLE001  (PIL raises many types for damaged files; all mean "corrupt")
        return FileFacts(relative, digest, error=f"corrupt or truncated ({type(e).__name__}: {e})")


@dataclass(frozen=True)
class DuplicateGroup:
    """Files with identical bytes: where they are (relative paths) and which split/class each is in."""
    digest: str
    files: tuple[str, ...]
    splits: tuple[str, ...]
    classes: tuple[str, ...]

    @property
    def crosses_splits(self) -> bool:
        return len(set(self.splits)) > 1

    @property
    def conflicting_labels(self) -> bool:
        return len(set(self.classes)) > 1


@dataclass
class AuditReport:
    """The content scan of a data set."""
    n_files: int
    sizes: Counter          # (width, height) -> count, readable images only
    modes: Counter          # PIL mode ("L", "RGB", ...) -> count
    formats: Counter        # "JPEG", "PNG", ... -> count
    corrupt: list[tuple[str, str]]          # (relative path, reason)
    duplicates: list[DuplicateGroup]        # every group of >1 identical files, largest first

    @property
    def cross_split(self) -> list[DuplicateGroup]:
        """Identical images in more than one split: leakage (e.g. a test image also in train)."""
        return [g for g in self.duplicates if g.crosses_splits]

    @property
    def conflicting(self) -> list[DuplicateGroup]:
        """Identical images filed under different classes: at least one label is wrong."""
        return [g for g in self.duplicates if g.conflicting_labels]

    def redundant_files(self) -> int:
        """Files that add nothing new: each duplicate group counts all but one."""
        return sum(len(g.files) - 1 for g in self.duplicates)


def audit(index: DataSetIndex, progress: Progress | None = None, workers: int = 4,
          chunk: int = 512) -> AuditReport:
    """Read every file of ``index`` once: hash, decode, size, mode; then group identical bytes.

    Threads overlap the file reads and PIL's decoding (both release the GIL). ``progress`` is called
    after each chunk.
    """
    items = [(s, c, rel) for s in index.splits for c in index.classes(s) for rel in index.files[s][c]]
    where = {rel: (s, c) for s, c, rel in items}
    facts: list[FileFacts] = []
    total = len(items)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, total, chunk):
            rels = [rel for _, _, rel in items[start:start + chunk]]
            facts.extend(pool.map(lambda r: inspect_file(index.root, r), rels))
            if progress:
                progress(min(start + chunk, total), total)
    ok = [f for f in facts if f.error is None]
    by_digest: dict[str, list[str]] = {}
    for f in facts:
        if f.digest:
            by_digest.setdefault(f.digest, []).append(f.relative)
    groups = []
    for d, rels in by_digest.items():
        if len(rels) > 1:
            rels = sorted(rels)
            groups.append(DuplicateGroup(d, tuple(rels), tuple(where[r][0] for r in rels),
                                         tuple(where[r][1] for r in rels)))
    groups.sort(key=lambda g: (-len(g.files), g.files))
    return AuditReport(
        n_files=total,
        sizes=Counter((f.width, f.height) for f in ok),
        modes=Counter(f.mode for f in ok),
        formats=Counter(f.format for f in ok),
        corrupt=sorted((f.relative, f.error) for f in facts if f.error is not None),
        duplicates=groups,
    )


# ---------------------------------------------------------------- where the model disagrees

@dataclass
class SplitPredictions:
    """A model's probabilities for every readable image of one split.

    ``paths`` are root-relative; ``labels`` index into ``classes`` (the model's classes);
    ``skipped`` maps class folders the model doesn't know to their image counts.
    """
    paths: list[str]
    labels: np.ndarray
    probabilities: np.ndarray
    classes: list[str]
    unreadable: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(1) if len(self.paths) else np.zeros(0, int)

    def report(self):
        """Accuracy, macro F1, per-class figures and the confusion matrix (``fer.train.evaluation``)."""
        from .evaluation import report
        return report(self.labels, self.predicted, self.classes)

    def cell(self, true_class: str, predicted_class: str) -> list[int]:
        """Indices of the images labelled ``true_class`` and predicted ``predicted_class``, most
        confident prediction first (the likeliest mislabels of an off-diagonal cell come first)."""
        t, p = self.classes.index(true_class), self.classes.index(predicted_class)
        idx = np.flatnonzero((self.labels == t) & (self.predicted == p))
        return idx[np.argsort(-self.probabilities[idx, p], kind="stable")].tolist()


def predict_split(index: DataSetIndex, split: str, classifier, flip: bool = False,
                  progress: Progress | None = None, chunk: int = 512, workers: int = 4) -> SplitPredictions:
    """Run ``classifier`` (a ``fer.classify.model.Classifier``) over a split, a chunk of files at a time, with
    the same preprocessing as ``python -m fer evaluate`` (``fer.train.data.load_gray``, or the model's
    eyes-level crops: ``fer.train.data.model_crop_reader``)."""
    classes = list(classifier.classes)
    size = classifier.input_size
    known = {c: i for i, c in enumerate(classes)}
    items = [(rel, c) for rel, c in index.labelled(split) if c in known]
    skipped = {c: index.count(split, c) for c in index.classes(split) if c not in known}
    paths, labels, probs, unreadable = [], [], [], []
    total = len(items)
    read = model_crop_reader(classifier) or (lambda path: load_gray(path, size))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, total, chunk):
            part = items[start:start + chunk]
            crops = list(pool.map(lambda it: read(index.path(it[0])), part))
            good = [(it, im) for it, im in zip(part, crops) if im is not None]
            unreadable += [it[0] for it, im in zip(part, crops) if im is None]
            if good:
                probs.append(classifier.predict(np.stack([im for _, im in good]), flip=flip))
                paths += [it[0] for it, _ in good]
                labels += [known[it[1]] for it, _ in good]
            if progress:
                progress(min(start + chunk, total), total)
    return SplitPredictions(
        paths=paths, labels=np.asarray(labels, dtype=np.int64),
        probabilities=np.concatenate(probs) if probs else np.zeros((0, len(classes)), np.float32),
        classes=classes, unreadable=unreadable, skipped=skipped)
