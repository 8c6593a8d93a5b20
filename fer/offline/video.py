"""Recorded video through the live page's path: PyAV decodes, ``LiveSession`` detects, tracks and
smooths, exactly as for a webcam, but clocked by each frame's presentation time instead of the wall
clock, so a file gives the same faces however fast this machine decodes it.

Frames are BGR uint8 (H, W, 3) from the decoder on; results come out frame by frame (a generator),
so an hour of video never sits in memory.
"""
from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from ..stream.live import LIVE_READ_EVERY_S, LiveSession
from ..pipeline import Face, FramePipeline, draw_faces

#: File endings ``batch`` treats as video (anything PyAV opens works with ``fer video``).
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")


class VideoError(ValueError):
    """A file that is not a playable video, or stopped decoding; the message says which and why."""


class VideoCutShort(VideoError):
    """The stream ended cleanly but before the frame count its container announced."""


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: its index in the file (0-based), presentation time (s) and BGR pixels."""
    index: int
    pts_s: float
    image: np.ndarray


@dataclass(frozen=True)
class FrameFaces:
    """The tracked, smoothed faces of one analysed frame. ``time_s``: seconds since the first frame
    (the live CSV's clock); ``pts_s``: the frame's own presentation time."""
    index: int
    pts_s: float
    time_s: float
    faces: list[Face]


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its video stream (``frames`` is 0 when it doesn't say)."""
    width: int
    height: int
    fps: float
    frames: int


def clock(seconds: float) -> str:
    """A presentation time as ``HH:MM:SS.mmm`` (hours not wrapped: 100 h is ``100:00:00.000``;
    a negative pts, which some containers start with, gets a leading ``-``)."""
    ms = round(abs(seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec, ms = divmod(rest, 1000)
    return f"{'-' if seconds < 0 and ms + sec + m + h else ''}{h:02d}:{m:02d}:{sec:02d}.{ms:03d}"


def _reason(e: Exception) -> str:
    """FFmpeg's own words for an error, without its numeric code ("Invalid data found when ...")."""
    text = getattr(e, "strerror", None) or str(e)
    return text[0].lower() + text[1:] if text else type(e).__name__


def to_bgr(frame) -> np.ndarray:
    """A decoded PyAV frame as BGR uint8 (H, W, 3). The usual H.264 picture (yuv420p, even sides)
    goes through OpenCV's conversion: 0.25-0.4 ms a 640x360 frame against PyAV's (swscale) 1.1-1.4 ms,
    which was a sixth of ``fer video``'s time a frame; the two differ by at most 3 levels (rounding).
    Any other picture format goes through PyAV."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        import cv2
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


class VideoReader:
    """Decode a file (a path, or a binary file object such as the bytes ``batch`` read) frame by frame.

    Opening raises ``VideoError`` for anything that is not a video (a still image included: FFmpeg
    would play it as a one-frame video). Iterating raises it when decoding breaks off part-way, and
    when the stream ends before the frame count its container announced (a file cut at a frame
    boundary decodes cleanly up to the cut and just stops: without this check its lost frames would
    leave no trace), in both cases after yielding every frame decoded before the break."""

    def __init__(self, source: str | Path | BinaryIO | bytes, name: str | None = None) -> None:
        import av
        self.name = name or (str(source) if isinstance(source, (str, Path)) else "video")
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        if isinstance(source, (str, Path)):
            p = Path(source)
            if not p.exists():
                raise VideoError(f"{self.name}: no such file")
            if not p.is_file():
                raise VideoError(f"{self.name}: not a file")
            source = str(p)
        try:
            self._container = av.open(source, mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.name}: not a playable video ({_reason(e)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.name}: has no video stream")
        if self._container.format.name.endswith("_pipe") or self._container.format.name == "image2":
            codec = self._container.streams.video[0].codec_context.name.upper()
            self._container.close()
            raise VideoError(f"{self.name}: is a still image ({codec}), not a video: "
                             f"use `python -m fer predict {self.name}` for images")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame threads: decoding is a third of the frame time
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30)
        self.rate = Fraction(rate)
        self.decoded = 0  # frames handed out so far
        self.info = VideoInfo(self._stream.codec_context.width, self._stream.codec_context.height,
                              float(self.rate), int(self._stream.frames or 0))

    def __iter__(self) -> Iterator[DecodedFrame]:
        import av
        index = 0
        end_s = 0.0  # where the decoded part of the stream ends: the last frame's time plus its duration
        try:
            for frame in self._container.decode(self._stream):
                pts = frame.time if frame.time is not None else index / float(self.rate)
                image = to_bgr(frame)
                self.decoded = index + 1  # counted when handed out, so an interrupted run's count is right
                end_s = float(pts) + 1 / float(self.rate)
                yield DecodedFrame(index, float(pts), image)
                index += 1
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.name}: decoding stopped at frame {index} ({_reason(e)})") from None
        if self.info.frames and index < self.info.frames:
            raise VideoCutShort(f"{self.name}: decoding stopped early at {clock(end_s)}: {index} of the "
                             f"{self.info.frames} frames the file announces (it is cut short or damaged there)")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AnnotatedWriter:
    """An H.264 (libx264, yuv420p) copy of a video with the faces drawn in, one output frame per
    input frame at the input's frame rate. Odd frame sides lose their last pixel row/column
    (yuv420p needs even sides)."""

    def __init__(self, path: str | Path, info: VideoInfo, rate: Fraction) -> None:
        import av
        self.path = Path(path)
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._w, self._h = info.width // 2 * 2, info.height // 2 * 2
        self._stream.width, self._stream.height = self._w, self._h
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": "23"}
        self.frames = 0

    def write(self, image_bgr: np.ndarray) -> None:
        import av
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image_bgr[:self._h, :self._w]), format="bgr24")
        frame.pts = self.frames
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()


def analyse_video(reader: VideoReader, pipeline: FramePipeline, every: int = 1, half_life_s: float = 0.15,
                  annotated: AnnotatedWriter | None = None,
                  read_every_s: float = LIVE_READ_EVERY_S) -> Iterator[FrameFaces]:
    """The faces of every ``every``-th frame of ``reader``, tracked and smoothed by a fresh
    ``LiveSession`` (ids start at 1 per file). With ``annotated``, every frame is written to it: the
    analysed ones with their faces drawn, the ones in between with the latest faces.

    As on the live page, a followed face is classified at most every ``read_every_s`` of the video's
    own clock (every second frame at 30 fps), its smoothed label carried between; the clock is the
    frames' timestamps, so a file gives the same rows however fast the machine runs. 0: every frame."""
    if every < 1:
        raise ValueError("every must be >= 1")
    session = LiveSession(half_life_s=half_life_s, read_every_s=read_every_s)
    t0: float | None = None
    last: list[Face] = []
    for f in reader:
        if f.index % every == 0:
            t0 = f.pts_s if t0 is None else t0
            session.process(f.image, pipeline, at=f.pts_s, draw=annotated is not None)
            update = session.latest()
            last = update.faces if update is not None else []
            yield FrameFaces(f.index, f.pts_s, f.pts_s - t0, last)
        elif annotated is not None:
            draw_faces(f.image, last)
        if annotated is not None:
            annotated.write(f.image)


@dataclass(frozen=True)
class TrackSummary:
    """One tracked face over a file: analysed frames it was in, the share of those frames per
    expression (its smoothed label), and the most frequent expression."""
    track_id: int
    frames: int
    share: dict[str, float]
    dominant: str


@dataclass
class TrackTally:
    """Counts labels per track as frames go by (bounded: one counter per track)."""
    classes: tuple[str, ...]
    _counts: dict[int, Counter] = field(default_factory=dict)

    def add(self, faces: list[Face]) -> None:
        for f in faces:
            self._counts.setdefault(f.track_id or 0, Counter())[f.label] += 1

    def summaries(self) -> list[TrackSummary]:
        out = []
        for tid in sorted(self._counts):
            c = self._counts[tid]
            n = sum(c.values())
            share = {k: c.get(k, 0) / n for k in self.classes}
            out.append(TrackSummary(tid, n, share, max(self.classes, key=lambda k: (c.get(k, 0), -self.classes.index(k)))))
        return out
