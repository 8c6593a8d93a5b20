"""Where the Haar detector lived before ``fer.faces.detectors``; kept so existing imports keep working."""
from __future__ import annotations

from .detectors.base import Box, Detection, DetectorSettings, iou, largest_first, overlap  # noqa: F401
from .detectors.haar import CASCADE_WINDOW, FaceDetector, cascade_path  # noqa: F401
