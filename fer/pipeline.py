"""One frame's path: BGR frame -> gray -> detect -> crop -> one batched classification -> faces -> draw."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .classes import SEVEN, class_view
from .config import CROP_MARGIN
from .classify.model import Classifier
from .faces.align import align_faces, eyes_from_box, eyes_from_keypoints
from .faces.detectors import FaceFinder, make_detector
from .faces.detectors.base import Box, largest_first
from .faces.detectors.changes import SceneChanges
from .faces.tight import find_eyes, refined_eyes
from .overlay import OverlayLayout, draw_overlays, face_tag


@dataclass(frozen=True)
class Face:
    """One classified face: where it is (frame pixels), the top label and every class's probability."""
    box: Box
    label: str
    score: float
    probabilities: dict[str, float]
    track_id: int | None = None

    def to_dict(self) -> dict:
        d = {"box": [int(v) for v in self.box], "label": self.label, "score": round(float(self.score), 6),
             "probabilities": {k: round(float(v), 6) for k, v in self.probabilities.items()}}
        if self.track_id is not None:
            d["track_id"] = self.track_id
        return d


@dataclass(frozen=True)
class Located:
    """Where a frame's faces are (``FramePipeline.locate``): its gray copy (None until ``gray_frame``
    needs it: a colour detector and a colour model never do), the boxes, and the time it took; the
    frame itself (BGR) and the detector's landmarks of the boxes that have them, for crops lined up
    by the eyes; which boxes the detector only held (kept from the last frame, not re-found)."""
    gray: np.ndarray | None
    boxes: list[Box]
    detect_ms: float
    frame: np.ndarray | None = None
    keypoints: dict = field(default_factory=dict)
    held: frozenset[Box] = frozenset()

    def gray_frame(self) -> np.ndarray:
        """The gray frame, converted on first use (a whole-frame conversion costs 0.1-0.6 ms a frame)."""
        if self.gray is None:
            object.__setattr__(self, "gray", to_gray(self.frame))  # a cache: the frame it comes from is fixed
        return self.gray


@dataclass
class FrameResult:
    """The faces of one frame, how long each step took (milliseconds), and the crops the classifier
    read (for explanations; None where not kept)."""
    faces: list[Face]
    timings_ms: dict[str, float] = field(default_factory=dict)
    crops: np.ndarray | None = None


