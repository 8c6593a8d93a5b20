"""Make an ensemble model folder (``fer.classify.ensemble``) from two shipped models, its weight
chosen on validation data alone by the product's default rule.

    python -m fer.train.ensemble_ship faceres_multisource multisource_blend --against multisource_blend \
        --out models/faceres_ensemble --cache CACHE

Scores both members' served LiteRT files on RAF-DB's held-out tenth of train, AffectNet val and
FER2013 val, cut the pipeline's way (``fer.train.crops``; the second member gets its crops made from
the first's, as serving makes them), averages their probabilities at each weight of a sweep, and
keeps the weight with the best mean of RAF-DB held-out and AffectNet val among those that lose at
most ``--guard`` points of FER2013 val against ``--against`` (the default it is to replace) as
``fer evaluate`` reads it.
Test splits are not read: ``python -m fer evaluate --record`` scores the ensemble afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from fer.classify.ensemble import member_crops
from fer.classify.model import load_classifier, resolve_model
from fer.config import DEFAULT_MODEL_NAME, REPO_ROOT, data_root
from fer.train.crops import load_or_build
from fer.train.data import held_out_mask, load_gray
from fer.train.finetune import RAFDB_HOLD_OUT, accuracy_f1, centre_crops

#: Validation sets: name -> (split folder under the data root, only RAF-DB's held-out tenth).
VAL_SETS = {"rafdb_holdout": ("rafdb/train", True), "affectnet_val": ("affectnet/val", False),
            "fer2013_val": ("fer2013/val", False)}
WEIGHTS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
#: The default rule: at most this many points of FER2013 val lost against the default model.
GUARD_POINTS = 3.0


def _probs(clf, crops: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate([clf.predict(crops[i:i + batch]) for i in range(0, len(crops), batch)])


def _as_evaluated(clf, root: Path, paths: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """A model's probabilities as ``fer evaluate`` reads a data set: eyes-level crops for an eyes
    model, the whole image gray and resized for a gray one."""
    if clf.framing == "eyes":
        return _probs(clf, member_crops(crops, clf.input_size, clf.channels))
    return _probs(clf, np.stack([load_gray(root / p, clf.input_size) for p in paths]))


def val_sets(size: int, cache: Path, log=print) -> dict:
    """name -> (context crops' centre at ``size``, labels, paths relative to the data root)."""
    root, out = data_root(), {}
    for name, (split, held) in VAL_SETS.items():
        cs = load_or_build(root / split, size, cache, log)
        keep = held_out_mask(cs.paths, RAFDB_HOLD_OUT) if held else np.ones(len(cs.labels), bool)
        out[name] = (centre_crops(cs.images[keep], size), cs.labels[keep].astype(int), cs.paths[keep])
    return out


def sweep(first, second, reference, sets: dict) -> tuple[list[dict], dict]:
    """Each weight's validation accuracy, and the reference (default) model's."""
    root = data_root()
    probs, ref = {}, {}
    for name, (crops, labels, paths) in sets.items():
        a = _probs(first, crops)
        b = _probs(second, member_crops(crops, second.input_size, second.channels))
        probs[name] = (a, b, labels)
        ref[name] = accuracy_f1(_as_evaluated(reference, root, paths, crops).argmax(1), labels)
    rows = [{"weight_first": 1.0, **{n: accuracy_f1(a.argmax(1), y) for n, (a, _, y) in probs.items()}}]
    for w in WEIGHTS:
        rows.append({"weight_first": w, **{n: accuracy_f1((w * a + (1 - w) * b).argmax(1), y)
                                          for n, (a, b, y) in probs.items()}})
    rows.append({"weight_first": 0.0, **{n: accuracy_f1(b.argmax(1), y) for n, (_, b, y) in probs.items()}})
    return rows, ref


def choose(rows: list[dict], ref: dict, guard: float = GUARD_POINTS) -> tuple[dict | None, str]:
    """The row the default rule keeps (None if no weight keeps FER2013 val within ``guard``), and why."""
    floor = ref["fer2013_val"]["accuracy"] - guard / 100
    kept = [r for r in rows if 0 < r["weight_first"] < 1 and r["fer2013_val"]["accuracy"] >= floor]
    if not kept:
        return None, f"no weight keeps FER2013 val within {guard} points of the default's"
    best = max(kept, key=lambda r: r["rafdb_holdout"]["accuracy"] + r["affectnet_val"]["accuracy"])
    return best, (f"the best mean of RAF-DB held-out and AffectNet val among the weights that keep FER2013 val "
                  f"at {100 * floor:.1f} % or more (the default's {100 * ref['fer2013_val']['accuracy']:.1f} % "
                  f"less {guard} points)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", help="the model whose crops the ensemble takes (an eyes-level colour model)")
    ap.add_argument("second", help="the other member")
    ap.add_argument("--out", type=Path, required=True, help="the ensemble folder to write (models/NAME)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fer" / "crops",
                    help="fer.train.crops' cache of context crops")
    ap.add_argument("--guard", type=float, default=GUARD_POINTS)
    ap.add_argument("--against", default=DEFAULT_MODEL_NAME,
                    help="the model the default rule compares with (the default before this one)")
    a = ap.parse_args(argv)
    t0 = time.time()
    first, second = load_classifier(a.first), load_classifier(a.second)
    if first.framing != "eyes":
        raise SystemExit(f"{a.first} reads {first.framing} crops: the first member must read eyes-level crops")
    if a.against == a.out.name:
        raise SystemExit(f"--against {a.against} is the folder being written: name the model it is to replace")
    reference = load_classifier(a.against)
    rows, ref = sweep(first, second, reference, val_sets(first.input_size, a.cache))
    best, why = choose(rows, ref, a.guard)
    for r in rows:
        print(f"weight {r['weight_first']:.2f}: " + ", ".join(f"{n} {100 * r[n]['accuracy']:.2f}" for n in VAL_SETS))
    print(f"against {a.against}: " + ", ".join(f"{n} {100 * ref[n]['accuracy']:.2f}" for n in VAL_SETS))
    if best is None:
        raise SystemExit(why)
    w = best["weight_first"]
    infos = [resolve_model(n) for n in (a.first, a.second)]
    licence = sorted({entry for i in infos for entry in i.licence})
    meta = {
        "name": a.out.name,
        "classes": list(first.classes),
        "input": dict(infos[0].metadata["input"]),
        "ensemble": {"members": [{"model": infos[0].name, "weight": w}, {"model": infos[1].name, "weight": round(1 - w, 4)}],
                     "how": "the weighted sum of the members' probabilities; the second member's crops are made "
                            "from the first's (gray if it is gray, resized to its input side)"},
        "architecture": {"name": "ensemble", "description": f"{infos[0].name} x {w} + {infos[1].name} x {1 - w:.2f}"},
        "licence": licence,
        "data": {"val": {n: rows[0][n]["n"] for n in VAL_SETS},
                 "val_crops": "the pipeline's crops of each image (fer.train.crops), single pass"},
        "selection": why,
        "metrics": {"val_sweep": rows, "val_default_model": {"model": a.against, **ref},
                    "litert_val": {n: best[n] for n in VAL_SETS}},
        "command": f"python -m fer.train.ensemble_ship {a.first} {a.second} --against {a.against} "
                   f"--out {os.path.relpath(a.out.resolve(), REPO_ROOT)} --cache CACHE",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "wall_seconds": round(time.time() - t0),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "metadata.json").write_text(json.dumps(meta, indent=2))
    print(f"weight {w} chosen: {why}; wrote {a.out / 'metadata.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
