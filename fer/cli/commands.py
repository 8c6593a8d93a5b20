"""The ``video`` and ``batch`` subcommands: their options and the few lines that hand them to
``fer.offline.video_run`` and ``fer.offline.batch.run`` (kept out of ``__main__`` so each command has one home)."""
from __future__ import annotations

import argparse
import sys

from ..config import BATCH_PART_FILES, STILL_FLIP
from ..faces.detectors import DEFAULT_DETECTOR, DETECTORS, DetectorSettings


#: Exit code after Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def _positive_int(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def _add_detector_options(parser: argparse.ArgumentParser) -> None:
    """The detector choice (from the one registry, ``fer.faces.detectors.DETECTORS``) and its sensitivity
    options, with the product's defaults: one definition for predict, video and batch."""
    d = DetectorSettings()
    parser.add_argument("--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR,
                        help="face detector: " + "; ".join(f"{k}: {e.label}" for k, e in DETECTORS.items()))
    parser.add_argument("--scale-factor", type=float, default=d.scale_factor,
                        help="Haar detector's scale step: smaller finds more faces, slower")
    parser.add_argument("--min-neighbors", type=int, default=d.min_neighbors,
                        help="Haar detector's confirmations per face: higher, fewer false faces")
    parser.add_argument("--min-size", type=int, default=d.min_size, help="smallest face side in pixels (any detector)")


def detector_settings(args: argparse.Namespace) -> DetectorSettings:
    """The ``DetectorSettings`` the options of ``_add_detector_options`` describe."""
    return DetectorSettings(name=args.detector, scale_factor=args.scale_factor, min_neighbors=args.min_neighbors,
                            min_size=args.min_size)


def add_video_command(sub) -> None:
    vi = sub.add_parser("video", help="analyse recorded videos as the live page would, into a CSV")
    vi.add_argument("videos", nargs="+", help="video files (anything FFmpeg plays)")
    vi.add_argument("--csv", required=True, help="output CSV: the live CSV's columns plus source, frame, pts_s, "
                    "time (HH:MM:SS.mmm), error; beside it OUT.files.csv: each input's status (frames announced, "
                    "decoded, analysed, faces, error)")
    vi.add_argument("--annotated", help="also write an H.264 copy with the faces drawn: a file for one input; "
                    "a folder (existing, or ending in /) for one copy per input named after it; a file with "
                    "several inputs: OUT.<input name>.mp4 each")
    vi.add_argument("--every", type=_positive_int, default=1, help="analyse every N-th frame (default every frame)")
    vi.add_argument("--half-life", type=float, default=0.15, help="smoothing half-life in seconds, as on the live "
                    "page (0: off)")
    vi.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    vi.add_argument("--flip", action=argparse.BooleanOptionalAction, default=False,
                    help="average each face with its mirror image (off by default, as on the live page)")
    _add_detector_options(vi)
    vi.add_argument("--no-progress", action="store_true", help="no progress bar")
    vi.set_defaults(func=_video)


def add_batch_command(sub) -> None:
    ba = sub.add_parser("batch", help="photos and videos at scale into Parquet, in this process or on a Ray cluster")
    ba.add_argument("inputs", nargs="+", help="files, folders (recursive: images and videos), glob patterns, or "
                    "URIs pyarrow.fs reads (file:///..., s3://bucket/prefix/)")
    ba.add_argument("--out", required=True, help="output folder of Parquet files (rerunning skips files already in it)")
    ba.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="local: this process; ray: Ray Data on a local or existing cluster")
    ba.add_argument("--ray-address", help="join this Ray cluster (HOST:PORT of `ray start --head`, or 'auto'); "
                    "default: start Ray on this machine")
    ba.add_argument("--workers", type=_positive_int, help="Ray actors (default: one per CPU of the cluster)")
    ba.add_argument("--part-files", type=_positive_int, default=BATCH_PART_FILES,
                    help="local engine: files per Parquet part, each renamed into place when whole (a kill loses "
                    "at most the open part)")
    ba.add_argument("--model", help="a model name in models/ or a model folder (default: the shipped model)")
    ba.add_argument("--flip", action=argparse.BooleanOptionalAction, default=STILL_FLIP,
                    help="photos: average each face with its mirror image, as predict does (videos never: as live)")
    ba.add_argument("--every", type=_positive_int, default=1, help="videos: analyse every N-th frame")
    ba.add_argument("--half-life", type=float, default=0.15, help="videos: smoothing half-life in seconds")
    _add_detector_options(ba)
    ba.add_argument("--no-progress", action="store_true", help="no progress bar")
    ba.set_defaults(func=_batch)


def _video(args: argparse.Namespace) -> int:
    from ..faces.detectors import make_detector
    from ..classify.model import load_classifier
    from ..pipeline import FramePipeline
    from ..offline.video_run import announce_annotated, print_summary, print_tally, run_videos
    if args.annotated:
        announce_annotated(args.annotated, args.videos)
    pipe = FramePipeline(load_classifier(args.model), make_detector(detector_settings(args)), flip=args.flip)
    outcomes: list = []
    try:
        run_videos(args.videos, pipe, args.csv, every=args.every, half_life_s=args.half_life,
                   annotated=args.annotated, progress=not args.no_progress, outcomes=outcomes)
    except KeyboardInterrupt:
        print_summary(outcomes)
        print_tally(outcomes, args.csv)
        print(f"interrupted: {args.csv} holds whole rows for every frame analysed so far (the file being "
              "analysed ends with an 'interrupted' error row)", file=sys.stderr)
        return INTERRUPTED
    print_summary(outcomes)
    print_tally(outcomes, args.csv)
    return 1 if any(o.error for o in outcomes) else 0


def _batch(args: argparse.Namespace) -> int:
    from ..offline.batch.output import OutputError
    from ..offline.batch.ray_engine import RayEngineError
    from ..offline.batch.run import print_report, run_batch
    kwargs = {"model": args.model, "flip": args.flip, "every": args.every, "half_life_s": args.half_life,
              "detector": detector_settings(args)}
    try:
        report = run_batch(args.inputs, args.out, args.engine, args.workers, args.ray_address, kwargs,
                           progress=not args.no_progress, part_files=args.part_files)
    except (RayEngineError, OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before an engine ran (listing the inputs, starting Ray)
        print(f"interrupted: files already written to {args.out} stay; run the same command again to do the "
              "rest", file=sys.stderr)
        return INTERRUPTED
    print_report(report)
    if report.interrupted:
        print(f"interrupted: {report.files} file(s) ({report.rows} rows) saved in {report.out}, {report.remaining} "
              "left; run the same command again to do them (files already in the output are skipped)",
              file=sys.stderr)
        return INTERRUPTED
    return 0
