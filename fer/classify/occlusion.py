"""Occlusion sensitivity on the served model: grey out a patch, see how much the class's
probability falls, at every position of the patch.

Unlike the CAM family it asks the model that actually serves (the LiteRT file) a direct
question, so it needs no gradients, no TensorFlow and no assumption about the architecture; what it
marks is by construction what the prediction depends on. The cost is a batch of forward passes:
for a 48 px crop, an 8 px patch at a 4 px stride is 121 positions (242 with flip), each a third
of a millisecond on LiteRT, batched.

The drop is measured in log-probability (log p - log p_occluded), like a logit: a confident softmax
saturates, and a probability drop of a face at 0.99 would barely move for patches that matter.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Patch side and stride as fractions of the crop side (8 px and 4 px on a 48 px crop).
PATCH_FRACTION = 1 / 6
STRIDE_FRACTION = 1 / 12
#: Probabilities are floored here before the log: the int8 softmax comes in steps of 1/256.
PROB_FLOOR = 1e-3

Predict = Callable[[np.ndarray], np.ndarray]


def grey_level(crop: np.ndarray) -> int:
    """What "greyed out" means, everywhere (occlusion and the faithfulness curves): the crop's mean."""
    return int(round(float(np.asarray(crop).mean())))


def patch_positions(side: int, patch: int, stride: int) -> list[int]:
    """Top-left corners along one axis, the last one flush with the edge so every pixel is covered."""
    last = side - patch
    pos = list(range(0, last + 1, stride))
    if pos[-1] != last:
        pos.append(last)
    return pos


def occlusion_map(predict: Predict, crop: np.ndarray, class_index: int, patch: int | None = None,
                  stride: int | None = None, flip: bool = False) -> np.ndarray:
    """(s, s) float32 map in [0, 1] of how much greying each pixel's neighbourhood lowers the class.

    ``predict``: (N, s, s) uint8 gray crops -> (N, classes) probabilities (``Classifier.predict``).
    ``crop``: one (s, s) uint8 gray or (s, s, 3) RGB face. Each pixel gets the mean log-probability drop of the
    patches covering it; negative drops (the patch helped the class) count as no evidence. ``flip``
    averages the map with the mirrored face's map (mirrored back), as flip test-time augmentation
    averages the predictions.
    """
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim not in (2, 3) or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"occlusion_map() takes one square (s, s) gray or (s, s, 3) uint8 crop, got {crop.shape} {crop.dtype}")
    if flip:
        a = occlusion_map(predict, crop, class_index, patch, stride)
        b = occlusion_map(predict, np.ascontiguousarray(crop[:, ::-1]), class_index, patch, stride)[:, ::-1]
        return _unit((a + b) / 2)
    side = crop.shape[0]
    patch = patch or max(2, round(side * PATCH_FRACTION))
    stride = stride or max(1, round(side * STRIDE_FRACTION))
    pos = patch_positions(side, patch, stride)
    grey = grey_level(crop)
    batch = np.repeat(crop[None], len(pos) ** 2 + 1, axis=0)
    corners = [(y, x) for y in pos for x in pos]
    for i, (y, x) in enumerate(corners, start=1):
        batch[i, y:y + patch, x:x + patch] = grey
    p = np.maximum(np.asarray(predict(batch))[:, class_index], PROB_FLOOR)
    drop = np.log(p[0]) - np.log(p[1:])
    total = np.zeros((side, side), np.float64)
    count = np.zeros((side, side), np.float64)
    for d, (y, x) in zip(drop, corners):
        total[y:y + patch, x:x + patch] += d
        count[y:y + patch, x:x + patch] += 1
    return _unit(total / count)


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.maximum(np.asarray(a, dtype=np.float32), 0)
    hi = float(a.max())
    return a / hi if hi > 0 else np.zeros_like(a)
