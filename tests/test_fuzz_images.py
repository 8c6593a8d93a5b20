"""Fuzzing the image boundary: every file the upload page (``fer.offline.still.analyse_still``) or the CLI
(``python -m fer predict``, via ``fer.imageio.read_image``) is given goes through
``fer.imageio.decode_image``. The contract: an input either decodes to a BGR uint8 (H, W, 3) array of
sane size or raises ``fer.imageio.ImageError`` with a one-line message naming the file and the reason.
No other exception type, ever; decompression bombs are refused from their header, before any pixel
is decoded.

The main test runs >= 10,000 seeded, reproducible cases built from real FER2013 faces: byte flips,
truncations, span edits and splices; the faces re-encoded in every mode x format Pillow writes (1, L,
LA, P, P + transparency, RGB, RGBA, CMYK, 16-bit, 32-bit, float; PNG, JPEG, BMP, GIF, TIFF, WebP, ...);
absurd dimensions written into PNG/JPEG/GIF/BMP/TIFF/WebP headers; EXIF garbage; random bytes behind
the magic numbers of every format Pillow opens; wrong file extensions through ``read_image``.
``FER_FUZZ_SEED`` picks another seed, ``FER_FUZZ_SCALE`` multiplies the case count (soak runs).
Hypothesis adds structured generation on top; a sample goes through the real upload and CLI paths.
"""
from __future__ import annotations

import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageFile

from fer.config import IMAGE_FORMATS, MAX_IMAGE_PIXELS, REPO_ROOT
from fer.imageio import MIN_IMAGE_SIDE, ImageError, decode_image, read_image, to_bgr

from fer_samples import stratified_sample

# Pillow warns about the damage it meets (corrupt EXIF, odd TIFF tags, deprecated formats): expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*deprecated:DeprecationWarning",
                                      "ignore:overflow encountered:RuntimeWarning")  # float garbage, clipped

#: The default run must never shrink below this many fuzz cases.
MIN_CASES = 10_000
SEED = int(os.environ.get("FER_FUZZ_SEED", "20250611"))
SCALE = float(os.environ.get("FER_FUZZ_SCALE", "1"))

#: Every refusal says one of these (see fer/imageio.py); anything else is an unclear message.
REASONS = ("the file is empty", "not an image file", "corrupt or truncated", "over the limit of",
           "too large (over", "too small", "unsupported shape", "NaN or infinite", "unsupported pixel type")
LIMIT_TEXT = f"{MAX_IMAGE_PIXELS:,}"

#: (mode, format) pairs re-encoded from real faces; combinations Pillow can't write are skipped.
MODES = ("1", "L", "LA", "P", "PT", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM", "TGA", "ICO", "QOI", "SGI", "PCX", "JPEG2000",
           "DDS", "BLP", "SPIDER", "MSP", "XBM")
LOSSLESS = {"PNG", "BMP", "GIF", "TIFF", "PPM", "TGA", "QOI", "SGI", "PCX", "MSP", "XBM"}

#: Magic numbers of the formats Pillow opens (random bytes follow them).
MAGICS = (b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xc0",
          b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00", b"GIF87a", b"GIF89a", b"BM", b"II*\x00\x08\x00\x00\x00",
          b"MM\x00*\x00\x00\x00\x08", b"RIFF\x00\x01\x00\x00WEBPVP8 ", b"RIFF\x00\x01\x00\x00WEBPVP8L",
          b"RIFF\x00\x01\x00\x00WEBPVP8X", b"\x00\x00\x01\x00\x01\x00", b"\x00\x00\x02\x00\x01\x00", b"8BPS\x00\x01",
          b"P1\n", b"P4\n", b"P5\n", b"P6\n", b"P5\n48 48\n255\n", b"P6\n99999 99999\n255\n", b"Pf\n", b"PF\n",
          b"\x0a\x05\x01\x08", b"DDS |\x00\x00\x00", b"qoif", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xffO\xffQ",
          b"icns", b"\x01\xda\x01\x01", b"\x59\xa6\x6a\x95", b"SIMPLE  =                    T",
          b"%!PS-Adobe-3.0 EPSF-3.0\n", b"\xc5\xd0\xd3\xc6", b"#define x_width 48\n", b"/* XPM */\n",
          b"Image type: L image\r\n", b"\x00\x00\x00\x00\x00\x00\x00\x00", b"BLP1", b"BLP2", b"GIMP", b"DanM", b"LinS",
          b"\xaf\x11", b"\xaf\x12", b"FORM", b"\x00\x00\x00\x1cftypavif", b"\x01\x00\x00\x00\x58\x00\x00\x00",
          b"BUFR", b"GRIB", b"\x89HDF\r\n\x1a\n", b"\xd7\xcd\xc6\x9a", b"\x00\x00\x00\x00\x00\x00\x00\x04")
WRONG_EXTENSIONS = (".png", ".jpg", ".gif", ".txt", "", ".JPG", ".tiff", ".webp", ".bmp", ".jpeg.exe")


