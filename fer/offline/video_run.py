"""``python -m fer video``: recorded videos to a CSV (the live CSV's columns plus where each row came
from), an optional annotated copy, a progress bar per file and a per-track summary.

A file that is not a playable video, or breaks off part-way, gets an error row (and a line on
stderr) and the next file runs; rows already written for it stay. The CSV is flushed after each
frame, so an interrupted run keeps everything analysed so far.

Every input is accounted for in a second CSV beside the first (``out.files.csv`` for ``out.csv``):
one row per file with its status, the frames its container announced, decoded and analysed, and
its faces, so "no face in it" can be told from "never analysed" across a hundred recordings.
"""
from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TextIO

from ..pipeline import FramePipeline
from ..stream.session_log import csv_columns, csv_fields, log_rows
from .video import (AnnotatedWriter, TrackSummary, TrackTally, VideoCutShort, VideoError, VideoReader, analyse_video,
                    clock)

#: Columns before the live CSV's own, and the one after it. ``time`` is ``pts_s`` as HH:MM:SS.mmm,
#: for reading in a spreadsheet beside a video player's clock.
SOURCE_COLUMNS = ("source", "frame", "pts_s", "time")
ERROR_COLUMN = "error"

#: The per-file status CSV's columns (``files_csv_path``). ``faces``: tracked faces (ids) in the file.
FILE_COLUMNS = ("source", "status", "frames_announced", "frames_decoded", "frames_analysed", "faces", "rows",
                "seconds", "error")
#: The statuses of a file in it.
OK, NO_FACE, STOPPED_EARLY, FAILED, INTERRUPTED = "ok", "no face found", "stopped early", "failed", "interrupted"


@dataclass
class FileOutcome:
    """One input file's result: frames decoded/analysed, rows written, its tracks, and an error if any."""
    source: str
    frames: int = 0
    announced: int = 0  # frames the container says it holds (0: it doesn't say)
    analysed: int = 0
    rows: int = 0
    seconds: float = 0.0
    tracks: list[TrackSummary] = field(default_factory=list)
    error: str | None = None
    interrupted: bool = False
    annotated: str | None = None
    cut_short: bool = False  # decoded cleanly but fewer frames than announced

    @property
    def status(self) -> str:
        """``ok``, ``no face found``, ``stopped early``, ``failed`` or ``interrupted``."""
        if self.error:
            return INTERRUPTED if self.interrupted else STOPPED_EARLY if self.cut_short else FAILED
        return OK if self.tracks else NO_FACE

    def file_row(self) -> tuple:
        return (self.source, self.status, self.announced or "", self.frames, self.analysed, len(self.tracks),
                self.rows, f"{self.seconds:.2f}", self.error or "")


class VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C during a file, after its rows so far and an 'interrupted' error row were written;
    carries that file's outcome (tracks so far) for the summary."""

    def __init__(self, outcome: FileOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def video_columns(classes: Sequence[str]) -> tuple[str, ...]:
    return (*SOURCE_COLUMNS, *csv_columns(tuple(classes)), ERROR_COLUMN)


def files_csv_path(csv_path: str | Path) -> Path:
    """The per-file status CSV beside the rows' CSV: ``out.csv`` -> ``out.files.csv``."""
    p = Path(csv_path)
    return p.with_name(f"{p.stem}.files{p.suffix or '.csv'}")


def is_folder_target(out: str | Path) -> bool:
    """``--annotated`` names a folder when it exists as one or ends with a path separator."""
    return Path(out).is_dir() or str(out).endswith(("/", "\\"))


def annotated_paths(out: str | Path, sources: Sequence[str]) -> list[Path]:
    """Where each input's annotated copy goes. A folder: ``folder/<input name>.mp4`` each; a file with
    one input: that file; a file with several: ``out``'s stem + each input's stem (a.mp4 ->
    out.a.mp4). Inputs with the same name (from different folders) get ``-2``, ``-3`` ... so no copy
    overwrites another."""
    folder = is_folder_target(out)
    out = Path(out)
    if not folder and len(sources) == 1:
        return [out]
    paths, seen = [], set()
    for src in sources:
        stem = Path(src).stem
        name, n = stem, 1
        while name in seen:
            n += 1
            name = f"{stem}-{n}"
        seen.add(name)
        paths.append(out / f"{name}.mp4" if folder else out.with_name(f"{out.stem}.{name}{out.suffix or '.mp4'}"))
    return paths


def run_file(source: str, pipeline: FramePipeline, writer, every: int, half_life_s: float,
             annotated: Path | None, progress: bool, flush: TextIO | None,
             opener: Callable[[str], VideoReader] = VideoReader) -> FileOutcome:
    """Analyse one file, writing its rows to the csv ``writer`` as they come. ``opener`` turns
    ``source`` into frames (a ``VideoReader`` by default; a benchmark passes a looped stream)."""
    from tqdm import tqdm
    out = FileOutcome(source)
    classes = tuple(pipeline.classes)
    n_cols = len(video_columns(classes))
    t0 = time.perf_counter()
    tally = TrackTally(classes)
    reader = bar = ann = None
    last_index = -1
    interrupted = False
    try:
        reader = opener(source)
        out.announced = reader.info.frames
        bar = tqdm(total=reader.info.frames or None, desc=Path(source).name, unit="frame",
                   disable=not progress, file=sys.stderr, dynamic_ncols=True)
        ann = AnnotatedWriter(annotated, reader.info, reader.rate) if annotated else None
        for ff in analyse_video(reader, pipeline, every, half_life_s, ann):
            tally.add(ff.faces)
            for r in log_rows(ff.time_s, ff.faces, classes):
                writer.writerow((source, ff.index, f"{ff.pts_s:.3f}", clock(ff.pts_s), *csv_fields(r), ""))
                out.rows += 1
            if flush is not None:
                flush.flush()
            out.analysed += 1
            bar.update(ff.index - last_index)
            last_index = ff.index
    except VideoError as e:
        out.error = str(e)
        out.cut_short = isinstance(e, VideoCutShort)
    except KeyboardInterrupt:
        # Mark the cut-off file in the CSV itself, then let the interrupt end the run.
        out.error = f"{source}: interrupted after {out.analysed} analysed frame(s)"
        interrupted = out.interrupted = True
    finally:
        if ann is not None:
            out.annotated = _finish_annotated(ann)
        if bar is not None:
            bar.close()
        if reader is not None:
            out.frames = reader.decoded
            reader.close()
    out.tracks = tally.summaries()
    if out.error:
        writer.writerow((source, *([""] * (n_cols - 2)), out.error))
        if flush is not None:
            flush.flush()
    out.seconds = time.perf_counter() - t0
    if interrupted:
        raise VideoInterrupted(out)
    return out


def _finish_annotated(ann: AnnotatedWriter) -> str | None:
    """Close the annotated copy; one with no frame in it is removed (it would not play)."""
    try:
        ann.close()
    except Exception:  # noqa: BLE001  (the encoder refusing to flush nothing: the copy is dropped below)
        pass
    if ann.frames == 0:
        ann.path.unlink(missing_ok=True)
        return None
    return str(ann.path)


def run_videos(sources: Sequence[str], pipeline: FramePipeline, csv_path: str | Path, every: int = 1,
               half_life_s: float = 0.15, annotated: str | Path | None = None,
               progress: bool = True, outcomes: list[FileOutcome] | None = None,
               opener: Callable[[str], VideoReader] = VideoReader) -> list[FileOutcome]:
    """Analyse each file in turn into one CSV, and each file's status into ``files_csv_path(csv_path)``
    as it finishes; a failed file never stops the others. Failures and files without a face are
    also said on stderr as they happen. ``outcomes``, if given, is filled as files finish, so a
    caller still has them after a Ctrl-C."""
    classes = tuple(pipeline.classes)
    outcomes = [] if outcomes is None else outcomes
    targets = annotated_paths(annotated, sources) if annotated else [None] * len(sources)
    if annotated and is_folder_target(annotated):
        Path(annotated).mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as fh, open(files_csv_path(csv_path), "w", newline="") as fh_files:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(video_columns(classes))
        files = csv.writer(fh_files, lineterminator="\n")
        files.writerow(FILE_COLUMNS)
        for src, ann in zip(sources, targets):
            try:
                o = run_file(src, pipeline, writer, every, half_life_s, ann, progress, fh, opener)
            except VideoInterrupted as e:
                outcomes.append(e.outcome)
                files.writerow(e.outcome.file_row())
                raise
            files.writerow(o.file_row())
            fh_files.flush()
            if o.error:
                print(f"error: {o.error}", file=sys.stderr)
            elif o.status == NO_FACE:
                print(f"warning: {src}: no face found in {o.analysed} analysed frame(s)", file=sys.stderr)
            outcomes.append(o)
    return outcomes


def announce_annotated(out: str | Path, sources: Sequence[str], stream: TextIO = sys.stderr) -> None:
    """Say, before a run with several inputs, where their annotated copies will go."""
    if len(sources) > 1 or is_folder_target(out):
        paths = annotated_paths(out, sources)
        where = f"into {out}" if is_folder_target(out) else f"as {paths[0].name}, ..., {paths[-1].name}"
        print(f"annotated copies: one per input, {where} (pass a folder to --annotated to choose where)",
              file=stream)


def print_tally(outcomes: Sequence[FileOutcome], csv_path: str | Path, stream: TextIO = sys.stderr) -> None:
    """One line: how many inputs ended in each status, and where the per-file status is."""
    counts = {k: sum(o.status == k for o in outcomes) for k in (OK, NO_FACE, STOPPED_EARLY, FAILED, INTERRUPTED)}
    parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"{len(outcomes)} file(s): {parts}; each file's status in {files_csv_path(csv_path)}", file=stream)


def print_summary(outcomes: Sequence[FileOutcome], stream: TextIO = sys.stdout) -> None:
    """Per file: frames, speed and each track's frames, share of time per expression and dominant one."""
    for o in outcomes:
        fps = o.frames / o.seconds if o.seconds > 0 else 0.0
        of = f" of {o.announced} announced" if o.announced and o.announced != o.frames else ""
        head = f"{o.source}: {o.frames}{of} frames, {o.analysed} analysed, {o.rows} rows, {o.seconds:.1f} s ({fps:.0f} fps)"
        print(head + (f"  FAILED: {o.error}" if o.error else ""), file=stream)
        if o.annotated:
            print(f"  annotated copy: {o.annotated}", file=stream)
        for t in o.tracks:
            shares = "  ".join(f"{k[:3]} {v:4.0%}" for k, v in t.share.items())
            print(f"  track {t.track_id:>3}: {t.frames:>6} frames  dominant {t.dominant:<8} | {shares}", file=stream)
