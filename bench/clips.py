"""The shared real clips (../shared/data/videos) and their hand-checked faces, for the benchmarks and
tests: frames as BGR arrays, the truth boxes of each frame, and how a result is scored against them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from fer.config import data_root
from fer.faces.detectors.base import Box, iou

#: Boxes of every visible face in every frame, checked by eye (see the file's "_about").
TRUTH_FILE = Path(__file__).with_name("clip_truth.json")
#: A box is a visible face's when it overlaps it this much (the box styles of Haar and BlazeFace differ).
MATCH_IOU = 0.3


class Clip(NamedTuple):
    name: str
    frames: list[np.ndarray]     # BGR uint8, decoding order, resized to ``width`` if asked
    truth: list[list[Box]]       # the visible faces of each frame, in the same pixels
    fps: float


class Score(NamedTuple):
    found: int     # visible faces with a box on them
    visible: int   # visible faces
    false: int     # boxes on no visible face
    frames: int

    @property
    def found_share(self) -> float:
        return self.found / max(self.visible, 1)

    @property
    def false_per_frame(self) -> float:
        return self.false / max(self.frames, 1)


def videos_dir() -> Path:
    return data_root() / "videos"


def load_clip(path: str | Path, width: int | None = None) -> Clip:
    """Decode a clip (PyAV) and its truth from ``clip_truth.json`` (KeyError if it has none), both
    resized to ``width`` pixels wide when given."""
    import av
    path = Path(path)
    truth_px = json.loads(TRUTH_FILE.read_text())["clips"][path.name]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 12)
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
    if len(frames) != len(truth_px):
        raise ValueError(f"{path.name}: {len(frames)} frames decoded, the truth has {len(truth_px)}")
    scale = 1.0 if not width else width / frames[0].shape[1]
    if scale != 1.0:
        size = (width, round(frames[0].shape[0] * scale))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
                  for f in frames]
    truth = [[Box(*(round(v * scale) for v in b)) for b in boxes] for boxes in truth_px]
    return Clip(path.name, frames, truth, fps)


def score(results: list[list[Box]], truth: list[list[Box]]) -> Score:
    """Each frame's boxes against its visible faces: a face is found when a box overlaps it at least
    MATCH_IOU (each box counts for one face at most); a box on no face is false."""
    found = false = 0
    for boxes, faces in zip(results, truth):
        matched: set[int] = set()
        for b in boxes:
            best = max(range(len(faces)), key=lambda k: iou(b, faces[k]), default=None)
            if best is not None and best not in matched and iou(b, faces[best]) >= MATCH_IOU:
                matched.add(best)
            else:
                false += 1
        found += len(matched)
    return Score(found, sum(len(f) for f in truth), false, len(truth))
