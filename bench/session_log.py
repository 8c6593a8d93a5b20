"""What the complete, disk-backed live session log costs per frame, against keeping rows in memory.

    python bench/session_log.py [--frames 3000] [--runs 5]

Prints medians and ranges of: add() of one frame with four faces (the video thread pays this), and
the CSV of the whole session (the download pays this). The baseline is the simplest alternative: rows in a
capped in-memory deque, formatted only when downloaded (``InMemoryLog`` below).
"""
from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer.config import CLASSES  # noqa: E402
from fer.faces.detection import Box  # noqa: E402
from fer.pipeline import Face  # noqa: E402
from fer.stream.session_log import LogRow, SessionLog  # noqa: E402


class InMemoryLog:
    """The simplest session log: a capped deque, CSV built on download (it drops rows past its cap)."""

    def __init__(self, max_rows: int = 60_000) -> None:
        self._rows: deque[LogRow] = deque(maxlen=max_rows)

    def add(self, time_s: float, faces: list[Face]) -> None:
        self._rows.extend(LogRow(round(time_s, 3), f.track_id or 0, tuple(int(v) for v in f.box),
                                 tuple(float(f.probabilities.get(c, 0.0)) for c in CLASSES), f.label) for f in faces)

    def to_csv_bytes(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for r in self._rows:
            w.writerow((f"{r.time_s:.3f}", r.face_id, *r.box, *(f"{p:.4f}" for p in r.probabilities), r.label))
        return buf.getvalue().encode()


def measure(make, faces: list[Face], frames: int) -> tuple[float, float]:
    log = make()
    t = time.perf_counter()
    for n in range(frames):
        log.add(n / 30, faces)
    add_us = (time.perf_counter() - t) / frames * 1e6
    t = time.perf_counter()
    log.to_csv_bytes()
    return add_us, (time.perf_counter() - t) * 1e3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=3000, help="frames per run (four faces each)")
    p.add_argument("--runs", type=int, default=5, help="alternating runs of each design")
    args = p.parse_args(argv)
    faces = [Face(Box(100 * i, 50, 90, 90), "happy", 0.8, {c: (0.8 if c == "happy" else 0.2 / 6) for c in CLASSES},
                  track_id=i) for i in range(1, 5)]
    results: dict[str, list[tuple[float, float]]] = {"in-memory": [], "disk-backed (SessionLog)": []}
    for _ in range(args.runs):
        results["in-memory"].append(measure(InMemoryLog, faces, args.frames))
        results["disk-backed (SessionLog)"].append(measure(SessionLog, faces, args.frames))
    for name, runs in results.items():
        add = [a for a, _ in runs]
        dl = [c for _, c in runs]
        print(f"{name:18} add() per frame (4 faces): median {statistics.median(add):7.1f} us "
              f"[{min(add):.1f}-{max(add):.1f}]; CSV of {args.frames * 4:,} rows: median "
              f"{statistics.median(dl):7.1f} ms [{min(dl):.1f}-{max(dl):.1f}]")
    memory, disk = (statistics.median(a for a, _ in r) for r in results.values())
    print(f"add() disk-backed / in-memory: {disk / memory:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
