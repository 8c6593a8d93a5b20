"""Memory of ``fer video`` across a long recording: a 30 fps 640x480 stream of a given length
(10 minutes by default) made by looping a real clip of ../shared/data/videos, fed through the video
command's own path (``run_videos``: decode, ``LiveSession`` detect/track/smooth, CSV rows), with
this process's RSS read at the start, at every ``--sample-every-s`` seconds of video (60: every
minute) and at the end, plus frames/s.

    python bench/video_memory.py [--minutes 10] [--sample-every-s 60] [--every 1] [--detector haar]
                                 [--clip ../shared/data/videos/NAME.mp4] [--json OUT.json]

The stream: the clip is decoded again on every pass (the product's ``VideoReader``, so the decoder is
part of what is measured), each frame scaled to 640 px wide and letterboxed to 640x480, and
re-stamped at 30 fps (the shared clips are 12 fps, so motion runs 2.5x faster; each pass starts
where the last ended, a cut as in an edited recording). No long file is written: only the CSV, in a
temporary folder. The last line printed is JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from batch import PeakRss, rss_mb  # noqa: E402  (bench/batch.py: one RSS reader for the benchmarks)
from fer.config import data_root  # noqa: E402
from fer.faces.detectors import DEFAULT_DETECTOR, DETECTORS  # noqa: E402
from fer.offline.video import DecodedFrame, VideoInfo, VideoReader  # noqa: E402

FPS = 30
WIDTH, HEIGHT = 640, 480
DEFAULT_CLIP = "head-pose-face-detection-female-and-male.mp4"


def letterbox(image: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A BGR frame scaled to ``width`` wide (aspect kept) and padded with black to ``height``."""
    h, w = image.shape[:2]
    new_h = min(height, round(h * width / w))
    scaled = cv2.resize(image, (width, new_h), interpolation=cv2.INTER_LINEAR)
    top = (height - new_h) // 2
    return cv2.copyMakeBorder(scaled, top, height - new_h - top, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))


class LoopedClip:
    """A real clip looped into a ``seconds``-long 30 fps 640x480 stream, with the attributes
    ``run_videos`` reads from a ``VideoReader`` (``info``, ``rate``, ``decoded``, iteration, ``close``).
    Reads RSS whenever the stream's clock passes a multiple of ``sample_every_s``."""

    def __init__(self, clip: Path, seconds: float, sample_every_s: float) -> None:
        self.clip, self.total = clip, int(round(seconds * FPS))
        self.rate = Fraction(FPS)
        self.info = VideoInfo(WIDTH, HEIGHT, float(FPS), self.total)
        self.decoded = 0
        self.sample_every = max(1, int(round(sample_every_s * FPS)))
        self.samples: list[dict] = []  # video seconds, RSS MB, wall seconds since the first frame
        self.passes = 0
        self._t0: float | None = None

    def _sample(self, index: int) -> None:
        t = time.perf_counter()
        self._t0 = t if self._t0 is None else self._t0
        row = {"video_s": round(index / FPS, 1), "rss_mb": round(rss_mb(), 1), "wall_s": round(t - self._t0, 1)}
        self.samples.append(row)
        print(f"  {row['video_s']:7.1f} s of video: RSS {row['rss_mb']:.0f} MB after {row['wall_s']:.0f} s",
              flush=True)

    def __iter__(self) -> Iterator[DecodedFrame]:
        index = 0
        while index < self.total:
            with VideoReader(self.clip) as reader:
                self.passes += 1
                for f in reader:
                    if index % self.sample_every == 0:
                        self._sample(index)
                    self.decoded = index + 1
                    yield DecodedFrame(index, index / FPS, letterbox(f.image))
                    index += 1
                    if index >= self.total:
                        break
        self._sample(index)

    def close(self) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the looped stream in minutes")
    ap.add_argument("--sample-every-s", type=float, default=60.0, help="read RSS every this many seconds of video")
    ap.add_argument("--every", type=int, default=1, help="analyse every N-th frame, as fer video --every")
    ap.add_argument("--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR, help="face detector")
    ap.add_argument("--clip", type=Path, default=data_root() / "videos" / DEFAULT_CLIP, help="the real clip to loop")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args(argv)
    if not a.clip.is_file():
        print(f"error: {a.clip} not found (the shared clips of ../shared/data/videos)", file=sys.stderr)
        return 2
    from fer.faces.detectors import DetectorSettings, make_detector
    from fer.classify.model import load_classifier
    from fer.pipeline import FramePipeline
    from fer.offline.video_run import run_videos

    load = os.getloadavg()
    rss_process = rss_mb()
    pipe = FramePipeline(load_classifier(None), make_detector(DetectorSettings(name=a.detector)))
    stream = LoopedClip(a.clip, a.minutes * 60, a.sample_every_s)
    print(f"load average {load[0]:.1f} on {os.cpu_count()} cores; {a.minutes:g} min of {a.clip.name} looped to "
          f"{FPS} fps {WIDTH}x{HEIGHT} ({stream.total} frames), detector {a.detector}, every {a.every}; "
          f"RSS {rss_process:.0f} MB before the model, {rss_mb():.0f} MB after", flush=True)
    with tempfile.TemporaryDirectory(prefix="fer_bench_video_memory") as d:
        csv_path = Path(d) / "faces.csv"
        peak = PeakRss()
        c0, t0 = time.process_time(), time.perf_counter()
        (o,) = run_videos([a.clip.name], pipe, csv_path, every=a.every, progress=False, opener=lambda _: stream)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        mem = peak.stop()
        csv_mb = csv_path.stat().st_size / 2**20
    if o.error:
        print(f"error: {o.error}", file=sys.stderr)
        return 1
    figs = {"clip": a.clip.name, "minutes": a.minutes, "frames": o.frames, "analysed": o.analysed, "rows": o.rows,
            "tracks": len(o.tracks), "passes": stream.passes, "detector": a.detector, "every": a.every,
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "fps": round(o.frames / wall, 1),
            "x_real_time": round(a.minutes * 60 / wall, 2),
            "x_real_time_per_cpu_second": round(a.minutes * 60 / cpu, 2),
            "rss_before_model_mb": round(rss_process, 1), "rss_samples": stream.samples, **mem,
            "csv_mb": round(csv_mb, 1), "load_average_start": round(load[0], 1),
            "load_average_end": round(os.getloadavg()[0], 1)}
    first, last = stream.samples[0]["rss_mb"], stream.samples[-1]["rss_mb"]
    print(f"{o.frames} frames ({o.rows} rows, {len(o.tracks)} tracks) in {wall:.0f} s: {figs['fps']:.1f} frames/s, "
          f"{figs['x_real_time']:.2f}x real time ({figs['x_real_time_per_cpu_second']:.2f}x per CPU second); "
          f"RSS {first:.0f} -> {last:.0f} MB (peak {mem['rss_peak_mb']:.0f}); CSV {csv_mb:.1f} MB", flush=True)
    line = json.dumps(figs)
    if a.json:
        Path(a.json).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
