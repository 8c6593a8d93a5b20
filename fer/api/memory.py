"""Memory given back to the system after a large image.

glibc keeps freed heap pages for reuse, per thread arena: after a 20-50 megapixel decode (a real
photo, or a damaged file whose header claims one), the server's RSS stays hundreds of MB above what
it uses. Measured on the hostile benchmark's damaged JPEGs (bench/api_load.py's "flipped bytes", two
decoding threads): 123 MB before, 237 MB after, 143 MB after ``malloc_trim(0)``. So a request that
decoded a large image, or failed to decode one, is followed by a trim, at most once a second (a trim
walks the heap: a millisecond or so; a flood of garbage must not turn into a flood of trims).
"""
from __future__ import annotations

import ctypes
import threading
import time

#: Images with at least this many pixels are followed by a trim (a 640x480 frame has 0.3 million).
LARGE_PIXELS = 4_000_000
#: At most one trim this often, in seconds.
TRIM_EVERY_S = 1.0


def _libc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


class HeapTrim:
    """``after(pixels)`` once a request is done: trims when ``pixels`` (None: the image could not be
    read) is large, at once if no trim ran in the last ``TRIM_EVERY_S``, else once that time is up
    (so the last large image of a burst is trimmed after too)."""

    def __init__(self) -> None:
        self._trim = _libc_trim()
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._later: threading.Timer | None = None

    def after(self, pixels: int | None) -> None:
        if self._trim is None or (pixels is not None and pixels < LARGE_PIXELS):
            return
        with self._lock:
            wait = self._last + TRIM_EVERY_S - time.monotonic()
            if wait > 0:
                if self._later is None:
                    self._later = threading.Timer(wait, self._run)
                    self._later.daemon = True
                    self._later.start()
                return
            self._last = time.monotonic()
        self._trim(0)

    def _run(self) -> None:
        with self._lock:
            self._later = None
            self._last = time.monotonic()
        self._trim(0)
