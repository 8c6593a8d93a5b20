"""The local engine: one ``FileAnalyser`` in this process, batches of files in turn, rows appended
to a Parquet file as each batch finishes."""
from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow.parquet as pq

from .analyser import FileAnalyser, read_batch

#: Files per call of the analyser, and per part file (closed, so it survives a kill).
BATCH_FILES = 16
PART_FILES = 512


def chunks(items: Iterable[str], n: int) -> Iterator[list[str]]:
    it = iter(items)
    while batch := list(itertools.islice(it, n)):
        yield batch


def run_local(paths: Iterable[str], out: Path, analyser: FileAnalyser,
              on_batch: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Analyse ``paths`` into part files in ``out``; returns (files, rows). ``on_batch(files, rows)``
    after each batch (progress). Ctrl-C closes the open part first, so nothing written is lost."""
    run = uuid.uuid4().hex[:8]
    files = rows = 0
    writer = None
    part = in_part = 0
    try:
        for batch in chunks(paths, BATCH_FILES):
            table = analyser(read_batch(batch))
            if writer is None:
                writer = pq.ParquetWriter(out / f"part-{run}-{part:05d}.parquet", table.schema)
            writer.write_table(table)
            files, rows, in_part = files + len(batch), rows + table.num_rows, in_part + len(batch)
            if in_part >= PART_FILES:
                writer.close()
                writer, part, in_part = None, part + 1, 0
            if on_batch:
                on_batch(len(batch), table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    return files, rows
