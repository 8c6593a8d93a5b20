"""A one-face clip built from a real FER2013 face over a real room, shared by the video and batch tests."""
from __future__ import annotations

from pathlib import Path

from fer.clips import real_background, write_face_clip
from fer.data import load_gray

from fer_samples import stratified_sample

FPS = 30
SECONDS = 3.0


def one_face_clip(fer_root: Path, out: Path, seconds: float = SECONDS) -> list:
    """Write the clip to ``out``; returns the face's true box per frame."""
    (path, _), = [(p, c) for p, c in stratified_sample(fer_root / "test", 1, seed=1) if c == "happy"]
    return write_face_clip(out, load_gray(path, 48), real_background(640, 480), seconds, fps=FPS)
