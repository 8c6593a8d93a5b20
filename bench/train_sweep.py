"""A short sweep of training variants on validation data only: fine-tunes of the shipped model
on a per-source, per-class subsample of FER2013 + RAF-DB + AffectNet train, scored per source on
FER2013 val (folder labels and FER+ majority), RAF-DB's held-out part of train and AffectNet val.

    python bench/train_sweep.py [--limit-per-class 400] [--epochs 2] [--out bench/out/sweep]

Prints one row per variant; test splits are never read. The chosen variant then gets one long run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fer.config import data_root  # noqa: E402

VARIANTS = {
    "naive pooling (folder, class weights)": ["--balance", "class", "--targets", "folder"],
    "source-class balance": ["--balance", "source-class", "--targets", "folder"],
    "source-class + mix:0.4 + downweight": ["--balance", "source-class", "--targets", "mix:0.4", "--clean", "downweight"],
    "source-class + mix:0.7 + drop": ["--balance", "source-class", "--targets", "mix:0.7", "--clean", "drop"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-per-class", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "sweep"))
    ap.add_argument("--only", help="run only variants whose name contains this")
    args = ap.parse_args()
    d = data_root()
    base = [sys.executable, "-m", "fer", "train",
            "--data", str(d / "fer2013/train"), "--data", str(d / "rafdb/train"), "--data", str(d / "affectnet/train"),
            "--val", str(d / "fer2013/val"), "--val", str(d / "affectnet/val"),
            "--hold-out", f"{d / 'rafdb/train'}=0.1", "--framing", "rafdb=1.09", "--framing", "affectnet=0.935",
            "--init-from", str(REPO / "models/default/model.keras"), "--augment", "medium", "--lr", "3e-4",
            "--epochs", str(args.epochs), "--limit-per-class", str(args.limit_per_class)]
    rows = []
    for i, (name, extra) in enumerate(VARIANTS.items()):
        if args.only and args.only not in name:
            continue
        out = Path(args.out) / f"v{i}"
        meta_file = out / "metadata.json"
        if not meta_file.exists():
            subprocess.run(base + extra + ["--out", str(out)], check=True, cwd=REPO,
                           stdout=subprocess.DEVNULL, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        meta = json.loads(meta_file.read_text())
        per = meta["metrics"]["val"]["plain"]["per_root"]
        from fer.train.data import source_name
        fig = {source_name(r): v for r, v in per.items()}
        ferplus = _ferplus_val(out)
        rows.append((name, fig, ferplus))
        print(f"{name:40s} " + "  ".join(f"{k} {v['accuracy']:.3f} (F1 {v['macro_f1']:.2f})" for k, v in fig.items())
              + f"  FER+ val {ferplus:.3f}", flush=True)


def _ferplus_val(model_dir: Path) -> float:
    """FER+ majority accuracy of the model's LiteRT file on FER2013 val (single pass)."""
    res = subprocess.run([sys.executable, "-m", "fer", "evaluate", str(data_root() / "fer2013/val"), "--model",
                          str(model_dir), "--truth", "ferplus", "--no-flip", "--json"],
                         capture_output=True, text=True, cwd=REPO, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    return json.loads(res.stdout)["accuracy"]


if __name__ == "__main__":
    main()
