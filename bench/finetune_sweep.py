"""A short sweep of the pretrained-backbone fine-tune (``fer.train.finetune``) on validation data only:
one factor at a time around the shipped configuration (backbone, input size, learning rate, data
mix), each variant a short run from the pretrained network, scored on RAF-DB's held-out tenth of
train, AffectNet val, FER2013 val (folder labels and FER+ majority), and for robustness with crops
0.9x and 1.3x the pipeline's framing and in grey.

    python bench/finetune_sweep.py --cache CACHE [--epochs 2] [--samples-per-epoch 12000] [--out bench/out/finetune_sweep]

A short run ranks variants, it does not predict a long run's figures: the shipped model trained
14 epochs of 24,000 faces, a variant here trains 2 of 12,000 (its cosine schedule decaying to 0 over
them). Test splits are never read. Each variant's run folder and scores are kept under ``--out``, so
an interrupted sweep continues where it stopped. Prints a Markdown table (accuracy %, single pass, the Keras model).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fer.config import data_root  # noqa: E402

SHIPPED_MIX = "rafdb=0.3,affectnet=0.3,fer2013=0.4"
#: name -> the arguments that differ from the shipped configuration (faceres, 112 px, AdamW 2e-4, SHIPPED_MIX).
VARIANTS = {
    "shipped configuration": [],
    "input 96 px": ["--size", "96"],
    "input 160 px": ["--size", "160"],
    "learning rate 1e-4": ["--lr", "1e-4"],
    "learning rate 5e-4": ["--lr", "5e-4"],
    "mix 35/35/30": ["--source-mix", "rafdb=0.35,affectnet=0.35,fer2013=0.3"],
    "mix 50/25/25 (RAF-DB heavy)": ["--source-mix", "rafdb=0.5,affectnet=0.25,fer2013=0.25"],
    "backbone mobilefacenet": ["--backbone", "mobilefacenet"],
}


def run_variant(name: str, extra: list[str], out: Path, a) -> dict:
    """Train one variant (unless its run is already finished) and score it; the scores are cached."""
    scores_file = out / "scores.json"
    if scores_file.is_file():
        return json.loads(scores_file.read_text())
    cmd = [sys.executable, "-m", "fer.train.finetune", "--out", str(out), "--cache", str(a.cache),
           "--epochs", str(a.epochs), "--samples-per-epoch", str(a.samples_per_epoch),
           "--source-mix", SHIPPED_MIX, *extra]
    state = out / "checkpoints" / "state.json"
    done = state.is_file() and json.loads(state.read_text())["epoch"] >= a.epochs
    t0 = time.time()
    if not done:
        resume = ["--resume"] if state.is_file() else []
        print(f"{name}: training ({' '.join(extra) or 'as shipped'})", flush=True)
        subprocess.run(cmd + resume, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                       stdout=(out.parent / f"{out.name}.log").open("a"), stderr=subprocess.STDOUT)
    scores = {"variant": name, "args": extra, "train_seconds": round(time.time() - t0),
              "val": score(out, a.cache)}
    scores_file.write_text(json.dumps(scores, indent=2))
    return scores


def score(run: Path, cache: Path) -> dict:
    """The run's best epoch on every val set and view, plus FER+ majority on FER2013 val (accuracy)."""
    import keras
    import tensorflow as tf

    from fer.train.ferplus import default_votes_path, load_votes, majority_labels
    from fer.train.finetune import FinetuneConfig, load_sources, robustness_views
    cfg = FinetuneConfig(**{**json.loads((run / "config.json").read_text()), "cache": str(cache)})
    _, val = load_sources(cfg, log=lambda *_: None)
    model = keras.saving.load_model(run / "best.keras", safe_mode=True, compile=False)
    predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def classes(x: np.ndarray) -> np.ndarray:
        return np.concatenate([predict(tf.constant(x[i:i + 128], tf.float32)).numpy().argmax(1)
                               for i in range(0, len(x), 128)])
    out: dict = {}
    for n, s in val.items():
        labels = s.labels.astype(int)
        for view, x in robustness_views(s.images, cfg.size):
            pred = classes(x)
            out[f"{n} {view}"] = round(100 * float((pred == labels).mean()), 2)
            if n == "fer2013_val" and view == "1x":
                majority, _ = majority_labels([str(p) for p in s.paths], load_votes(default_votes_path(
                    data_root() / "fer2013")))
                kept = majority >= 0
                out["ferplus_val 1x"] = round(100 * float((pred[kept] == majority[kept]).mean()), 2)
    return out


def table(rows: list[dict]) -> str:
    sets = ("rafdb_holdout", "affectnet_val", "fer2013_val")
    head = ("| variant | RAF-DB held-out | AffectNet val | FER2013 val | FER+ val | worst robustness loss "
            "(0.9x, 1.3x, grey) | minutes |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        v = r["val"]
        worst = max(v[f"{n} 1x"] - acc for key, acc in v.items() for n in sets
                    if key.startswith(f"{n} ") and key != f"{n} 1x")
        lines.append(f"| {r['variant']} | " + " | ".join(f"{v[f'{n} 1x']:.1f}" for n in sets)
                     + f" | {v['ferplus_val 1x']:.1f} | {worst:.1f} | {r['train_seconds'] / 60:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fer" / "crops",
                    help="fer.train.crops' cache (a new input size cuts its crops there first)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--samples-per-epoch", type=int, default=12000)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "finetune_sweep")
    ap.add_argument("--only", help="run only the variants whose name contains this")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, extra) in enumerate(VARIANTS.items()):
        if a.only and a.only not in name:
            continue
        rows.append(run_variant(name, extra, a.out / f"v{i}", a))
        print(json.dumps(rows[-1]["val"]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
