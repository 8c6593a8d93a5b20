"""Clips for the tests: a one-face clip built from a real FER2013 face over a real room (video and
batch tests), and the shared real clips with their hand-checked boxes (bench/clips.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fer.config import REPO_ROOT

from fer.train.clips import real_background, write_face_clip
from fer.train.data import load_gray

from fer_samples import stratified_sample

FPS = 30
SECONDS = 3.0


def one_face_clip(fer_root: Path, out: Path, seconds: float = SECONDS) -> list:
    """Write the clip to ``out``; returns the face's true box per frame."""
    (path, _), = [(p, c) for p, c in stratified_sample(fer_root / "test", 1, seed=1) if c == "happy"]
    return write_face_clip(out, load_gray(path, 48), real_background(640, 480), seconds, fps=FPS)


#: The shared real clips (../shared/data/videos) whose visible faces are in bench/clip_truth.json.
HEAD_POSE = "head-pose-face-detection-female-and-male.mp4"
WALKING = "face-demographics-walking-and-pause.mp4"


def real_clip(name: str, width: int = 640):
    """A shared clip's frames (resized to ``width``, 0 = as is) and its truth (bench/clips.py)."""
    if str(REPO_ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "bench"))
    from clips import load_clip, videos_dir
    path = videos_dir() / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set FER_DATA_DIR)")
    return load_clip(path, width)
