"""One id per person: id switches and false tracks of the video path (a ``LiveSession`` on each frame's
own clock, as ``fer video`` runs it), per detector, with new faces confirmed over three frames (the
product) and shown at once (``--confirm 1``, for comparison), in one run, on:

- the shared real clips (two people turning their heads; three people walking), whose people are the
  hand-checked boxes of bench/clip_truth.json linked from frame to frame;
- the head-pose clip with a real face (a RAF-DB test crop) planted in two frames, one frame each
  (``PLANTS``): what a detector's one-frame false face looks like to the tracker; a track on it is a
  false one;
- two real faces (RAF-DB test crops) crossing over a real room (``fer.train.clips.crossing_clip``), the
  back one hidden for a few frames: the case where matching by position alone swaps the ids.

An id switch is a person's track id changing from one matched frame to the next; a false track is an
id on no person in at least half of the frames it was shown in.

    python bench/tracking_ids.py [--detectors blazeface haar] [--confirm 3 1] [--width 640]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(1, str(BENCH))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from clips import id_score, identities, load_clip, videos_dir  # noqa: E402  (bench/clips.py)
from fer.train.clips import crossing_clip, real_background  # noqa: E402
from fer.train.compose import paste_face  # noqa: E402
from fer.config import data_root  # noqa: E402
from fer.faces.detectors import DetectorSettings, make_detector  # noqa: E402
from fer.faces.detectors.base import Box, iou  # noqa: E402
from fer.stream.live import LIVE_READ_EVERY_S, LiveSession  # noqa: E402
from fer.pipeline import FramePipeline  # noqa: E402
from fer.stream.tracking import DEFAULT_CONFIRM_HITS  # noqa: E402

HEAD_POSE = "head-pose-face-detection-female-and-male.mp4"
WALKING = "face-demographics-walking-and-pause.mp4"
#: The frames of the head-pose clip a real face is planted in, each for that frame only, and where
#: (640 px wide frames, between the two people): the stream's first frame, which is scanned whole,
#: and one of the video path's periodic rescans (every 0.125 s of the clip's 12 fps: odd frames).
PLANTS = {0: Box(270, 150, 90, 90), 21: Box(250, 230, 90, 90)}
CROSSING_PX = 120


def face_crops(n: int, side: int = CROSSING_PX, classes: tuple[str, ...] = ("happy", "neutral", "surprise")) -> list[np.ndarray]:
    """The first ``n`` RAF-DB test crops (BGR; FER2013 gray crops without RAF-DB), one per class in
    turn, that the default detector finds exactly once pasted at ``side`` px on the real room (chosen
    by the detector alone, so the choice does not depend on the tracker)."""
    root = data_root() / "rafdb" / "test"
    if not root.is_dir():
        root = data_root() / "fer2013" / "test"
    if not root.is_dir():
        raise FileNotFoundError(f"neither RAF-DB nor FER2013 test images under {data_root()}")
    room = real_background(640, 360)
    det = make_detector()
    files = {c: sorted((root / c).iterdir()) for c in classes}
    out, k = [], 0
    while len(out) < n and k < 200:
        for c in classes:
            if k >= len(files[c]):
                continue
            crop = cv2.imread(str(files[c][k]))
            box = Box((640 - side) // 2, (360 - side) // 2, side, side)
            if crop is not None and len(det.detect(paste_face(room.copy(), crop, box))) == 1:
                out.append(crop)
                if len(out) == n:
                    break
        k += 1
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} detectable faces in {root}")
    return out


def crossing(fps: float = 30.0):
    """Two real faces crossing over the real room: (frames, people, fps)."""
    front, back = face_crops(2)
    clip = crossing_clip(front, back, real_background(640, 360), fps=fps, face_px=CROSSING_PX)
    return clip.frames, [list(b) for b in clip.boxes], clip.fps


def planted(width: int = 640):
    """The head-pose clip with a real face in each frame of PLANTS, that frame only: (frames, people,
    fps); the people are the clip's two (a planted face is no one's)."""
    clip = load_clip(videos_dir() / HEAD_POSE, width)
    frames = [f.copy() for f in clip.frames]
    crop = face_crops(3)[2]
    for i, box in PLANTS.items():
        paste_face(frames[i], crop, box)
    return frames, identities(clip.truth), clip.fps


def track(frames: list[np.ndarray], fps: float, pipe: FramePipeline,
          confirm_hits: int = DEFAULT_CONFIRM_HITS) -> list[list[tuple[int, Box]]]:
    """(track id, box) of every face shown in each frame, on the frames' own clock."""
    session = LiveSession(read_every_s=LIVE_READ_EVERY_S, confirm_hits=confirm_hits)
    shown = []
    for i, frame in enumerate(frames):
        session.process(frame.copy(), pipe, at=i / fps, draw=False)
        shown.append([(f.track_id, f.box) for f in session.latest().faces])
    return shown


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detectors", nargs="+", default=["blazeface", "haar"])
    p.add_argument("--confirm", type=int, nargs="+", default=[DEFAULT_CONFIRM_HITS, 1],
                   help="frames in a row a new face must be detected in before it gets an id")
    p.add_argument("--width", type=int, default=640, help="the shared clips resized to this width")
    p.add_argument("--model", help="classifier (default: the shipped model)")
    args = p.parse_args(argv)
    from fer.classify.model import load_classifier
    clf = load_classifier(args.model)

    sources = {}
    for label, name in (("head-pose clip", HEAD_POSE), ("walking clip", WALKING)):
        clip = load_clip(videos_dir() / name, args.width)
        sources[label] = (clip.frames, identities(clip.truth), clip.fps)
    frames, people, fps = planted(args.width)
    sources["head-pose + 2 one-frame faces"] = (frames, people, fps)
    sources["two real faces crossing"] = crossing()

    rows = []
    for det in args.detectors:
        pipe = FramePipeline(clf, make_detector(DetectorSettings(name=det)))
        planted_found = sum(any(iou(f.box, box) >= 0.3 for f in pipe.analyse(frames[i]).faces)
                            for i, box in PLANTS.items())
        for confirm in args.confirm:
            for source, (fr, ppl, f) in sources.items():
                s = id_score(track(fr, f, pipe, confirm), ppl)
                row = {"detector": det, "confirm_hits": confirm, "source": source, "frames": len(fr),
                       "people": s.people, "ids": s.ids, "ids_per_person": s.ids_per_person,
                       "id_switches": s.switches, "false_tracks": s.false_tracks,
                       "found_share": round(s.found_share, 3)}
                if source.startswith("head-pose +"):
                    row["planted_faces_a_whole_scan_finds"] = planted_found
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(f"{'detector':<10} {'confirm':>7}  {'source':<36} {'ids':>4} {'people':>6} {'switches':>8} "
          f"{'false tracks':>12} {'found':>6}")
    for r in rows:
        print(f"{r['detector']:<10} {r['confirm_hits']:>7}  {r['source']:<36} {r['ids']:>4} {r['people']:>6} "
              f"{r['id_switches']:>8} {r['false_tracks']:>12} {r['found_share']:>6.1%}")
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
