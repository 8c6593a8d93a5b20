"""FER+ crowd votes for FER2013 files: a second truth (what ten annotators perceived) beside the
folder label (what the person meant to show), as soft targets, a majority label and a cleaning signal.

The votes file is ``fer2013/ferplus_votes.csv``: one row per image file, ``path`` relative to the
FER2013 folder, then the ten annotators' counts per FER+ column (see that folder's README).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import CLASSES

#: FER+ vote columns that are one of our seven classes.
VOTE_COLUMNS: dict[str, str] = {
    "anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
    "neutral": "neutral", "sadness": "sad", "surprise": "surprise",
}
#: Columns that carry votes for nothing we classify; a majority there leaves the image out.
OTHER_COLUMNS = ("contempt", "unknown", "NF")


class VotesError(ValueError):
    """A votes file that can't be used; the message says which and why."""


@dataclass(frozen=True)
class Votes:
    """Votes of one image: ``counts`` over ``classes`` (our order) and over the other columns."""
    counts: np.ndarray          # (len(classes),) int
    other: dict[str, int]

    @property
    def total(self) -> int:
        return int(self.counts.sum() + sum(self.other.values()))

    def distribution(self) -> np.ndarray | None:
        """Votes over our classes, summing to 1; None when nobody voted for any of them."""
        s = self.counts.sum()
        return self.counts / s if s > 0 else None

    def majority(self) -> tuple[int | None, str]:
        """(class index, "ok") for a unique majority among all ten columns that is one of our
        classes; otherwise (None, reason) with reason "tie", "contempt", "unknown", "NF" or "no votes"."""
        if self.total == 0:
            return None, "no votes"
        names = list(range(len(self.counts))) + list(self.other)
        values = list(self.counts) + list(self.other.values())
        top = max(values)
        winners = [n for n, v in zip(names, values) if v == top]
        if len(winners) > 1:
            return None, "tie"
        w = winners[0]
        return (int(w), "ok") if isinstance(w, int) else (None, w)


def default_votes_path(fer2013_root: Path) -> Path:
    return Path(fer2013_root) / "ferplus_votes.csv"


def load_votes(path: Path, classes: list[str] | tuple[str, ...] = CLASSES) -> dict[str, Votes]:
    """``path`` -> {relative file path ("test/angry/x.jpg"): Votes}. Rows with empty votes (files
    FER+ dropped as not faces) are left out. A missing or garbled file raises VotesError."""
    path = Path(path)
    if not path.is_file():
        raise VotesError(f"FER+ votes file not found: {path}")
    wanted = {v: k for k, v in VOTE_COLUMNS.items()}
    missing_cls = [c for c in classes if c not in wanted]
    if missing_cls:
        raise VotesError(f"FER+ votes have no column for class(es) {missing_cls}")
    out: dict[str, Votes] = {}
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            need = ["path", *VOTE_COLUMNS, *OTHER_COLUMNS]
            lacking = [c for c in need if c not in (reader.fieldnames or [])]
            if lacking:
                raise VotesError(f"{path} is not a FER+ votes file: columns {lacking} are missing")
            for line, row in enumerate(reader, start=2):
                cells = [row[wanted[c]] for c in classes] + [row[c] for c in OTHER_COLUMNS]
                if all((v or "").strip() == "" for v in cells):
                    continue
                try:
                    nums = [int(float(v)) for v in cells]
                except (TypeError, ValueError):
                    raise VotesError(f"{path}, line {line}: votes are not numbers: {cells}") from None
                if min(nums) < 0:
                    raise VotesError(f"{path}, line {line}: negative vote count")
                out[row["path"].replace("\\", "/")] = Votes(
                    np.asarray(nums[:len(classes)], dtype=np.int32),
                    dict(zip(OTHER_COLUMNS, nums[len(classes):])))
    except UnicodeDecodeError:
        raise VotesError(f"{path} is not a text CSV file") from None
    except csv.Error as e:
        raise VotesError(f"{path} is not a readable CSV file: {e}") from None
    if not out:
        raise VotesError(f"{path} holds no votes")
    return out


def relative_key(file_path: str | Path) -> str:
    """The votes-file key of an image path: its last three parts (split/class/file name)."""
    return "/".join(Path(file_path).parts[-3:])


def votes_for(paths: list[str], votes: dict[str, Votes]) -> list[Votes | None]:
    """The votes of each image path (None for files the votes don't cover)."""
    return [votes.get(relative_key(p)) for p in paths]


def majority_labels(paths: list[str], votes: dict[str, Votes]) -> tuple[np.ndarray, dict[str, int]]:
    """FER+ majority label index per path (-1 where left out) and how many were left out, by reason."""
    labels = np.full(len(paths), -1, dtype=np.int32)
    left_out: dict[str, int] = {}
    for i, v in enumerate(votes_for(paths, votes)):
        if v is None:
            left_out["not in votes file"] = left_out.get("not in votes file", 0) + 1
            continue
        idx, why = v.majority()
        if idx is None:
            left_out[why] = left_out.get(why, 0) + 1
        else:
            labels[i] = idx
    return labels, left_out


def soft_targets(labels: np.ndarray, paths: list[str], votes: dict[str, Votes], num_classes: int,
                 alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, classes) float32 targets: ``(1 - alpha) * one-hot(folder label) + alpha * vote distribution``
    where an image has votes over our classes, the one-hot label elsewhere; and a bool mask of
    the images that had votes."""
    t = np.eye(num_classes, dtype=np.float32)[labels]
    had = np.zeros(len(labels), dtype=bool)
    for i, v in enumerate(votes_for(paths, votes)):
        d = v.distribution() if v is not None else None
        if d is not None:
            t[i] = (1 - alpha) * t[i] + alpha * d
            had[i] = True
    return t, had


def contradicted(labels: np.ndarray, paths: list[str], votes: dict[str, Votes], max_votes: int = 1) -> np.ndarray:
    """Bool mask: images whose folder label got at most ``max_votes`` of the ten votes while a unique
    majority chose another of our classes (the folder label is then most likely wrong)."""
    out = np.zeros(len(labels), dtype=bool)
    for i, v in enumerate(votes_for(paths, votes)):
        if v is None:
            continue
        idx, _ = v.majority()
        out[i] = idx is not None and idx != labels[i] and v.counts[labels[i]] <= max_votes
    return out
