"""Fine-tune a pretrained face network (``fer.train.backbones``) into an expression classifier on every
source at once: RAF-DB, AffectNet and FER2013 (with FER+ votes), cut the pipeline's way
(``fer.train.crops``), balanced by source and class.

Why every source: a network fine-tuned on RAF-DB alone learns RAF-DB (84.6 % there, 44.7 % on
AffectNet) and fails on photos from elsewhere. Why the pipeline's crops: the model must see faces
framed as the live pipeline frames them, with the spread of real boxes (random scale and shift).

Validation only chooses (RAF-DB's held-out tenth of train, AffectNet val, FER2013 val); test splits
are read once, by ``fer.train.finetune_ship`` for the model that ships. The run checkpoints every
epoch and ``--resume`` continues it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fer.config import CLASSES, data_root
from fer.train.crops import CONTEXT, CropSet, load_or_build
from fer.train.data import held_out_mask

#: RAF-DB has no val split: this fraction of its train split is held out, chosen by a hash of each
#: file name (the same rule as ``fer.train.data.hold_out``, so every model is chosen on the same faces).
RAFDB_HOLD_OUT = 0.1


@dataclass
class FinetuneConfig:
    """Every choice of a run, recorded in the model's metadata."""
    out: str
    backbone: str = "faceres"
    size: int = 112
    epochs: int = 10
    samples_per_epoch: int = 24000
    batch_size: int = 64
    lr: float = 2e-4
    warmup_epochs: float = 0.5
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    dropout: float = 0.2
    #: Share of each batch drawn from each source; within a source, classes are drawn in proportion to
    #: the square root of their counts (rare classes seen more, without repeating 280 fear faces a lot).
    source_mix: dict = field(default_factory=lambda: {"rafdb": 0.35, "affectnet": 0.35, "fer2013": 0.30})
    #: FER2013 targets: (1 - alpha) * folder label + alpha * FER+ vote distribution.
    ferplus_alpha: float = 0.5
    #: Augmentation: crop scale range (1 = the pipeline's framing), shift (fraction of the side),
    #: share of colour faces turned grey, share of faces blurred to low resolution.
    scale_range: tuple = (0.85, 1.3)
    shift: float = 0.06
    grey: float = 0.2
    low_res: float = 0.15
    seed: int = 0
    #: Only the first images of each class of each split (smoke runs and tests); None: all.
    limit_per_class: int | None = None
    #: Start from this fine-tuned Keras file's weights (same backbone; any input size, the network
    #: being convolutional up to its pooled feature) instead of the pretrained network: e.g. a model
    #: trained at 112 px fine-tuned further at 160, closer to the 224 px the backbone was pretrained at.
    init_from: str | None = None
    cache: str = str(Path.home() / ".cache" / "fer" / "crops")


def _held_out(paths: np.ndarray) -> np.ndarray:
    return held_out_mask(paths, RAFDB_HOLD_OUT)


def _subset(s: CropSet, keep: np.ndarray) -> CropSet:
    return CropSet(s.images[keep], s.labels[keep], s.paths[keep], s.found[keep])


def _ferplus_targets(s: CropSet, alpha: float) -> np.ndarray:
    """FER2013 targets mixed with FER+ votes (one-hot where an image has no votes)."""
    from fer.train.ferplus import default_votes_path, load_votes, soft_targets
    votes_file = default_votes_path(data_root() / "fer2013")
    if not votes_file.is_file():
        return np.eye(len(CLASSES), dtype=np.float32)[s.labels]
    votes = load_votes(votes_file)
    t, _ = soft_targets(s.labels.astype(np.int64), [str(p) for p in s.paths], votes, len(CLASSES), alpha)
    return t


