"""The result table: one row per face (a photo without faces, or a file that failed, gets one row
with the face columns empty), the same schema from either engine."""
from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from ...pipeline import Face

KIND_IMAGE = "image"
KIND_VIDEO = "video"


def result_schema(classes: Sequence[str]) -> pa.Schema:
    """path, kind, frame/pts_s (videos), face_id (index in a photo, track id in a video), box,
    label, score, one probability column per class (model order), error."""
    return pa.schema([
        ("path", pa.string()), ("kind", pa.string()), ("frame", pa.int64()), ("pts_s", pa.float64()),
        ("face_id", pa.int64()), ("x", pa.int64()), ("y", pa.int64()), ("w", pa.int64()), ("h", pa.int64()),
        ("label", pa.string()), ("score", pa.float64()),
        *[(c, pa.float64()) for c in classes],
        ("error", pa.string()),
    ])


class RowBuffer:
    """Columns being filled row by row, turned into one Arrow table."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = tuple(classes)
        self.schema = result_schema(self.classes)
        self._cols: dict[str, list] = {n: [] for n in self.schema.names}

    def add(self, path: str, kind: str, faces: list[Face], frame: int | None = None, pts_s: float | None = None,
            ids: Sequence[int] | None = None, error: str | None = None) -> None:
        """``faces`` of one photo or video frame as rows; no face: one row with empty face columns."""
        c = self._cols
        if not faces:
            for n, v in (("path", path), ("kind", kind), ("frame", frame), ("pts_s", pts_s), ("error", error)):
                c[n].append(v)
            for n in ("face_id", "x", "y", "w", "h", "label", "score", *self.classes):
                c[n].append(None)
            return
        for i, f in enumerate(faces):
            c["path"].append(path)
            c["kind"].append(kind)
            c["frame"].append(frame)
            c["pts_s"].append(pts_s)
            c["face_id"].append(int(ids[i]) if ids is not None else i)
            for n, v in zip(("x", "y", "w", "h"), f.box):
                c[n].append(int(v))
            c["label"].append(f.label)
            c["score"].append(float(f.score))
            for k in self.classes:
                c[k].append(float(f.probabilities[k]))
            c["error"].append(error)

    def __len__(self) -> int:
        return len(self._cols["path"])

    def table(self) -> pa.Table:
        return pa.table(self._cols, schema=self.schema)
