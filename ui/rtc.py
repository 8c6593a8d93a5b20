"""WebRTC plumbing for the live page: ICE servers from configuration, the loopback switch for tests,
and a player for uploaded video files.

Import this (it imports aiortc) before anything can import TensorFlow: the two clash in one process.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import aioice.ice
import av
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)

#: RTP's video clock rate; the file track stamps its frames in these units.
VIDEO_CLOCK_HZ = 90_000
#: Video containers an upload may use (anything FFmpeg reads with a video stream plays).
VIDEO_TYPES = ("mp4", "webm", "mov")


class ConfigError(ValueError):
    """ICE server configuration that can't be used; the message says where and why."""


def ice_servers() -> list[dict]:
    """The ICE (STUN/TURN) servers both peers use. Default: none, which serves localhost and a LAN.

    A deployment sets ``FER_ICE_SERVERS`` to a JSON list, e.g.
    ``[{"urls": ["stun:stun.l.google.com:19302"]},
    {"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "p"}]``,
    or the same list as ``ice_servers`` under ``[webrtc]`` in ``.streamlit/secrets.toml``.
    """
    raw = os.environ.get("FER_ICE_SERVERS")
    if raw:
        try:
            servers = json.loads(raw)
        except ValueError as e:
            raise ConfigError(f"FER_ICE_SERVERS is not valid JSON ({e})") from None
        source = "FER_ICE_SERVERS"
    else:
        servers, source = _servers_from_secrets(), "secrets [webrtc] ice_servers"
    if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
        raise ConfigError(f"{source} must be a list of objects with a 'urls' key")
    return [dict(s) for s in servers]


def _servers_from_secrets() -> list:
    import streamlit as st
    if not st.secrets.load_if_toml_exists():  # no secrets.toml is the normal case
        return []
    return list(st.secrets.get("webrtc", {}).get("ice_servers", []))


def rtc_configuration() -> dict:
    """``rtc_configuration`` for ``webrtc_streamer``. An explicit (possibly empty) list stops
    streamlit-webrtc from fetching TURN credentials or adding public STUN servers itself."""
    return {"iceServers": ice_servers()}


def loopback_only_requested() -> bool:
    return os.environ.get("FER_ICE_LOOPBACK") == "1"


def enable_loopback_ice() -> None:
    """Make the server offer only 127.0.0.1 as its ICE host candidate.

    aioice leaves loopback out of its host addresses, so in a network namespace that has only
    ``lo`` (our browser tests) the server would have no candidate at all.
    """
    if getattr(aioice.ice.get_host_addresses, "_fer_loopback", False):
        return

    def loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    loopback_addresses._fer_loopback = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = loopback_addresses
    log.info("FER_ICE_LOOPBACK=1: offering only 127.0.0.1 as the ICE host candidate")


def configure_from_env() -> None:
    """Apply the environment's switches (called once at app start-up): loopback ICE, the codec
    choice and settings (ui/codecs.py), the CPU profile file (ui/stream_profile.py)."""
    from . import codecs, stream_profile
    if loopback_only_requested():
        enable_loopback_ice()
    codecs.install()
    stream_profile.start_writer_from_env()


class LatestFrameRelay(MediaRelay):
    """aiortc's ``MediaRelay``, except that each video consumer gets only the newest frame.

    streamlit-webrtc passes every track through one relay: the camera to our processor and our
    annotated frames to the encoder that sends them back. aiortc's default proxy is an unbounded
    FIFO, so when the encoder can't keep up (three streams on 2 cores: it encoded about 18 of the
    30 frames a second it was given) the frames pile up, a dozen a second per session, the server
    grew by about 200 MB a minute and the returned video fell further and further behind. For live
    video the newest frame is the only one worth sending. Audio keeps its buffer (no gaps).
    """

    def subscribe(self, track: MediaStreamTrack, buffered: bool = True) -> MediaStreamTrack:
        return super().subscribe(track, buffered=buffered and track.kind != "video")


_relay_lock = threading.Lock()


