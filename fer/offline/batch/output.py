"""The output folder: Parquet part files (read together as one table), a log of runs, and what a
rerun may skip.

Only whole part files carry a plain name: the local engine writes a part as ``_writing-<name>`` and
renames it once closed, so a run killed outright loses at most the part it was writing. On the next
run such a leftover is renamed into place if it is in fact whole (killed between closing and
renaming), else set aside as ``_unfinished-<name>`` and its files analysed again; so is a plain-named
part that can't be read (Ray's writer writes in place). Names starting with ``_`` or ``.`` are what
Parquet readers (pyarrow, pandas, Spark) skip, so the set-aside files never mix into the results.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq

#: Run log inside the output folder (a leading underscore: Parquet readers skip it).
RUNS_FILE = "_runs.jsonl"
#: A part being written, and one set aside as unreadable.
WRITING_PREFIX = "_writing-"
UNFINISHED_PREFIX = "_unfinished-"


class OutputError(ValueError):
    """The output path can't be used (e.g. it is a file)."""


def part_files(out: Path) -> list[Path]:
    """The folder's result files: ``*.parquet`` less the names readers skip."""
    return sorted(p for p in out.glob("*.parquet") if not p.name.startswith(("_", ".")))


def _paths_in(part: Path) -> list[str] | None:
    """The ``path`` column of a part, or None if the file is not a whole Parquet file."""
    try:
        return pq.read_table(part, columns=["path"]).column("path").to_pylist()
    except Exception:  # noqa: BLE001  (pyarrow raises ArrowInvalid/OSError on a footerless file)
        return None


def prepare(out: str | Path) -> tuple[Path, set[str], list[str]]:
    """Create the output folder if needed; return it, the paths it already holds results for, and
    the names of unfinished part files set aside (renamed ``_unfinished-*``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder (the output is a folder of Parquet files)")
    out.mkdir(parents=True, exist_ok=True)
    set_aside = []
    for left in sorted(out.glob(WRITING_PREFIX + "*.parquet")):
        name = left.name[len(WRITING_PREFIX):]
        if _paths_in(left) is not None:
            left.rename(out / name)  # closed but not yet renamed when the run stopped: whole
        else:
            left.rename(out / (UNFINISHED_PREFIX + name))
            set_aside.append(name)
    done: set[str] = set()
    for part in part_files(out):
        paths = _paths_in(part)
        if paths is None:
            part.rename(part.with_name(UNFINISHED_PREFIX + part.name))
            set_aside.append(part.name)
            continue
        done.update(paths)
    return out, done, set_aside


def log_run(out: Path, record: dict) -> None:
    """Append one run's engine, workers, counts and timing to the folder's run log."""
    with open(out / RUNS_FILE, "a") as fh:
        fh.write(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}) + "\n")


def count_rows(out: Path) -> int:
    """Rows in the folder's finished part files (from their footers: nothing is read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in part_files(out))


def read_results(out: str | Path):
    """Every result row in the folder as one Arrow table."""
    import pyarrow.dataset as ds
    return ds.dataset(str(out), format="parquet").to_table()
