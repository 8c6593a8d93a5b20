"""Shared fixtures: the real FER2013 copy (``FER_DATA_DIR`` overrides ../shared/data) and the shipped model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fer.config import fer2013_root


def _require_data() -> Path:
    root = fer2013_root()
    if not (root / "test").is_dir():
        pytest.skip(f"FER2013 not found at {root} (set FER_DATA_DIR to the folder holding fer2013/)")
    return root


@pytest.fixture(scope="session")
def fer_root() -> Path:
    """The folder-per-class FER2013 root with train/ val/ test/."""
    return _require_data()


@pytest.fixture(scope="session")
def classifier():
    """The small gray network (``multisource_blend``, one of the default ensemble's two members),
    served through LiteRT: the tests of the gray-crop machinery (CAM heat maps on its Keras twin,
    crops, tracking, audit) run on it. The default itself (``faceres_ensemble``) is what every
    page, command-line, API and browser test loads, and ``tests/test_ensemble.py`` tests it."""
    from fer.classify.model import load_classifier
    return load_classifier(os.environ.get("FER_TEST_MODEL") or "multisource_blend")


@pytest.fixture(scope="session")
def default_classifier():
    """The default model (``fer.config.DEFAULT_MODEL_NAME``, the ensemble), as the pages, the command
    line and the API serve it when no model is named."""
    from fer.classify.model import load_classifier
    return load_classifier(None)


@pytest.fixture(scope="session")
def two_face_clip() -> Path:
    """A real recorded scene, 480x270 at 12 fps, 56 frames, two people in every frame (the head-pose clip)."""
    from fer.config import data_root
    from video_clips import HEAD_POSE
    path = data_root() / "videos" / HEAD_POSE
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared clips of ../shared/data/videos)")
    return path


@pytest.fixture(scope="session")
def walking():
    """Three people facing the camera, 41 frames at 640x360, with their hand-checked boxes."""
    from video_clips import WALKING, real_clip
    return real_clip(WALKING)


@pytest.fixture(scope="session")
def head_pose():
    """Two people tilting and turning their heads, 56 frames at 640x360."""
    from video_clips import HEAD_POSE, real_clip
    return real_clip(HEAD_POSE)
