"""Teachers per source: a trained model's probabilities as (part of) the targets of that source's
training images (offline knowledge distillation, Hinton et al. 2015).

Why: the FER2013-only model is the best on FER2013, the multi-source fine-tune on RAF-DB and
AffectNet, and a weight blend of the two trades one for the other. A student fitting each source's
own specialist (``--teacher fer2013=default --teacher rafdb=multisource ...``) is asked for both at
once, through soft targets that carry more than the labels (which wrong classes are close).

The teachers see each training image once, unaugmented, before training; the student sees it
augmented against those fixed targets.
"""
from __future__ import annotations

import numpy as np

from .data import ImageSet, source_name


def _load_teacher(name_or_path: str, classes: list[str], size: int):
    import keras
    from ..classify.model import resolve_model
    info = resolve_model(name_or_path)
    meta = info.metadata
    if list(meta["classes"]) != list(classes):
        raise ValueError(f"teacher {info.name} has classes {meta['classes']}, the training data {classes}")
    if int(meta["input"]["size"]) != size:
        raise ValueError(f"teacher {info.name} takes {meta['input']['size']} px faces, the student {size}")
    path = info.path / "model.keras"
    if not path.is_file():
        raise ValueError(f"teacher {info.name} has no {path.name} (a Keras model is needed to teach)")
    return info.name, keras.saving.load_model(path, safe_mode=True, compile=False)


def distill_targets(y: np.ndarray, s: ImageSet, teachers: dict[str, str], beta: float,
                    batch: int = 512) -> tuple[np.ndarray, dict]:
    """``y`` with each taught source's rows replaced by ``(1 - beta) * y + beta * teacher(image)``;
    and notes for the metadata (teacher per source, how often it agrees with the folder label)."""
    if not 0 < beta <= 1:
        raise ValueError(f"--distill must be in (0, 1], got {beta}")
    from .data import values_per_root
    by_root = values_per_root(teachers, [str(r) for r in s.roots], "--teacher")
    y = y.copy()
    notes: dict = {"distill": beta, "teachers": {}}
    loaded: dict[str, tuple] = {}
    size = s.images.shape[1]
    for i, root in enumerate(s.roots):
        model_name = by_root.get(str(root))
        if model_name is None:
            continue
        if model_name not in loaded:
            loaded[model_name] = _load_teacher(model_name, s.classes, size)
        name, model = loaded[model_name]
        idx = np.flatnonzero(s.root_index == i)
        p = model.predict(s.images[idx][..., None].astype(np.float32), batch_size=batch, verbose=0)
        y[idx] = (1 - beta) * y[idx] + beta * p.astype(np.float32)
        agree = float(np.mean(p.argmax(1) == s.labels[idx])) if len(idx) else 0.0
        notes["teachers"][source_name(root)] = {"model": name, "images": int(len(idx)),
                                                "agrees_with_folder_label": round(agree, 4)}
        print(f"  teacher {name} on {source_name(root)}: {len(idx)} images, agrees with the folder label "
              f"on {agree:.1%}", flush=True)
    return y, notes
