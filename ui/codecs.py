"""The video codec the server and the browser agree on, and how the server's codecs are run.

Three things cost server CPU per stream that aiortc's defaults don't weigh for a box that serves
several viewers on few cores (and one costs camera frames before they reach the server):

- **Which codec.** aiortc answers with the browser's first choice (Chrome offers VP8 first). With
  ``FER_VIDEO_CODEC=h264`` (the default) the answer puts H.264 first, so both directions use it
  (FFmpeg's H.264 decoder and x264 at a fast preset); VP8 stays in the answer as the fallback for
  a browser without H.264. ``vp8`` answers VP8 only (aiortc's own choice with Chrome); ``browser`` takes the browser's order.
- **Threads.** A codec that spreads one frame over several threads gains nothing when every core
  already runs a stream, and costs the hand-offs. Ours run on the calling thread only, which is
  also what lets ui/stream_profile.py time them with that thread's CPU clock.
- **Re-encoding repeats.** With async processing, streamlit-webrtc's output track hands the encoder
  the newest processed frame for every camera frame, the same one again whenever the pipeline has
  not finished a new one. Encoding that repeat costs a full encode and shows the viewer nothing
  new, so the encoder wrapper skips a frame object it has just encoded (``FER_SKIP_REPEATS=0``
  turns this off). The browser then receives the processed frames only.
- **The browser's sending bitrate.** The answer asks Chrome to send at 800 kbit/s or more, starting
  at 1500 (``FER_SEND_MIN_KBPS``, ``FER_SEND_START_KBPS``; 0 leaves it to the browser), see
  ``answer_codecs``.

``install()`` (called from ``rtc.configure_from_env``) patches aiortc's codec factories once.
"""
from __future__ import annotations

import fractions
import logging
import os
from dataclasses import dataclass

import av
from aiortc import rtcpeerconnection, rtcrtpreceiver, rtcrtpsender
from aiortc.codecs import get_decoder, get_encoder
from aiortc.codecs.h264 import H264Encoder

from .stream_profile import PROFILE

log = logging.getLogger(__name__)

CODEC_CHOICES = ("h264", "vp8", "browser")
#: x264's fastest presets; "ultrafast" gives up B-frames (not used in baseline anyway), CABAC (same)
#: and most of the motion search, which at 640x480 and 0.5-1.5 Mbit/s costs little visible quality.
H264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


@dataclass(frozen=True)
class CodecSettings:
    codec: str = "h264"            # which codec the answer prefers (CODEC_CHOICES)
    h264_preset: str = "ultrafast"
    threads: int = 1               # per codec instance
    skip_repeats: bool = True
    #: the browser's sending bitrate floor and start (kbit/s), asked for in the answer; 0 = the browser's own
    min_kbps: int = 800
    start_kbps: int = 1500