def load_sources(cfg: FinetuneConfig, log=print) -> tuple[dict, dict]:
    """(train, val): source name -> (CropSet, targets (N, 7) float32)."""
    root, cache, k = data_root(), Path(cfg.cache), len(CLASSES)
    one_hot = np.eye(k, dtype=np.float32)

    def crops(split: str) -> CropSet:
        return load_or_build(root / split, cfg.size, cache, log, cfg.limit_per_class)
    raf = crops("rafdb/train")
    held = _held_out(raf.paths)
    if cfg.limit_per_class and not held.any():  # a small smoke run still needs a held-out part
        held[::10] = True
    aff_tr, aff_va = crops("affectnet/train"), crops("affectnet/val")
    fer_tr, fer_va = crops("fer2013/train"), crops("fer2013/val")
    train = {"rafdb": (_subset(raf, ~held), one_hot[raf.labels[~held]]),
             "affectnet": (aff_tr, one_hot[aff_tr.labels]),
             "fer2013": (fer_tr, _ferplus_targets(fer_tr, cfg.ferplus_alpha))}
    val = {"rafdb_holdout": _subset(raf, held), "affectnet_val": aff_va, "fer2013_val": fer_va}
    return train, val


def sampling_plan(train: dict, cfg: FinetuneConfig, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's draws: (source index, row) pairs, balanced by source share and sqrt class counts."""
    rng = np.random.default_rng(cfg.seed * 1000 + epoch)
    names = list(train)
    mix = np.array([cfg.source_mix[n] for n in names], float)
    src = rng.choice(len(names), cfg.samples_per_epoch, p=mix / mix.sum())
    rows = np.empty(cfg.samples_per_epoch, np.int64)
    for i, n in enumerate(names):
        labels = train[n][0].labels
        counts = np.bincount(labels, minlength=len(CLASSES)).astype(float)
        w = np.where(counts > 0, counts ** -0.5, 0.0)[labels]
        pick = src == i
        rows[pick] = rng.choice(len(labels), pick.sum(), p=w / w.sum())
    return src, rows


def _augment_fn(cfg: FinetuneConfig):
    """Batch augmentation in tf.data: a random scale/shift window of the context crop resized to the
    model's input (the spread of real boxes around the pipeline's framing), mirror, brightness and
    contrast, some faces grey, some blurred to low resolution (webcams, FER2013's 48 px)."""
    import tensorflow as tf
    size, ctx = cfg.size, CONTEXT
    lo, hi = cfg.scale_range

    def augment(x, y):
        n = tf.shape(x)[0]
        scale = tf.exp(tf.random.uniform([n], np.log(lo), np.log(hi)))
        half = scale / ctx / 2
        cx = 0.5 + tf.random.uniform([n], -cfg.shift, cfg.shift) * scale / ctx
        cy = 0.5 + tf.random.uniform([n], -cfg.shift, cfg.shift) * scale / ctx
        boxes = tf.stack([cy - half, cx - half, cy + half, cx + half], 1)
        img = tf.image.crop_and_resize(tf.cast(x, tf.float32), boxes, tf.range(n), [size, size])
        img = tf.where(tf.random.uniform([n, 1, 1, 1]) < 0.5, tf.reverse(img, [2]), img)
        mean = tf.reduce_mean(img, axis=[1, 2, 3], keepdims=True)
        img = (img - mean) * tf.random.uniform([n, 1, 1, 1], 0.7, 1.3) + mean + tf.random.uniform([n, 1, 1, 1], -25, 25)
        grey = tf.reduce_mean(img, axis=3, keepdims=True) * tf.ones([1, 1, 1, 3])
        img = tf.where(tf.random.uniform([n, 1, 1, 1]) < cfg.grey, grey, img)
        small = tf.image.resize(tf.image.resize(img, [40, 40], antialias=True), [size, size])
        img = tf.where(tf.random.uniform([n, 1, 1, 1]) < cfg.low_res, small, img)
        return tf.clip_by_value(img, 0, 255), y
    return augment


def centre_crops(images: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """The pipeline's framing out of context crops (the centre 1/CONTEXT), or ``scale`` times it
    (robustness checks), resized to ``size``."""
    import cv2
    side = images.shape[1]
    inner = side / CONTEXT * scale
    a = int(round((side - inner) / 2))
    b = a + int(round(inner))
    if b - a == size:
        return images[:, a:b, a:b]
    return np.stack([cv2.resize(im[a:b, a:b], (size, size), interpolation=cv2.INTER_AREA) for im in images])


#: Robustness checks: each val set also scored with crops this many times the pipeline's framing
#: (boxes drawn tighter or looser than BlazeFace's) and in grey.
ROBUSTNESS_SCALES = (0.9, 1.3)


def robustness_views(images: np.ndarray, size: int):
    """(name, crops) of context crops as cut (``1x``), at each of ROBUSTNESS_SCALES (``0.9x``, ``1.3x``)
    and in grey (``grey``: three equal channels), one view at a time so only one is in memory."""
    plain = centre_crops(images, size)
    yield "1x", plain
    for scale in ROBUSTNESS_SCALES:
        yield f"{scale:g}x", centre_crops(images, size, scale)
    yield "grey", np.repeat(plain.mean(axis=3, keepdims=True).round().astype(np.uint8), 3, axis=3)


def build_model(cfg: FinetuneConfig):
    """Backbone (preprocessing inside) -> dropout -> softmax over the seven classes."""
    import keras
    from fer.train.backbones import build_backbone
    backbone = build_backbone(cfg.backbone, cfg.size)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(backbone.output)
    out = keras.layers.Dense(len(CLASSES), activation="softmax", name="expression")(x)
    return keras.Model(backbone.input, out, name=f"{cfg.backbone}_expression")


def _schedule(cfg: FinetuneConfig):
    import keras
    steps_per_epoch = cfg.samples_per_epoch // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    return keras.optimizers.schedules.CosineDecay(0.0, total - warm, alpha=0.01, warmup_target=cfg.lr,
                                                  warmup_steps=warm)


def score(model_fn, images: np.ndarray, labels: np.ndarray, batch: int = 256) -> dict:
    """Accuracy and macro F1 of a probabilities function over crops (single pass)."""
    pred = np.concatenate([np.argmax(model_fn(images[i:i + batch]), 1) for i in range(0, len(images), batch)])
    return accuracy_f1(pred, labels)


def accuracy_f1(pred: np.ndarray, labels: np.ndarray) -> dict:
    k = len(CLASSES)
    f1 = []
    for c in range(k):
        tp = np.sum((pred == c) & (labels == c))
        p, r = tp / max(1, np.sum(pred == c)), tp / max(1, np.sum(labels == c))
        if np.sum(labels == c):
            f1.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return {"accuracy": float(np.mean(pred == labels)), "macro_f1": float(np.mean(f1)), "n": int(len(labels))}


def train(cfg: FinetuneConfig, resume: bool = False, log=print) -> Path:
    """Run (or continue) the fine-tuning; returns the run folder holding best.keras and history.csv."""
    import keras
    import tensorflow as tf
    out = Path(cfg.out)
    ckpt = out / "checkpoints"
    state_file = ckpt / "state.json"
    if out.exists() and any(out.iterdir()) and not resume:
        raise SystemExit(f"{out} is not empty: pass --resume to continue that run, or another --out")
    ckpt.mkdir(parents=True, exist_ok=True)
    t_load = time.time()
    train_sets, val_sets = load_sources(cfg, log)
    log(f"data ready in {time.time() - t_load:.0f} s: " +
        ", ".join(f"{n} {len(s.labels)}" for n, (s, _) in train_sets.items()))
    val_x = {n: centre_crops(s.images, cfg.size) for n, s in val_sets.items()}
    state = json.loads(state_file.read_text()) if resume and state_file.is_file() else {"epoch": 0, "best": -1.0,
                                                                                      "wall_seconds": 0.0}
    if state["epoch"] > 0:
        # The weights and the optimizer (Adam's moments, the step reached) of the last finished epoch.
        # A resumed run may be given another --epochs (a shorter run on a busy machine): its schedule
        # then decays over the new length from the step reached. (Restarting Adam's moments instead,
        # at this learning rate, wrecked a pretrained network in one epoch: 72 % -> 39 % on RAF-DB.)
        model = keras.saving.load_model(ckpt / "last.keras", safe_mode=True, compile=True)
        model.optimizer._learning_rate = _schedule(cfg)
        log(f"resuming after epoch {state['epoch']} of {cfg.epochs}")
    else:
        model = build_model(cfg)
        if cfg.init_from:
            start = keras.saving.load_model(cfg.init_from, safe_mode=True, compile=False)
            if [w.shape for w in start.weights] != [w.shape for w in model.weights]:
                raise SystemExit(f"--init-from {cfg.init_from}: not a {cfg.backbone} expression model")
            model.set_weights(start.get_weights())
            log(f"starting from {cfg.init_from}")
        model.compile(optimizer=keras.optimizers.AdamW(_schedule(cfg), weight_decay=cfg.weight_decay),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                      metrics=["accuracy"])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    names = list(train_sets)
    augment = _augment_fn(cfg)
    history = out / "history.csv"
    for epoch in range(state["epoch"], cfg.epochs):
        t0 = time.time()
        src, rows = sampling_plan(train_sets, cfg, epoch)

        def batches(src=src, rows=rows):
            for i in range(0, len(rows) - cfg.batch_size + 1, cfg.batch_size):
                s, r = src[i:i + cfg.batch_size], rows[i:i + cfg.batch_size]
                x = np.stack([train_sets[names[a]][0].images[b] for a, b in zip(s, r)])
                y = np.stack([train_sets[names[a]][1][b] for a, b in zip(s, r)])
                yield x, y
        side = int(round(cfg.size * CONTEXT))
        ds = (tf.data.Dataset.from_generator(batches, output_signature=(
            tf.TensorSpec([None, side, side, 3], tf.uint8), tf.TensorSpec([None, len(CLASSES)], tf.float32)))
            .map(augment, num_parallel_calls=2).prefetch(2))
        fit = model.fit(ds, epochs=1, verbose=2)
        row = {"epoch": epoch + 1, "loss": fit.history["loss"][-1], "accuracy": fit.history["accuracy"][-1]}
        predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        for n, s in val_sets.items():
            r = score(lambda x: predict(tf.constant(x, tf.float32)).numpy(), val_x[n], s.labels.astype(int))
            row[f"{n}_acc"], row[f"{n}_f1"] = round(r["accuracy"], 4), round(r["macro_f1"], 4)
        row["select"] = round((row["rafdb_holdout_acc"] + row["affectnet_val_acc"]) / 2, 4)
        row["seconds"] = round(time.time() - t0, 1)
        log(json.dumps(row))
        new = not history.is_file()
        with history.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        model.save(ckpt / "last.keras")
        if row["select"] > state["best"]:
            state["best"], state["best_epoch"] = row["select"], epoch + 1
            model.save(out / "best.keras")
        state["epoch"] = epoch + 1
        state["wall_seconds"] = state.get("wall_seconds", 0.0) + row["seconds"]
        state["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
        state_file.write_text(json.dumps(state, indent=2))
    return out


def _parse_mix(text: str) -> dict:
    """``rafdb=0.3,affectnet=0.3,fer2013=0.4`` as a source mix; the shares must add up to 1."""
    try:
        mix = {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write source=share pairs, e.g. rafdb=0.3,fer2013=0.7")
    unknown = set(mix) - {"rafdb", "affectnet", "fer2013"}
    if unknown or abs(sum(mix.values()) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"{text!r}: sources are rafdb, affectnet, fer2013 and shares add up to 1")
    return mix


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="run folder (checkpoints, history, best.keras)")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    defaults = FinetuneConfig(out="")
    for name in ("backbone", "size", "epochs", "samples_per_epoch", "batch_size", "lr", "weight_decay",
                 "label_smoothing", "ferplus_alpha", "seed", "cache", "limit_per_class"):
        v = getattr(defaults, name)
        ap.add_argument("--" + name.replace("_", "-"), type=int if v is None else type(v), default=v)
    ap.add_argument("--init-from", help="a fine-tuned Keras file (same backbone) to start from")
    ap.add_argument("--source-mix", type=_parse_mix, default=defaults.source_mix,
                    help="each source's share of a batch, e.g. rafdb=0.3,affectnet=0.3,fer2013=0.4")
    a = ap.parse_args(argv)
    given = {k: v for k, v in vars(a).items() if k != "resume"}
    cfg = FinetuneConfig(**given)
    if a.resume and (Path(a.out) / "config.json").is_file():
        # The run's own choices, except those set on this command line (e.g. a new --epochs).
        recorded = json.loads((Path(a.out) / "config.json").read_text())
        changed = {k: v for k, v in given.items() if v != getattr(defaults, k)}
        cfg = FinetuneConfig(**{**recorded, **changed, "out": a.out})
    train(cfg, resume=a.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
