"""What a model folder says about itself, in the shape the report page shows: which evaluations its
metadata holds (split x runtime x plain/flip), the headline figures, and the per-epoch history.

Training writes ``metadata.json`` (``fer.train.training``) and shipping adds the LiteRT figures
(``fer.train.shipping``); ``history.csv`` is Keras' CSVLogger output plus ``lr`` and ``epoch_seconds``.
Older or partial folders lack some of these, so every reader here tolerates missing parts.
"""
from __future__ import annotations

import csv
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .config import DATA_SET_NAMES, REPO_ROOT

#: Metric-set keys in preference order for the headline: the runtime that serves (LiteRT) on test
#: first, because that is the figure a user actually gets; val only when test was never measured.
PREFERENCE = ("litert_test", "test", "litert_val", "val")
#: An evaluation on fewer images than this is flagged: its accuracy is uncertain by several points
#: (+-4.4 points at 500 images and 70 %, +-14 at 42).
FEW_IMAGES = 500


@dataclass(frozen=True)
class MetricSet:
    """One evaluation recorded in the metadata, e.g. key ``litert_test`` variant ``flip``."""
    key: str
    variant: str
    metrics: dict

    @property
    def split(self) -> str:
        return self.key.removeprefix("litert_")

    @property
    def runtime(self) -> str:
        return "LiteRT (served)" if self.key.startswith("litert_") else "Keras"

    @property
    def label(self) -> str:
        return f"{self.split} · {self.runtime} · {'flip TTA' if self.variant == 'flip' else 'plain'}"


def metric_sets(metadata: dict) -> list[MetricSet]:
    """Every complete evaluation in ``metadata["metrics"]``, best headline candidate first."""
    metrics = metadata.get("metrics") or {}
    keys = [k for k in PREFERENCE if k in metrics] + sorted(k for k in metrics if k not in PREFERENCE)
    out = []
    for k in keys:
        for variant in ("plain", "flip"):
            m = metrics[k].get(variant) if isinstance(metrics[k], dict) else None
            if isinstance(m, dict) and {"accuracy", "macro_f1", "per_class", "confusion"} <= set(m):
                out.append(MetricSet(k, variant, m))
    return out


def read_history(model_dir: str | Path) -> list[dict[str, float]]:
    """``history.csv`` rows as floats (``epoch`` as int); empty when the file is missing. Values
    that don't parse are dropped from their row rather than failing the report."""
    path = Path(model_dir) / "history.csv"
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, float] = {}
            for k, v in raw.items():
                try:
                    row[k] = int(float(v)) if k == "epoch" else float(v)
                except (TypeError, ValueError):
                    continue
            rows.append(row)
    return rows


