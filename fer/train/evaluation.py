"""Classification metrics from true and predicted labels: accuracy, macro F1, per-class, confusion."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Report:
    """Metrics for one labelled set; ``confusion[i][j]`` counts true class i predicted as j."""
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    classes: list[str]
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(classes, classes) int matrix, rows = true, columns = predicted."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> Report:
    """Accuracy, macro F1 over the classes present, and precision/recall/F1/support per class."""
    y_true = np.asarray(y_true)
    if y_true.size == 0:
        raise ValueError("cannot evaluate an empty set")
    cm = confusion_matrix(y_true, y_pred, len(classes))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    per_class = {
        c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
            "support": int(support[i])}
        for i, c in enumerate(classes)
    }
    return Report(
        accuracy=float(tp.sum() / cm.sum()),
        macro_f1=float(f1[present].mean()),
        per_class=per_class,
        confusion=cm.tolist(),
        classes=list(classes),
        n=int(cm.sum()),
    )


def per_root_reports(labels: np.ndarray, pred: np.ndarray, root_index: np.ndarray, roots: list[str],
                     classes: list[str]) -> dict[str, dict]:
    """Accuracy, macro F1 and per-class recall within each root: the figures to watch per source,
    since a pooled accuracy hides one source gaining at another's expense."""
    out = {}
    for i, root in enumerate(roots):
        m = np.asarray(root_index) == i
        if m.any():
            r = report(np.asarray(labels)[m], np.asarray(pred)[m], classes)
            out[root] = {"n": r.n, "accuracy": r.accuracy, "macro_f1": r.macro_f1,
                         "recall": {c: v["recall"] for c, v in r.per_class.items()}}
    return out


def confusion_image(confusion: list[list[int]] | np.ndarray, classes: list[str], cell: int = 64) -> np.ndarray:
    """Render a confusion matrix (rows true, columns predicted) as a BGR uint8 image, each row
    shaded by its share so rare classes read as clearly as common ones."""
    import cv2
    cm = np.asarray(confusion, dtype=float)
    k = len(classes)
    left, top = 90, 90
    img = np.full((top + k * cell + 10, left + k * cell + 10, 3), 255, np.uint8)
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    for i in range(k):
        for j in range(k):
            shade = int(255 - 200 * rows[i, j])
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (255, shade, shade) if i != j else (shade, 255, shade), -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (200, 200, 200), 1)
            cv2.putText(img, f"{int(cm[i, j])}", (x0 + 6, y0 + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, classes[i][:9], (4, top + i * cell + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, classes[i][:8], (left + i * cell + 4, top - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "true \\ predicted", (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def predict_probabilities(model, images: np.ndarray, flip: bool = False, batch: int = 512) -> np.ndarray:
    """Keras bulk inference on (N, s, s) uint8 crops; ``flip`` averages with the mirror image."""
    x = images[..., None].astype(np.float32)
    p = model.predict(x, batch_size=batch, verbose=0)
    if flip:
        p = (p + model.predict(x[:, :, ::-1], batch_size=batch, verbose=0)) / 2
    return p
