"""The Haar detector and the box helpers under one short name (``from fer.faces.detection import
FaceDetector, Box``), for tests, benchmarks and pages that need no other detector."""
from __future__ import annotations

from .detectors.base import Box, Detection, DetectorSettings, iou, largest_first, overlap  # noqa: F401
from .detectors.haar import CASCADE_WINDOW, FaceDetector, cascade_path  # noqa: F401
