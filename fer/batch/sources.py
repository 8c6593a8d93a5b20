"""``batch`` inputs given as URIs (``file:///data/photos``, ``s3://bucket/prefix``, anything
``pyarrow.fs.FileSystem.from_uri`` knows): listed and read through pyarrow's file systems, so
object storage needs no mount. Credentials and region come from the environment, as pyarrow's S3
file system reads them (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ...).

A URI names files the same way in the output: a folder URI's files come out as that URI plus their
relative path (``s3://bucket/prefix/a.jpg``), so a rerun with the same URI skips them. Plain paths
stay on ``fer.inputs`` and ``open``; this module is only for arguments with a scheme.
"""
from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Iterator, Sequence
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..inputs import Skipped

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Schemes whose pyarrow path is ``netloc + path`` (bucket, then key), besides ``file`` (path alone):
#: for these a file system made once serves every file; other schemes ask ``from_uri`` per file.
_BUCKET_SCHEMES = ("s3", "gs", "gcs")

_lock = threading.Lock()
_filesystems: dict[tuple[str, str, str], "FileSystem"] = {}


class SourceError(OSError):
    """A URI pyarrow can't use (unknown scheme, a host in a file URI, no access); says which and why."""


def is_uri(arg: str) -> bool:
    """True for ``scheme://...``; a plain path (even one with a colon) is not a URI."""
    return bool(_SCHEME.match(arg))


#: Characters left as they are in a URI's path (everything else percent-encoded, as RFC 3986 has it).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def canonical(uri: str) -> str:
    """One spelling per file: scheme in lower case, the path percent-encoded the one way
    (``a b.jpg`` and ``a%20b.jpg`` are the same file), so reruns and duplicates match."""
    p = urlsplit(uri)
    return urlunsplit((p.scheme.lower(), p.netloc, quote(unquote(p.path), safe=_PATH_SAFE), p.query, p.fragment))


def resolve(uri: str) -> tuple["FileSystem", str]:
    """``uri`` -> (pyarrow FileSystem, path inside it); the file system is made once per scheme,
    host/bucket and query (an S3 client per file would cost a connection each)."""
    from pyarrow import ArrowInvalid
    from pyarrow.fs import FileSystem
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    key = (scheme, parts.netloc, parts.query)
    if scheme == "file" or scheme in _BUCKET_SCHEMES:
        path = unquote(parts.path) if scheme == "file" else parts.netloc + unquote(parts.path)
        with _lock:
            fs = _filesystems.get(key)
        if fs is not None:
            return fs, path.rstrip("/") or "/"
    try:
        fs, path = FileSystem.from_uri(uri)
    except (ArrowInvalid, OSError, ValueError) as e:
        raise SourceError(f"{uri}: not a usable URI ({_reason(e)})") from None
    if scheme == "file" or scheme in _BUCKET_SCHEMES:
        with _lock:
            _filesystems.setdefault(key, fs)
    return fs, path


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[0].lower() + text[1:]


def expand_uri(arg: str, extensions: Sequence[str], skipped: Skipped | None = None) -> Iterator[str]:
    """A URI as the (canonical) file URIs it names: a file as given (the reader judges it), a folder (or an
    object-store prefix) listed recursively in sorted order and filtered to ``extensions``; a URI
    naming nothing, or one pyarrow can't use, is passed through so its read gives the error row."""
    from pyarrow.fs import FileSelector, FileType
    exts = tuple(e.lower() for e in extensions)
    try:
        fs, base = resolve(arg)
        info = fs.get_file_info(base)
    except (SourceError, OSError):
        yield arg
        return
    if info.type != FileType.Directory:
        yield canonical(arg)
        return
    p = urlsplit(canonical(arg))
    head = urlunsplit((p.scheme, p.netloc, p.path.rstrip("/"), "", ""))
    prefix = base.rstrip("/")
    found = fs.get_file_info(FileSelector(base, recursive=True))
    for f in sorted((f for f in found if f.type == FileType.File), key=lambda f: f.path):
        uri = head + quote(f.path[len(prefix):], safe=_PATH_SAFE) + ("?" + p.query if p.query else "")
        if f.path.lower().endswith(exts):
            yield uri
        elif skipped is not None:
            skipped.add(uri)


def read_uri(uri: str) -> bytes:
    """The bytes of the file ``uri`` names; ``FileNotFoundError`` if there is none, ``SourceError``
    for a URI pyarrow can't use, ``OSError`` for the rest."""
    from pyarrow.fs import FileType
    fs, path = resolve(uri)
    info = fs.get_file_info(path)
    if info.type == FileType.NotFound:
        raise FileNotFoundError(uri)
    if info.type == FileType.Directory:
        raise IsADirectoryError(uri)
    with fs.open_input_stream(path) as fh:
        return fh.readall()