def _kbps(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number of kbit/s >= 0, not {raw!r}")
    return int(raw)


def settings_from_env() -> CodecSettings:
    """``FER_VIDEO_CODEC``, ``FER_H264_PRESET``, ``FER_CODEC_THREADS``, ``FER_SKIP_REPEATS``,
    ``FER_SEND_MIN_KBPS``, ``FER_SEND_START_KBPS``; a bad value raises ValueError naming the variable."""
    codec = os.environ.get("FER_VIDEO_CODEC", "h264").lower()
    if codec not in CODEC_CHOICES:
        raise ValueError(f"FER_VIDEO_CODEC must be one of {', '.join(CODEC_CHOICES)}, not {codec!r}")
    preset = os.environ.get("FER_H264_PRESET", "ultrafast")
    if preset not in H264_PRESETS:
        raise ValueError(f"FER_H264_PRESET must be one of {', '.join(H264_PRESETS)}, not {preset!r}")
    raw_threads = os.environ.get("FER_CODEC_THREADS", "1")
    try:
        threads = int(raw_threads)
    except ValueError:
        threads = -1
    if threads < 0:
        raise ValueError(f"FER_CODEC_THREADS must be a whole number >= 0 (0: the codec decides), not {raw_threads!r}")
    return CodecSettings(codec, preset, threads, os.environ.get("FER_SKIP_REPEATS", "1") != "0",
                         _kbps("FER_SEND_MIN_KBPS", "800"), _kbps("FER_SEND_START_KBPS", "1500"))


class FastH264Encoder(H264Encoder):
    """aiortc's H.264 encoder (baseline, zero-latency) at an x264 preset of our choosing, with a
    fixed thread count. The rest (packetizing, bitrate changes from the receiver's estimate) is aiortc's."""

    def __init__(self, preset: str, threads: int) -> None:
        super().__init__()
        self._preset, self._threads = preset, threads

    def _encode_frame(self, frame: av.VideoFrame, force_keyframe: bool):
        if self.codec is not None and (frame.width, frame.height) == (self.codec.width, self.codec.height) \
                and abs(self.target_bitrate - self.codec.bit_rate) / self.codec.bit_rate <= 0.1:
            pass  # keep the open encoder
        else:
            self.buffer_data, self.buffer_pts = b"", None
            codec = av.CodecContext.create("libx264", "w")
            codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, "yuv420p"
            codec.bit_rate = self.target_bitrate
            codec.framerate = fractions.Fraction(30, 1)
            codec.time_base = fractions.Fraction(1, 30)
            codec.profile = "Baseline"
            codec.options = {"level": "31", "tune": "zerolatency", "preset": self._preset}
            if self._threads:
                codec.thread_count = self._threads
            self.codec = codec
        frame.pict_type = av.video.frame.PictureType.I if force_keyframe else av.video.frame.PictureType.NONE
        data = b"".join(bytes(p) for p in self.codec.encode(frame))
        if data:
            yield from self._split_bitstream(data)


class TimedEncoder:
    """An aiortc encoder whose ``encode`` is timed as the "encode" stage and skips repeated frames."""

    def __init__(self, inner, skip_repeats: bool) -> None:
        self._inner, self._skip = inner, skip_repeats
        self._last = None

    def encode(self, frame, force_keyframe: bool = False):
        if self._skip and frame is self._last and not force_keyframe:
            return [], 0  # aiortc's sender sends nothing for an empty payload list
        self._last = frame
        with PROFILE.stage("encode"):
            return self._inner.encode(frame, force_keyframe)

    def __getattr__(self, name):  # pack, target_bitrate ...
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        if name == "target_bitrate":
            setattr(self._inner, name, value)
        else:
            super().__setattr__(name, value)


class TimedDecoder:
    """An aiortc decoder whose ``decode`` is timed as the "decode" stage."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def decode(self, encoded_frame):
        with PROFILE.stage("decode"):
            return self._inner.decode(encoded_frame)


def _codec_name(params) -> str:
    return params.mimeType.split("/", 1)[1].lower()


def _prefer(codecs: list, name: str) -> list:
    """``codecs`` (an SDP answer's list) with ``name`` and its RTX entries first, the rest after."""
    base = [c for c in codecs if _codec_name(c) == name]
    pts = {c.payloadType for c in base}
    first = base + [c for c in codecs if _codec_name(c) == "rtx" and c.parameters.get("apt") in pts]
    return first + [c for c in codecs if c not in first]


def answer_codecs(common: list, s: CodecSettings) -> list:
    """The answer's video codecs: the preferred one first, each asking the browser to send at
    ``min_kbps`` or more, starting at ``start_kbps``.

    Chrome's sender starts at 300 kbit/s and climbs slowly on aiortc's bandwidth reports (REMB): on
    real footage it was still near 400 kbit/s after half a minute, where its encoder skipped about
    one camera frame in thirty. Chrome reads these ``x-google-*`` codec parameters from the answer.
    """
    for c in common:
        if _codec_name(c) != "rtx":
            if s.min_kbps:
                c.parameters["x-google-min-bitrate"] = s.min_kbps
            if s.start_kbps:
                c.parameters["x-google-start-bitrate"] = max(s.start_kbps, s.min_kbps)
    return common if s.codec == "browser" else _prefer(common, s.codec)


_installed: CodecSettings | None = None


def install(settings: CodecSettings | None = None) -> CodecSettings:
    """Patch aiortc once for this process: the answer's codec order, our encoders and decoders, timed."""
    global _installed
    if _installed is not None:
        return _installed
    s = settings or settings_from_env()

    def make_encoder(codec):
        name = _codec_name(codec)
        inner = FastH264Encoder(s.h264_preset, s.threads) if name == "h264" else get_encoder(codec)
        PROFILE.codec_created(f"encode:{name}")
        return TimedEncoder(inner, s.skip_repeats)

    def make_decoder(codec):
        inner = get_decoder(codec)
        name = _codec_name(codec)
        if s.threads and hasattr(inner, "codec"):
            inner.codec.thread_count = s.threads  # before the first packet opens it
        PROFILE.codec_created(f"decode:{name}")
        return TimedDecoder(inner)

    rtcrtpsender.get_encoder = make_encoder
    rtcrtpreceiver.get_decoder = make_decoder
    common = rtcpeerconnection.find_common_codecs

    def find_common_preferring(local, remote):
        found = common(local, remote)
        return answer_codecs(found, s) if found and found[0].mimeType.startswith("video/") else found

    # Only the "video" lists: audio codecs are kept as negotiated.
    rtcpeerconnection.find_common_codecs = find_common_preferring
    _installed = s
    log.info("video codecs: prefer %s, x264 preset %s, %d thread(s) per codec, skip repeats %s, "
             "browser sends at >= %d kbit/s from %d", s.codec, s.h264_preset, s.threads, s.skip_repeats,
             s.min_kbps, s.start_kbps)
    return s
