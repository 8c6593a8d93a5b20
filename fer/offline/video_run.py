"""``python -m fer video``: recorded videos to a CSV (the live CSV's columns plus where each row came
from), an optional annotated copy, a progress bar per file and a per-track summary.

A file that is not a playable video, or breaks off part-way, gets an error row (and a line on
stderr) and the next file runs; rows already written for it stay. The CSV is flushed after each
frame, so an interrupted run keeps everything analysed so far.
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
from .video import AnnotatedWriter, TrackSummary, TrackTally, VideoError, VideoReader, analyse_video

#: Columns before the live CSV's own, and the one after it. ``time`` is ``pts_s`` as HH:MM:SS.mmm,
#: for reading in a spreadsheet beside a video player's clock.
SOURCE_COLUMNS = ("source", "frame", "pts_s", "time")
ERROR_COLUMN = "error"


def clock(seconds: float) -> str:
    """A presentation time as ``HH:MM:SS.mmm`` (hours not wrapped: 100 h is ``100:00:00.000``;
    a negative pts, which some containers start with, gets a leading ``-``)."""
    ms = round(abs(seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec, ms = divmod(rest, 1000)
    return f"{'-' if seconds < 0 and ms + sec + m + h else ''}{h:02d}:{m:02d}:{sec:02d}.{ms:03d}"


@dataclass
class FileOutcome:
    """One input file's result: frames decoded/analysed, rows written, its tracks, and an error if any."""
    source: str
    frames: int = 0
    analysed: int = 0
    rows: int = 0
    seconds: float = 0.0
    tracks: list[TrackSummary] = field(default_factory=list)
    error: str | None = None
    annotated: str | None = None


class VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C during a file, after its rows so far and an 'interrupted' error row were written;
    carries that file's outcome (tracks so far) for the summary."""

    def __init__(self, outcome: FileOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def video_columns(classes: Sequence[str]) -> tuple[str, ...]:
    return (*SOURCE_COLUMNS, *csv_columns(tuple(classes)), ERROR_COLUMN)


def annotated_path(out: str | Path, source: str | Path, several: bool) -> Path:
    """``out`` itself for one input; for several, ``out``'s stem + the input's stem (a.mp4 -> out.a.mp4)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.{Path(source).stem}{out.suffix or '.mp4'}") if several else out


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
    except KeyboardInterrupt:
        # Mark the cut-off file in the CSV itself, then let the interrupt end the run.
        out.error = f"{source}: interrupted after {out.analysed} analysed frame(s)"
        interrupted = True
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
    """Analyse each file in turn into one CSV; a failed file never stops the others. ``outcomes``, if
    given, is filled as files finish, so a caller still has them after a Ctrl-C."""
    classes = tuple(pipeline.classes)
    outcomes = [] if outcomes is None else outcomes
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(video_columns(classes))
        for src in sources:
            ann = annotated_path(annotated, src, len(sources) > 1) if annotated else None
            try:
                o = run_file(src, pipeline, writer, every, half_life_s, ann, progress, fh, opener)
            except VideoInterrupted as e:
                outcomes.append(e.outcome)
                raise
            if o.error:
                print(f"error: {o.error}", file=sys.stderr)
            outcomes.append(o)
    return outcomes


def print_summary(outcomes: Sequence[FileOutcome], stream: TextIO = sys.stdout) -> None:
    """Per file: frames, speed and each track's frames, share of time per expression and dominant one."""
    for o in outcomes:
        fps = o.frames / o.seconds if o.seconds > 0 else 0.0
        head = f"{o.source}: {o.frames} frames, {o.analysed} analysed, {o.rows} rows, {o.seconds:.1f} s ({fps:.0f} fps)"
        print(head + (f"  FAILED: {o.error}" if o.error else ""), file=stream)
        if o.annotated:
            print(f"  annotated copy: {o.annotated}", file=stream)
        for t in o.tracks:
            shares = "  ".join(f"{k[:3]} {v:4.0%}" for k, v in t.share.items())
            print(f"  track {t.track_id:>3}: {t.frames:>6} frames  dominant {t.dominant:<8} | {shares}", file=stream)
