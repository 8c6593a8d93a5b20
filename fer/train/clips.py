"""Video clips built from real faces, for the video tests and benchmarks: one real face crop moving
slowly over a real room (a frame of the shared clips), written as H.264 at a known frame rate, so
what ``fer video`` returns can be checked against where the face truly was; two real faces crossing
over that room, for the tracker's ids."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .compose import paste_face
from ..config import data_root
from ..faces.detection import Box

#: The shared clip whose room serves as background, and the part of its first frame used: the
#: wall, shirt and arm below the man's face (x, y, w, h in its 480x270 pixels), a real scene with no
#: face in it, so the pasted face is the only one there.
BACKGROUND_CLIP = "head-pose-face-detection-female-and-male.mp4"
BACKGROUND_REGION = (250, 140, 173, 130)


def real_background(width: int = 640, height: int = 480, clip: str = BACKGROUND_CLIP,
                    region: tuple[int, int, int, int] = BACKGROUND_REGION) -> np.ndarray:
    """``region`` of the first frame of a shared real clip, scaled to ``width`` x ``height`` (BGR uint8)."""
    from ..offline.video import VideoReader
    x, y, w, h = region
    with VideoReader(data_root() / "videos" / clip) as reader:
        for f in reader:
            return cv2.resize(f.image[y:y + h, x:x + w], (width, height), interpolation=cv2.INTER_CUBIC)
    raise ValueError(f"{clip} has no frame")


def face_path(n_frames: int, width: int, height: int, face_px: int) -> list[Box]:
    """A slow ellipse around the frame centre (about a face width each way, one turn per 4 s at 30 fps)."""
    boxes = []
    for i in range(n_frames):
        a = 2 * math.pi * i / 120
        cx = width / 2 + 0.6 * face_px * math.cos(a)
        cy = height / 2 + 0.3 * face_px * math.sin(a)
        boxes.append(Box(int(cx - face_px / 2), int(cy - face_px / 2), face_px, face_px))
    return boxes


def write_face_clip(path: str | Path, face_gray: np.ndarray, background_bgr: np.ndarray, seconds: float,
                    fps: int = 30, face_px: int = 160) -> list[Box]:
    """Write an H.264 mp4 of ``face_gray`` (a real crop, any size) moving over ``background_bgr``;
    returns the face's true box in each frame."""
    import av
    h, w = background_bgr.shape[:2]
    boxes = face_path(int(round(seconds * fps)), w, h, face_px)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for i, box in enumerate(boxes):
            frame = paste_face(background_bgr.copy(), face_gray, box)
            vf = av.VideoFrame.from_ndarray(frame, format="bgr24")
            vf.pts = i
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
    return boxes


class Crossing(NamedTuple):
    """Two real faces crossing over a real room: the frames (BGR uint8) and, per frame, the box of
    each face (front, back), None for the back face while the front one hides most of it."""
    frames: list[np.ndarray]
    boxes: list[tuple[Box, Box | None]]
    fps: float


#: The back face counts as hidden while the front one covers more than this share of it.
HIDDEN_SHARE = 0.5


def crossing_clip(front: np.ndarray, back: np.ndarray, background_bgr: np.ndarray, seconds: float = 3.0,
                  fps: float = 30.0, face_px: int = 120) -> Crossing:
    """``front`` walks left to right across ``background_bgr`` while ``back`` walks right to left a
    little lower, passing behind it (both real face crops, gray or BGR, any size): the case where a
    tracker that matches boxes by position alone swaps the two ids."""
    h, w = background_bgr.shape[:2]
    n = int(round(seconds * fps))
    x0, x1 = face_px // 6, w - face_px - face_px // 6
    y_front, y_back = (h - face_px) // 2 - face_px // 8, (h - face_px) // 2 + face_px // 8
    frames, boxes = [], []
    for i in range(n):
        t = i / max(1, n - 1)
        a = Box(int(round(x0 + (x1 - x0) * t)), y_front, face_px, face_px)
        b = Box(int(round(x1 - (x1 - x0) * t)), y_back, face_px, face_px)
        frame = paste_face(background_bgr.copy(), back, b)
        paste_face(frame, front, a)
        ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
        iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
        frames.append(frame)
        boxes.append((a, None if ix * iy > HIDDEN_SHARE * b.w * b.h else b))
    return Crossing(frames, boxes, fps)
