"""Fake camera footage built at test time from real FER2013 faces.

FER2013 crops are 48x48 gray; upscaled on a flat gray 640x480 canvas they are faces Haar finds and
the model knows. The canvas is gray on purpose: every coloured pixel in a frame that comes back
from the server was drawn by the annotation, which is how the tests tell processed frames from
passed-through ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.config import fer2013_root
from fer.faces.detection import FaceDetector
from fer.classify.model import Classifier

WIDTH, HEIGHT, FPS = 640, 480, 30
CANVAS_GRAY = 96


@dataclass(frozen=True)
class PickedFace:
    """A FER2013 image the detector finds and the model reads as ``label`` with ``score``."""
    path: Path
    image: np.ndarray  # (48, 48) uint8 gray
    label: str
    score: float


def face_layout(n: int) -> list[tuple[int, int, int]]:
    """(centre x, centre y, side) for n faces on the canvas: 1 big, 2 side by side, up to 4 in a grid."""
    if n == 1:
        return [(WIDTH // 2, HEIGHT // 2, 220)]
    if n == 2:
        return [(WIDTH // 4 + 10, HEIGHT // 2, 200), (3 * WIDTH // 4 - 10, HEIGHT // 2, 200)]
    if n <= 4:
        return [(WIDTH // 4 + 20 + (i % 2) * (WIDTH // 2 - 40), HEIGHT // 4 + 10 + (i // 2) * (HEIGHT // 2 - 20), 170)
                for i in range(n)]
    raise ValueError("at most 4 faces")


def compose(faces: list[np.ndarray], shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A 640x480 BGR frame: each 48x48 gray face upscaled into its slot of ``face_layout``."""
    canvas = np.full((HEIGHT, WIDTH), CANVAS_GRAY, np.uint8)
    for img, (cx, cy, side) in zip(faces, face_layout(len(faces))):
        big = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC)
        x0, y0 = cx - side // 2 + shift[0], cy - side // 2 + shift[1]
        canvas[y0:y0 + side, x0:x0 + side] = big
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


def pick_faces(classifier: Classifier, detector: FaceDetector, label: str = "happy", n: int = 4,
               scan: int = 150, root: Path | None = None) -> list[PickedFace]:
    """The ``n`` images of ``root/test/label`` that, alone on the canvas, give exactly one detection and
    the highest probability of ``label``: clear cases, chosen by the model under test."""
    folder = (root or fer2013_root()) / "test" / label
    files = sorted(folder.iterdir())[:scan]
    k = classifier.classes.index(label)
    found = []
    from fer.pipeline import FramePipeline
    pipeline = FramePipeline(classifier, detector)
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None or img.shape != (48, 48):
            continue
        faces = pipeline.analyse(compose([img])).faces
        if len(faces) != 1:
            continue
        p = faces[0].probabilities[classifier.classes[k]]
        found.append(PickedFace(f, img, faces[0].label, p))
    found.sort(key=lambda pf: (pf.label == label, pf.score), reverse=True)
    if len(found) < n:
        raise RuntimeError(f"only {len(found)} of {len(files)} images in {folder} were detected as one face")
    return found[:n]


def frames(faces: list[np.ndarray], seconds: float = 5.0) -> list[np.ndarray]:
    """``seconds`` of frames with the faces drifting a few pixels, as a hand-held camera would."""
    count = int(seconds * FPS)
    t = np.arange(count) / FPS
    return [compose(faces, (int(round(6 * np.sin(2 * np.pi * s / 3))), int(round(3 * np.cos(2 * np.pi * s / 4)))))
            for s in t]


def write_y4m(path: Path, video: list[np.ndarray], fps: int = FPS) -> Path:
    """Raw yuv420p y4m (what Chromium's --use-file-for-fake-video-capture reads), written with PyAV."""
    _write(path, video, fps, "rawvideo", container_format="yuv4mpegpipe")
    return path


def write_mp4(path: Path, video: list[np.ndarray], fps: int = FPS) -> Path:
    """An H.264 mp4 of the same frames, for the uploaded-video source."""
    _write(path, video, fps, "libx264", options={"preset": "veryfast", "crf": "18"})
    return path


def _write(path: Path, video: list[np.ndarray], fps: int, codec: str, container_format: str | None = None,
           options: dict | None = None) -> None:
    import av
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for img in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
