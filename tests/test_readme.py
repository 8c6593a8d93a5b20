"""The README a newcomer reads first: short, its pictures and links present, and its models table
saying what each model's metadata records (figures have one home: the metadata)."""
from __future__ import annotations

import json
import re

import pytest

from fer.config import REPO_ROOT

README = REPO_ROOT / "README.md"
#: The models table's test columns and the metadata evaluation each one quotes (single pass).
COLUMNS = {
    "FER2013 test": "../shared/data/fer2013/test | truth=folder | single pass",
    "FER+ test": "../shared/data/fer2013/test | truth=ferplus | single pass",
    "RAF-DB test": "../shared/data/rafdb/test | truth=folder | single pass",
    "AffectNet test": "../shared/data/affectnet/test | truth=folder | single pass",
}


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 300


def test_every_picture_and_local_link_of_the_readme_exists():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert any(t.startswith("docs/img/") for t in local), "the README shows no screenshot"
    missing = [t for t in local if not (REPO_ROOT / t).exists()]
    assert not missing, f"README links to files that are not in the repository: {missing}"


def _models_table() -> tuple[list[str], list[list[str]]]:
    lines = README.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| model |"))
    table = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        table.append([c.strip() for c in ln.strip("|").split("|")])
    return table[0], table[2:]  # the header; the rows after its |---| line


def test_the_models_table_quotes_each_models_metadata():
    header, rows = _models_table()
    assert header[0] == "model" and set(COLUMNS) <= set(header), header
    shipped = sorted(p.parent.name for p in (REPO_ROOT / "models").glob("*/metadata.json"))
    names = [re.match(r"`([^`]+)`", r[0]).group(1) for r in rows]
    assert sorted(names) == shipped, "every shipped model has one row, and only they"
    for name, row in zip(names, rows):
        meta = json.loads((REPO_ROOT / "models" / name / "metadata.json").read_text())
        for column, key in COLUMNS.items():
            quoted = float(row[header.index(column)].rstrip(" %"))
            recorded = 100 * meta["evaluations"][key]["accuracy"]
            assert quoted == pytest.approx(recorded, abs=0.051), (name, column, quoted, recorded)
        restricted = bool(meta.get("licence"))
        assert ("research only" in row[-1]) == restricted, (name, row[-1], meta.get("licence"))
