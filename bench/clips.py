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


def identities(truth: list[list[Box]]) -> list[list[Box | None]]:
    """The truth's faces as people: each frame's boxes put in a fixed order, one column per person,
    by linking each box to the nearest box of the frame before (IoU; the clips' faces move far less
    than their width between frames). None where a person has no box."""
    people: list[list[Box | None]] = []
    last: list[Box | None] = []
    for i, boxes in enumerate(truth):
        row: list[Box | None] = [None] * len(last)
        free = list(boxes)
        for score_, k, b in sorted(((iou(p, b), k, b) for k, p in enumerate(last) if p is not None
                                    for b in boxes), key=lambda t: -t[0]):
            if score_ >= MATCH_IOU and row[k] is None and b in free:
                row[k] = b
                free.remove(b)
        row += free  # a box linked to no one: a new person
        last = [b if b is not None else last[k] for k, b in enumerate(row[:len(last)])] + free
        people.append(row)
    width = max((len(r) for r in people), default=0)
    return [r + [None] * (width - len(r)) for r in people]


class IdScore(NamedTuple):
    switches: int              # a person's track id changed from one matched frame to the next
    false_tracks: int          # ids on no person in at least half of the frames they were shown in
    ids: int                   # ids shown
    people: int
    ids_per_person: list[int]  # distinct ids each person was shown with
    found: int                 # (person, frame) pairs with a track's box on the person
    visible: int

    @property
    def found_share(self) -> float:
        return self.found / max(self.visible, 1)


def id_score(shown: list[list[tuple[int, Box]]], people: list[list[Box | None]]) -> IdScore:
    """Each frame's (track id, box) pairs against the people of ``identities`` (a box on a person:
    IoU at least MATCH_IOU, best pairs first)."""
    n_people = max((len(r) for r in people), default=0)
    last: list[int | None] = [None] * n_people
    seen: list[set[int]] = [set() for _ in range(n_people)]
    on_person: dict[int, int] = {}
    frames_of: dict[int, int] = {}
    switches = found = visible = 0
    for tracks, row in zip(shown, people):
        visible += sum(b is not None for b in row)
        for tid, _ in tracks:
            frames_of[tid] = frames_of.get(tid, 0) + 1
        pairs = sorted(((iou(box, p), k, tid) for tid, box in tracks for k, p in enumerate(row) if p is not None),
                       key=lambda t: -t[0])
        taken_k, taken_t = set(), set()
        for s, k, tid in pairs:
            if s < MATCH_IOU or k in taken_k or tid in taken_t:
                continue
            taken_k.add(k)
            taken_t.add(tid)
            found += 1
            on_person[tid] = on_person.get(tid, 0) + 1
            if last[k] is not None and last[k] != tid:
                switches += 1
            last[k] = tid
            seen[k].add(tid)
    false_tracks = sum(on_person.get(t, 0) < frames_of[t] / 2 for t in frames_of)
    return IdScore(switches, false_tracks, len(frames_of), n_people, [len(s) for s in seen], found, visible)
