"""Where each face's annotations go on a frame, and drawing them there.

Every face gets its box, a tag ("2: happy 81%" on stills, "#7 happy 81%" live) and, when there is
room, a small bar chart of its probabilities. With several faces, or a face filling the picture,
there often is not room everywhere, so the layout is planned before anything is drawn:

- sizes follow the face (a tag's text and the bars scale with the box, not with the frame);
- a tag goes above its box, else below, else inside the box's top edge; bars go beside the box
  (right, then left), else below or above it, each at full, 3/4 and 1/2 size;
- nothing may cover any face's box (bars may not even cover their own) or another tag or bar chart;
- when no place is left for the bars, the face keeps its tag alone (and a tag with no room left
  drops its score, then its label, keeping the face's number).

``layout_overlays`` is pure geometry, ``draw_overlays`` draws that layout and returns it, so a test
can check what was drawn against what was planned.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .config import CLASS_COLORS_BGR
from .faces.detection import Box

_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Free pixels kept between any two annotations (and between an annotation and a box).
GAP = 3
#: Bar chart sizes tried, as fractions of the preferred size.
BAR_SCALES = (1.0, 0.75, 0.5)
#: Bar rows at least this tall carry their class's name; thinner rows would be unnamed stripes.
NAMED_ROW = 10
#: A bar row thinner than this (too thin to name its class), or a bar shorter, is not worth
#: drawing: label only.
MIN_ROW, MIN_BAR = NAMED_ROW, 24
#: Smallest tag text (OpenCV font scale); below it the face is too small to label beside its box.
MIN_FONT = 0.35


@dataclass(frozen=True)
class Rect:
    """A pixel rectangle, ``x0 <= x < x1``, ``y0 <= y < y1``."""
    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def of_box(cls, box: Box) -> "Rect":
        return cls(int(box.x), int(box.y), int(box.x + box.w), int(box.y + box.h))

    def overlaps(self, other: "Rect", gap: int = 0) -> bool:
        """True when the two share a pixel, or come closer than ``gap`` pixels."""
        return (self.x0 < other.x1 + gap and other.x0 < self.x1 + gap and
                self.y0 < other.y1 + gap and other.y0 < self.y1 + gap)

    def inside(self, width: int, height: int) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= width and self.y1 <= height


@dataclass(frozen=True)
class FaceLayout:
    """One face's annotations. ``bars`` is None when they did not fit anywhere (tag only);
    ``row``: the height of one bar row; ``text`` (possibly shortened to fit), ``font_scale`` and
    ``thickness``: the tag's text."""
    box: Rect
    tag: Rect
    text: str
    font_scale: float
    thickness: int
    bars: Rect | None
    row: int


@dataclass(frozen=True)
class OverlayLayout:
    """Every face's annotations, in the order of the faces given."""
    faces: list[FaceLayout]

    def annotations(self) -> list[Rect]:
        """Every tag and bar chart (what must not cover a face or each other)."""
        return [r for f in self.faces for r in (f.tag, f.bars) if r is not None]


def face_tag(label: str, score: float, number: int | None = None, track_id: int | None = None) -> str:
    """ "2: happy 81%" (a still's face number, matching the page's "Face 2") or "#7 happy 81%" (a
    live track id); the plain "happy 81%" otherwise."""
    prefix = f"{number}: " if number is not None else f"#{track_id} " if track_id is not None else ""
    return f"{prefix}{label} {score:.0%}"


def _text_rect(text: str, scale: float, thickness: int) -> tuple[int, int]:
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    return tw + 6, th + base + 4


def _preferred_font(box: Rect) -> float:
    """Tag text about a tenth of the face's height, within readable limits."""
    return float(np.clip((box.y1 - box.y0) / 220, MIN_FONT, 0.75))


def layout_overlays(width: int, height: int, boxes: Sequence[Box], texts: Sequence[str],
                    n_classes: int) -> OverlayLayout:
    """Plan tags and bar charts for faces at ``boxes`` on a ``width`` x ``height`` frame.

    Earlier faces choose first (the detector lists the largest first). All tags are placed before any
    bars: a face's label matters more than a neighbour's chart.
    """
    faces = [Rect.of_box(b) for b in boxes]
    placed: list[Rect] = []
    tags = []
    for i, (box, text) in enumerate(zip(faces, texts)):
        others = faces[:i] + faces[i + 1:]
        tags.append(_place_tag(box, text, others, placed, width, height))
        placed.append(tags[-1][0])
    out = []
    for box, (tag, text, scale, thick) in zip(faces, tags):
        bars, row = _place_bars(box, n_classes, faces, placed, width, height) if n_classes else (None, 0)
        if bars is not None:
            placed.append(bars)
        out.append(FaceLayout(box, tag, text, scale, thick, bars, row))
    return OverlayLayout(out)


def _text_variants(text: str) -> list[str]:
    """The tag, then shorter versions for tight spots: without the score, then the number alone."""
    out = [text]
    if "%" in text.rsplit(" ", 1)[-1]:
        out.append(text.rsplit(" ", 1)[0])
    out.append(text.split(" ", 1)[0])
    return list(dict.fromkeys(out))


