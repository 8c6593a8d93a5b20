"""The output folder: Parquet part files (read together as one table), a log of runs, and what a
rerun may skip.

Each part file is closed every few hundred files, so a run killed outright loses at most the part
it was writing; that unfinished part (no Parquet footer) is set aside on the next run and its files
are analysed again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq

#: Run log inside the output folder (a leading underscore: Parquet readers skip it).
RUNS_FILE = "_runs.jsonl"


class OutputError(ValueError):
    """The output path can't be used (e.g. it is a file)."""


def prepare(out: str | Path) -> tuple[Path, set[str], list[str]]:
    """Create the output folder if needed; return it, the paths it already holds results for, and
    the names of unfinished part files set aside (renamed ``_unfinished-*``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder (the output is a folder of Parquet files)")
    out.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    set_aside = []
    for part in sorted(out.glob("*.parquet")):
        try:
            table = pq.read_table(part, columns=["path"])
        except Exception:  # noqa: BLE001  (pyarrow raises ArrowInvalid/OSError on a footerless file)
            part.rename(part.with_name(f"_unfinished-{part.name}"))
            set_aside.append(part.name)
            continue
        done.update(table.column("path").to_pylist())
    return out, done, set_aside


def log_run(out: Path, record: dict) -> None:
    """Append one run's engine, workers, counts and timing to the folder's run log."""
    with open(out / RUNS_FILE, "a") as fh:
        fh.write(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}) + "\n")


def count_rows(out: Path) -> int:
    """Rows in the folder's finished part files (from their footers: nothing is read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in out.glob("*.parquet"))


def read_results(out: str | Path):
    """Every result row in the folder as one Arrow table."""
    import pyarrow.dataset as ds
    return ds.dataset(str(out), format="parquet").to_table()
