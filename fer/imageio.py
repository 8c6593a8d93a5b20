"""Turn untrusted files and arrays into BGR uint8 frames, or a clear ``ImageError``.

The colour contract is set here, once: everything after this boundary is BGR uint8 (H, W, 3).
"""
from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np

from .config import IMAGE_FORMATS, MAX_IMAGE_PIXELS

#: Smallest side we accept: a face needs more pixels than this to be seen at all.
MIN_IMAGE_SIDE = 16


class ImageError(ValueError):
    """An input that is not a usable image; the message says why in one line, "name: reason"."""

    def reason(self, name: str | Path) -> str:
        """The message without its leading "name: ", for callers that print the name themselves."""
        msg = str(self)
        for prefix in (f"{name}: ", f"{Path(name)}: "):
            if msg.startswith(prefix):
                return msg[len(prefix):]
        return msg


def _in_words(e: BaseException) -> str:
    """What a decoder's exception means for the user, without library internals."""
    text = str(e).lower()
    if "truncated" in text or isinstance(e, EOFError):
        return "the file ends before the picture does (cut short while copying or uploading?)"
    if isinstance(e, MemoryError):
        return "not enough memory to decode it"
    return "its picture data can't be decoded (the file is damaged or only looks like an image)"


def _pil():
    from PIL import Image, ImageFile
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # PIL raises DecompressionBombError above 2x this
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return Image


def decode_image(data: bytes | bytearray | memoryview, name: str = "image") -> np.ndarray:
    """Decode an encoded image (jpg, png, webp, bmp, tiff, gif: ``IMAGE_FORMATS``, nothing else) to
    BGR uint8, EXIF rotation applied.

    The pixel count is checked from the header, before the pixels are decoded, so a
    decompression bomb costs nothing.
    """
    Image = _pil()
    from PIL import UnidentifiedImageError
    if not data:
        raise ImageError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            # PIL warns between 1x and 2x its limit; we refuse those ourselves just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(bytes(data)), formats=IMAGE_FORMATS)
        with im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise ImageError(f"{name}: {w}x{h} pixels is over the limit of {MAX_IMAGE_PIXELS:,} pixels")
            im.load()
            return to_bgr(_pil_to_array(_upright(im)), name)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file in a format we read (JPEG, PNG, WebP, BMP, TIFF, GIF)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image is too large (over {MAX_IMAGE_PIXELS:,} pixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, IndexError, TypeError, KeyError,
            struct.error, NotImplementedError, AttributeError) as e:
        # Found by tests/test_fuzz_images.py: struct.error (TIFF parser on short headers),
        # NotImplementedError (BLP's "unknown compression"), AttributeError (SPIDER header).
        raise ImageError(f"{name}: corrupt or truncated image: {_in_words(e)}") from None


#: EXIF orientation -> the transpose that makes the image upright (the table of ImageOps.exif_transpose).
_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
                7: "TRANSVERSE", 8: "ROTATE_90"}


def _upright(im):
    """The image turned as its EXIF orientation says. EXIF that can't be read means no turn: the
    pixels are still good. (Not ``ImageOps.exif_transpose``: it also re-writes the EXIF, which fails
    on tags Pillow itself read, e.g. a float in a text tag.)"""
    try:
        orientation = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001  (Pillow's EXIF parser raises struct.error, ValueError, ... on garbage)
        return im
    method = _ORIENTATION.get(orientation) if type(orientation) is int else None
    if method is None:
        return im
    from PIL import Image
    return im.transpose(getattr(Image.Transpose, method))


def _pil_to_array(im) -> np.ndarray:
    """PIL image of any mode -> array that ``to_bgr`` understands (gray, RGB(A) reordered to BGR(A))."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im)
        return a.astype(np.uint16) if a.max(initial=0) <= 65535 else (a >> 16).astype(np.uint16)
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        return a
    if mode in ("L", "RGB", "RGBA"):
        a = np.asarray(im)
    elif mode in ("LA", "PA") or (mode == "P" and "transparency" in im.info):
        a = np.asarray(im.convert("RGBA"))
        mode = "RGBA"
    elif mode == "1":
        a = np.asarray(im.convert("L"))
        mode = "L"
    else:  # P, CMYK, YCbCr, LAB, HSV, RGBX, ...
        a = np.asarray(im.convert("RGB"))
        mode = "RGB"
    if mode == "RGB":
        return a[..., ::-1]
    if mode == "RGBA":
        return a[..., [2, 1, 0, 3]]
    return a


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3); ``ImageError`` for anything unusable."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if not p.is_file():
        raise ImageError(f"{p}: not a file")
    return decode_image(p.read_bytes(), name=str(p))


def to_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Normalise an array to BGR uint8 (H, W, 3).

    Accepts gray (H, W) or (H, W, 1), BGR (H, W, 3), BGRA (H, W, 4, alpha composited on
    black), uint8, uint16 (scaled down) or float (0-1 or 0-255).
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise ImageError(f"{name}: the image is empty (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: unsupported shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    h, w = image.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ImageError(f"{name}: {w}x{h} pixels is too small; at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} needed")
    if h * w > MAX_IMAGE_PIXELS:
        raise ImageError(f"{name}: {w}x{h} pixels is over the limit of {MAX_IMAGE_PIXELS:,} pixels")
    image = _to_uint8(image, name)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.uint16)
        # (numpy keeps the channel-major layout of the BGRA reorder; OpenCV can't draw into that)
        image = (image[..., :3].astype(np.uint16) * alpha // 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8) if a.max(initial=0) > 255 else a.astype(np.uint8)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError(f"{name}: image contains NaN or infinite values")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return np.clip(a * scale, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(a, 0, 255).astype(np.uint8)
    raise ImageError(f"{name}: unsupported pixel type {a.dtype}")
