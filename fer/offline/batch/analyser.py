"""``FileAnalyser``: the one batch function both engines run.

Its constructor loads the classifier and detector once (per process, or per Ray actor); each call
maps a batch of files to an Arrow table of result rows: ``{"path", "bytes", "read_error"}`` as
``read_batch`` gives them (the local engine), or ``{"path"}`` alone (a Ray actor, which reads its
files itself). Photos go through ``predict``'s path
(mirror averaging on by default, as there); videos through ``fer video``'s, which is the live page's
(one pass a face, tracked and smoothed, clocked by each frame's presentation time).
"""
from __future__ import annotations

from typing import Any, Mapping

import pyarrow as pa

from ...config import STILL_FLIP
from ...faces.detectors import DetectorSettings, make_detector
from ...imageio import ImageError, decode_image
from ...classify.model import load_classifier
from ...pipeline import FramePipeline
from ..video import VIDEO_EXTENSIONS, VideoError, VideoReader, analyse_video
from .rows import KIND_IMAGE, KIND_VIDEO, RowBuffer
from .sources import SourceError, is_uri, read_uri


def kind_of(path: str) -> str:
    return KIND_VIDEO if path.lower().endswith(VIDEO_EXTENSIONS) else KIND_IMAGE


def _column(batch: Any, name: str) -> list:
    """A column of a batch as a Python list, whether Ray handed a dict of numpy arrays or Arrow."""
    col = batch[name]
    return col.to_pylist() if hasattr(col, "to_pylist") else list(col)


class FileAnalyser:
    """Batch of files (paths + their bytes) -> Arrow table of faces (``rows.result_schema``)."""

    def __init__(self, model: str | None = None, detector: DetectorSettings | None = None,
                 flip: bool = STILL_FLIP, every: int = 1, half_life_s: float = 0.15, num_threads: int = 1,
                 detector_threads: int | None = None) -> None:
        # ``detector_threads``: OpenCV's threads in this process (None: OpenCV's default, every core).
        # A Ray actor takes 1: it is booked one CPU, and two actors each running a 2-thread Haar
        # scan on 2 cores fought over them.
        if detector_threads is not None:
            import cv2
            cv2.setNumThreads(detector_threads)
        # One classifier thread per analyser: the engines get their parallelism from more analysers
        # (Ray actors), and LiteRT's threads gain little on a single 48x48 face.
        self.classifier = load_classifier(model, num_threads=num_threads)
        # ``detector.name`` picks from fer.faces.detectors.DETECTORS (the CLI's --detector); one detector
        # serves both pipelines, as files are analysed one after another.
        det = make_detector(detector)
        self.photos = FramePipeline(self.classifier, det, flip=flip)
        self.videos = FramePipeline(self.classifier, det, flip=False)
        self.every, self.half_life_s = every, half_life_s
        self.classes = tuple(self.classifier.classes)

    def __call__(self, batch: Mapping[str, Any]) -> pa.Table:
        out = RowBuffer(self.classes)
        paths = _column(batch, "path")
        names = batch.column_names if hasattr(batch, "column_names") else batch  # `in` on a pa.Table is False
        if "bytes" not in names:  # paths only (the Ray engine): the files are read here
            batch = read_batch(paths)
            names = batch
        errors = _column(batch, "read_error") if "read_error" in names else [None] * len(paths)
        for path, data, err in zip(paths, _column(batch, "bytes"), errors):
            if err:
                out.add(path, kind_of(path), [], error=err)
            elif kind_of(path) == KIND_VIDEO:
                self._video(out, path, data)
            else:
                self._photo(out, path, data)
        return out.table()

    def _photo(self, out: RowBuffer, path: str, data: bytes) -> None:
        try:
            faces = self.photos.analyse(decode_image(data, name=path)).faces
        except ImageError as e:
            out.add(path, KIND_IMAGE, [], error=str(e))
            return
        out.add(path, KIND_IMAGE, faces)

    def _video(self, out: RowBuffer, path: str, data: bytes) -> None:
        try:
            with VideoReader(data, name=path) as reader:
                for ff in analyse_video(reader, self.videos, self.every, self.half_life_s):
                    out.add(path, KIND_VIDEO, ff.faces, frame=ff.index, pts_s=round(ff.pts_s, 6),
                            ids=[f.track_id or 0 for f in ff.faces])
        except VideoError as e:
            out.add(path, KIND_VIDEO, [], error=str(e))


def read_batch(paths: list[str]) -> dict[str, list]:
    """The local engine's stand-in for ``read_binary_files``: the same two columns, plus why a file
    could not be read (it becomes that file's error row). ``paths`` may be URIs (``fer.offline.batch.sources``)."""
    data, errors = [], []
    for p in paths:
        try:
            if is_uri(p):
                data.append(read_uri(p))
            else:
                with open(p, "rb") as fh:
                    data.append(fh.read())
            errors.append(None)
        except FileNotFoundError:
            data.append(b"")
            errors.append(f"{p}: no such file")
        except SourceError as e:
            data.append(b"")
            errors.append(str(e))
        except OSError as e:
            data.append(b"")
            errors.append(f"{p}: could not be read ({e.strerror or _first_line(e)})")
    return {"path": paths, "bytes": data, "read_error": errors}


def _first_line(e: Exception) -> str:
    """An error's first line (pyarrow's messages from object storage run to several)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
