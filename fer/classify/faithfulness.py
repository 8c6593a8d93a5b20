"""How faithful a heat map is: deletion and insertion curves (Petsiuk et al., RISE, 2018).

A map claims an order of importance over the crop's pixels. *Deletion* greys out the pixels most
blamed first and follows the explained class's probability as more of the face goes: a faithful map
makes it fall fast (low area under the curve). *Insertion* starts from an all-grey crop and reveals
the most blamed pixels first: a faithful map makes the probability rise fast (high area). Both are
measured on the served model, the one whose decisions the map should explain. "Grey" is the crop's
mean level (``fer.classify.occlusion.grey_level``), so no edge or contrast is added by the greying itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .occlusion import Predict, grey_level

#: Points on each curve (0 %, 5 %, ..., 100 % of the pixels).
DEFAULT_STEPS = 20


@dataclass(frozen=True)
class Curves:
    """The two curves of one map on one crop. ``fractions``: share of pixels greyed/revealed
    (0 to 1); ``deletion``/``insertion``: the class's probability at each; the AUCs are the mean
    height (trapezoid rule), in [0, 1]."""
    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return _auc(self.fractions, self.deletion)

    @property
    def insertion_auc(self) -> float:
        return _auc(self.fractions, self.insertion)


def pixel_order(heatmap: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices, most blamed first. Ties (a flat map, the zeros below a ReLU) are broken
    in a fixed random order, so a map that says nothing can't win by the raster order."""
    heat = np.asarray(heatmap, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    jitter = rng.random(heat.size)
    return np.lexsort((jitter, -heat))


def deletion_insertion(predict: Predict, crop: np.ndarray, heatmap: np.ndarray, class_index: int,
                       steps: int = DEFAULT_STEPS, seed: int = 0) -> Curves:
    """Both curves of ``heatmap`` ((s, s), larger = more blamed) for one (s, s) uint8 gray crop and
    class, in one batch of ``2 * (steps + 1)`` forward passes of ``predict`` (as in occlusion_map)."""
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim not in (2, 3):
        raise ValueError(f"deletion_insertion() takes one (s, s) gray or (s, s, 3) uint8 crop, got {crop.shape} {crop.dtype}")
    if np.shape(heatmap) != crop.shape[:2]:
        raise ValueError(f"heat map {np.shape(heatmap)} does not match the crop {crop.shape}")
    order = pixel_order(heatmap, seed)
    flat = crop.reshape(crop.shape[0] * crop.shape[1], -1)  # one row of channels a pixel
    grey = grey_level(crop)
    counts = np.round(np.linspace(0, len(flat), steps + 1)).astype(int)
    deleted = np.repeat(flat[None], steps + 1, axis=0)
    inserted = np.full_like(deleted, grey)
    for i, n in enumerate(counts):
        deleted[i, order[:n]] = grey
        inserted[i, order[:n]] = flat[order[:n]]
    batch = np.concatenate([deleted, inserted]).reshape((-1,) + crop.shape)
    p = np.asarray(predict(batch))[:, class_index].astype(np.float64)
    return Curves(fractions=counts / len(flat), deletion=p[:steps + 1], insertion=p[steps + 1:])


def _auc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))
