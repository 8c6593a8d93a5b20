"""Following a face from one video frame to the next without the cascade: the face's gray patch from
the frame the detector last found it in, matched (normalised cross-correlation) in a small window
around its box in the next frames.

Haar's near-search re-finds a followed face through one to three views at a few scales, about 1-1.5
ms a face on real footage, and set most of the video path's cost. A template match on a 24 px copy
of the face costs about a hundredth of that. The cascade still confirms every face at least every
``FOLLOW_FRAMES + 1`` frames, so a box can't drift off onto the background for longer than that, and
a match below ``MIN_MATCH`` (the face turned, something passed in front) goes back to the cascade at
once. Measured on the shared clips' video path: see docs/benchmarks.md, "Faces found"."""
from __future__ import annotations

import cv2
import numpy as np

from .base import Box

#: The template and the search window are shrunk so that the face is this many pixels square.
TEMPLATE_PX = 24
#: The window searched: the box grown by this fraction of its side on every edge (a face moves far
#: less than a quarter of its width between two frames at 30 fps).
FOLLOW_MARGIN = 0.25
#: At most this many frames in a row follow a face by template before the cascade must find it again.
FOLLOW_FRAMES = 2
#: The normalised cross-correlation (TM_CCOEFF_NORMED, -1..1) a match needs to be taken.
MIN_MATCH = 0.7


class FaceFollower:
    """The templates of the faces a detector found in the last frame, and how many frames each has
    been followed without the detector. One per detector (per video stream); not thread-safe."""

    def __init__(self, follow_frames: int = FOLLOW_FRAMES, min_match: float = MIN_MATCH) -> None:
        self.follow_frames = follow_frames
        self.min_match = min_match
        self._templates: dict[Box, tuple[np.ndarray, int]] = {}  # box -> (template, frames followed)
        self._next: dict[Box, tuple[np.ndarray, int]] = {}

    def found(self, gray: np.ndarray, box: Box) -> None:
        """The detector just found ``box`` in ``gray``: take its template (followed 0 frames)."""
        patch = gray[max(0, box.y):box.y + box.h, max(0, box.x):box.x + box.w]
        if min(patch.shape) < TEMPLATE_PX // 2:  # too small (or cut by the frame's edge) to match
            return
        self._next[box] = (cv2.resize(patch, (TEMPLATE_PX, TEMPLATE_PX), interpolation=cv2.INTER_AREA), 0)

    def follow(self, gray: np.ndarray, box: Box) -> Box | None:
        """Where ``box`` (a face of the last frame) is in ``gray``, by its template: the box moved,
        same size; None when the template is missing, has been followed long enough, or matches
        nowhere well enough (the detector must look)."""
        entry = self._templates.get(box)
        if entry is None or entry[1] >= self.follow_frames:
            return None
        template, followed = entry
        h, w = gray.shape
        side = max(box.w, box.h)
        pad = int(round(side * FOLLOW_MARGIN))
        x0, y0 = max(0, box.x - pad), max(0, box.y - pad)
        x1, y1 = min(w, box.x + box.w + pad), min(h, box.y + box.h + pad)
        f = TEMPLATE_PX / side
        rw, rh = int(round((x1 - x0) * f)), int(round((y1 - y0) * f))
        if rw < TEMPLATE_PX or rh < TEMPLATE_PX:
            return None
        region = cv2.resize(gray[y0:y1, x0:x1], (rw, rh), interpolation=cv2.INTER_AREA)
        scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (mx, my) = cv2.minMaxLoc(scores)
        if not best >= self.min_match:  # also NaN, from a flat patch
            return None
        moved = Box(x0 + int(round(mx * (x1 - x0) / rw)), y0 + int(round(my * (y1 - y0) / rh)), box.w, box.h)
        self._next[moved] = (template, followed + 1)
        return moved

    def next_frame(self) -> None:
        """The frame is done: the templates found or followed in it are the ones the next frame uses."""
        self._templates, self._next = self._next, {}
