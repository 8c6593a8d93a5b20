"""The served classifiers side by side: milliseconds to classify one face (the crop cut the model's
own way from a real RAF-DB test photo), every model in ``models/`` measured in the same run, and each
one's ratio to ``models/default`` (the 48x48 gray network).

    python bench/classifier_speed.py [--runs 300] [--threads 1 2] [--json]

Each model runs through ``fer.classify.model.Classifier.predict`` (what the pipeline calls: LiteRT,
the lock, renormalisation; an ensemble through ``EnsembleClassifier.predict``, every member on the
one face), one face at a time, single pass, in 10 interleaved rounds so other
processes' load falls on every model alike. Medians and ranges in milliseconds. The last line printed
is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from fer.classify.ensemble import is_ensemble  # noqa: E402
from fer.classify.model import Classifier, list_models, load_ensemble, resolve_model  # noqa: E402
from fer.config import data_root  # noqa: E402
from fer.pipeline import FramePipeline  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=300, help="timed calls per model and thread count")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="LiteRT interpreter threads")
    ap.add_argument("--json", action="store_true", help="only the JSON line")
    a = ap.parse_args()
    photo = sorted((data_root() / "rafdb" / "test" / "happy").iterdir())[0]
    image = cv2.imread(str(photo))
    if image is None:
        sys.exit(f"needs RAF-DB test photos in {data_root() / 'rafdb' / 'test'} (FER_DATA_DIR)")
    rows = {}
    for threads in a.threads:
        runners = {}
        for info in list_models():
            # An ensemble runs its own instances of its members (each member is also timed alone).
            clf = load_ensemble(info, threads, load=lambda path, t: Classifier(resolve_model(path), t)) \
                if is_ensemble(info) else Classifier(info, num_threads=threads)
            crop = FramePipeline(clf).whole_crop(image)
            runners[info.name] = (clf, crop)
        times: dict[str, list[float]] = {n: [] for n in runners}
        for _ in range(10):
            for name, (clf, crop) in runners.items():
                for _ in range(20):
                    clf.predict(crop)
                for _ in range(max(1, a.runs // 10)):
                    t = time.perf_counter()
                    clf.predict(crop)
                    times[name].append((time.perf_counter() - t) * 1e3)
        base = statistics.median(times["default"]) if "default" in times else None
        for name, ts in times.items():
            med = statistics.median(ts)
            rows[f"{name} / {threads} thread{'s' if threads > 1 else ''}"] = {
                "model": name, "threads": threads, "input": runners[name][1].shape[1:],
                "median_ms": round(med, 3), "p10_ms": round(sorted(ts)[len(ts) // 10], 3),
                "p90_ms": round(sorted(ts)[9 * len(ts) // 10], 3),
                "x_default": round(med / base, 2) if base else None}
    if not a.json:
        print(f"{'model / threads':<40} {'input':>14} {'median ms':>10} {'p10-p90 ms':>14} {'x default':>9}")
        for key, r in rows.items():
            print(f"{key:<40} {'x'.join(map(str, r['input'])):>14} {r['median_ms']:>10.3f} "
                  f"{r['p10_ms']:>6.3f}-{r['p90_ms']:<7.3f} {r['x_default'] or '':>9}")
    print(json.dumps({"photo": str(photo.relative_to(data_root())), "runs": a.runs,
                      "rows": [{**r, "input": list(r["input"])} for r in rows.values()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
