"""Class views: the model's seven expressions, or the seed project's five basic ones.

The original project classified faces "out of five basic human expressions": anger, happiness,
neutral, sadness and surprise. The five-class view keeps the seven-class model and folds disgust and
fear *out*: their probabilities are dropped and the other five renormalised to sum to one, i.e. the
probability of each expression given that the face shows one of the five. Nothing is re-assigned
(disgust is not counted as anger, nor fear as surprise). Evaluating in this view leaves out the
images whose true label is a folded-out class (their count is reported), since the view can't
name them.

Every place that reports probabilities (predict, evaluate, the pages, the live CSV) folds through
``ClassView.fold``, so the rule lives here only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEVEN = "seven"
FIVE = "five"
#: The view names, as the CLI's ``--classes`` and the sidebar offer them.
VIEW_NAMES: tuple[str, ...] = (SEVEN, FIVE)
#: What the five-class view leaves out of the model's seven.
FOLDED_OUT: tuple[str, ...] = ("disgust", "fear")
#: One line for help texts and captions.
FIVE_CLASS_NOTE = ("five expressions (angry, happy, neutral, sad, surprise): disgust and fear are dropped and "
                   "the other five probabilities renormalised to sum to 100 %")


@dataclass(frozen=True)
class ClassView:
    """Which of a model's classes are reported. ``indices``: their positions in the model's output."""
    name: str
    model_classes: tuple[str, ...]
    classes: tuple[str, ...]
    indices: tuple[int, ...]

    @property
    def folded(self) -> bool:
        return len(self.classes) < len(self.model_classes)

    def fold(self, probs: np.ndarray) -> np.ndarray:
        """(N, model classes) probabilities -> (N, view classes), each row renormalised to sum to 1
        (a row with no mass left on the view's classes becomes uniform rather than NaN)."""
        probs = np.asarray(probs, dtype=np.float32)
        if not self.folded:
            return probs
        kept = probs[..., list(self.indices)]
        total = kept.sum(axis=-1, keepdims=True)
        uniform = np.full_like(kept, 1.0 / len(self.classes))
        return np.where(total > 0, kept / np.maximum(total, 1e-12), uniform).astype(np.float32)


def class_view(name: str, model_classes: Sequence[str]) -> ClassView:
    """The view ``name`` (``SEVEN``: every class of the model; ``FIVE``: all but FOLDED_OUT) of a model."""
    model_classes = tuple(model_classes)
    if name == SEVEN:
        keep = model_classes
    elif name == FIVE:
        keep = tuple(c for c in model_classes if c not in FOLDED_OUT)
        if len(keep) < 2:
            raise ValueError(f"the five-class view needs a model with other classes than {FOLDED_OUT}")
    else:
        raise ValueError(f"unknown class view {name!r}; choose one of {', '.join(VIEW_NAMES)}")
    return ClassView(name, model_classes, keep, tuple(model_classes.index(c) for c in keep))


def fold_labels(labels: np.ndarray, view: ClassView) -> tuple[np.ndarray, np.ndarray]:
    """True labels (indices into the model's classes) -> (mask of the ones the view keeps, their
    indices into the view's classes). For evaluation: the images of a folded-out class are left out."""
    labels = np.asarray(labels, dtype=int)
    remap = np.full(len(view.model_classes), -1, int)
    remap[list(view.indices)] = np.arange(len(view.classes))
    mapped = remap[labels]
    keep = mapped >= 0
    return keep, mapped[keep]


def fold_predictions(preds, view: ClassView):
    """A ``fer.train.audit.SplitPredictions`` in ``view``: images of folded-out classes leave (counted in
    ``skipped``, as classes the view doesn't know), the rest get the view's renormalised probabilities."""
    from dataclasses import replace
    if not view.folded:
        return preds
    keep, labels = fold_labels(preds.labels, view)
    gone = {c: int((preds.labels == i).sum()) for i, c in enumerate(view.model_classes) if c not in view.classes}
    return replace(preds, paths=[p for p, k in zip(preds.paths, keep) if k], labels=labels,
                   probabilities=view.fold(preds.probabilities[keep]), classes=list(view.classes),
                   skipped={**preds.skipped, **{c: n for c, n in gone.items() if n}})
