"""WebRTC plumbing for the live page: ICE servers from configuration, the loopback switch for tests,
and a player for uploaded video files.

Import this (it imports aiortc) before anything can import TensorFlow: the two clash in one process.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import aioice.ice
from aiortc.contrib.media import MediaPlayer

log = logging.getLogger(__name__)

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
    """Apply the environment's switches (called once at app start-up)."""
    if loopback_only_requested():
        enable_loopback_ice()


def file_player_factory(path: Path, loop: bool = True):
    """A ``player_factory`` that plays a video file in real time (looping, for demos) as the source."""
    def make() -> MediaPlayer:
        return MediaPlayer(str(path), loop=loop)
    return make


def probe_video(path: Path) -> str | None:
    """None if FFmpeg can decode a frame of ``path``'s video stream; otherwise why not, in one line."""
    import av
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return "the file has no video stream"
            for _ in c.decode(video=0):
                return None
            return "the video stream has no frames"
    except (av.FFmpegError, OSError, ValueError) as e:
        return f"not a video we can play ({type(e).__name__}: {e})"
