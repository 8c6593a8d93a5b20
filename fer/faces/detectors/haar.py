"""Haar face detection, coarse to fine over halved grayscale copies, through several views of the
frame: upright, tilted left and right (rotated copies), and the profile cascade on the frame and its
mirror image. The frontal cascade alone finds a face only within ~15 degrees of upright and facing
the camera; a webcam user tilts and turns their head.

Detection is the frame's biggest cost, so each view scans few pixels and few window positions, and a
video pays for the extra views a little at a time (``rescan``) while the faces it follows are
re-found at the tilt they were last found at (``detect_near``)."""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .base import Box, Detection, DetectorSettings, HeldBoxes, clipped, largest_first, overlap
from .changes import SceneChanges
from .follow import FaceFollower

#: The frontal cascade's native window: faces smaller than this in the scanned image can't be found.
CASCADE_WINDOW = 24
#: ``detect_near`` searches a known face's box grown by this fraction of its side on every edge...
NEAR_MARGIN = 0.5
#: ...shrunk so that the face is about this many pixels (at 36-40 the face is re-found in 74-89 % of
#: frames instead of 93 %), for sizes between these fractions of the old one, in steps of
#: NEAR_SCALE_FACTOR, keeping a hit with NEAR_MIN_NEIGHBORS overlapping ones (the known position
#: already rules out most false faces). Chosen on FER2013 val faces panning in 640x480 frames: 1.05 ms
#: a search, 93 % re-found, against 1.52 ms and 92 % for (0.7-1.4, the full scan's 1.15 step, 2).
NEAR_FACE_PX = 48
NEAR_SIZE_RANGE = (0.7, 1.25)
NEAR_SCALE_FACTOR = 1.2
NEAR_MIN_NEIGHBORS = 1
#: Of the hits a near-search gets, the one kept is the nearest in position, plus this weight times its
#: side over the old one's: the smaller preferred. Haar also fires on a window holding the face and
#: its hair; taking the nearest hit alone let a tilted head's box grow frame by frame to twice the
#: face (the head-pose clip's video path: 0.18 false boxes a frame; with this and sizes down to 0.7
#: instead of 0.8, none, and 92-97 % of faces found instead of 91 %).
NEAR_SMALLER_WEIGHT = 1.0
#: The fallback search over a followed face's neighbourhood keeps faces of these fractions of its side
#: (and scans only from the smaller, the region shrunk to match, not every size from ``min_size``).
SEARCH_SIZE_RANGE = (0.6, 1.6)
#: A window that overlaps a painted (already found) face by at least this share of the smaller box
#: is looking partly at the flat patch: its hit is dropped. At 0.5, a followed face's neck and collar
#: next to its painted box drew a lasting false box on the head-pose clip.
PAINTED_OVERLAP = 0.15
#: How close two candidate boxes must be to count as one face (OpenCV's own detectMultiScale value).
GROUP_EPS = 0.2
#: The extra views see more clutter that looks like a face: a face found only in a tilted view
#: needs this many overlapping hits, only in a profile view this many (the upright frontal view
#: keeps ``min_neighbors``). The profile cascade fires on hair and collars far more than the frontal.
TILTED_MIN_NEIGHBORS = 2
PROFILE_MIN_NEIGHBORS = 3
#: The profile views scan a coarser grid: scale steps of at least this and faces from this many times
#: ``min_size``. The profile cascade costs 2-3x the frontal one per pixel and fires on hair and
#: collars; on the shared clips its two views at the frontal grid cost as much as the five frontal
#: views together, for 3 % more faces and most of the false boxes (bench/detection_rate.py --video).
PROFILE_SCALE_FACTOR = 1.25
PROFILE_MIN_SIZE_FACTOR = 4 / 3
#: ``detect`` also runs OpenCV's plain dense scan (scale step LARGE_SCALE_FACTOR, LARGE_MIN_NEIGHBORS)
#: for faces of LARGE_FACE_PX and more, on a copy shrunk so that such a face is LARGE_WINDOW px, and
#: keeps what it finds away from the views' faces. The views' coarse copies see a large face at
#: 24-48 px with few window positions, so few hits group: on eight walking-clip frames blown up to
#: 4800x2700 (faces of 400-700 px) the views found 16 of 24 faces, plain ``detectMultiScale(1.1, 3)``
#: 22, both together 23, no false box added (the pass costs about 5 % of the views' scan).
LARGE_FACE_PX = 128
LARGE_WINDOW = 48
LARGE_SCALE_FACTOR = 1.1
LARGE_MIN_NEIGHBORS = 3
#: OpenCV's shipped cascades (opencv<5 still ships Haar).
FRONTAL_FILE = "haarcascade_frontalface_default.xml"
PROFILE_FILE = "haarcascade_profileface.xml"