# ---------------------------------------------------------------- the contract, checked per input

@dataclass
class Outcome:
    ok: bool
    shape: tuple[int, ...] | None = None
    message: str = ""


def check_contract(data: bytes, name: str = "fuzz.bin") -> Outcome:
    """decode_image either returns a sane BGR uint8 frame or raises ImageError with a clear message.
    Any other exception escapes to the caller (which records it as a crash)."""
    try:
        out = decode_image(data, name)
    except ImageError as e:
        msg = str(e)
        assert msg.startswith(f"{name}: "), f"the message does not name the file: {msg!r}"
        assert "\n" not in msg and len(msg) < 600, f"not a one-line message: {msg!r}"
        assert any(r in msg for r in REASONS), f"unclear refusal: {msg!r}"
        return Outcome(False, message=msg)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8, (type(out), getattr(out, "dtype", None))
    assert out.ndim == 3 and out.shape[2] == 3, out.shape
    h, w = out.shape[:2]
    assert min(h, w) >= MIN_IMAGE_SIDE and h * w <= MAX_IMAGE_PIXELS, out.shape
    assert out.flags.c_contiguous, "OpenCV needs C-contiguous frames"
    return Outcome(True, shape=out.shape)


# ---------------------------------------------------------------- seed files from real faces

def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gray_palette() -> list[int]:
    return [v for i in range(256) for v in (i, i, i)]