def format_duration(seconds: float | None) -> str:
    """``5025`` -> ``1 h 23 min 45 s``; ``None`` -> ``not recorded``."""
    if seconds is None:
        return "not recorded"
    s = int(round(float(seconds)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    parts = ([f"{h} h"] if h else []) + ([f"{m} min"] if h or m else []) + [f"{s} s"]
    return " ".join(parts)


def data_summary(metadata: dict) -> list[dict]:
    """One row per split the model was trained, selected and tested on: roots (relative to the
    repository) and image count. The test split is not in ``data`` (training never loads it); its
    roots are in the config and its count in the test evaluation."""
    rows = []
    for split, d in (metadata.get("data") or {}).items():
        # ``data`` also holds how the data was used (framing, hold-out, targets): not splits.
        if isinstance(d, dict) and "roots" in d:
            rows.append({"split": split, "roots": ", ".join(relative_path(r) for r in d.get("roots", [])),
                         "images": _count(d.get("n"))})
    if not any(r["split"] == "test" for r in rows):
        roots = (metadata.get("config") or {}).get("test") or []
        n = next((m["plain"].get("n") for k in ("test", "litert_test")
                  if isinstance(m := (metadata.get("metrics") or {}).get(k), dict) and isinstance(m.get("plain"), dict)),
                 None)
        if roots or n:
            rows.append({"split": "test", "roots": ", ".join(relative_path(r) for r in roots) or "not recorded",
                         "images": _count(n)})
    return rows


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "not recorded"


def relative_path(path: str, root: Path = REPO_ROOT) -> str:
    """An absolute path from the training machine, relative to the repository (``../runs/v2``) when the
    two share more than ``/``; relative paths are already relative to the repository root."""
    if not os.path.isabs(path):
        return path
    try:
        common = os.path.commonpath([os.path.abspath(path), str(root)])
    except ValueError:
        return path
    return os.path.relpath(path, root) if common != os.path.sep else path


def relative_command(command: str, root: Path = REPO_ROOT) -> str:
    """A recorded command line with every absolute path made relative to the repository."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    return shlex.join(relative_path(w, root) if w.startswith(os.path.sep) else w for w in words)


@dataclass(frozen=True)
class Stage:
    """One training stage: its name, what it did, and every command that contributed epochs to it."""
    name: str
    commands: list[str]
    note: str = ""
    epochs: int | None = None
    best_epoch: int | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None


def training_stages(metadata: dict, root: Path = REPO_ROOT) -> list[Stage]:
    """Every stage the model went through, oldest first, commands relative to the repository. A model
    trained in one go has one stage (its ``commands``: the first run and each --resume)."""
    stages = []
    for i, st in enumerate(metadata.get("stages") or []):
        if isinstance(st, dict):
            cmds = st.get("commands") or ([st["config"]["command"]] if (st.get("config") or {}).get("command") else [])
            stages.append(Stage(str(st.get("stage") or f"stage {i + 1}"), [relative_command(c, root) for c in cmds],
                                str(st.get("note") or ""), st.get("epochs"), st.get("best_epoch"),
                                st.get("val_accuracy"), st.get("litert_test_accuracy")))
    if not stages:
        cmds = metadata.get("commands") or ([metadata["command"]] if metadata.get("command") else [])
        if cmds:
            stages.append(Stage("training", [relative_command(c, root) for c in cmds], "",
                                metadata.get("epochs_run"), metadata.get("best_epoch")))
    return stages


def accuracy_margin(accuracy: float, n: int) -> float:
    """Half-width of the 95 % normal-approximation interval of an accuracy measured on ``n`` images."""
    return 1.96 * math.sqrt(max(accuracy * (1 - accuracy), 1e-12) / n) if n else float("nan")


def evaluation_rows(sets: list[MetricSet]) -> list[dict]:
    """The evaluations table: each row's image count, its 95 % margin, and a flag on few images."""
    rows = []
    for s in sets:
        n = s.metrics.get("n")
        acc = s.metrics["accuracy"]
        few = isinstance(n, int) and n < FEW_IMAGES
        rows.append({"evaluation": s.label, "accuracy": round(acc, 4), "macro F1": round(s.metrics["macro_f1"], 4),
                     "images": n if isinstance(n, int) else 0,
                     "95 % margin": f"± {accuracy_margin(acc, n):.1%}" if isinstance(n, int) and n else "unknown",
                     "note": f"only {n} images: uncertain" if few else ""})
    return rows


def speed_rows(metadata: dict) -> list[dict]:
    """The speed figures the benchmarks recorded with ``--record`` (bench/latency.py, bench/compare_fer.py),
    one row per figure: ours, the `fer` library's from the same run where there is one, and the ratio."""
    bench = metadata.get("benchmarks") or {}
    rows: list[dict] = []

    def add(figure: str, ours, fer=None, source: str = "") -> None:
        if isinstance(ours, (int, float)):
            ratio = round(ours / fer, 3) if isinstance(fer, (int, float)) and fer > 0 else None
            rows.append({"figure": figure, "ours (ms)": round(float(ours), 3),
                         "fer (ms)": round(float(fer), 3) if isinstance(fer, (int, float)) else None,
                         "ours / fer": ratio, "measured by": source})

    lat = bench.get("latency") or {}
    size = "x".join(map(str, lat.get("size") or ["?", "?"]))
    add(f"still frame {size}, {lat.get('faces', '?')} face(s), detect + classify + draw, median", lat.get("median_ms"),
        source="bench/latency.py")
    add("classifier alone, batch 1, ms per face", lat.get("classifier_ms_per_face"), source="bench/latency.py")
    add("live video path, median per frame", lat.get("video_median_ms"), source="bench/latency.py")
    add("live video path, mean per frame", lat.get("video_mean_ms"), source="bench/latency.py")
    cmp = bench.get("compare_fer") or {}

    def fig(part: str, who: str, key: str = "median_ms"):
        return ((cmp.get(part) or {}).get(who) or {}).get(key)

    src = "bench/compare_fer.py"
    add("frame, detect + classify, median, vs fer as installed (TFLite)", fig("frame", "ours"), fig("frame", "fer"),
        source=src)
    add("same frame, vs fer with its Keras file", fig("frame", "ours"), fig("frame", "fer_keras"), source=src)
    add("video clip, median per frame (ours: live path; fer: every frame)", fig("video", "ours"), fig("video", "fer"),
        source=src)
    add("video clip, mean per frame", fig("video", "ours", "mean_ms"), fig("video", "fer", "mean_ms"), source=src)
    add("classifier alone, batch 1, ms per face", fig("classifier", "ours"), fig("classifier", "fer"), source=src)
    return rows


def speed_tables(metadata: dict) -> tuple[list[dict], list[dict]]:
    """``speed_rows`` in two tables with no empty cells: our figures alone, and those measured against
    the `fer` library in the same run (with its figure and the ratio)."""
    alone, compared = [], []
    for r in speed_rows(metadata):
        if r["fer (ms)"] is None:
            alone.append({k: v for k, v in r.items() if k not in ("fer (ms)", "ours / fer")})
        else:
            compared.append(r)
    return alone, compared


def speed_sources(metadata: dict) -> list[str]:
    """How and when each recorded speed figure was measured: 'command (date, machine)'."""
    out = []
    for entry in (metadata.get("benchmarks") or {}).values():
        if isinstance(entry, dict) and entry.get("command"):
            out.append(f"{entry['command']} ({entry.get('date', 'date not recorded')}, {entry.get('machine', '')})")
    return out


def data_set_name(root: str) -> str:
    """``../shared/data/rafdb/train`` -> ``RAF-DB``; an unknown root keeps its folder name."""
    parts = Path(root).parts
    folder = parts[-2] if len(parts) >= 2 and parts[-1] in ("train", "val", "test") else parts[-1] if parts else root
    return DATA_SET_NAMES.get(folder.lower(), folder)


def trained_on(metadata: dict) -> list[str]:
    """The data sets a model's training images came from, by name, in the order given (a blend:
    those of the models it averages, recorded in its stages' commands)."""
    roots = ((metadata.get("data") or {}).get("train") or {}).get("roots") or []
    return list(dict.fromkeys(data_set_name(r) for r in roots))


@dataclass(frozen=True)
class DataSetFigures:
    """A model's recorded evaluation on one data set's test split (``evaluate --record``, single pass):
    accuracy, macro F1, images, recall per class and, when recorded, the confusion matrix."""
    label: str
    accuracy: float
    macro_f1: float
    n: int
    recall: dict
    classes: list
    confusion: list | None
    command: str


def data_set_figures(metadata: dict) -> list[DataSetFigures]:
    """One entry per headline data set the model was evaluated on (``fer.classify.model.HEADLINE_SETS`` order,
    the sidebar's figures), each data set separately: the figures a user can compare across models."""
    from .classify.model import HEADLINE_SETS
    out = []
    evals = metadata.get("evaluations") or {}
    for label, root, truth in HEADLINE_SETS:
        for key, r in evals.items():
            parts = [p.strip() for p in key.split("|")]
            if len(parts) == 3 and parts[0].endswith(root) and parts[1] == f"truth={truth}" and parts[2] == "single pass":
                out.append(DataSetFigures(label, r["accuracy"], r["macro_f1"], r["n"], dict(r.get("recall") or {}),
                                          list(r.get("classes") or metadata.get("classes") or []),
                                          r.get("confusion"), r.get("command", "")))
                break
    return out


def test_split_description(metadata: dict) -> str:
    """What the ``test`` metric sets were measured on: one data set's name, or the pooled sets'
    names ("FER2013 + RAF-DB + AffectNet test, pooled") for a model tested on several at once."""
    roots = (metadata.get("config") or {}).get("test") or []
    names = list(dict.fromkeys(data_set_name(r) for r in roots))
    if len(names) > 1:
        return " + ".join(names) + " test, pooled"
    return f"{names[0]} test" if names else "test"


@dataclass(frozen=True)
class BestEpoch:
    """The epoch chosen on validation, and where that figure comes from (``""``: the model's own run)."""
    epoch: int
    source: str = ""


def best_epoch(metadata: dict, history: list[dict] | None = None) -> BestEpoch | None:
    """The model's best (validation-chosen) epoch: the training record's, else the last trained
    stage's (a blend or a staged model keeps it per stage), else the epoch of the best validation
    figure in ``history.csv``; None only when none of these is known."""
    if isinstance(metadata.get("best_epoch"), int):
        return BestEpoch(metadata["best_epoch"])
    for st in reversed(metadata.get("stages") or []):
        if isinstance(st, dict) and isinstance(st.get("best_epoch"), int):
            return BestEpoch(st["best_epoch"], f"stage '{st.get('stage', '?')}'")
    history = history or []
    key = next((k for k in ("val_source_mean", "val_accuracy") if any(k in r for r in history)), None)
    if key:
        best = max((r for r in history if key in r), key=lambda r: r[key])
        return BestEpoch(int(best.get("epoch", 0)) + 1, f"history.csv, highest {key}")
    return None
