"""One uploaded still image, end to end: untrusted bytes -> bounded BGR image -> faces -> annotated copy
-> the same JSON as ``python -m fer predict --json``.

Phone photos can be 12-50 megapixels; Haar detection cost scales with the pixels searched, and a
browser can't show them anyway. So images whose longer side exceeds ``MAX_ANALYSIS_SIDE`` are
downscaled once, up front, and everything (detection, crops, drawing) runs on that copy; the
reported boxes are scaled back to the original image's pixels so the JSON describes the file the
user uploaded. A face needs ~48 px to be classified, which a 2048 px image still gives for any face
wider than 1/40 of the picture.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import cv2
import numpy as np

from .. import cv_threads
from ..faces.detection import Box
from ..imageio import decode_image
from ..pipeline import Face, FramePipeline, draw_faces

#: Longer side, in pixels, of the copy that is analysed and shown.
MAX_ANALYSIS_SIDE = 2048


@dataclass
class StillResult:
    """What one image gave.

    ``faces``: boxes in the *original* image's pixels (as the JSON reports them).
    ``annotated``: the analysed copy (BGR uint8, longer side <= MAX_ANALYSIS_SIDE) with the faces drawn.
    ``crops``: (N, s, s) uint8 gray, exactly what the classifier saw for each face, in ``faces`` order.
    ``faces`` are in reading order (``reading_order``): face n is tagged "n: ..." on ``annotated``.
    ``scale``: analysed copy / original (1.0 when the image was small enough).
    ``whole``: the whole image was classified as one face (no detection).
    ``detector``: the name (``fer.faces.detectors.DETECTORS``) of the detector that found the faces ("" with ``whole``).
    """
    name: str
    original_size: tuple[int, int]
    scale: float
    faces: list[Face]
    annotated: np.ndarray
    crops: np.ndarray
    whole: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    detector: str = ""

    @property
    def downscaled(self) -> bool:
        return self.scale < 1.0

    def to_dict(self) -> dict:
        """One entry of ``python -m fer predict --json``: ``{"path", "faces": [{"face": n, **Face.to_dict()},
        ...]}``, faces in reading order and ``face`` the number the page and the annotated image give them."""
        return {"path": self.name, "faces": [{"face": i + 1, **f.to_dict()} for i, f in enumerate(self.faces)]}


def reading_order(boxes: list[Box]) -> list[int]:
    """The indices of ``boxes`` in reading order: rows top to bottom, left to right within a row.

    A box joins the row of the topmost box not yet placed when its centre lies within that box's
    height, so faces side by side at slightly different heights read as one row, as a person would
    count them; detectors list faces by size, which numbers a group photo in no visible order."""
    left = sorted(range(len(boxes)), key=lambda i: (boxes[i].y + boxes[i].h / 2, boxes[i].x))
    out: list[int] = []
    while left:
        top = min(left, key=lambda i: boxes[i].y)
        y0, y1 = boxes[top].y, boxes[top].y + boxes[top].h
        row = [i for i in left if y0 <= boxes[i].y + boxes[i].h / 2 <= y1]
        out += sorted(row, key=lambda i: boxes[i].x)
        left = [i for i in left if i not in row]
    return out


def bound_size(image: np.ndarray, max_side: int = MAX_ANALYSIS_SIDE) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_side`` (INTER_AREA); returns (image, scale <= 1)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _unscale(box: Box, scale: float, width: int, height: int) -> Box:
    if scale == 1.0:
        return box
    x, y = round(box.x / scale), round(box.y / scale)
    return Box(x, y, min(round(box.w / scale), width - x), min(round(box.h / scale), height - y))


def analyse_still(data: bytes, name: str, pipeline: FramePipeline, whole: bool = False,
                  max_side: int = MAX_ANALYSIS_SIDE) -> StillResult:
    """Decode (``fer.imageio.ImageError`` for anything unusable), bound, classify and draw one image.

    ``whole`` skips detection and classifies the entire image as one face (pre-cropped data).
    """
    cv_threads.still_work()
    original = decode_image(data, name)
    height, width = original.shape[:2]
    image, scale = bound_size(original, max_side)
    del original  # a 50 MP decode is ~150 MB; keep only the bounded copy
    result = pipeline.analyse_whole(image) if whole else pipeline.analyse(image)
    order = reading_order([f.box for f in result.faces])
    found = [result.faces[i] for i in order]
    crops = result.crops[order] if result.crops is not None and len(order) else result.crops
    # Numbered boxes and tags only: each face's full, labelled chart is beside the picture on the page
    # (and in the JSON), where bars squeezed between faces would be smaller, unlabelled copies.
    annotated = draw_faces(image.copy(), found, bars=False, numbered=True) if not whole else image.copy()
    faces = [Face(box=_unscale(f.box, scale, width, height), label=f.label, score=f.score,
                  probabilities=f.probabilities) for f in found]
    return StillResult(name=name, original_size=(width, height), scale=scale, faces=faces, annotated=annotated,
                       crops=crops, whole=whole, timings_ms=result.timings_ms,
                       detector="" if whole else pipeline.detector.settings.name)


def error_entry(name: str, message: str) -> dict:
    """The CLI's JSON entry for a file that could not be read."""
    return {"path": name, "faces": [], "error": message}


def results_json(entries: list[dict]) -> str:
    """The download: a list of ``StillResult.to_dict()`` / ``error_entry`` dicts, indented like the CLI."""
    return json.dumps(entries, indent=2)


def encode_png(image_bgr: np.ndarray) -> bytes:
    """A BGR uint8 image as PNG bytes (lossless, for the annotated-image download)."""
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return buf.tobytes()