def _place_tag(box: Rect, text: str, others: list[Rect], placed: list[Rect], width: int,
               height: int) -> tuple[Rect, str, float, int]:
    """Above the box, else below, else inside its top edge, shrinking the text down to MIN_FONT and
    then shortening it; a face too small even for its number alone gets it inside its box anyway."""
    blocked = others + placed
    for variant in _text_variants(text):
        scale = _preferred_font(box)
        while True:
            thick = 2 if scale >= 0.7 else 1
            tw, th = _text_rect(variant, scale, thick)
            x = int(np.clip(box.x0, 0, max(0, width - tw)))
            candidates = [Rect(x, box.y0 - GAP - th, x + tw, box.y0 - GAP),  # above
                          Rect(x, box.y1 + GAP, x + tw, box.y1 + GAP + th)]  # below
            for r in candidates:
                if r.inside(width, height) and not any(r.overlaps(o, GAP) for o in blocked):
                    return r, variant, scale, thick
            inner = Rect(box.x0 + 2, box.y0 + 2, box.x0 + 2 + tw, box.y0 + 2 + th)  # inside the box's top
            if (inner.x1 <= box.x1 - 2 and inner.y1 <= box.y1 - 2 and inner.inside(width, height)
                    and not any(inner.overlaps(o) for o in blocked)):
                return inner, variant, scale, thick
            if scale <= MIN_FONT:
                break
            scale = max(MIN_FONT, scale * 0.8)
    return inner, variant, scale, thick


def _place_bars(box: Rect, n: int, faces: list[Rect], placed: list[Rect], width: int,
                height: int) -> tuple[Rect | None, int]:
    """The first free spot for an ``n``-row chart: right of the box, left, below, above; at full size,
    then smaller. Below/above, a tag in the way (its own, typically) pushes the chart beyond it."""
    bw, bh = box.x1 - box.x0, box.y1 - box.y0
    pref_row = int(np.clip(bh // max(n, 1), MIN_ROW, 16))
    pref_len = int(np.clip(bw * 0.6, MIN_BAR, 160))
    blocked = faces + placed

    def free(r: Rect) -> bool:
        return r.inside(width, height) and not any(r.overlaps(o, GAP) for o in blocked)

    for s in BAR_SCALES:
        row, length = int(pref_row * s), int(pref_len * s)
        if row < MIN_ROW or length < MIN_BAR:
            break
        w, h = length, row * n
        y_side = int(np.clip(box.y0, 0, max(0, height - h)))
        for x in (box.x1 + GAP * 2, box.x0 - GAP * 2 - w):  # right, left
            r = Rect(x, y_side, x + w, y_side + h)
            if free(r):
                return r, row
        x = int(np.clip(box.x0, 0, max(0, width - w)))
        for below in (True, False):
            y = box.y1 + GAP if below else box.y0 - GAP - h
            r = Rect(x, y, x + w, y + h)
            if free(r):
                return r, row
            for t in placed:
                if r.overlaps(t, GAP):
                    dy = (t.y1 + GAP - r.y0) if below else (t.y0 - GAP - r.y1)
                    moved = Rect(r.x0, r.y0 + dy, r.x1, r.y1 + dy)
                    if free(moved):
                        return moved, row
    return None, 0


def draw_overlays(frame_bgr: np.ndarray, boxes: Sequence[Box], labels: Sequence[str], texts: Sequence[str],
                  probabilities: Sequence[dict[str, float]], bars: bool = True) -> OverlayLayout:
    """Draw boxes, tags and (``bars``) probability charts on a BGR uint8 frame, in place, where
    ``layout_overlays`` puts them; returns that layout. ``labels`` picks each box's colour."""
    h, w = frame_bgr.shape[:2]
    n = max((len(p) for p in probabilities), default=0) if bars else 0
    layout = layout_overlays(w, h, boxes, texts, n)
    for f, label, probs in zip(layout.faces, labels, probabilities):
        color = CLASS_COLORS_BGR.get(label, (255, 255, 255))
        thick = max(1, round((f.box.x1 - f.box.x0) / 120))
        cv2.rectangle(frame_bgr, (f.box.x0, f.box.y0), (f.box.x1 - 1, f.box.y1 - 1), color, thick)
        t = f.tag
        cv2.rectangle(frame_bgr, (t.x0, t.y0), (t.x1 - 1, t.y1 - 1), color, -1)
        _, base = cv2.getTextSize(f.text, _FONT, f.font_scale, f.thickness)
        cv2.putText(frame_bgr, f.text, (t.x0 + 3, t.y1 - 2 - base), _FONT, f.font_scale, (0, 0, 0), f.thickness,
                    cv2.LINE_AA)
        if bars and f.bars is not None:
            _draw_bars(frame_bgr, f.bars, f.row, probs)
    return layout


def _draw_bars(frame: np.ndarray, r: Rect, row: int, probabilities: dict[str, float]) -> None:
    """One horizontal bar per class inside ``r``, top to bottom in class order, with the class's
    first three letters when a row is tall enough to read them."""
    length = r.x1 - r.x0
    for i, (cls, p) in enumerate(probabilities.items()):
        y0 = r.y0 + i * row
        y1 = y0 + max(1, row - 2) - 1
        cv2.rectangle(frame, (r.x0, y0), (r.x1 - 1, y1), (60, 60, 60), -1)
        filled = int(round((length - 1) * float(np.clip(p, 0, 1))))
        if filled > 0:
            cv2.rectangle(frame, (r.x0, y0), (r.x0 + filled, y1), CLASS_COLORS_BGR.get(cls, (255, 255, 255)), -1)
        if row >= NAMED_ROW:
            cv2.putText(frame, cls[:3], (r.x0 + 2, y1 - 1), _FONT, row / 36, (255, 255, 255), 1, cv2.LINE_AA)
