"""Face detectors behind one protocol (``FaceFinder``), chosen by name from ``DETECTORS``: the one
registry the sidebar and the CLI both read."""
from __future__ import annotations

from typing import Callable, NamedTuple

from .base import Box, Detection, DetectorSettings, FaceFinder, iou, largest_first  # noqa: F401


class DetectorEntry(NamedTuple):
    """A registered detector: what the sidebar and ``--help`` call it, and how to build one."""
    label: str
    build: Callable[[DetectorSettings], FaceFinder]


def _haar(settings: DetectorSettings) -> FaceFinder:
    from .haar import FaceDetector
    return FaceDetector(settings)


def _blazeface(settings: DetectorSettings) -> FaceFinder:
    from .blazeface import SHORT_RANGE, BlazeFaceDetector
    return BlazeFaceDetector(settings, SHORT_RANGE)


def _blazeface_full(settings: DetectorSettings) -> FaceFinder:
    from .blazeface import FULL_RANGE, BlazeFaceDetector
    return BlazeFaceDetector(settings, FULL_RANGE)


#: Every detector by name; the first is the default.
DETECTORS: dict[str, DetectorEntry] = {
    "haar": DetectorEntry("Haar cascades (default: frontal, profile, tilted)", _haar),
    "blazeface": DetectorEntry("BlazeFace short range (webcam distance)", _blazeface),
    "blazeface-full": DetectorEntry("BlazeFace full range (smaller, farther faces)", _blazeface_full),
}
DEFAULT_DETECTOR = "haar"


def make_detector(settings: DetectorSettings | None = None) -> FaceFinder:
    """The detector ``settings.name`` names, with those settings (ValueError for an unknown name)."""
    settings = settings or DetectorSettings()
    entry = DETECTORS.get(settings.name)
    if entry is None:
        raise ValueError(f"unknown detector {settings.name!r}; choose one of {', '.join(DETECTORS)}")
    return entry.build(settings)
