"""The server's codec choice and settings (ui/codecs.py) and the CPU split (ui/stream_profile.py).

The browser test (tests/browser/test_live_codec.py) shows what a real session negotiates; these pin
the pieces: the answer's order with aiortc's real codec list, the environment switches, and the
arithmetic of the split."""
from __future__ import annotations

import copy

import pytest
from aiortc.codecs import CODECS, init_codecs

from ui import codecs
from ui.stream_profile import STAGES, Snapshot, split


def _video_codecs():
    if not any(c.mimeType == "video/H264" for c in CODECS["video"]):
        init_codecs()
    return list(CODECS["video"])


@pytest.mark.parametrize("name", ["h264", "vp8"])
def test_answer_lists_the_preferred_codec_first_with_its_rtx(name):
    ordered = codecs._prefer(_video_codecs(), name)
    assert ordered[0].mimeType.lower() == f"video/{name}"
    base_pts = {c.payloadType for c in ordered if c.mimeType.lower() == f"video/{name}"}
    n = len(base_pts)
    assert all(c.mimeType.lower() == f"video/{name}" for c in ordered[:n])
    assert all(c.parameters.get("apt") in base_pts for c in ordered[n:2 * n])  # their RTX next
    assert sorted(c.payloadType for c in ordered) == sorted(c.payloadType for c in _video_codecs())  # none lost


def test_defaults(monkeypatch):
    for var in ("FER_VIDEO_CODEC", "FER_H264_PRESET", "FER_CODEC_THREADS", "FER_SKIP_REPEATS",
                "FER_SEND_MIN_KBPS", "FER_SEND_START_KBPS"):
        monkeypatch.delenv(var, raising=False)
    assert codecs.settings_from_env() == codecs.CodecSettings("h264", "ultrafast", 1, True, 800, 1500)


def test_answer_asks_the_browser_for_a_sending_bitrate():
    # aiortc hands the answer copies of its codec list (find_common_codecs): so do we
    answer = codecs.answer_codecs(copy.deepcopy(_video_codecs()), codecs.CodecSettings(min_kbps=800, start_kbps=1500))
    media = [c for c in answer if c.mimeType.lower() != "video/rtx"]
    assert media and all(c.parameters["x-google-min-bitrate"] == 800 for c in media)
    assert all(c.parameters["x-google-start-bitrate"] == 1500 for c in media)
    assert all("x-google-min-bitrate" not in c.parameters for c in answer if c.mimeType.lower() == "video/rtx")
    plain = codecs.answer_codecs(copy.deepcopy(_video_codecs()), codecs.CodecSettings(min_kbps=0, start_kbps=0))
    assert not any(k.startswith("x-google") for c in plain for k in c.parameters)


@pytest.mark.parametrize("var,value", [("FER_VIDEO_CODEC", "av1"), ("FER_H264_PRESET", "placebo"),
                                       ("FER_CODEC_THREADS", "two"), ("FER_CODEC_THREADS", "-1"),
                                       ("FER_SEND_MIN_KBPS", "fast"), ("FER_SEND_START_KBPS", "-5")])
def test_bad_settings_name_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        codecs.settings_from_env()


def test_repeated_frame_is_not_encoded_again():
    class Counting:
        calls = 0

        def encode(self, frame, force_keyframe=False):
            self.calls += 1
            return [b"x"], 0

    inner = Counting()
    enc = codecs.TimedEncoder(inner, skip_repeats=True)
    a, b = object(), object()
    assert enc.encode(a) == ([b"x"], 0)
    assert enc.encode(a) == ([], 0)          # the same processed frame again: nothing sent
    assert enc.encode(a, True) == ([b"x"], 0)  # unless the receiver asked for a keyframe
    assert enc.encode(b) == ([b"x"], 0)
    assert inner.calls == 3


def test_split_per_processed_frame():
    zero = dict.fromkeys(STAGES, 0)
    a = Snapshot(0.0, 10.0, dict(zero), dict.fromkeys(STAGES, 0.0), 100, {})
    b = Snapshot(10.0, 13.0, {"decode": 300, "convert": 400, "pipeline": 200, "encode": 200},
                 {"decode": 0.3, "convert": 0.1, "pipeline": 1.0, "encode": 0.4}, 300, {})
    s = split(a, b)
    assert (s.frames, s.total_ms, s.decode_ms, s.convert_ms, s.pipeline_ms, s.encode_ms) == (200, 15.0, 1.5, 0.5, 5.0, 2.0)
    assert s.rest_ms == 6.0 and s.cores == 0.3 and s.decoded_fps == 30.0 and s.encoded_fps == 20.0
