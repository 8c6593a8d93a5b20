"""Bad inputs get a clear ImageError (API) or an "error" entry (CLI), never a crash."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fer.config import MAX_IMAGE_PIXELS
from fer.imageio import ImageError, decode_image, read_image, to_bgr

from fer_samples import stratified_sample


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def face_jpeg(fer_root) -> bytes:
    return stratified_sample(fer_root / "test", per_class=1)[3][0].read_bytes()


def test_not_an_image_is_refused_clearly():
    with pytest.raises(ImageError, match="not an image"):
        decode_image(b"%PDF-1.4 this is a pdf, not a picture", "doc.pdf")


def test_an_empty_file_is_refused():
    with pytest.raises(ImageError, match="empty"):
        decode_image(b"", "empty.jpg")


def test_a_truncated_jpeg_is_refused(face_jpeg):
    with pytest.raises(ImageError, match="corrupt or truncated") as e:
        decode_image(face_jpeg[: len(face_jpeg) // 2], "half.jpg")
    # in words: not Pillow's "OSError: image file is truncated (49 bytes not processed)"
    assert "OSError" not in str(e.value) and "bytes not processed" not in str(e.value), e.value
    assert "ends before the picture does" in str(e.value)


def test_an_image_error_gives_its_reason_without_the_name():
    with pytest.raises(ImageError) as e:
        decode_image(b"", "photos/x.jpg")
    assert e.value.reason("photos/x.jpg") == "the file is empty"


def test_an_empty_array_is_refused():
    with pytest.raises(ImageError, match="empty"):
        to_bgr(np.zeros((0, 0, 3), np.uint8))


def test_a_1x1_image_is_refused_as_too_small():
    with pytest.raises(ImageError, match="too small"):
        decode_image(_png(np.zeros((1, 1, 3), np.uint8)), "dot.png")


def test_a_10000x10000_image_is_refused_before_decoding():
    # A 10000x10000 one-colour PNG compresses to a few hundred KB: a decompression bomb in small.
    buf = io.BytesIO()
    Image.new("L", (10000, 10000)).save(buf, format="PNG")
    assert 10000 * 10000 > MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="over the limit|too large"):
        decode_image(buf.getvalue(), "huge.png")


def test_rgba_is_converted_to_bgr():
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[..., 3] = 255
    bgr = decode_image(_png(rgba, "RGBA"), "rgba.png")
    assert bgr.shape == (40, 50, 3) and bgr.dtype == np.uint8
    assert bgr[0, 0].tolist() == [0, 0, 200]


def test_16_bit_gray_is_scaled_to_8_bit():
    a = np.full((32, 32), 40000, np.uint16)
    bgr = decode_image(_png(a), "deep.png")
    assert bgr.dtype == np.uint8 and bgr.shape == (32, 32, 3)
    assert abs(int(bgr[0, 0, 0]) - 40000 // 256) <= 1


def test_arrays_of_odd_types_and_shapes():
    assert to_bgr(np.ones((20, 20), np.float32)).max() == 255
    assert to_bgr(np.zeros((20, 20, 1), np.uint8)).shape == (20, 20, 3)
    with pytest.raises(ImageError, match="unsupported shape"):
        to_bgr(np.zeros((20, 20, 2), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        to_bgr(np.full((20, 20), np.nan, np.float32))


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.jpg")


def test_cli_predict_reports_errors_per_file_and_keeps_going(tmp_path, face_jpeg):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not really a jpeg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(face_jpeg[:200])
    good = tmp_path / "face.jpg"
    good.write_bytes(face_jpeg)
    out = subprocess.run([sys.executable, "-m", "fer", "predict", str(bad), str(cut), str(good), "--no-detect",
                          "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert [r["path"] for r in rows] == [str(bad), str(cut), str(good)]
    assert "not an image" in rows[0]["error"] and rows[0]["faces"] == []
    assert "truncated" in rows[1]["error"]
    assert "error" not in rows[2] and len(rows[2]["faces"]) == 1
