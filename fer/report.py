"""What a model folder says about itself, in the shape the report page shows: which evaluations its
metadata holds (split x runtime x plain/flip), the headline figures, and the per-epoch history.

Training writes ``metadata.json`` (``fer.training``) and shipping adds the LiteRT figures
(``fer.shipping``); ``history.csv`` is Keras' CSVLogger output plus ``lr`` and ``epoch_seconds``.
Older or partial folders lack some of these, so every reader here tolerates missing parts.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: Metric-set keys in preference order for the headline: the runtime that serves (LiteRT) on test
#: first, because that is the figure a user actually gets; val only when test was never measured.
PREFERENCE = ("litert_test", "test", "litert_val", "val")


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
    """One row per recorded split of the training data: roots and image count."""
    rows = []
    for split, d in (metadata.get("data") or {}).items():
        if isinstance(d, dict):
            rows.append({"split": split, "roots": ", ".join(map(str, d.get("roots", []))), "images": d.get("n")})
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


def speed_sources(metadata: dict) -> list[str]:
    """How and when each recorded speed figure was measured: 'command (date, machine)'."""
    out = []
    for entry in (metadata.get("benchmarks") or {}).values():
        if isinstance(entry, dict) and entry.get("command"):
            out.append(f"{entry['command']} ({entry.get('date', 'date not recorded')}, {entry.get('machine', '')})")
    return out
