"""The local engine: one ``FileAnalyser`` in this process, batches of files in turn, rows appended
to a Parquet part file as each batch finishes.

A part is written under a name Parquet readers skip (``output.WRITING_PREFIX``) and renamed into
place only once closed (footer written), so every ``part-*.parquet`` in the folder is whole, even
after a kill; Ctrl-C closes and renames the open part first, so nothing analysed is lost."""
from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ...config import BATCH_PART_FILES
from .analyser import FileAnalyser, read_batch
from .output import WRITING_PREFIX

#: Files per call of the analyser; files per part file: fer.config.BATCH_PART_FILES.
BATCH_FILES = 16
PART_FILES = BATCH_PART_FILES


def chunks(items: Iterable[str], n: int) -> Iterator[list[str]]:
    it = iter(items)
    while batch := list(itertools.islice(it, n)):
        yield batch


class PartWriter:
    """One Parquet part: written as ``_writing-<name>``, renamed to ``<name>`` by ``close``."""

    def __init__(self, out: Path, name: str, schema: pa.Schema) -> None:
        self.path = out / name
        self._tmp = out / (WRITING_PREFIX + name)
        self._writer = pq.ParquetWriter(self._tmp, schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
        os.replace(self._tmp, self.path)  # atomic: readers see the whole part or none of it


def run_local(paths: Iterable[str], out: Path, analyser: FileAnalyser,
              on_batch: Callable[[int, int], None] | None = None, part_files: int = PART_FILES) -> tuple[int, int]:
    """Analyse ``paths`` into part files in ``out``; returns (files, rows). ``on_batch(files, rows)``
    after each batch is written (progress; those rows are safe from Ctrl-C from then on). A part is
    closed every ``part_files`` files (rounded up to whole batches): a kill loses at most that many."""
    run = uuid.uuid4().hex[:8]
    files = rows = 0
    writer: PartWriter | None = None
    part = in_part = 0
    try:
        for batch in chunks(paths, min(BATCH_FILES, part_files)):
            table = analyser(read_batch(batch))
            if writer is None:
                writer = PartWriter(out, f"part-{run}-{part:05d}.parquet", table.schema)
            writer.write(table)
            files, rows, in_part = files + len(batch), rows + table.num_rows, in_part + len(batch)
            if in_part >= part_files:
                writer.close()
                writer, part, in_part = None, part + 1, 0
            if on_batch:
                on_batch(len(batch), table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    return files, rows
