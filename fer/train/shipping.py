"""Make a trained model folder servable: write its LiteRT file and measure what serving gives.

Records in the metadata how often the LiteRT and Keras paths agree and the LiteRT accuracy on
val (and test, when given), so the figures people see are those of the runtime they use.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .data import load_image_set
from .evaluation import report
from .export import export_litert

#: Calibration crops per class for int8 quantisation.
CALIBRATION_PER_CLASS = 60


def _calibration(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:CALIBRATION_PER_CLASS]
                          for c in np.unique(labels)])
    return images[np.sort(idx)]


def ship(model_dir: str | Path, calibration_roots: list[str], val_roots: list[str],
         test_roots: list[str] | None = None) -> dict:
    """Export ``model_dir/model.keras`` to ``model.tflite`` and add serving figures to its metadata."""
    import keras

    from ..classify.model import Classifier, resolve_model
    from .evaluation import predict_probabilities
    model_dir = Path(model_dir)
    info = resolve_model(model_dir)
    keras_model = keras.saving.load_model(model_dir / "model.keras", safe_mode=True, compile=False)
    size, classes = info.input_size, info.classes
    calib = load_image_set(calibration_roots, size, classes=classes)
    export_litert(keras_model, model_dir / "model.tflite", _calibration(calib.images, calib.labels))
    clf = Classifier(info)
    meta = dict(info.metadata)
    metrics = meta.setdefault("metrics", {})
    for split, roots in (("val", val_roots), ("test", test_roots or [])):
        if not roots:
            continue
        s = load_image_set(roots, size, classes=classes)
        t = time.perf_counter()
        lite = {"plain": clf.predict(s.images), "flip": clf.predict(s.images, flip=True)}
        secs = time.perf_counter() - t
        ref = predict_probabilities(keras_model, s.images)
        metrics[f"litert_{split}"] = {name: report(s.labels, p.argmax(1), classes).to_dict() for name, p in lite.items()}
        metrics[f"litert_{split}"]["seconds"] = round(secs, 2)
        metrics[f"litert_{split}"]["agreement_with_keras"] = {
            "top1": float((lite["plain"].argmax(1) == ref.argmax(1)).mean()),
            "max_abs_prob_diff": float(np.abs(lite["plain"] - ref).max()),
            "mean_abs_prob_diff": float(np.abs(lite["plain"] - ref).mean()),
        }
    meta["runtime"] = {"file": "model.tflite", "format": "LiteRT, int8 weights and activations, float32 in/out",
                       "bytes": (model_dir / "model.tflite").stat().st_size,
                       "calibration": {"roots": [str(r) for r in calibration_roots],
                                       "per_class": CALIBRATION_PER_CLASS}}
    (model_dir / "metadata.json").write_text(json.dumps(meta, indent=2))
    return meta
