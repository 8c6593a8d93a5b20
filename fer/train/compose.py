"""Frames built from real face crops, for tests, benchmarks and demos: a face pasted at a known
place, so what the detector and classifier return can be checked against the truth."""
from __future__ import annotations

import numpy as np

import cv2

from ..faces.detection import Box, iou  # noqa: F401  (re-exported for tests and benches)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A BGR canvas with soft gradients and mild noise (a flat canvas is unrealistically easy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 90 + 40 * np.sin(xx / 97.0) + 30 * np.cos(yy / 71.0)
    img = base[..., None] + np.array([10.0, 0.0, -10.0]) + rng.normal(0, 6, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def paste_face(frame: np.ndarray, crop: np.ndarray, box: Box) -> np.ndarray:
    """Paste a grayscale crop (any size) into a BGR frame, resized to ``box``; in place, returns frame."""
    x, y, w, h = box
    face = cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC)
    frame[y:y + h, x:x + w] = face[..., None] if face.ndim == 2 else face
    return frame


def compose(crops: list[np.ndarray], width: int = 640, height: int = 480, face_px: int = 160,
            seed: int = 0) -> tuple[np.ndarray, list[Box]]:
    """A frame with each crop pasted as a ``face_px`` square on a row-major grid; returns (frame, boxes)."""
    frame = background(width, height, seed)
    n = len(crops)
    cols = max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, int(np.ceil(n / cols)))
    cell_w, cell_h = width // cols, height // rows
    if face_px > min(cell_w, cell_h):
        raise ValueError(f"{n} faces of {face_px}px don't fit a {width}x{height} frame")
    boxes = []
    for i, crop in enumerate(crops):
        r, c = divmod(i, cols)
        box = Box(c * cell_w + (cell_w - face_px) // 2, r * cell_h + (cell_h - face_px) // 2, face_px, face_px)
        paste_face(frame, crop, box)
        boxes.append(box)
    return frame, boxes
