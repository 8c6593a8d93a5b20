"""Command-line inputs -> files, lazily: a file as given, a folder walked recursively for files of the
wanted endings, a glob pattern (``**`` recurses) expanded. Folders are walked lazily, so a folder of a
million images starts at once and never sits in memory as a list (a pattern's matches are sorted,
so those are listed: names only).

An argument that names nothing (no such file, a pattern matching no file) is passed through as is,
so the reader reports it as an error for that input instead of it vanishing.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..config import IMAGE_EXTENSIONS

_GLOB_CHARS = set("*?[")


@dataclass
class Skipped:
    """Files found in folders or by patterns that were left out for their ending (counted, never silent)."""
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, path: str) -> None:
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append(path)

    def message(self, what: str) -> str | None:
        if not self.count:
            return None
        return f"skipped {self.count} file(s) that are not {what} (e.g. {', '.join(self.examples)})"


def _walk(folder: str) -> Iterator[str]:
    """Every file under ``folder``, in sorted order folder by folder (a stable order for reruns)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


def is_pattern(arg: str) -> bool:
    return any(c in _GLOB_CHARS for c in arg) and not Path(arg).exists()


def expand_inputs(args: Iterable[str], extensions: Sequence[str] = IMAGE_EXTENSIONS,
                  skipped: Skipped | None = None) -> Iterator[str]:
    """Each argument as files: files as given (whatever their ending: the reader judges them),
    folders and patterns filtered to ``extensions`` (case-insensitive); the rest counted in ``skipped``."""
    exts = tuple(e.lower() for e in extensions)

    def wanted(paths: Iterable[str]) -> Iterator[str]:
        for path in paths:
            if os.path.isdir(path):  # a folder a pattern matched: walk it too
                yield from wanted(_walk(path))
            elif path.lower().endswith(exts):
                yield path
            elif skipped is not None:
                skipped.add(path)

    for arg in args:
        if os.path.isdir(arg):
            yield from wanted(_walk(arg))
        elif is_pattern(arg):
            found = sorted(glob.iglob(arg, recursive=True))
            if found:
                yield from wanted(found)
            else:
                yield arg  # the reader says "no such file" for it
        else:
            yield arg
