"""Large faces in large photos: eight walking-clip frames with 2-3 faces, blown up 10x to 4800x2700
(faces of 400-700 px), as the still page and ``predict`` analyse them (shrunk to 2048 px): the
product's Haar detection against plain ``detectMultiScale(1.1, 3)`` on the same shrunk copy.

    python bench/large_faces.py [--blow-up 10 6 4]

Boxes are scored as everywhere on the clips (``clips.score``: a face is found when a box's IoU with
it is at least 0.3, each box for one face; any other box is false).
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cv2  # noqa: E402
from clips import load_clip, score, videos_dir  # noqa: E402
from fer.faces.detectors import make_detector  # noqa: E402
from fer.faces.detectors.base import Box  # noqa: E402
from fer.faces.detectors.haar import cascade_path  # noqa: E402
from fer.offline.still import bound_size  # noqa: E402
CLIP = "face-demographics-walking-and-pause.mp4"
PHOTOS = 8
BLOW_UP = 10


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blow-up", type=float, nargs="+", default=[BLOW_UP], help="enlargements of the clip's frames")
    for blow_up in ap.parse_args().blow_up:
        run(blow_up)


def run(blow_up: float) -> None:
    clip = load_clip(videos_dir() / CLIP, 0)
    busy = [i for i, t in enumerate(clip.truth) if len(t) >= 2]
    frames = busy[::max(1, len(busy) // PHOTOS)][:PHOTOS]
    detector = make_detector()
    plain_cascade = cv2.CascadeClassifier(cascade_path())
    totals = {"product": [0, 0, []], "plain detectMultiScale(1.1, 3)": [0, 0, []]}
    faces = 0
    for i in frames:
        big = cv2.resize(clip.frames[i], None, fx=blow_up, fy=blow_up, interpolation=cv2.INTER_CUBIC)
        small, s = bound_size(big)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        truth = [Box(*(int(v * blow_up * s) for v in b)) for b in clip.truth[i]]
        faces += len(truth)
        t0 = time.perf_counter()
        ours = detector.detect(gray)
        t1 = time.perf_counter()
        plain = [Box(*map(int, r)) for r in plain_cascade.detectMultiScale(gray, 1.1, 3, minSize=(48, 48))]
        t2 = time.perf_counter()
        for name, boxes, dt in (("product", ours, t1 - t0), ("plain detectMultiScale(1.1, 3)", plain, t2 - t1)):
            got = score([boxes], [truth])
            totals[name][0] += got.found
            totals[name][1] += got.false
            totals[name][2].append(dt * 1000)
        print(f"frame {i} at {big.shape[1]}x{big.shape[0]}: face sides {[t.w for t in truth]} (in the "
              f"{gray.shape[1]} px copy); product {[b.w for b in ours]}, plain {[b.w for b in plain]}", flush=True)
    for name, (found, false, ms) in totals.items():
        print(f"x{blow_up:g}, {name}: found {found} of {faces} faces, {false} false boxes, median {statistics.median(ms):.0f} ms "
              f"a photo ({min(ms):.0f}-{max(ms):.0f})")


if __name__ == "__main__":
    main()