def to_gray(frame_bgr: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) or gray (H, W) uint8 -> gray (H, W) uint8."""
    return frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)


def crop_faces(gray: np.ndarray, boxes: list[Box], size: int, margin: float = CROP_MARGIN) -> np.ndarray:
    """Square crops around each box (``margin`` of the side added around it, edges replicated),
    resized to (N, size, size) uint8."""
    out = np.empty((len(boxes), size, size), np.uint8)
    h, w = gray.shape
    for i, b in enumerate(boxes):
        side = max(b.w, b.h) * (1 + 2 * margin)
        cx, cy = b.x + b.w / 2, b.y + b.h / 2
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        x1, y1 = x0 + int(round(side)), y0 + int(round(side))
        crop = gray[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
        pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
        if any(pad):
            crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_REPLICATE)
        interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        out[i] = cv2.resize(crop, (size, size), interpolation=interp)
    return out


def model_colours(crops: np.ndarray, channels: int) -> np.ndarray:
    """Crops cut from a BGR (..., 3) or gray image, in the model's colours: RGB for a colour model
    (gray widened to three equal channels), gray for a gray one."""
    if channels == 1:
        return crops if crops.ndim == 3 else np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops])
    if crops.ndim == 3:
        return np.repeat(crops[..., None], 3, axis=3)
    return np.ascontiguousarray(crops[..., ::-1])


def faces_from_probabilities(boxes: list[Box], probs: np.ndarray, classes: list[str]) -> list[Face]:
    """Pair boxes with their probability rows."""
    faces = []
    for box, p in zip(boxes, probs):
        k = int(np.argmax(p))
        faces.append(Face(box=box, label=classes[k], score=float(p[k]),
                          probabilities={c: float(v) for c, v in zip(classes, p)}))
    return faces


class FramePipeline:
    """Detector + classifier for whole frames. Stateless per frame, so one instance serves many
    threads: each thread gets its own copy of the detector (OpenCV's cascade keeps the image pyramid
    of its current call inside itself, and a LiteRT interpreter runs one call at a time, so two
    threads must not share one; a lock around a shared one made three live streams queue for it),
    while the classifier is shared. ``detector``: any ``fer.faces.detectors`` detector (default: ``DetectorSettings().name``, BlazeFace).

    ``classes``: the class view reported (``fer.classes``: "seven" or "five"); ``self.classes`` lists
    the classes of every Face's probabilities."""

    def __init__(self, classifier: Classifier, detector: FaceFinder | None = None, flip: bool = False,
                 classes: str = SEVEN) -> None:
        self.classifier = classifier
        self.detector = detector or make_detector()
        self.flip = flip
        self.view = class_view(classes, classifier.classes)
        self.classes = list(self.view.classes)
        self._local = threading.local()
        self._owner = threading.get_ident()  # the constructing thread uses ``self.detector`` itself
        self._spares: queue.SimpleQueue = queue.SimpleQueue()  # detectors built ahead for new threads

    def _thread_detector(self) -> FaceFinder:
        """This thread's detector: ``self.detector`` in the thread that built the pipeline, a copy
        with the same settings (loaded once per thread, ~20 ms) in any other."""
        if threading.get_ident() == self._owner:
            return self.detector
        d = getattr(self._local, "detector", None)
        if d is None or d.settings != self.detector.settings:
            try:
                d = self._spares.get_nowait()
            except queue.Empty:
                d = make_detector(self.detector.settings)
            self._local.detector = d
        return d

    def stock_detector(self) -> None:
        """Build a detector now for the next thread that needs one (a live stream's thread), so that
        stream's first frame finds it ready instead of loading its own (Haar's cascades: ~250 ms)."""
        self._spares.put(make_detector(self.detector.settings))

    def spare_detectors(self) -> int:
        """Detectors built ahead by ``stock_detector`` and not yet taken by a thread."""
        return self._spares.qsize()

    def analyse(self, frame_bgr: np.ndarray, near: list[Box] | None = None, rescan: bool = False) -> FrameResult:
        """Every face in a BGR uint8 frame, classified in one batch. With ``near`` (the boxes of the
        faces a video just showed), only the neighbourhood of those faces is searched: the cheap
        path for the frames between a video's full scans. With ``near`` and ``rescan`` (a video's
        periodic full scan), the faces re-found near their boxes are left out of the detector's
        ``rescan``, which then only looks for new faces and for the followed ones not re-found;
        ``near=[]`` with ``rescan``: a video with no face followed, scanned by ``rescan`` alone."""
        found = self.locate(frame_bgr, near, rescan)
        t1 = time.perf_counter()
        crops = self.crops(found, found.boxes)
        faces = self._classify(crops, found.boxes)
        classify_ms = (time.perf_counter() - t1) * 1e3
        return FrameResult(faces, {"detect": found.detect_ms, "classify": classify_ms,
                                   "total": found.detect_ms + classify_ms}, crops)

    def locate(self, frame_bgr: np.ndarray, near: list[Box] | None = None, rescan: bool = False,
               turn: int | None = None, changes: SceneChanges | None = None,
               defer_searches: bool = False) -> "Located":
        """``analyse``'s first half: where the faces are (see ``analyse`` for ``near`` and ``rescan``),
        and the gray frame ``read`` classifies them in. ``turn`` and ``changes``: the rescan's number
        in its stream and the stream's memory of what each view last saw (``FaceFinder.rescan``).
        ``defer_searches``: a detector that has slow fallback searches for missed faces (Haar's
        region search) notes them for ``take_deferred`` instead of running them."""
        t0 = time.perf_counter()
        detector = self._thread_detector()
        if hasattr(detector, "defer_searches"):
            detector.defer_searches = defer_searches
        gray = to_gray(frame_bgr) if detector.takes == "gray" else None
        seen = gray if detector.takes == "gray" else frame_bgr
        if near is not None and rescan:
            kept = detector.detect_near(seen, near) if near else []
            boxes = largest_first(kept + detector.rescan(seen, skip=kept, turn=turn, changes=changes))
        elif near:
            boxes = detector.detect_near(seen, near)
        else:
            boxes = detector.detect(seen)
        points = detector.keypoints(boxes) if hasattr(detector, "keypoints") else []
        held = frozenset(b for b in boxes if detector.held(b)) if near else frozenset()
        return Located(gray, boxes, (time.perf_counter() - t0) * 1e3, frame_bgr,
                       {b: k for b, k in zip(boxes, points) if k is not None}, held)

    def rescan(self, frame_bgr: np.ndarray, skip: list[Box], turn: int | None = None,
               changes: SceneChanges | None = None) -> tuple[list[Box], list]:
        """The detector's rescan of a whole frame for faces other than ``skip``, in the calling
        thread's own detector; ``turn`` picks the view and ``changes`` limits it to what changed
        (see ``FaceFinder.rescan``). Returns the boxes and the detector's hints about them, for
        ``adopt`` in the thread that follows the faces."""
        detector = self._thread_detector()
        seen = to_gray(frame_bgr) if detector.takes == "gray" else frame_bgr
        boxes = detector.rescan(seen, skip=skip, turn=turn, changes=changes)
        return boxes, detector.hints(boxes)

    def take_deferred(self) -> list:
        """The searches this thread's detector noted in its last ``locate(defer_searches=True)``
        calls, for ``search_regions`` on another thread (empty for a detector without any)."""
        detector = self._thread_detector()
        return detector.take_deferred() if hasattr(detector, "take_deferred") else []

    def search_regions(self, gray: np.ndarray, requests: list) -> tuple[list[tuple[Box, Box]], list]:
        """``take_deferred``'s searches on ``gray``, in the calling thread's own detector: the (missed
        box, found box) pairs, and the detector's hints about the found ones, for ``adopt``."""
        hits = self._thread_detector().search_regions(gray, requests)
        return [(b, f) for b, f, _ in hits], [view for _, _, view in hits]

    def hints(self, boxes: list[Box]) -> list:
        """This thread's detector's hints about ``boxes`` it just returned (for ``adopt`` elsewhere)."""
        return self._thread_detector().hints(boxes)

    def adopt(self, boxes: list[Box], hints: list) -> None:
        """Boxes found by ``rescan`` on another thread: this thread's detector takes them and their hints."""
        self._thread_detector().adopt(boxes, hints)

    def crops(self, found: Located, boxes: list[Box]) -> np.ndarray:
        """The classifier's crops of the faces at ``boxes``: for a model of eyes-level colour crops,
        each face lined up by its eyes (the detector's landmarks where it gave them, else where they
        sit in such a box; a tilted head's eyes looked for again, upright) and cut from the colour frame, RGB; for a gray model, squares around the
        boxes of the gray frame."""
        clf = self.classifier
        if not boxes:
            shape = (0, clf.input_size, clf.input_size) + ((clf.channels,) if clf.channels > 1 else ())
            return np.zeros(shape, np.uint8)
        if clf.framing != "eyes":
            return crop_faces(found.gray_frame(), boxes, clf.input_size)
        image = found.frame if found.frame is not None else found.gray_frame()
        eyes = [refined_eyes(image, eyes_from_keypoints(found.keypoints[b])) if b in found.keypoints
                else eyes_from_box(b) for b in boxes]
        return model_colours(align_faces(image, eyes, clf.input_size), clf.channels)

    def read(self, found: Located, boxes: list[Box]) -> list[Face]:
        """``analyse``'s second half: the faces at ``boxes`` of the located frame, classified in one batch."""
        return self._classify(self.crops(found, boxes), boxes) if boxes else []

    def _classify(self, crops: np.ndarray, boxes: list[Box]) -> list[Face]:
        if not boxes:
            return []
        probs = self.view.fold(self.classifier.predict(crops, flip=self.flip))
        return faces_from_probabilities(boxes, probs, self.classes)

    def whole_crop(self, image_bgr: np.ndarray) -> np.ndarray:
        """The classifier's crop of a picture that is one face (data that is already cropped): for an
        eyes-level model, lined up by the eyes BlazeFace finds in it (or where they sit in the whole
        picture when it finds none); for a gray model, the whole picture. (1, s, s[, 3]) uint8."""
        clf = self.classifier
        h, w = image_bgr.shape[:2]
        if clf.framing != "eyes":
            return crop_faces(to_gray(image_bgr), [Box(0, 0, w, h)], clf.input_size, margin=0.0)
        eyes = find_eyes(image_bgr) or eyes_from_box(Box(0, 0, w, h))
        return model_colours(align_faces(image_bgr, [eyes], clf.input_size), clf.channels)

    def analyse_whole(self, image_bgr: np.ndarray) -> FrameResult:
        """Treat the whole image as one face crop (for data that is already cropped)."""
        t0 = time.perf_counter()
        h, w = image_bgr.shape[:2]
        box = Box(0, 0, w, h)
        crops = self.whole_crop(image_bgr)
        faces = self._classify(crops, [box])
        return FrameResult(faces, {"classify": (time.perf_counter() - t0) * 1e3}, crops)


def draw_faces(frame_bgr: np.ndarray, faces: list[Face], bars: bool = True, numbered: bool = False) -> np.ndarray:
    """Draw each face's box (in its expression's colour), its tag and a small bar chart of all its
    probabilities, laid out so no annotation covers a face or another annotation (``fer.overlay``).
    ``numbered`` tags faces "1: ...", "2: ..." in list order (annotated stills, matching the page's
    "Face 1", "Face 2"); otherwise a tracked face shows its track id. In place; returns the frame
    (``draw_faces_layout`` returns where everything went)."""
    draw_faces_layout(frame_bgr, faces, bars, numbered)
    return frame_bgr


def draw_faces_layout(frame_bgr: np.ndarray, faces: list[Face], bars: bool = True,
                      numbered: bool = False) -> OverlayLayout:
    """``draw_faces``, returning the layout drawn (every box, tag and bar chart rectangle)."""
    texts = [face_tag(f.label, f.score, number=i + 1 if numbered else None, track_id=f.track_id)
             for i, f in enumerate(faces)]
    return draw_overlays(frame_bgr, [f.box for f in faces], [f.label for f in faces], texts,
                         [f.probabilities for f in faces], bars=bars)
