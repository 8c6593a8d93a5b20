"""Real footage as Chromium's fake camera: ../shared/data/videos clips at 640x480 and 30 fps, each
frame stamped with its index (frame_code.py), written as the y4m Chromium loops.

The clips are 480x270 at 12 fps: each is scaled to 640x360 (aspect kept, the faces undistorted),
letterboxed into 640x480, and shown at 30 fps by repeating source frames at their own timing. The
frame code sits in the bottom bar, away from the faces.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import fake_camera
import frame_code
from fer.config import data_root

WIDTH, HEIGHT, FPS = fake_camera.WIDTH, fake_camera.HEIGHT, fake_camera.FPS
BAR_GRAY = 24


@dataclass(frozen=True)
class Footage:
    """A stamped y4m and its cycle: frame i of the file carries counter i, and Chromium loops it."""
    y4m: Path
    frames: int
    clips: tuple[str, ...]


def clip_paths(root: Path | None = None) -> list[Path]:
    folder = (root or data_root()) / "videos"
    clips = sorted(folder.glob("*.mp4"))
    if not clips:
        raise FileNotFoundError(f"no .mp4 clips in {folder}")
    return clips


def _letterbox(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    scale = min(WIDTH / w, HEIGHT / h)
    nw, nh = int(round(w * scale)), int(round(h * scale))
    out = np.full((HEIGHT, WIDTH, 3), BAR_GRAY, np.uint8)
    y0, x0 = (HEIGHT - nh) // 2, (WIDTH - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def clip_frames(path: Path) -> list[np.ndarray]:
    """A clip letterboxed to 640x480 and shown at 30 fps (source frames repeated at their own timing)."""
    import av
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        rate = float(stream.average_rate or 12)
        src = [_letterbox(f.to_ndarray(format="bgr24")) for f in c.decode(stream)]
    n = int(round(len(src) / rate * FPS))
    return [src[min(len(src) - 1, int(i * rate / FPS))] for i in range(n)]


def build(out: Path, root: Path | None = None, clips: int | None = None, gray: bool = False) -> Footage:
    """Every clip (or the first ``clips``) back to back, 30 fps, 640x480, stamped, as ``out`` (y4m).
    A few seconds; ~110 MB for both clips. ``gray``: without colour, so that the page's coloured
    annotations tell a processed frame from a raw one (live_driver's watcher)."""
    clips = clip_paths(root)[:clips]
    video = []
    for clip in clips:
        video.extend(f.copy() for f in clip_frames(clip))
    for i, img in enumerate(video):
        if gray:
            img[:] = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        frame_code.stamp(img, i)
    fake_camera.write_y4m(out, video)
    return Footage(out, len(video), tuple(c.name for c in clips))
