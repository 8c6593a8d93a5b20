"""A frame counter as a block code in the bottom-left corner of a video frame, for glass-to-glass latency.

The fake camera's frames carry their index as 16 square cells along the bottom edge:
white, black (the two reference levels), 12 bits of the counter (most significant first, white = 1),
an even-parity bit over those 12, and white again. Cells are 1/32 of the frame's width, so the code
survives the browser's and the server's scaling and a lossy codec: it is read at the centre of each
cell and compared with the middle of the two reference cells. The same reader exists in JavaScript
(``READER_JS``) for the browser, which reads the code from the returned video and from the local
camera preview at the same instant; the difference of the two counters is the delay in frames.
"""
from __future__ import annotations

import numpy as np

BITS = 12
MODULUS = 1 << BITS
CELLS = 16  # white, black, 12 bits, parity, white
CELL_FRACTION = 1 / 32  # cell side as a fraction of the frame's width
#: The two reference cells must differ by at least this much (0-255 levels) for a reading to count.
MIN_CONTRAST = 80


def cell_side(width: int) -> int:
    return max(4, int(round(width * CELL_FRACTION)))


def _cells(counter: int) -> list[int]:
    bits = [(counter >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    return [1, 0, *bits, sum(bits) % 2, 1]


def stamp(frame_bgr: np.ndarray, counter: int) -> np.ndarray:
    """Draw ``counter`` (mod 4096) into the bottom-left corner of a BGR uint8 frame, in place."""
    h, w = frame_bgr.shape[:2]
    side = cell_side(w)
    if side * CELLS > w or side > h:
        raise ValueError(f"a {w}x{h} frame is too small for the frame code")
    for i, on in enumerate(_cells(counter % MODULUS)):
        frame_bgr[h - side:h, i * side:(i + 1) * side] = 255 if on else 0
    return frame_bgr


def read(frame_bgr: np.ndarray) -> int | None:
    """The counter stamped into a BGR (or gray) frame, or None if there is no readable code."""
    gray = frame_bgr.mean(axis=2) if frame_bgr.ndim == 3 else frame_bgr.astype(float)
    h, w = gray.shape
    side = w * CELL_FRACTION
    y0, y1 = int(h - side * 0.75), int(h - side * 0.25)
    levels = []
    for i in range(CELLS):
        x0, x1 = int((i + 0.25) * side), int((i + 0.75) * side)
        levels.append(float(gray[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)].mean()))
    return _decode(levels)


def _decode(levels: list[float]) -> int | None:
    white, black = levels[0], levels[1]
    if white - black < MIN_CONTRAST or levels[-1] - black < MIN_CONTRAST:
        return None
    mid = (white + black) / 2
    bits = [1 if v > mid else 0 for v in levels[2:2 + BITS]]
    if sum(bits) % 2 != (1 if levels[2 + BITS] > mid else 0):
        return None
    value = 0
    for b in bits:
        value = value << 1 | b
    return value


def frames_behind(local: int, returned: int, period: int = MODULUS) -> int:
    """How many frames the returned video is behind the local one, given both counters; ``period``:
    the counter's cycle (a looped file restarts its count after its last frame)."""
    return (local - returned) % period


#: ``window.__ferReadCode(videoOrCanvas)`` -> counter or null: the same reader in the browser. It
#: copies only the bottom-left strip of the source into a small canvas (cheap enough to run on every
#: sampled frame).
READER_JS = r"""
(() => {
  const CELLS = %(cells)d, BITS = %(bits)d, FRACTION = %(fraction)r, MIN_CONTRAST = %(contrast)d;
  const SCALE = 4;  // canvas pixels per cell side
  const canvas = document.createElement('canvas');
  canvas.width = CELLS * SCALE; canvas.height = SCALE;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  window.__ferReadCode = (src) => {
    const w = src.videoWidth || src.width, h = src.videoHeight || src.height;
    if (!w || !h) return null;
    const side = w * FRACTION;
    g.drawImage(src, 0, h - side, side * CELLS, side, 0, 0, canvas.width, canvas.height);
    const d = g.getImageData(0, 0, canvas.width, canvas.height).data;
    const levels = [];
    for (let i = 0; i < CELLS; i++) {
      let sum = 0, n = 0;
      for (let y = 1; y < SCALE - 1; y++) for (let x = i * SCALE + 1; x < (i + 1) * SCALE - 1; x++) {
        const k = (y * canvas.width + x) * 4; sum += (d[k] + d[k + 1] + d[k + 2]) / 3; n++;
      }
      levels.push(sum / n);
    }
    const white = levels[0], black = levels[1];
    if (white - black < MIN_CONTRAST || levels[CELLS - 1] - black < MIN_CONTRAST) return null;
    const mid = (white + black) / 2;
    let value = 0, ones = 0;
    for (let i = 0; i < BITS; i++) { const b = levels[2 + i] > mid ? 1 : 0; value = value * 2 + b; ones += b; }
    if (ones %% 2 !== (levels[2 + BITS] > mid ? 1 : 0)) return null;
    return value;
  };
})();
""" % {"cells": CELLS, "bits": BITS, "fraction": CELL_FRACTION, "contrast": MIN_CONTRAST}
