"""Fixed, reproducible samples of the real FER2013 files, shared by tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fer.config import CLASSES


def stratified_sample(root: Path, per_class: int, seed: int = 7) -> list[tuple[Path, str]]:
    """A fixed, reproducible sample: ``per_class`` files of each class (fewer when a class is smaller)."""
    rng = np.random.default_rng(seed)
    out = []
    for c in CLASSES:
        files = sorted((root / c).iterdir())
        pick = rng.permutation(len(files))[:per_class]
        out += [(files[i], c) for i in sorted(pick)]
    return out