def mode_image(gray: np.ndarray, mode: str) -> tuple[Image.Image, np.ndarray]:
    """The face (H, W uint8) as a Pillow image of ``mode``, and the BGR array decode_image must give."""
    g = gray
    color = np.stack([g, (g // 2).astype(np.uint8), (255 - g).astype(np.uint8)], axis=2)  # R, G, B differ
    alpha = np.full_like(g, 255)
    alpha[:, : g.shape[1] // 3] = 128  # a band of half transparency: composited on black
    if mode == "1":
        im = Image.fromarray(g).convert("1")
        ref = np.asarray(im.convert("L"))
        return im, np.repeat(ref[..., None], 3, axis=2)
    if mode == "L":
        return Image.fromarray(g), np.repeat(g[..., None], 3, axis=2)
    if mode == "LA":
        im = Image.fromarray(np.stack([g, alpha], axis=2))
        c = (g.astype(np.uint16) * alpha // 255).astype(np.uint8)
        return im, np.repeat(c[..., None], 3, axis=2)
    if mode in ("P", "PT"):
        p = Image.frombytes("P", (g.shape[1], g.shape[0]), g.tobytes())
        p.putpalette(_gray_palette())
        ref = np.repeat(g[..., None], 3, axis=2)
        if mode == "PT":
            p.info["transparency"] = 0
            ref = ref.copy()
            ref[g == 0] = 0  # index 0 is transparent -> black
        return p, ref
    if mode == "RGB":
        return Image.fromarray(color), color[..., ::-1].copy()
    if mode == "RGBA":
        im = Image.fromarray(np.dstack([color, alpha]))
        c = (color.astype(np.uint16) * alpha[..., None] // 255).astype(np.uint8)
        return im, c[..., ::-1].copy()
    if mode == "CMYK":
        im = Image.fromarray(color).convert("CMYK")
        return im, np.asarray(im.convert("RGB"))[..., ::-1].copy()
    if mode == "I;16":
        a = g.astype(np.uint16) * 257
        return Image.fromarray(a), np.repeat(g[..., None], 3, axis=2)
    if mode == "I":
        a = g.astype(np.int32) * 257
        return Image.fromarray(a), np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        a = g.astype(np.float32) / 255.0
        return Image.fromarray(a), np.repeat(g[..., None], 3, axis=2)
    raise ValueError(mode)


@dataclass
class Variant:
    label: str
    data: bytes
    expected: np.ndarray | None  # None: the format changed the mode, only the shape is known
    lossless: bool
    shape: tuple[int, ...]


def variants_of(gray: np.ndarray) -> list[Variant]:
    """Every (mode, format) Pillow can write for this face, with the frame it must decode to."""
    out = []
    for mode in MODES:
        im, ref = mode_image(gray, mode)
        for fmt in FORMATS:
            try:
                kw = {"lossless": True} if fmt == "WEBP" and mode in ("L", "RGB", "RGBA") else {}
                if fmt == "ICO":
                    kw["sizes"] = [im.size]
                data = _encode(im, fmt, **kw)
            except (OSError, ValueError, KeyError, TypeError):
                continue
            with Image.open(io.BytesIO(data)) as back:  # the format kept the mode: the pixels are known
                kept = back.mode == im.mode or (mode == "PT" and back.mode == "P" and "transparency" in back.info)
            out.append(Variant(f"{mode}.{fmt}", data, ref if kept else None,
                               fmt in LOSSLESS or bool(kw.get("lossless")), ref.shape))
    return out


def oriented_variants(gray: np.ndarray) -> list[Variant]:
    """EXIF orientations 1-8 in JPEG and PNG: decode_image must apply the rotation."""
    methods = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
               7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
    im, _ = mode_image(gray, "RGB")
    out = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        turned = im.transpose(methods[orientation]) if orientation in methods else im
        ref = np.asarray(turned)[..., ::-1].copy()
        for fmt in ("PNG", "JPEG", "WEBP"):
            out.append(Variant(f"orient{orientation}.{fmt}", _encode(im, fmt, exif=exif.tobytes()), ref,
                               fmt == "PNG", ref.shape))
    return out


# ---------------------------------------------------------------- header surgery

def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((kind, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return chunks


def png_build(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """PNG bytes with correct lengths and CRCs, so the decoder gets past the checksums."""
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(out)


def png_with_size(data: bytes, w: int, h: int) -> bytes:
    chunks = png_chunks(data)
    kind, body = chunks[0]
    assert kind == b"IHDR"
    chunks[0] = (kind, struct.pack(">II", w & 0xFFFFFFFF, h & 0xFFFFFFFF) + body[8:])
    return png_build(chunks)


def jpeg_with_size(data: bytes, w: int, h: int) -> bytes:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, n = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return data[:pos + 5] + struct.pack(">HH", h & 0xFFFF, w & 0xFFFF) + data[pos + 9:]
        pos += 2 + n
    raise AssertionError("no SOF marker")


def gif_with_size(data: bytes, w: int, h: int, screen: bool, frame: bool) -> bytes:
    b = bytearray(data)
    if screen:
        b[6:10] = struct.pack("<HH", w & 0xFFFF, h & 0xFFFF)
    pos = 13 + (3 * 2 ** ((b[10] & 7) + 1) if b[10] & 0x80 else 0)
    while pos < len(b) and b[pos] == 0x21:  # extension blocks
        pos += 2
        while pos < len(b) and b[pos]:
            pos += b[pos] + 1
        pos += 1
    if frame and pos + 9 <= len(b) and b[pos] == 0x2C:
        b[pos + 5:pos + 9] = struct.pack("<HH", w & 0xFFFF, h & 0xFFFF)
    return bytes(b)


def bmp_with_size(data: bytes, w: int, h: int) -> bytes:
    return data[:18] + struct.pack("<ii", _s32(w), _s32(h)) + data[26:]


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def tiff_with_size(data: bytes, w: int, h: int) -> bytes:
    b = bytearray(data)
    assert b[:2] == b"II"
    ifd = struct.unpack("<I", b[4:8])[0]
    n = struct.unpack("<H", b[ifd:ifd + 2])[0]
    for i in range(n):
        e = ifd + 2 + 12 * i
        tag, typ = struct.unpack("<HH", b[e:e + 4])
        if tag in (256, 257):
            v = w if tag == 256 else h
            if typ == 3:
                b[e + 8:e + 10] = struct.pack("<H", v & 0xFFFF)
            else:
                b[e + 8:e + 12] = struct.pack("<I", v & 0xFFFFFFFF)
    return bytes(b)


def webp_with_size(data: bytes, w: int, h: int) -> bytes:
    b = bytearray(data)
    if b[12:16] == b"VP8X":
        b[24:27] = ((w - 1) & 0xFFFFFF).to_bytes(3, "little")
        b[27:30] = ((h - 1) & 0xFFFFFF).to_bytes(3, "little")
    elif b[12:16] == b"VP8L":
        bits = struct.unpack("<I", b[21:25])[0]
        bits = (bits & ~0x0FFFFFFF) | ((w - 1) & 0x3FFF) | (((h - 1) & 0x3FFF) << 14)
        b[21:25] = struct.pack("<I", bits)
    elif b[12:16] == b"VP8 ":
        b[26:30] = struct.pack("<HH", w & 0x3FFF, h & 0x3FFF)
    return bytes(b)


SIZERS: dict[str, Callable[[bytes, int, int], bytes]] = {
    "PNG": png_with_size, "JPEG": jpeg_with_size, "BMP": bmp_with_size, "TIFF": tiff_with_size,
    "WEBP": webp_with_size,
    "GIF": lambda d, w, h: gif_with_size(d, w, h, True, True),
    "GIF-screen": lambda d, w, h: gif_with_size(d, w, h, True, False),
    "GIF-frame": lambda d, w, h: gif_with_size(d, w, h, False, True),
}
SANE_DIMS = (0, 1, 2, 15, 16, 17, 31, 47, 48, 49, 60, 61, 64, 100, 255, 256, 257, 1000)
HUGE_DIMS = (4096, 7071, 7072, 10_000, 16_383, 16_384, 50_000, 65_535, 65_536, 1 << 24, (1 << 31) - 1, 1 << 31,
             (1 << 32) - 1, -1, -48, -65_535)


def _dim(rng: random.Random) -> int:
    return rng.choice(HUGE_DIMS) if rng.random() < 0.35 else rng.choice(SANE_DIMS)


# ---------------------------------------------------------------- EXIF garbage

def _ifd_entry(rng: random.Random) -> bytes:
    tag = rng.choice((0x0112, 0x0112, 0x8769, 0x8825, 0xA005, 0x010F, 0x0132, 0x927C, 0x9286,
                      rng.randrange(0x10000)))
    typ = rng.choice((1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 0, 14, 255, rng.randrange(0x10000)))
    count = rng.choice((0, 1, 2, 4, 1000, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)))
    value = rng.choice((0, 1, 6, 8, 9, 0xFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)))
    return struct.pack("<HHII", tag, typ, count, value)


def exif_garbage(rng: random.Random) -> bytes:
    """Raw EXIF (TIFF-structured) bytes: random, structured-but-wrong, self-referencing, or valid
    orientations out of range."""
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    if kind == 1:
        e = Image.Exif()
        e[0x0112] = rng.choice((0, 9, 10, 255, 65535, 1, 6, 8))
        return e.tobytes()
    head = rng.choice((b"II*\x00", b"MM\x00*", b"II*\x00", b"II+\x00"))
    n = rng.choice((1, 2, 3, 5, 0, 0xFFFF))
    entries = b"".join(_ifd_entry(rng) for _ in range(min(n, 6)))
    if kind == 2:  # IFD pointers back to the start: loops
        entries += struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<HHII", 0x8825, 4, 1, 8)
    body = head + struct.pack("<I", 8) + struct.pack("<H", n) + entries + struct.pack("<I", rng.choice((0, 8, 0xFFFF)))
    if kind == 4:
        body += bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
    return body


def jpeg_with_app1(jpeg: bytes, payload: bytes, rng: random.Random | None = None) -> bytes:
    seg = b"Exif\x00\x00" + payload
    n = len(seg) + 2
    if rng is not None and rng.random() < 0.15:
        n = rng.choice((0, 1, 2, 0xFFFF, n + 100))  # lying length field
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", n & 0xFFFF) + seg + jpeg[2:]


def png_with_exif(png: bytes, payload: bytes) -> bytes:
    chunks = png_chunks(png)
    return png_build(chunks[:1] + [(b"eXIf", payload)] + chunks[1:])


# ---------------------------------------------------------------- the generator

def mutate_flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8, 16, 32))):
        i = rng.randrange(len(b)) if rng.random() < 0.6 else rng.randrange(min(len(b), 200))  # headers often
        if rng.random() < 0.5:
            b[i] ^= 1 << rng.randrange(8)
        else:
            b[i] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(b)


def mutate_truncate(data: bytes, rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        return data[: rng.randrange(0, min(len(data), 64) + 1)]
    if r < 0.5:
        return data[: len(data) - rng.randrange(1, 8)]
    return data[: rng.randrange(0, len(data))]


def mutate_span(data: bytes, rng: random.Random, other: bytes) -> bytes:
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice((1, 4, 16, 64, 256)))
    op = rng.randrange(5)
    if op == 0:
        return data[:i] + data[j:]  # delete
    if op == 1:
        return data[:j] + data[i:j] * rng.choice((1, 2, 50)) + data[j:]  # repeat
    if op == 2:
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 32)))) + data[i:]  # insert
    if op == 3:
        k = rng.randrange(len(other))
        return data[:i] + other[k:]  # splice two files
    return data[:i] + data[i:j][::-1] + data[j:]  # reverse a span


