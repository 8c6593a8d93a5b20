"""``batch`` inputs given as URIs (``file:///data/photos``, ``s3://bucket/prefix``, anything
``pyarrow.fs.FileSystem.from_uri`` knows): listed and read through pyarrow's file systems, so
object storage needs no mount. Credentials and region come from the environment, as pyarrow's S3
file system reads them (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ...).

A URI may hold a glob pattern in its path (``s3://bucket/shoots/*/cam1/*.jpg``, ``**`` for any depth):
the part before the first pattern segment is listed recursively and the pattern filters it.

A URI names files the same way in the output: a folder URI's files come out as that URI plus their
relative path (``s3://bucket/prefix/a.jpg``), so a rerun with the same URI skips them. Plain paths
stay on ``fer.offline.inputs`` and ``open``; this module is only for arguments with a scheme.
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
    given, pattern = arg, None
    if _has_pattern(urlsplit(arg).path):
        arg, pattern = _split_pattern(arg)
    try:
        fs, base = resolve(arg)
        info = fs.get_file_info(base)
    except (SourceError, OSError):
        yield given
        return
    if info.type != FileType.Directory:
        # A pattern under a file or under nothing matches nothing: passed on as given, its read says so.
        yield canonical(arg) if pattern is None else given
        return
    p = urlsplit(canonical(arg))
    head = urlunsplit((p.scheme, p.netloc, p.path.rstrip("/"), "", ""))
    prefix = base.rstrip("/")
    match = _pattern_regex(pattern).fullmatch if pattern is not None else None
    found = fs.get_file_info(FileSelector(base, recursive=True))
    hits = 0
    for f in sorted((f for f in found if f.type == FileType.File), key=lambda f: f.path):
        rel = f.path[len(prefix):]
        if match is not None and not match(rel.lstrip("/")):
            continue
        hits += 1
        uri = head + quote(rel, safe=_PATH_SAFE) + ("?" + p.query if p.query else "")
        if f.path.lower().endswith(exts):
            yield uri
        elif skipped is not None:
            skipped.add(uri)
    if pattern is not None and not hits:
        yield given  # a pattern matching nothing: its read gives "no such file"


_GLOB_CHARS = "*?["


def _has_pattern(path: str) -> bool:
    return any(c in path for c in _GLOB_CHARS)


def _split_pattern(uri: str) -> tuple[str, str]:
    """``s3://b/x/*/y/*.jpg`` -> (``s3://b/x``, ``*/y/*.jpg``): the URI up to the first segment with a
    glob character, and the pattern after it (matched against paths relative to that URI)."""
    p = urlsplit(uri)
    segments = p.path.split("/")
    k = next(i for i, seg in enumerate(segments) if _has_pattern(seg))
    base = urlunsplit((p.scheme, p.netloc, "/".join(segments[:k]) or "/", p.query, ""))
    return base, "/".join(segments[k:])


def _pattern_regex(pattern: str) -> re.Pattern:
    """A glob over relative paths as a regex: ``*`` and ``?`` stay within a segment, ``**`` spans any
    number of them (``**/`` also none), ``[...]`` is a character class; the rest is literal."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and "]" in pattern[i + 2:]:
            j = pattern.index("]", i + 2)
            body = pattern[i + 1:j]
            out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


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
