"""Weight-space blending of a fine-tuned model with the model it was fine-tuned from (WiSE-FT,
Wortsman et al., CVPR 2022): ``(1 - alpha) * base + alpha * tuned``, layer by layer.

A fine-tune on new sources gains on them and loses some of what the base knew (here: FER2013
points for RAF-DB and AffectNet ones). Models fine-tuned from one another stay in one basin of the
loss, so their average is a model too, and ``alpha`` slides between the two at no training cost
and no serving cost (the same architecture, one forward pass). Pick ``alpha`` on validation data.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np


class BlendError(ValueError):
    """Two models that can't be blended (different architectures or classes), or a bad alpha."""


def blend_weights(base: list[np.ndarray], tuned: list[np.ndarray], alpha: float) -> list[np.ndarray]:
    """``(1 - alpha) * base + alpha * tuned`` for every weight array (BatchNorm statistics too)."""
    if not 0.0 <= alpha <= 1.0:
        raise BlendError(f"alpha must be between 0 and 1, got {alpha}")
    if len(base) != len(tuned) or any(a.shape != b.shape for a, b in zip(base, tuned)):
        raise BlendError("the two models have different architectures: their weights don't line up")
    return [((1.0 - alpha) * a + alpha * b).astype(a.dtype) for a, b in zip(base, tuned)]


def blend_models(base_dir: str | Path, tuned_dir: str | Path, alpha: float, out_dir: str | Path,
                 command: str = "", test_roots: list[str] | None = None) -> dict:
    """Write ``out_dir/model.keras`` (the blend) and a metadata.json naming both parents, carrying
    the tuned model's input, classes and licences (the blend holds what it learnt from the
    restricted sets) but none of either parent's measured figures. Serving file and figures come
    after, from ``fer.train.shipping.ship`` and ``evaluate --record``."""
    import keras

    from ..classify.model import resolve_model
    from ..report import relative_path
    base, tuned = resolve_model(base_dir), resolve_model(tuned_dir)
    if base.classes != tuned.classes or base.metadata["input"] != tuned.metadata["input"]:
        raise BlendError(f"{base.path} and {tuned.path} differ in classes or input: they can't be blended")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already holds files: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    load = lambda info: keras.saving.load_model(info.path / "model.keras", safe_mode=True, compile=False)  # noqa: E731
    mb, mt = load(base), load(tuned)
    mt.set_weights(blend_weights(mb.get_weights(), mt.get_weights(), alpha))
    mt.save(out / "model.keras")
    keep = ("classes", "input", "architecture", "licence", "data")
    meta = {k: tuned.metadata[k] for k in keep if k in tuned.metadata}
    meta.update({
        "name": out.name,
        "command": command,
        "commands": [command] if command else [],
        "blend": {"method": "WiSE-FT weight-space interpolation", "alpha": alpha,
                  "base": {"model": relative_path(str(base.path)), "command": base.metadata.get("command", "")},
                  "tuned": {"model": relative_path(str(tuned.path)), "command": tuned.metadata.get("command", "")}},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "metrics": {},
        "config": {"test": list(test_roots or [])},  # where its test figures come from (the report's data table)
        # What training went into it: both parents' epochs and wall time, every stage of each.
        "epochs_run": _total(base, "epochs") + _total(tuned, "epochs"),
        "train_wall_seconds": round(_total(base, "train_wall_seconds") + _total(tuned, "train_wall_seconds"), 1),
        # The report page's lineage: how each parent was trained, then this step.
        "stages": [*_stage_dicts(base, "base"), *_stage_dicts(tuned, "fine-tune"),
                   {"stage": "blend (WiSE-FT)", "commands": [command] if command else [],
                    "note": f"(1 - {alpha:g}) x {base.name} + {alpha:g} x {tuned.name}, weight by weight"}],
    })
    (out / "metadata.json").write_text(json.dumps(meta, indent=2))
    if (tuned.path / "history.csv").is_file():  # the tuned parent's training curve, for the report page
        shutil.copy(tuned.path / "history.csv", out / "history.csv")
    return meta


def _total(info, key: str) -> float:
    """A parent's epochs or training seconds over all its stages (its own figure if it has none)."""
    stages = [st for st in info.metadata.get("stages") or [] if isinstance(st, dict)]
    if stages:
        return sum(st.get(key) or 0 for st in stages)
    own = info.metadata.get("epochs_run" if key == "epochs" else key)
    return own or 0


def _stage_dicts(info, role: str) -> list[dict]:
    """A parent's training stages as metadata ``stages`` entries, named after its role and model."""
    from ..report import training_stages
    return [{"stage": f"{role} ({info.name}): {st.name}", "commands": st.commands, "note": st.note,
             "epochs": st.epochs, "best_epoch": st.best_epoch, "val_accuracy": st.val_accuracy,
             "litert_test_accuracy": st.test_accuracy} for st in training_stages(info.metadata)]
