"""Request bodies read within limits: a size limit checked against ``Content-Length`` before a byte
of the body is read (413), and again while a body without one streams in; a body that stalls or
drags is answered 408 instead of holding the request open; multipart parsed from that same bounded
stream, its images kept in memory (never written under a name the client chose)."""
from __future__ import annotations

import time
from typing import AsyncIterator, NamedTuple

import anyio
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from .errors import ApiError


class Upload(NamedTuple):
    """One image of a request: the name the client gave it (echoed as the entry's ``path``) and its bytes."""
    name: str
    data: bytes


#: Bytes of a multipart body's end kept to check its closing boundary (a boundary is at most 70 bytes).
TAIL_BYTES = 256
#: Longest name echoed back for an upload (a name is only a label: nothing on the server is opened by it).
MAX_NAME = 200


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is over the limit of {limit / 2**20:g} MB")


def check_length(request: Request, limit: int) -> None:
    """413 from the ``Content-Length`` header alone, before the body is read."""
    raw = request.headers.get("content-length")
    if raw is None:
        return
    if not raw.strip().isdigit():
        raise ApiError(400, f"Content-Length must be a whole number, not {raw!r}")
    if int(raw) > limit:
        raise _too_large(limit)


async def bounded_stream(request: Request, limit: int, idle_s: float, total_s: float) -> AsyncIterator[bytes]:
    """The body's chunks; 413 once more than ``limit`` bytes came, 408 when no chunk came for
    ``idle_s`` seconds or the whole body took over ``total_s``, 400 when the client went away."""
    check_length(request, limit)
    received = 0
    deadline = time.monotonic() + total_s
    chunks = request.stream().__aiter__()
    while True:
        wait = min(idle_s, deadline - time.monotonic())
        try:
            with anyio.fail_after(max(wait, 0.0)):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, f"the request body stalled (nothing for {idle_s:g} s) or took over "
                                f"{total_s:g} s") from None
        except ClientDisconnect:
            raise ApiError(400, "the client closed the connection before the body was complete") from None
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int, idle_s: float, total_s: float) -> bytes:
    """The whole body, within ``bounded_stream``'s limits."""
    parts = [chunk async for chunk in bounded_stream(request, limit, idle_s, total_s)]
    return b"".join(parts)


async def read_uploads(request: Request, limit: int, idle_s: float, total_s: float, max_files: int) -> list[Upload]:
    """The file parts of a ``multipart/form-data`` body, in order (other fields ignored); 400 for a
    body that is not valid multipart, ends before its closing boundary (python-multipart accepts a
    body cut short) or holds more than ``max_files`` files."""
    tail = bytearray()

    async def remembering_tail() -> AsyncIterator[bytes]:
        async for chunk in bounded_stream(request, limit, idle_s, total_s):
            tail[:] = (tail + chunk)[-TAIL_BYTES:]
            yield chunk

    parser = MultiPartParser(request.headers, remembering_tail(), max_files=max_files, max_fields=max_files,
                             max_part_size=64 * 1024)
    parser.spool_max_size = limit  # keep every file in memory: nothing is written to disk
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise ApiError(400, f"broken multipart body: {e}") from None
    except KeyError:  # no Content-Type header at all
        raise ApiError(400, "broken multipart body: no boundary in Content-Type") from None
    try:
        boundary = parse_options_header(request.headers["content-type"])[1][b"boundary"]
        if b"--" + boundary + b"--" not in tail:
            raise ApiError(400, "broken multipart body: it ends before its closing boundary (cut short?)")
        uploads = []
        for field, value in form.multi_items():
            if isinstance(value, UploadFile):
                uploads.append(Upload(name_label(value.filename or field), await value.read()))
        return uploads
    finally:
        await form.close()


def name_label(name: str) -> str:
    """A client's name for its image, cut to ``MAX_NAME`` characters, control characters dropped."""
    clean = "".join(c for c in name if c.isprintable())
    return clean[:MAX_NAME] or "image"
