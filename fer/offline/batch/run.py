"""``python -m fer batch``: inputs -> files to do (skipping those already in the output) -> an engine
-> Parquet in the output folder, and a closing line saying what ran where."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ...config import IMAGE_EXTENSIONS
from ..inputs import Skipped, expand_inputs
from ..video import VIDEO_EXTENSIONS
from . import output
from .sources import canonical, expand_uri, is_uri


@dataclass(frozen=True)
class BatchReport:
    """What a run did: engine and workers, files analysed and skipped, rows written, seconds."""
    engine: str
    workers: int
    address: str | None
    nodes: int
    files: int
    skipped_done: int
    rows: int
    seconds: float
    startup_s: float
    out: str
    interrupted: bool = False   # Ctrl-C: ``files``/``rows`` are what was saved before it
    remaining: int = 0          # files left for a rerun


def _expand(inputs: Sequence[str], extensions: Sequence[str], skipped: Skipped) -> Iterator[str]:
    """Each argument as files in argument order: URIs through pyarrow's file systems, paths as ``predict``'s."""
    for arg in inputs:
        yield from expand_uri(arg, extensions, skipped) if is_uri(arg) else expand_inputs([arg], extensions, skipped)


def plan(inputs: Sequence[str], done: set[str]) -> tuple[list[str], int, Skipped]:
    """Absolute paths still to analyse (each once, input order), how many were already done, what
    was left out for its ending."""
    import os
    skipped = Skipped()
    todo, seen, already = [], set(), 0
    for p in _expand(inputs, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS, skipped):
        a = canonical(p) if is_uri(p) else os.path.abspath(p)
        if a in seen:
            continue
        seen.add(a)
        if a in done:
            already += 1
        else:
            todo.append(a)
    return todo, already, skipped


def run_batch(inputs: Sequence[str], out: str | Path, engine: str = "local", workers: int | None = None,
              ray_address: str | None = None, analyser_kwargs: dict | None = None,
              progress: bool = True, part_files: int | None = None) -> BatchReport:
    """Analyse the inputs not yet in ``out`` with ``engine``; a Ctrl-C during the run ends it with
    every batch written so far saved, and a report marked ``interrupted`` (logged too)."""
    kwargs = analyser_kwargs or {}
    out_dir, done, set_aside = output.prepare(out)
    for name in set_aside:
        print(f"set aside unfinished part {name}: its files are analysed again", file=sys.stderr)
    todo, already, skipped = plan(inputs, done)
    if skipped.count:
        print(skipped.message("images or videos"), file=sys.stderr)
    if already:
        print(f"{already} file(s) already in {out_dir}: skipped", file=sys.stderr)
    t0 = time.perf_counter()
    if engine == "local":
        from tqdm import tqdm
        from .analyser import FileAnalyser
        from .local import PART_FILES, run_local
        if workers not in (None, 1):
            print("the local engine runs one worker (this process); use --engine ray for more", file=sys.stderr)
        saved = [0, 0]  # files, rows written so far (safe from Ctrl-C once counted)

        def on_batch(f: int, r: int) -> None:
            saved[0], saved[1] = saved[0] + f, saved[1] + r
            bar.update(f)

        interrupted = False
        with tqdm(total=len(todo), unit="file", disable=not progress, file=sys.stderr) as bar:
            try:
                analyser = FileAnalyser(**kwargs)
                run_local(todo, out_dir, analyser, on_batch, part_files or PART_FILES)
            except KeyboardInterrupt:
                interrupted = True  # run_local has closed and renamed the open part
        report = BatchReport("local", 1, None, 1, saved[0], already, saved[1], time.perf_counter() - t0, 0.0,
                             str(out_dir), interrupted, len(todo) - saved[0])
    elif engine == "ray":
        from . import ray_engine
        rr = ray_engine.start(ray_address, workers)
        before = output.count_rows(out_dir)
        interrupted = False
        try:
            if todo:
                ray_engine.run_ray(todo, out_dir, rr.workers, kwargs, progress)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            ray_engine.stop()
        files = len(todo)
        if interrupted:  # what Ray's writer finished before the Ctrl-C; a torn part is set aside
            _, done_now, torn = output.prepare(out_dir)
            for name in torn:
                print(f"set aside unfinished part {name}: its files are analysed again", file=sys.stderr)
            files = len(done_now.intersection(todo))
        report = BatchReport("ray", rr.workers, rr.address, rr.nodes, files, already,
                             output.count_rows(out_dir) - before,
                             time.perf_counter() - t0, round(rr.startup_s, 2), str(out_dir),
                             interrupted, len(todo) - files)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    output.log_run(out_dir, asdict(report))
    return report


def print_report(r: BatchReport, stream=sys.stdout) -> None:
    where = f" on {r.address} ({r.nodes} node(s))" if r.engine == "ray" else ""
    rate = r.files / r.seconds if r.seconds > 0 else 0.0
    print(f"engine {r.engine}, {r.workers} worker(s){where}: {r.files} file(s) in {r.seconds:.1f} s "
          f"({rate:.1f} files/s), {r.skipped_done} already done; results in {r.out}", file=stream)
    print(json.dumps(asdict(r)), file=stream)