def use_latest_frame_relay() -> None:
    """Make streamlit-webrtc's server-wide relay a ``LatestFrameRelay``; call before ``webrtc_streamer``.

    streamlit-webrtc 0.79 has no argument for the relay: it keeps one on Streamlit's ``Runtime``
    under the name in ``streamlit_webrtc.relay`` and creates a default one on first use. Setting it
    first makes every stream in this process use ours. Idempotent and thread-safe (each browser
    session runs its script in its own thread).
    """
    from streamlit.runtime.runtime import Runtime
    from streamlit_webrtc import relay as webrtc_relay
    from streamlit_webrtc.eventloop import get_global_event_loop, loop_context

    name = getattr(webrtc_relay, "_SERVER_GLOBAL_RELAY_ATTR_NAME_", None)
    if name is None:
        raise RuntimeError("this streamlit-webrtc keeps its relay elsewhere; check ui/rtc.py against its relay.py")
    runtime = Runtime.instance()
    with _relay_lock:
        if isinstance(getattr(runtime, name, None), LatestFrameRelay):
            return
        with loop_context(get_global_event_loop()):  # as streamlit-webrtc creates its own
            setattr(runtime, name, LatestFrameRelay())


class LoopingFileTrack(MediaStreamTrack):
    """A video file as a live track: real-time pace, monotonic timestamps, looping forever.

    aiortc's ``MediaPlayer(loop=True)`` restarts the timestamps at 0 on each loop and stops pacing
    (its reader then decodes as fast as it can into an unbounded queue); the browser froze on the
    last frame of the first pass. This track keeps its own clock instead.
    """
    kind = "video"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._container = av.open(str(path))
        stream = self._container.streams.video[0]
        self._stream = stream
        self._period = 1.0 / float(stream.average_rate or stream.guessed_rate or 30)
        self._frames = None
        self._lock = threading.Lock()  # decoding runs in executor threads; stop() may close meanwhile
        self._closed = False
        self._start: float | None = None
        self._n = 0

    def _decode_next(self) -> av.VideoFrame:
        with self._lock:
            for _ in range(3):  # a pass that ends, the seek back, the first frame of the next pass
                if self._closed:
                    raise MediaStreamError
                if self._frames is None:
                    self._frames = self._container.decode(self._stream)
                try:
                    return next(self._frames)
                except StopIteration:
                    self._container.seek(0)
                    self._frames = None
            raise MediaStreamError

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await asyncio.get_running_loop().run_in_executor(None, self._decode_next)
        now = time.monotonic()
        if self._start is None or now - (self._start + self._n * self._period) > 1.0:
            self._start = now - self._n * self._period  # first frame, or fell far behind: no burst
        delay = self._start + self._n * self._period - now
        if delay > 0:
            await asyncio.sleep(delay)
        frame.pts, frame.time_base = round(self._n * self._period * VIDEO_CLOCK_HZ), Fraction(1, VIDEO_CLOCK_HZ)
        self._n += 1
        return frame

    def stop(self) -> None:
        super().stop()
        with self._lock:
            if not self._closed:
                self._closed = True
                self._container.close()


@dataclass
class FilePlayer:
    """The two attributes streamlit-webrtc reads from what a ``player_factory`` returns."""
    video: MediaStreamTrack
    audio: MediaStreamTrack | None = None


def file_player_factory(path: Path):
    """A ``player_factory`` that plays a video file (looping, for demos) as the stream's source."""
    def make() -> FilePlayer:
        return FilePlayer(LoopingFileTrack(path))
    return make


def probe_video(path: Path) -> str | None:
    """None if FFmpeg can decode a frame of ``path``'s video stream; otherwise why not, in one line."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return "the file has no video stream"
            for _ in c.decode(video=0):
                return None
            return "the video stream has no frames"
    except av.InvalidDataError:
        return ("not a video we can play: its contents are not in any video format FFmpeg knows "
                "(renamed from another kind of file, or damaged?)")
    except (av.FFmpegError, OSError, ValueError) as e:
        # FFmpeg's messages carry an error number and the (temporary) file's path: keep only the words.
        words = getattr(e, "strerror", None) or "FFmpeg could not read it"
        return f"not a video we can play: {str(words).rstrip('.').lower()}"
