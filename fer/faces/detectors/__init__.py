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
    from .two_range import TwoRangeBlazeFace
    return TwoRangeBlazeFace(settings)


def _blazeface_short(settings: DetectorSettings) -> FaceFinder:
    from .blazeface import SHORT_RANGE, BlazeFaceDetector
    return BlazeFaceDetector(settings, SHORT_RANGE)


def _blazeface_full(settings: DetectorSettings) -> FaceFinder:
    from .blazeface import FULL_RANGE, BlazeFaceDetector
    return BlazeFaceDetector(settings, FULL_RANGE)


#: Every detector by name; the first is the default (``DetectorSettings().name``). Why BlazeFace and
#: not Haar: docs/detectors.md, with the figures and the commands that measure them.
DETECTORS: dict[str, DetectorEntry] = {
    "blazeface": DetectorEntry("BlazeFace (short + full range)", _blazeface),
    "haar": DetectorEntry("Haar cascades (the seed's)", _haar),
    "blazeface-short": DetectorEntry("BlazeFace short range only (webcam distance)", _blazeface_short),
    "blazeface-full": DetectorEntry("BlazeFace full range only (smaller, farther faces)", _blazeface_full),
}
DEFAULT_DETECTOR = DetectorSettings().name
assert DEFAULT_DETECTOR == next(iter(DETECTORS)), "the registry lists the default first"


def make_detector(settings: DetectorSettings | None = None) -> FaceFinder:
    """The detector ``settings.name`` names, with those settings (ValueError for an unknown name)."""
    settings = settings or DetectorSettings()
    entry = DETECTORS.get(settings.name)
    if entry is None:
        raise ValueError(f"unknown detector {settings.name!r}; choose one of {', '.join(DETECTORS)}")
    return entry.build(settings)


def detector_label(name: str) -> str:
    """What the pages call detector ``name`` ("Faces found by ..."): its registry label, or the name."""
    entry = DETECTORS.get(name)
    return entry.label if entry else name
