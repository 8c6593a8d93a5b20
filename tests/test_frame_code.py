"""The frame counter stamped into the fake camera (tests/browser/frame_code.py) reads back exactly:
from the stamped frame itself, after a lossy codec round trip (H.264 and VP8, as WebRTC sends it),
after the scaling a browser or a lower camera resolution applies, and never from a frame without it."""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))  # the fake camera's modules live there

import frame_code  # noqa: E402
import real_footage  # noqa: E402


@pytest.fixture(scope="module")
def real_frames() -> list[np.ndarray]:
    """Frames of a real clip at 640x480 (letterboxed as the fake camera shows them)."""
    try:
        clip = real_footage.clip_paths()[0]
    except FileNotFoundError as e:
        pytest.skip(str(e))
    return [f.copy() for f in real_footage.clip_frames(clip)[:40]]


KNOWN = [0, 1, 2, 241, 1000, 2730, 4095]


@pytest.mark.parametrize("counter", KNOWN)
def test_reads_back_the_stamped_counter(real_frames, counter):
    frame = frame_code.stamp(real_frames[counter % len(real_frames)].copy(), counter)
    assert frame_code.read(frame) == counter


def test_counter_wraps_at_4096(real_frames):
    assert frame_code.read(frame_code.stamp(real_frames[0].copy(), 4096 + 37)) == 37


def test_unstamped_frame_reads_as_nothing(real_frames):
    assert frame_code.read(real_frames[5]) is None
    assert frame_code.read(np.full((480, 640, 3), 128, np.uint8)) is None


def test_a_flipped_bit_is_caught_by_parity(real_frames):
    frame = frame_code.stamp(real_frames[0].copy(), 1234)
    side = frame_code.cell_side(640)
    x = 2 * side + 5 * side  # bit 5 of the 12
    frame[480 - side:480, x:x + side] = 255 - frame[480 - side:480, x:x + side]
    assert frame_code.read(frame) is None


@pytest.mark.parametrize("size", [(640, 480), (480, 360), (320, 240)])
def test_survives_scaling(real_frames, size):
    frame = frame_code.stamp(real_frames[3].copy(), 777)
    assert frame_code.read(cv2.resize(frame, size, interpolation=cv2.INTER_AREA)) == 777


@pytest.mark.parametrize("codec", ["libx264", "libvpx"])
def test_survives_a_low_bitrate_codec_round_trip(real_frames, codec):
    """Encode 15 stamped real frames at WebRTC's default 500 kbit/s and decode them: every counter
    that comes out is the one that went in."""
    stamped = [frame_code.stamp(f.copy(), 100 + i) for i, f in enumerate(real_frames[:15])]
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = 640, 480, "yuv420p"
    enc.bit_rate = 500_000
    enc.options = ({"preset": "ultrafast", "tune": "zerolatency"} if codec == "libx264"  # as ui/codecs.py and aiortc
                   else {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0"})
    enc.time_base, enc.framerate = Fraction(1, 30), Fraction(30, 1)
    packets = []
    for i, img in enumerate(stamped):
        vf = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        vf.pts = i
        packets += enc.encode(vf)
    packets += enc.encode(None)
    dec = av.CodecContext.create("h264" if codec == "libx264" else "libvpx", "r")
    out = []
    for p in packets:
        out += [frame_code.read(f.to_ndarray(format="bgr24")) for f in dec.decode(p)]
    out += [frame_code.read(f.to_ndarray(format="bgr24")) for f in dec.decode(None)]
    assert out == [100 + i for i in range(len(stamped))]


def test_frames_behind_follows_the_loop():
    assert frame_code.frames_behind(10, 7, 242) == 3
    assert frame_code.frames_behind(2, 240, 242) == 4  # the file looped in between