class View(NamedTuple):
    """How the frame is looked at: which cascade, turned by ``angle`` degrees (counter-clockwise),
    mirrored left-right first or not. The profile cascade finds faces turned to one side; its
    mirrored view, the other."""
    cascade: str  # "frontal" or "profile"
    angle: float = 0.0
    mirror: bool = False


UPRIGHT = View("frontal")


def cascade_path(file: str = FRONTAL_FILE) -> str:
    """One of OpenCV's shipped cascades (needs opencv<5, which still ships Haar)."""
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise RuntimeError("this OpenCV build has no Haar cascades; install opencv-python-headless>=4.10,<5")
    return cv2.data.haarcascades + file


def _load(file: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cascade_path(file))
    if cascade.empty():
        raise RuntimeError(f"could not load the Haar cascade from {cascade_path(file)}")
    return cascade


class FaceDetector:
    """Gray frame (H, W) uint8 -> list of face ``Box`` in that frame's pixels (upright squares, also
    for tilted faces), largest first. Not thread-safe (OpenCV's cascade keeps its current pyramid
    inside itself): the pipeline gives each thread its own."""

    takes = "gray"

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        # Named "haar" whatever ``settings`` said: the pipeline builds each thread's copy by this name.
        self.settings = replace(settings or DetectorSettings(), name="haar")
        s = self.settings
        if s.scale_factor <= 1.0:
            raise ValueError("scale_factor must be > 1")
        if s.min_neighbors < 0 or s.min_size < 1:
            raise ValueError("min_neighbors must be >= 0 and min_size >= 1")
        if not 0.0 <= s.border <= 1.0:
            raise ValueError("border must be between 0 and 1")
        self._cascades = {"frontal": _load(FRONTAL_FILE)}
        if s.profiles:
            self._cascades["profile"] = _load(PROFILE_FILE)
        self.views = [UPRIGHT, *(View("frontal", float(a)) for a in s.tilts if a)]
        if s.profiles:
            self.views += [View("profile"), View("profile", mirror=True)]
        self._view_of: dict[Box, View] = {}  # the view each recently returned box was found in
        self._turn = 0
        self._held = HeldBoxes()
        self._follower = FaceFollower()
        #: A live stream sets this: a region search ``detect_near`` would run is noted instead
        #: (``take_deferred``) and run by ``search_regions`` on another thread, so no frame waits for it.
        self.defer_searches = False
        self._deferred: list[tuple[Box, tuple[int, int, int, int]]] = []

    def shrink_factor(self, min_size: int | None = None) -> float:
        """How much the frame is shrunk before scanning for faces of ``min_size`` (default: the
        settings') px and more (1.0 = not at all)."""
        s = self.settings
        return min(1.0, max(s.detect_face_px, CASCADE_WINDOW) / (min_size or s.min_size))

    def grid(self, view: View) -> tuple[float, int]:
        """(scale step, smallest face side in frame pixels) that ``view`` is scanned with: the
        settings' for the frontal views, a coarser grid for the profile views."""
        s = self.settings
        if view.cascade == "profile":
            return max(s.scale_factor, PROFILE_SCALE_FACTOR), int(round(s.min_size * PROFILE_MIN_SIZE_FACTOR))
        return s.scale_factor, s.min_size

    def detect(self, gray: np.ndarray, skip: Sequence[Box] = ()) -> list[Box]:
        """Every face in the frame, through every view. ``skip``: faces already accounted for (a
        video's followed faces, just re-found by ``detect_near``), painted flat, so that only other
        faces are looked for."""
        gray = _gray(gray, "detect")
        found = self._detect(gray, skip, self.views)
        known = [*skip, *(b for b, _ in found)]
        found += [(b, UPRIGHT) for b in self._large_faces(gray) if all(overlap(b, k) < 0.3 for k in known)]
        return self._remembered(found)

    def _large_faces(self, gray: np.ndarray) -> list[Box]:
        """Upright faces of LARGE_FACE_PX and more by OpenCV's plain dense scan (see LARGE_FACE_PX)."""
        h, w = gray.shape
        f = LARGE_WINDOW / LARGE_FACE_PX
        if min(h, w) * f < LARGE_WINDOW:
            return []
        small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        raw = self._cascades["frontal"].detectMultiScale(small, scaleFactor=LARGE_SCALE_FACTOR,
                                                         minNeighbors=LARGE_MIN_NEIGHBORS,
                                                         minSize=(LARGE_WINDOW, LARGE_WINDOW))
        return [b for b in (clipped(Box(*(int(round(v / f)) for v in r)), w, h) for r in raw) if b is not None]

    def detect_scored(self, gray: np.ndarray) -> list[Detection]:
        """``detect`` as ``Detection`` s; Haar has no calibrated score, so each score is None."""
        return [Detection(b) for b in self.detect(gray)]

    def rescan(self, gray: np.ndarray, skip: Sequence[Box] = (), turn: int | None = None,
               changes: SceneChanges | None = None) -> list[Box]:
        """A video's periodic scan of the whole frame through one view: the upright view every
        second call, one of the extra views in turn between, so a new upright face shows up within
        two rescans and a tilted or turned one within a dozen, each rescan costing a seventh of
        ``detect``. One view a call, not two, keeps every frame's cost under one view's scan.
        ``turn``: the call's number in its stream's own count (default: this detector's count).
        ``changes``: the stream's ``SceneChanges``; the view then scans only where the picture
        changed since it last looked (``fer.faces.detectors.changes``)."""
        if turn is None:
            turn, self._turn = self._turn, self._turn + 1
        view = UPRIGHT
        if len(self.views) > 1 and turn % 2:
            view = self.views[1 + (turn // 2) % (len(self.views) - 1)]
        gray = _gray(gray, "rescan")
        regions = changes.regions(view, gray, skip) if changes is not None else None
        if regions is None:
            found = self._detect(gray, skip, [view])
        else:
            found = [hit for region in regions for hit in self._detect_in(gray, region, skip, [view])]
        if changes is not None:
            changes.found(view, [b for b, _ in found])
        return self._remembered(found)

    def _detect_in(self, gray: np.ndarray, region: tuple[int, int, int, int], skip: Sequence[Box],
                   views: Sequence[View], min_size: int | None = None) -> list[tuple[Box, View]]:
        """``_detect`` on the part (x0, y0, x1, y1) of ``gray``, with ``skip`` and the results in
        frame pixels."""
        x0, y0, x1, y1 = region
        inside = [c for c in (clipped(Box(b.x - x0, b.y - y0, b.w, b.h), x1 - x0, y1 - y0) for b in skip)
                  if c is not None]
        return [(Box(b.x + x0, b.y + y0, b.w, b.h), v)
                for b, v in self._detect(gray[y0:y1, x0:x1], inside, views, min_size)]

    def _detect(self, gray: np.ndarray, skip: Sequence[Box], views: Sequence[View],
                min_size: int | None = None) -> list[tuple[Box, View]]:
        """(box, the view that found it) for every face through ``views``, in the order found;
        ``min_size`` overrides the views' own smallest face."""
        found: list[tuple[Box, View]] = []
        shrunk: dict[float, np.ndarray] = {}  # the frame at each scale a view asks for, made once
        for view in views:
            step, smallest = self.grid(view)
            smallest = min_size or smallest
            f = self.shrink_factor(smallest)
            if f not in shrunk:
                shrunk[f] = gray if f == 1.0 else cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            known = [*skip, *(b for b, _ in found)]
            for box in self._scan_view(shrunk[f], f, gray.shape, view, known, step, smallest):
                if all(overlap(box, k) < 0.5 for k in known):
                    found.append((box, view))
                    known.append(box)
        return found

    def _scan_view(self, small: np.ndarray, f: float, frame_shape: tuple[int, int], view: View,
                   known: list[Box], step: float, min_size: int) -> list[Box]:
        """The faces of ``min_size`` px and more that one view of ``small`` (the frame at scale ``f``)
        shows, scanned in scale steps of ``step``, as upright frame boxes."""
        s = self.settings
        warped, to_small = _warp(small, view)
        to_view = cv2.invertAffineTransform(to_small)
        painted = [_map_box(_scaled(b, f), to_view, 1.0) for b in known]
        # One scale step below the shrunk min size: the window sides are 24 * factor^k, so a face of
        # exactly min_size could otherwise fall between two of them and be missed.
        lo = max(CASCADE_WINDOW, int(min_size * f / step))
        neighbours = (s.min_neighbors if view == UPRIGHT else
                      max(s.min_neighbors, PROFILE_MIN_NEIGHBORS if view.cascade == "profile" else TILTED_MIN_NEIGHBORS))
        boxes = self._pyramid(warped, self._cascades[view.cascade], lo, neighbours, painted, step)
        h, w = frame_shape
        out = []
        for b in boxes:
            frame_box = clipped(_map_box(b, to_small, 1 / f), w, h)
            if frame_box is not None:
                out.append(frame_box)
        return out

    def _pyramid(self, image: np.ndarray, cascade: cv2.CascadeClassifier, lo: int, neighbours: int,
                 painted: list[Box], step: float) -> list[Box]:
        """Faces of at least ``lo`` px in ``image``, found coarse to fine over a pyramid of halved copies.

        Each copy is scanned only for faces of 1-2 cascade windows (``_octaves``): OpenCV moves its
        window one pixel at a time once a scale exceeds twice the window, two below, so a single scan
        of the big copy spent 4x the windows on large faces. Faces found in a coarse copy are painted
        flat in the finer ones: a face's inside sets off deep cascade stages at every smaller scale.
        Each copy gets a replicated border of ``settings.border`` of its largest window, so a face
        filling the image (or cut by its edge) still fits a window. The candidates of all copies are
        grouped together, as one ``detectMultiScale`` would."""
        s = self.settings
        rects: list[list[int]] = []
        found: list[Box] = []
        for copy, f, lo_px, hi_px in _octaves(image, lo, step):
            copy = _painted(copy, f, [*painted, *found])
            pad = int(round(s.border * min(hi_px, *copy.shape)))
            if pad:
                last = hi_px >= max(copy.shape)  # the smallest copy: every window that fits
                copy = cv2.copyMakeBorder(copy, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
                hi_px = max(copy.shape) if last else hi_px
            raw = cascade.detectMultiScale(copy, scaleFactor=step, minNeighbors=0,
                                           minSize=(lo_px, lo_px), maxSize=(hi_px, hi_px))
            if len(raw):  # regroup only when this copy added hits
                rects += [[int(round((v - pad * (k < 2)) / f)) for k, v in enumerate(r)] for r in raw]
                found = [Box(*map(int, r)) for r in cv2.groupRectangles(rects, neighbours, GROUP_EPS)[0]]
        return [b for b in found if all(overlap(b, k) < PAINTED_OVERLAP for k in painted)]

    def detect_near(self, gray: np.ndarray, previous: list[Box], hold: bool = True) -> list[Box]:
        """Re-find known faces in small windows around where they just were: for the video frames
        between full scans. A face the cascade found in one of the last frames is first followed by
        its template (``fer.faces.detectors.follow``: a hundredth of a cascade search); the cascade
        confirms it at least every few frames, and at once when the template matches poorly.
        The cascade's search covers about a hundred pixels square at a handful of scales, a small
        fraction of ``detect``'s cost; it looks first through the view the face was last found in
        (its tilt, its profile side), then through its neighbours, and, on the first frame it
        misses the face, through every frontal view over the neighbourhood. Haar misses a face in
        some frames: with ``hold`` such a face keeps its previous box for up to HOLD_FRAMES frames
        in a row. The known position already rules out most false faces, so fewer neighbours are
        required."""
        gray = _gray(gray, "detect_near")
        h, w = gray.shape
        found: list[tuple[Box, View]] = []
        for b in previous:
            first = self._view_of.get(b, UPRIGHT)
            moved = self._follower.follow(gray, b)
            if moved is not None:
                hit = (clipped(moved, w, h) or b, first)
            else:
                hit = self._cascade_near(gray, b, first)
                if hit is not None:
                    self._held.found(b)
                    self._follower.found(gray, hit[0])
                elif hold and self._held.may_hold(b):
                    hit = (b, first)
            if hit is not None and all(overlap(hit[0], other) < 0.5 for other, _ in found):  # two found one face
                found.append(hit)
        self._follower.next_frame()
        return self._remembered(found)

    def _cascade_near(self, gray: np.ndarray, b: Box, first: View) -> tuple[Box, View] | None:
        """The cascade's search for the followed face ``b`` (last found through ``first``) around
        its box: its near views, then, if ``b`` was not already being held after a miss, the
        region search (it finds the face again after a miss in about one case of six on the shared
        clips, at the cost of ten near-searches, so it is tried once per miss, not every frame)."""
        h, w = gray.shape
        side = max(b.w, b.h)
        pad = int(side * NEAR_MARGIN)
        x0, y0 = max(0, b.x - pad), max(0, b.y - pad)
        x1, y1 = min(w, b.x + b.w + pad), min(h, b.y + b.h + pad)
        if x1 - x0 < CASCADE_WINDOW or y1 - y0 < CASCADE_WINDOW:
            return None
        for view in self._near_views(first):
            box = self._refind(gray[y0:y1, x0:x1], b, x0, y0, view, strict=view != first)
            if box is not None:
                return clipped(box, w, h) or b, view
        if self._held.holding(b):
            return None
        if self.defer_searches:
            self._deferred.append((b, (x0, y0, x1, y1)))
            return None
        return self._search_region(gray, b, x0, y0, x1, y1)

    def take_deferred(self) -> list[tuple[Box, tuple[int, int, int, int]]]:
        """The region searches ``detect_near`` noted (with ``defer_searches``) since the last call:
        (the missed face's box, its region x0, y0, x1, y1)."""
        out, self._deferred = self._deferred, []
        return out

    def search_regions(self, gray: np.ndarray, requests: Sequence[tuple[Box, tuple[int, int, int, int]]]
                       ) -> list[tuple[Box, Box, View]]:
        """``take_deferred``'s searches run on ``gray`` (the frame they were noted on): (the missed
        box, the face found for it, the view that found it) for each search that found one."""
        gray = _gray(gray, "search_regions")
        h, w = gray.shape
        out = []
        for b, (x0, y0, x1, y1) in requests:
            hit = self._search_region(gray, b, x0, y0, x1, y1)
            if hit is not None:
                out.append((b, clipped(hit[0], w, h) or b, hit[1]))
        return out

    def _search_region(self, gray: np.ndarray, b: Box, x0: int, y0: int, x1: int, y1: int
                       ) -> tuple[Box, View] | None:
        """The face nearest ``b`` that a full scan of every frontal view finds in the frame region
        (x0, y0)-(x1, y1), of about ``b``'s size: the fallback when the quick near-search misses (a
        head tilting further than the next tilt step). The region is a few face sides wide, so this
        costs a fraction of a full scan."""
        views = [v for v in self.views if v.cascade == "frontal"]
        side = max(b.w, b.h)
        lo, hi = SEARCH_SIZE_RANGE
        region = self._detect_in(gray, (x0, y0, x1, y1), (), views, min_size=max(1, int(lo * side)))
        hits = [(r, v) for r, v in region if r.w <= hi * side]
        if not hits:
            return None
        cx, cy = b.x + b.w / 2, b.y + b.h / 2
        return min(hits, key=lambda h: (h[0].x + h[0].w / 2 - cx) ** 2 + (h[0].y + h[0].h / 2 - cy) ** 2)

    def _near_views(self, first: View) -> list[View]:
        """The views a near-search tries, in order: the one the face was last found in, then the
        frontal views of the neighbouring tilts (a head turns a little between frames; trying every
        view would cost more and pick up more clutter)."""
        frontal = sorted((v for v in self.views if v.cascade == "frontal"), key=lambda v: v.angle)
        if first not in frontal:
            return [first, UPRIGHT]
        k = frontal.index(first)
        return [first, *frontal[max(0, k - 1):k], *frontal[k + 1:k + 2]]

    def _refind(self, roi: np.ndarray, b: Box, x0: int, y0: int, view: View, strict: bool = False) -> Box | None:
        """The detection through ``view`` in ``roi`` (whose top-left is frame pixel x0, y0) nearest
        to box ``b``. ``strict``: a view the face was not last seen in needs TILTED_MIN_NEIGHBORS."""
        s = self.settings
        side = max(b.w, b.h)
        f = min(1.0, NEAR_FACE_PX / side)
        small = roi if f == 1.0 else cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        warped, to_small = _warp(small, view)
        lo = max(CASCADE_WINDOW, int(side * f * NEAR_SIZE_RANGE[0]))
        hi = max(lo + 1, int(side * f * NEAR_SIZE_RANGE[1]))
        hits = self._cascades[view.cascade].detectMultiScale(
            warped, scaleFactor=NEAR_SCALE_FACTOR,
            minNeighbors=TILTED_MIN_NEIGHBORS if strict else min(s.min_neighbors, NEAR_MIN_NEIGHBORS),
            minSize=(lo, lo), maxSize=(hi, hi))
        if not len(hits):
            return None
        boxes = [_map_box(Box(*map(int, r)), to_small, 1 / f) for r in hits]
        near = _closest(boxes, Box(b.x - x0, b.y - y0, b.w, b.h))
        return Box(near.x + x0, near.y + y0, near.w, near.h)

    def held(self, box: Box) -> bool:
        """``box`` is one the last ``detect_near`` kept without re-finding it."""
        return self._held.holding(box)

    def hints(self, boxes: list[Box]) -> list[View]:
        """The view each of ``boxes`` (recently returned) was found in."""
        return [self._view_of.get(b, UPRIGHT) for b in boxes]

    def adopt(self, boxes: list[Box], hints: list[View]) -> None:
        """Boxes another copy found, with their views: near-searches start with those views."""
        self._remembered(list(zip(boxes, hints)))

    def _remembered(self, found: list[tuple[Box, View]]) -> list[Box]:
        """The boxes, largest first, keeping the view of each for the next ``detect_near`` on them."""
        if len(self._view_of) > 256:
            self._view_of.clear()
        self._view_of.update(found)
        return largest_first([b for b, _ in found])


def _closest(boxes: Sequence[Box], b: Box) -> Box:
    """The box of ``boxes`` most like ``b``: centres close (in units of ``b``'s side) and, weighed by
    NEAR_SMALLER_WEIGHT, the smaller side preferred."""
    side = max(b.w, b.h)
    cx, cy = b.x + b.w / 2, b.y + b.h / 2

    def unlike(r: Box) -> float:
        d2 = ((r.x + r.w / 2 - cx) ** 2 + (r.y + r.h / 2 - cy) ** 2) / side ** 2
        return d2 + NEAR_SMALLER_WEIGHT * max(r.w, r.h) / side
    return min(boxes, key=unlike)


def _gray(image: np.ndarray, what: str) -> np.ndarray:
    if image.ndim != 2:
        raise ValueError(f"{what}() takes a gray (H, W) image, got shape {image.shape}")
    return image


def _octaves(image: np.ndarray, lo: int, scale_factor: float) -> list[tuple[np.ndarray, float, int, int]]:
    """(copy, its scale, smallest and largest window side to scan in it), coarsest copy first.
    The first copy is ``image`` scanned from ``lo``; each next one is half the last, scanned from
    where the last one's windows stopped. The smallest copy takes every window that fits."""
    f = 1.0
    top = 2 * CASCADE_WINDOW
    out = []
    while True:
        last = min(image.shape) < 2 * top
        # At least one scale, should a large first window put it past ``top``.
        out.append((image, f, lo, max(image.shape) if last else max(top, int(lo * scale_factor) + 1)))
        if last:
            return out[::-1]
        image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        f *= 0.5
        lo = CASCADE_WINDOW


def _warp(image: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
    """``image`` as ``view`` sees it (mirrored, then turned by ``view.angle`` on a canvas grown to hold
    all of it, edges replicated) and the 2x3 matrix taking view pixels back to ``image`` pixels."""
    h, w = image.shape
    back = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if view.mirror:
        image = np.ascontiguousarray(image[:, ::-1])
        back = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0]])
    if not view.angle:
        return image, back
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), view.angle, 1.0)
    c, s = abs(turn[0, 0]), abs(turn[0, 1])
    vw, vh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    turn[0, 2] += vw / 2 - w / 2
    turn[1, 2] += vh / 2 - h / 2
    warped = cv2.warpAffine(image, turn, (vw, vh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    untwist = cv2.invertAffineTransform(turn)
    # back o untwist: view -> mirrored image -> image
    full = np.vstack([back, [0, 0, 1]]) @ np.vstack([untwist, [0, 0, 1]])
    return warped, full[:2]


def _map_box(box: Box, matrix: np.ndarray, scale: float) -> Box:
    """The upright square of ``box``'s side centred where ``matrix`` takes ``box``'s centre, all
    multiplied by ``scale`` (a tilted face's box becomes an upright box around the same face)."""
    cx, cy = matrix @ np.array([box.x + box.w / 2, box.y + box.h / 2, 1.0])
    side = max(box.w, box.h) * scale
    return Box(int(round(cx * scale - side / 2)), int(round(cy * scale - side / 2)), int(round(side)),
               int(round(side)))


def _scaled(box: Box, f: float) -> Box:
    return Box(int(box.x * f), int(box.y * f), int(np.ceil(box.w * f)), int(np.ceil(box.h * f)))


def _painted(small: np.ndarray, f: float, boxes: Sequence[Box]) -> np.ndarray:
    """``small`` (an image at scale ``f``) with each box filled with its mean grey; a copy if any."""
    if not boxes:
        return small
    small = small.copy()
    for b in boxes:
        x0, y0 = max(0, int(b.x * f)), max(0, int(b.y * f))
        x1, y1 = int(np.ceil((b.x + b.w) * f)), int(np.ceil((b.y + b.h) * f))
        patch = small[y0:y1, x0:x1]
        if patch.size:
            patch[...] = int(patch.mean())
    return small