@dataclass
class Case:
    kind: str
    index: int
    data: bytes
    variant: Variant | None = None


def generate_cases(faces: list[bytes], grays: list[np.ndarray], seed: int, scale: float) -> Iterator[Case]:
    rng = random.Random(seed)
    n = lambda k: max(1, int(k * scale))  # noqa: E731
    variants: list[Variant] = []
    for g in grays[:6]:
        variants += variants_of(g) + oriented_variants(g)
    by_format: dict[str, list[bytes]] = {}
    for v in variants:
        by_format.setdefault(v.label.split(".")[1], []).append(v.data)
    pool = faces + [v.data for v in variants]
    i = 0
    for v in variants:
        yield Case("valid-variant", i, v.data, v)
        i += 1
    for kind, count, make in (
        ("flip-face", n(3000), lambda: mutate_flip(rng.choice(faces), rng)),
        ("flip-variant", n(1500), lambda: mutate_flip(rng.choice(variants).data, rng)),
        ("truncate", n(1300), lambda: mutate_truncate(rng.choice(pool), rng)),
        ("span", n(1300), lambda: mutate_span(rng.choice(pool), rng, rng.choice(pool))),
        ("header-size", n(1300), lambda: _sized(rng, by_format, faces)),
        ("exif", n(1000), lambda: _exif_case(rng, faces, by_format)),
        ("magic+random", n(800), lambda: rng.choice(MAGICS) + _random_bytes(rng, (0, 1, 10, 100, 1000))),
        ("random", n(100), lambda: _random_bytes(rng, (1, 2, 16, 500, 5000))),
    ):
        for _ in range(count):
            yield Case(kind, i, make())
            i += 1


