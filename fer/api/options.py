"""A request's query options (detector, class view, flip, ...) checked and turned into the
``FramePipeline`` that serves them: one pipeline per combination, built once and shared by every
request (a pipeline gives each thread its own detector and shares the classifier)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from starlette.datastructures import QueryParams

from ..classes import VIEW_NAMES
from ..classify.model import Classifier
from ..config import STILL_FLIP
from ..faces.detectors import DETECTORS, DetectorSettings, make_detector
from ..pipeline import FramePipeline
from .body import name_label
from .errors import ApiError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Options:
    """What one request asked for. ``detector``: a ``DETECTORS`` name (None: the server's);
    ``classes``: a class view name; ``flip``: average each face with its mirror image; ``detect``:
    False classifies the whole image as one face crop (``predict --no-detect``); ``name``: the label
    echoed as the entry's ``path``; ``half_life_s``: the stream's smoothing half-life."""
    detector: str | None = None
    classes: str = VIEW_NAMES[0]
    flip: bool = STILL_FLIP
    detect: bool = True
    name: str = "image"
    half_life_s: float = 0.15


#: The query options each kind of endpoint takes (anything else is a 400: a typo must not pass silently).
STILL_QUERY = ("detector", "classes", "flip", "detect")
RAW_QUERY = STILL_QUERY + ("name",)
STREAM_QUERY = ("detector", "classes", "flip", "half_life")


def _flag(params: QueryParams, key: str, default: bool) -> bool:
    raw = params.get(key)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError(400, f"query option {key} must be true or false, not {raw!r}")


def parse_options(params: QueryParams, allowed: tuple[str, ...], flip_default: bool = STILL_FLIP) -> Options:
    """The query string as ``Options``; 400 naming the option for anything unknown or malformed."""
    unknown = sorted(set(params.keys()) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown query option(s) {', '.join(unknown)}; this endpoint takes {', '.join(allowed)}")
    detector = params.get("detector")
    if detector is not None and detector not in DETECTORS:
        raise ApiError(400, f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    classes = params.get("classes", VIEW_NAMES[0])
    if classes not in VIEW_NAMES:
        raise ApiError(400, f"unknown class view {classes!r}; choose one of {', '.join(VIEW_NAMES)}")
    half_life = params.get("half_life", "0.15")
    try:
        half_life_s = float(half_life)
        if not 0 <= half_life_s <= 10:
            raise ValueError
    except ValueError:
        raise ApiError(400, f"query option half_life must be seconds from 0 to 10, not {half_life!r}") from None
    return Options(detector=detector, classes=classes, flip=_flag(params, "flip", flip_default),
                   detect=_flag(params, "detect", True), name=name_label(params.get("name", "image")),
                   half_life_s=half_life_s)


class Pipelines:
    """The served classifier and one ``FramePipeline`` per (detector, class view, flip) asked for."""

    def __init__(self, classifier: Classifier, detector: DetectorSettings) -> None:
        self.classifier = classifier
        self.detector = detector
        self._pipelines: dict[tuple[str, str, bool], FramePipeline] = {}
        self._lock = threading.Lock()

    def get(self, options: Options) -> FramePipeline:
        key = (options.detector or self.detector.name, options.classes, options.flip)
        with self._lock:
            pipe = self._pipelines.get(key)
            if pipe is None:
                settings = replace(self.detector, name=key[0])
                pipe = self._pipelines[key] = FramePipeline(self.classifier, make_detector(settings), flip=key[2],
                                                            classes=key[1])
            return pipe