def _random_bytes(rng: random.Random, lengths: tuple[int, ...]) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.choice(lengths)))


def _sized(rng: random.Random, by_format: dict[str, list[bytes]], faces: list[bytes]) -> bytes:
    fmt = rng.choice(list(SIZERS))
    src = rng.choice(faces) if fmt == "JPEG" and rng.random() < 0.5 else rng.choice(by_format[fmt.split("-")[0]])
    data = SIZERS[fmt](src, _dim(rng), _dim(rng))
    return mutate_truncate(data, rng) if rng.random() < 0.1 else data


def _exif_case(rng: random.Random, faces: list[bytes], by_format: dict[str, list[bytes]]) -> bytes:
    payload = exif_garbage(rng)
    where = rng.randrange(3)
    if where == 0:
        return jpeg_with_app1(rng.choice(faces), payload, rng)
    if where == 1:
        return png_with_exif(rng.choice(by_format["PNG"]), payload)
    try:  # Pillow writes the raw bytes into the WebP EXIF chunk
        return _encode(Image.open(io.BytesIO(rng.choice(faces))), "WEBP", exif=payload)
    except (OSError, ValueError):
        return jpeg_with_app1(rng.choice(faces), payload, rng)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def face_files(fer_root) -> list[Path]:
    return [p for p, _ in stratified_sample(fer_root / "test", per_class=6, seed=11)]


@pytest.fixture(scope="module")
def seeds(face_files) -> tuple[list[bytes], list[np.ndarray]]:
    faces = [p.read_bytes() for p in face_files]
    grays = []
    for d in faces:
        g = np.asarray(Image.open(io.BytesIO(d)).convert("L"))
        grays.append(np.pad(g, ((0, 0), (0, 12)), mode="edge"))  # 48 x 60: not square, so w/h swaps show
    return faces, grays


# ---------------------------------------------------------------- the tests

def test_ten_thousand_fuzzed_files_decode_or_are_refused_clearly(seeds, tmp_path):
    faces, grays = seeds
    counts, outcomes, reasons = Counter(), Counter(), Counter()
    crashes: list[str] = []
    slowest: list[tuple[float, str]] = []
    ext_checked = content_checked = limit_refusals = other_formats_refused = 0
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    for case in generate_cases(faces, grays, SEED, SCALE):
        counts[case.kind] += 1
        c0 = time.process_time()
        try:
            res = check_contract(case.data, f"case{case.index}")
        except Exception as e:  # noqa: BLE001  (a crash: keep going, report them all)
            path = tmp_path / f"crash_{case.index}_{case.kind}.bin"
            path.write_bytes(case.data)
            crashes.append(f"{case.kind} #{case.index}: {type(e).__name__}: {str(e)[:200]} (input: {path})")
            continue
        slowest.append((time.process_time() - c0, f"{case.kind}#{case.index}"))
        outcomes[(case.kind, res.ok)] += 1
        if not res.ok:
            reasons[re.sub(r"\d[\d,]*", "N", res.message.split(": ", 1)[1].split(" (")[0])] += 1
            limit_refusals += LIMIT_TEXT in res.message
        if case.variant is not None and case.variant.label.split(".")[1] not in IMAGE_FORMATS:
            # a valid file in a format we don't decode (fer.config.IMAGE_FORMATS): refused at the door
            assert not res.ok and "not an image file" in res.message, (case.variant.label, res)
            other_formats_refused += 1
        elif case.variant is not None:  # a valid file: must decode, to the right pixels
            v = case.variant
            assert res.ok, f"{v.label} was refused: {res.message}"
            assert res.shape == v.shape, (v.label, res.shape, v.shape)
            if v.expected is not None:  # the format kept the mode: compare the pixels too
                content_checked += 1
                diff = np.abs(decode_image(case.data, v.label).astype(int) - v.expected)
                assert diff.mean() <= (1.0 if v.lossless else 12.0), f"{v.label}: mean error {diff.mean():.2f}"
                if v.lossless:
                    assert diff.max() <= 1, f"{v.label}: max error {diff.max()}"
        if case.index % 10 == 0:  # the CLI's path: a file on disk with a misleading extension
            ext = WRONG_EXTENSIONS[(case.index // 10) % len(WRONG_EXTENSIONS)]
            path = tmp_path / f"upload{ext}"
            path.write_bytes(case.data)
            try:
                frame = read_image(path)
                assert res.ok and frame.shape == res.shape, (case.kind, case.index, ext)
            except ImageError as e:
                assert not res.ok and str(e) == res.message.replace(f"case{case.index}", str(path), 1)
            ext_checked += 1
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    total = sum(counts.values())
    slowest.sort(reverse=True)
    print(f"\nfuzz: {total} cases (seed {SEED}) in {wall:.1f} s wall, {cpu:.1f} s CPU; "
          f"{ext_checked} also through read_image with wrong extensions")
    print("per kind (decoded / refused):", {k: (outcomes[(k, True)], outcomes[(k, False)]) for k in counts})
    print("refusal reasons:", dict(reasons.most_common()))
    print("slowest cases (CPU s):", [(round(s, 3), n) for s, n in slowest[:5]])
    assert not crashes, f"{len(crashes)} of {total} inputs broke the contract (an exception other than " \
                        f"ImageError, or a bad frame or message):\n" + \
        "\n".join(crashes[:20])
    assert total >= MIN_CASES * min(SCALE, 1.0), f"only {total} fuzz cases: the generator shrank"
    assert counts["valid-variant"] >= 150, counts  # every mode x format Pillow writes really was exercised
    assert content_checked >= 100, content_checked
    assert other_formats_refused >= 50, other_formats_refused  # PPM, TGA, ICO, QOI, BLP, SPIDER, ... were tried
    for kind in ("flip-face", "flip-variant", "truncate", "span", "header-size", "exif"):
        # a fuzzer whose inputs are all refused at the door tests nothing deep: both outcomes must occur
        assert outcomes[(kind, True)] >= 20 and outcomes[(kind, False)] >= 20, (kind, outcomes)
    assert limit_refusals >= 50, reasons  # the absurd header sizes really reached the pixel limit
    assert slowest[0][0] < 10.0, f"one input took {slowest[0][0]:.1f} s of CPU: {slowest[0][1]}"
    # CI budget, in CPU seconds (wall time on a shared machine says little): ~15 s measured.
    assert cpu < 60 * max(SCALE, 1.0), f"the fuzz run took {cpu:.0f} s of CPU"


def _tiff_ifd(entries: list[tuple[int, int, int, bytes]], magic: bytes = b"II*\x00") -> bytes:
    return (magic + struct.pack("<IH", 8, len(entries)) + b"".join(struct.pack("<HHI4s", *e) for e in entries)
            + struct.pack("<I", 0))


def test_exif_that_pillow_cannot_read_or_rewrite_leaves_the_picture_usable(seeds):
    """Two inputs this fuzzer found that make ImageOps.exif_transpose raise something other than
    an ImageError: a float in the text tag Make next to orientation 6 (AttributeError when
    Pillow re-wrote the EXIF) and a BigTIFF-style EXIF header (struct.error). The pixels are fine, so
    the picture decodes: turned when the orientation could be read, as it is otherwise."""
    _, grays = seeds
    im = Image.fromarray(grays[0]).convert("RGB")  # 60 wide, 48 high
    turn6 = (0x0112, 3, 1, struct.pack("<HH", 6, 0))
    float_make = _tiff_ifd([(0x010F, 11, 1, struct.pack("<f", 1.0)), turn6])
    bigtiff = _tiff_ifd([turn6], magic=b"II+\x00")
    cases = {"float-make.jpg": (jpeg_with_app1(_encode(im, "JPEG"), float_make), (60, 48, 3)),
             "float-make.png": (png_with_exif(_encode(im, "PNG"), float_make), (60, 48, 3)),
             "bigtiff-exif.png": (png_with_exif(_encode(im, "PNG"), bigtiff), (48, 60, 3)),
             "bigtiff-exif.jpg": (jpeg_with_app1(_encode(im, "JPEG"), bigtiff), (48, 60, 3))}
    for name, (data, shape) in cases.items():
        assert check_contract(data, name).shape == shape, name
    turned = decode_image(cases["float-make.png"][0], "float-make.png")
    assert np.array_equal(turned, np.asarray(im.transpose(Image.Transpose.ROTATE_270))[..., ::-1])


def test_plugin_bugs_found_by_the_fuzzer_give_a_clear_error(seeds):
    """Regressions: Pillow plugins that raised types decode_image did not expect: a SPIDER header
    naming an image inside a stack that isn't there (AttributeError in Pillow's SpiderImagePlugin)
    and a BLP2 file with an unknown compression (BLPFormatError, a NotImplementedError). Neither
    format is in IMAGE_FORMATS any more, so their plugins never run: refused as not an image file."""
    _, grays = seeds
    spider = bytearray(_encode(Image.fromarray(grays[0]).convert("F"), "SPIDER"))
    spider[104:108] = struct.pack("<f", 1.0)  # header word 27, imgnumber: "image 1 of a stack"
    blp = bytearray(_encode(Image.fromarray(grays[0]).convert("P"), "BLP"))
    assert blp[:4] == b"BLP2"
    blp[4:8] = struct.pack("<i", 32513)  # compression
    for name, data in (("stack.spi", spider), ("odd.blp", blp)):
        res = check_contract(bytes(data), name)
        assert not res.ok and ("corrupt" in res.message or "not an image file" in res.message), res


def _header(data: bytes, monkeypatch) -> tuple[type, tuple[int, int]]:
    """The Pillow plugin class and the size a file's header claims (Pillow's own bomb check off)."""
    with monkeypatch.context() as m:
        m.setattr(Image, "MAX_IMAGE_PIXELS", None)
        with Image.open(io.BytesIO(data)) as probe:
            return type(probe), probe.size


def _spy_on_pixel_decoding(monkeypatch, data: bytes) -> list[str]:
    """Record every call that would decode pixels of this file's format (its plugin's ``load`` and
    Pillow's generic ones)."""
    calls: list[str] = []
    cls = _header(data, monkeypatch)[0]
    for owner in {cls, ImageFile.ImageFile, Image.Image}:
        original = owner.load

        def spy(self, _original=original, _owner=owner):
            calls.append(_owner.__name__)
            return _original(self)
        monkeypatch.setattr(owner, "load", spy)
    return calls


def _real_png_bomb(w: int, h: int) -> bytes:
    """A genuine, fully valid RGB PNG of ``w`` x ``h`` black pixels, built row by row (never in memory)."""
    z = zlib.compressobj(6)
    rows = (b"\x00" + bytes(3 * w)) * 100
    parts = [z.compress(rows) for _ in range(h // 100)] + [z.compress(rows[: (h % 100) * (3 * w + 1)]), z.flush()]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return png_build([(b"IHDR", ihdr), (b"IDAT", b"".join(parts)), (b"IEND", b"")])


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    # 7100 x 7100 = 50.4 M pixels: over our limit but under 2x it, where Pillow itself only warns
    # (and decode_image silences that warning); decoded it would be 151 MB.
    return _real_png_bomb(7100, 7100)


def test_a_real_png_bomb_is_refused_from_its_header_before_any_pixel_is_decoded(png_bomb, monkeypatch):
    assert len(png_bomb) < 300_000 and 7100 * 7100 > MAX_IMAGE_PIXELS
    calls = _spy_on_pixel_decoding(monkeypatch, png_bomb)
    t = time.process_time()
    with pytest.raises(ImageError, match=f"7100x7100 pixels is over the limit of {LIMIT_TEXT} pixels"):
        decode_image(png_bomb, "bomb.png")
    assert calls == [], f"pixels were decoded before the refusal: {calls}"
    assert time.process_time() - t < 0.5


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
@pytest.mark.parametrize("w,h", [(50_000, 50_000), (7072, 7072), (65_535, 800)])
def test_headers_claiming_huge_sizes_are_refused_before_decoding(seeds, monkeypatch, fmt, w, h):
    _, grays = seeds
    src = _encode(Image.fromarray(grays[0]).convert("RGB"), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    if fmt == "WEBP":
        w, h = min(w, 16_384), min(h, 16_384)  # WebP stores 14-bit sizes
        if w * h <= MAX_IMAGE_PIXELS:
            h = 16_384
    if fmt == "GIF":
        w, h = min(w, 65_535), min(h, 65_535)
    data = SIZERS[fmt](src, w, h)
    size = _header(data, monkeypatch)[1]
    assert size[0] * size[1] > MAX_IMAGE_PIXELS, size  # the header really claims it
    calls = _spy_on_pixel_decoding(monkeypatch, data)
    t = time.process_time()
    with pytest.raises(ImageError) as e:
        decode_image(data, f"bomb.{fmt.lower()}")
    assert LIMIT_TEXT in str(e.value), str(e.value)  # the message names the pixel limit
    assert calls == [], f"pixels were decoded before the refusal: {calls}"
    assert time.process_time() - t < 0.5


def test_decoding_a_bomb_stays_small_in_memory(png_bomb, tmp_path):
    """In a fresh process (so the high-water mark is its own): refusing the 151 MB bomb costs
    almost nothing on top of importing the decoder. (VmHWM, not ru_maxrss: Linux carries the
    parent's ru_maxrss over fork and exec.)"""
    (tmp_path / "bomb.png").write_bytes(png_bomb)
    script = textwrap.dedent("""
        import re, sys
        from fer.imageio import ImageError, read_image
        import numpy, PIL.Image, PIL.PngImagePlugin
        def peak_kb():
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
        before = peak_kb()
        try:
            read_image(sys.argv[1])
            print("decoded")
        except ImageError as e:
            print("refused", e)
        print((peak_kb() - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "bomb.png")], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True, timeout=300).stdout.splitlines()
    assert out[0].startswith("refused") and LIMIT_TEXT in out[0], out
    assert int(out[1]) < 40, f"refusing the bomb grew the process by {out[1]} MB (a full decode is 151 MB)"


# ---------------------------------------------------------------- structured generation (hypothesis)

@st.composite
def generated_files(draw):
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM", "TGA", "ICO")))
    w, h = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    seed = draw(st.integers(0, 2**32 - 1))
    orientation = draw(st.none() | st.integers(0, 10) | st.sampled_from([255, 65535]))
    truncate = draw(st.none() | st.floats(0, 1))
    flips = draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4))
    return mode, fmt, w, h, seed, orientation, truncate, flips


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_files())
def test_generated_images_of_any_mode_size_and_format(spec):
    mode, fmt, w, h, seed, orientation, truncate, flips = spec
    g = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    im, ref = mode_image(g, mode)
    kw = {}
    if orientation is not None and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        e = Image.Exif()
        e[0x0112] = orientation
        kw["exif"] = e.tobytes()
    try:
        data = _encode(im, fmt, **kw)
    except (OSError, ValueError, KeyError, TypeError):
        return  # Pillow can't write this mode in this format
    pristine = truncate is None and not flips
    if truncate is not None:
        data = data[: int(len(data) * truncate)]
    b = bytearray(data)
    for pos, val in flips:
        if b:
            b[int(pos * len(b))] = val
    res = check_contract(bytes(b), "generated")
    if pristine and fmt not in IMAGE_FORMATS:
        assert not res.ok and "not an image file" in res.message, res.message
    elif pristine and min(w, h) >= MIN_IMAGE_SIDE:
        assert res.ok, res.message
        turned = "exif" in kw and orientation in (5, 6, 7, 8)
        assert res.shape[:2] == ((w, h) if turned else (h, w)), (res.shape, w, h, orientation)
    elif pristine and min(w, h) < MIN_IMAGE_SIDE:
        assert not res.ok and "too small" in res.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(dtype=st.sampled_from([np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16,
                                         np.float32, np.float64, np.bool_, np.complex64]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40)))
def test_arrays_of_any_dtype_and_shape_become_bgr_or_a_clear_error(a):
    """The array entry point (webcam frames, the Python API) keeps the same contract."""
    try:
        out = to_bgr(a, "array")
    except ImageError as e:
        assert str(e).startswith("array: ") and any(r in str(e) for r in REASONS + ("empty", "expected")), str(e)
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.shape[:2] == a.shape[:2]


# ---------------------------------------------------------------- through the real upload and CLI paths

def _sample_cases(seeds, n: int, seed: int) -> list[Case]:
    faces, grays = seeds
    cases = list(generate_cases(faces, grays, seed, 0.02))
    rng = random.Random(seed)
    return rng.sample(cases, min(n, len(cases)))


def test_the_upload_page_analysis_never_crashes_on_fuzzed_files(seeds, classifier, png_bomb):
    """``analyse_still`` is what the still-image page runs on every upload (it shows ImageError as a message)."""
    from fer.faces.detection import FaceDetector
    from fer.pipeline import FramePipeline
    from fer.offline.still import MAX_ANALYSIS_SIDE, analyse_still
    pipe = FramePipeline(classifier, FaceDetector())
    cases = _sample_cases(seeds, 250, SEED + 1) + [Case("bomb", -1, png_bomb)]
    done = Counter()
    for case in cases:
        expected = check_contract(case.data, "upload")
        try:
            res = analyse_still(case.data, "upload", pipe)
        except ImageError as e:
            assert not expected.ok and str(e) == expected.message
            done["refused"] += 1
            continue
        assert expected.ok
        h, w = expected.shape[:2]
        assert res.original_size == (w, h) and res.annotated.dtype == np.uint8 and res.annotated.ndim == 3
        assert res.annotated.shape[2] == 3 and max(res.annotated.shape[:2]) <= min(max(h, w), MAX_ANALYSIS_SIDE)
        json.dumps(res.to_dict())
        done["analysed"] += 1
    assert done["refused"] >= 20 and done["analysed"] >= 20, done


def test_the_cli_reports_each_fuzzed_file_and_keeps_going(seeds, tmp_path, png_bomb):
    cases = _sample_cases(seeds, 120, SEED + 2) + [Case("bomb", -1, png_bomb)]
    paths, expected = [], []
    for n, case in enumerate(cases):
        p = tmp_path / f"f{n:03d}{WRONG_EXTENSIONS[n % len(WRONG_EXTENSIONS)]}"
        p.write_bytes(case.data)
        paths.append(str(p))
        expected.append(check_contract(case.data, str(p)))
    cmd = [sys.executable, "-m", "fer", "predict", *paths, "--no-detect", "--json"]
    if os.environ.get("FER_TEST_MODEL"):
        cmd += ["--model", os.environ["FER_TEST_MODEL"]]
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout)
    assert [r["path"] for r in rows] == paths
    for row, exp in zip(rows, expected):
        if exp.ok:
            assert "error" not in row and len(row["faces"]) == 1, row
        else:
            # The entry names its file once, in "path"; the error says only what is wrong.
            assert row["error"] == exp.message.removeprefix(f"{row['path']}: ") and row["faces"] == [], row
    assert LIMIT_TEXT in rows[-1]["error"]
    assert sum(e.ok for e in expected) >= 10 and sum(not e.ok for e in expected) >= 10
