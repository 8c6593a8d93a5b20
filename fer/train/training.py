"""Fit a classifier on folder-per-class data: checkpoint every epoch, resume, select on val only.

Everything a run needs to continue lives in ``<out>/checkpoints``: Keras' BackupAndRestore keeps
the weights, optimizer state (and so the learning-rate schedule, a function of the step) and the
epoch counter; ``history.csv`` keeps each finished epoch's figures.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import ImageSet, load_image_set, values_per_root
from .evaluation import per_root_reports, predict_probabilities, report

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Hyperparameters of one run; written to the model's metadata."""
    data: list[str]
    val: list[str]
    out: str
    test: list[str] = field(default_factory=list)
    image_size: int = 48
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    patience: int = 12
    widths: tuple[int, ...] = (32, 64, 128, 256)
    seed: int = 1337
    resume: bool = False
    limit_per_class: int | None = None
    augment: str = "strong"
    init_from: str | None = None
    command: str = ""
    #: Training roots of which a stable part becomes validation data (root -> fraction), for sets
    #: without a val split (RAF-DB).
    hold_out: dict[str, float] = field(default_factory=dict)
    #: Root -> ``fer.train.data.reframe`` scale, bringing each source to the same face framing.
    framing: dict[str, float] = field(default_factory=dict)
    #: "class": inverse-sqrt class weights over the pooled data; "source-class": every (source,
    #: class) cell weighted by 1/sqrt(its count), each source's total by sqrt(its size), so one
    #: source's class prior can't pull the others' (the naive pooling trap).
    balance: str = "class"
    #: Source (a root or its data set name) -> multiplier of its total mass under "source-class"
    #: balance: how much one source should count against the others (a larger FER2013 share keeps
    #: the accuracy the FER2013-only model had there).
    source_weight: dict[str, float] = field(default_factory=dict)
    #: Targets of images that have FER+ votes: "folder", "ferplus" (vote distribution) or "mix:ALPHA".
    targets: str = "folder"
    #: "none", "drop" or "downweight" images whose FER+ votes contradict their folder label.
    clean: str = "none"
    votes: str | None = None
    #: Source (a root or its data set name) -> teacher model (a name in models/ or a folder): its
    #: probabilities become ``distill`` of that source's targets (``fer.train.distill``).
    teachers: dict[str, str] = field(default_factory=dict)
    distill: float = 0.5


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-square-root frequency weights (mean 1): lifts rare classes such as disgust without
    letting them dominate the loss the way full inverse frequency does."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    w = w / w[counts > 0].mean()
    return {i: float(v) for i, v in enumerate(w)}


def source_class_weights(labels: np.ndarray, root_index: np.ndarray, num_classes: int,
                         source_scale: dict[int, float] | None = None) -> np.ndarray:
    """Per-image weights (mean 1): each (source, class) cell by 1/sqrt(its count), then each source
    rescaled to a total mass proportional to sqrt(its size). Within a source the class prior
    flattens as with ``class_weights``; across sources a large set still counts more, but a small
    set with an odd class mix (AffectNet's few happy faces) no longer moves everyone's prior.
    ``source_scale`` (root index -> factor) multiplies a source's mass on top of that."""
    w = np.zeros(len(labels), dtype=np.float64)
    roots = np.unique(root_index)
    for r in roots:
        in_r = root_index == r
        for c in range(num_classes):
            cell = in_r & (labels == c)
            if cell.any():
                w[cell] = 1.0 / np.sqrt(cell.sum())
        w[in_r] *= np.sqrt(in_r.sum()) * (source_scale or {}).get(int(r), 1.0) / w[in_r].sum()
    return (w / w.mean()).astype(np.float32)


def _limit(s: ImageSet, per_class: int | None, seed: int) -> ImageSet:
    """At most ``per_class`` images of each class from each root (smoke runs)."""
    if not per_class:
        return s
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero((s.labels == c) & (s.root_index == r)))[:per_class]
                           for r in range(len(s.roots)) for c in range(len(s.classes))])
    keep.sort()
    return s.subset(keep)


def parse_targets(spec: str) -> float:
    """"folder" -> 0, "ferplus" -> 1, "mix:ALPHA" -> ALPHA: the weight of the FER+ vote distribution."""
    if spec == "folder":
        return 0.0
    if spec == "ferplus":
        return 1.0
    if spec.startswith("mix:"):
        try:
            a = float(spec[4:])
        except ValueError:
            a = -1
        if 0 <= a <= 1:
            return a
    raise ValueError(f"--targets must be folder, ferplus or mix:ALPHA with ALPHA in [0, 1], got {spec!r}")


@dataclass
class Targets:
    """What the training stream fits: (N, classes) float targets and (N,) per-image weights."""
    y: np.ndarray
    weights: np.ndarray
    notes: dict


def build_targets(s: ImageSet, cfg: TrainConfig) -> Targets:
    """Folder labels, mixed with FER+ votes where asked and available, weighted for balance and
    cleaned of images whose votes contradict their folder label (``cfg.clean``)."""
    k = len(s.classes)
    y = np.eye(k, dtype=np.float32)[s.labels]
    if cfg.source_weight and cfg.balance != "source-class":
        raise ValueError("--source-weight needs --balance source-class")
    if cfg.balance == "source-class":
        roots = [str(r) for r in s.roots]
        by_root = values_per_root(cfg.source_weight, roots, "--source-weight")
        if any(v <= 0 for v in cfg.source_weight.values()):
            raise ValueError("--source-weight factors must be positive")
        scale = {i: by_root[r] for i, r in enumerate(roots) if r in by_root}
        w = source_class_weights(s.labels, s.root_index, k, scale)
    elif cfg.balance == "class":
        cw = class_weights(s.labels, k)
        w = np.asarray([cw[int(c)] for c in s.labels], dtype=np.float32)
    else:
        raise ValueError(f"balance must be class or source-class, got {cfg.balance!r}")
    notes: dict = {"balance": cfg.balance, "targets": cfg.targets, "clean": cfg.clean}
    if cfg.source_weight:
        notes["source_weight"] = dict(cfg.source_weight)
    alpha = parse_targets(cfg.targets)
    if alpha > 0 or cfg.clean != "none":
        from . import ferplus
        votes_file = cfg.votes or _find_votes(s.roots)
        if votes_file is None:
            raise ValueError("--targets/--clean need FER+ votes: none found beside the roots; pass --votes FILE")
        votes = ferplus.load_votes(Path(votes_file), s.classes)
        notes["votes"] = str(votes_file)
        if alpha > 0:
            y, had = ferplus.soft_targets(s.labels, s.paths, votes, k, alpha)
            notes["images_with_votes"] = int(had.sum())
        if cfg.clean != "none":
            bad = ferplus.contradicted(s.labels, s.paths, votes)
            notes["contradicted"] = int(bad.sum())
            if cfg.clean == "drop":
                w = np.where(bad, 0.0, w).astype(np.float32)
            elif cfg.clean == "downweight":
                w = np.where(bad, w * 0.3, w).astype(np.float32)
            else:
                raise ValueError(f"clean must be none, drop or downweight, got {cfg.clean!r}")
    return Targets(y, w, notes)


def _find_votes(roots: list[str]) -> Path | None:
    """ferplus_votes.csv beside a FER2013 split root (``.../fer2013/train``), if there is one."""
    for r in roots:
        cand = Path(r).parent / "ferplus_votes.csv"
        if cand.is_file():
            return cand
    return None


#: Augmentation strengths: affine ranges, and whether photometric jitter and erasing are on.
#: "medium" and "light" suit continuing from a trained model (the strong setting underfits in short schedules).
AUGMENTATIONS = {
    "strong": {"degrees": 10.0, "scale": (0.87, 1.15), "shift": 0.1, "photometric": True, "erase": True},
    "medium": {"degrees": 8.0, "scale": (0.9, 1.1), "shift": 0.08, "photometric": True, "erase": False},
    "light": {"degrees": 5.0, "scale": (0.95, 1.05), "shift": 0.05, "photometric": False, "erase": False},
}


def _augmenter(seed: int, strength: str = "strong"):
    """Random flip + rotation + zoom + shift as ONE affine resample (chained Keras layers resample
    three times and blur the 48-px faces enough to wreck training), then brightness/contrast
    jitter and random erasing; applied per batch in tf.data."""
    import math

    import tensorflow as tf
    a = AUGMENTATIONS[strength]
    gen = tf.random.Generator.from_seed(seed)

    def affine(x):
        n = tf.shape(x)[0]
        size = tf.cast(tf.shape(x)[1], tf.float32)
        angle = gen.uniform([n], -a["degrees"], a["degrees"]) * math.pi / 180
        scale = gen.uniform([n], *a["scale"])          # >1 zooms in
        tx = gen.uniform([n], -a["shift"], a["shift"]) * size
        ty = gen.uniform([n], -a["shift"], a["shift"]) * size
        flip = tf.where(gen.uniform([n]) < 0.5, -1.0, 1.0)
        c = size / 2 - 0.5
        cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
        # Output pixel (u, v) samples input at A @ (u - c, v - c) + c - t, with x mirrored by flip.
        a0, a1 = cos * flip, -sin
        b0, b1 = sin * flip, cos
        a2 = c - a0 * c - a1 * c - tx
        b2 = c - b0 * c - b1 * c - ty
        zeros = tf.zeros([n])
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.shape(x)[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")

    def photometric(x):
        n = tf.shape(x)[0]
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        contrast = gen.uniform([n, 1, 1, 1], 0.7, 1.3)
        brightness = gen.uniform([n, 1, 1, 1], -25.0, 25.0)
        return (x - mean) * contrast + mean + brightness

    def erase(x):
        # Random erasing: a flat rectangle of 2-15 % of the face in half the images.
        n = tf.shape(x)[0]
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        area = gen.uniform([n], 0.02, 0.15)
        ratio = tf.exp(gen.uniform([n], -1.1, 1.1))
        eh = tf.cast(tf.clip_by_value(tf.sqrt(area * ratio) * tf.cast(h, tf.float32), 1, tf.cast(h, tf.float32)), tf.int32)
        ew = tf.cast(tf.clip_by_value(tf.sqrt(area / ratio) * tf.cast(w, tf.float32), 1, tf.cast(w, tf.float32)), tf.int32)
        y0 = tf.cast(gen.uniform([n]) * tf.cast(h - eh + 1, tf.float32), tf.int32)
        x0 = tf.cast(gen.uniform([n]) * tf.cast(w - ew + 1, tf.float32), tf.int32)
        rows = tf.range(h)[None, :, None]
        cols = tf.range(w)[None, None, :]
        inside = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
                  & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None]))
        apply = (gen.uniform([n]) < 0.5)[:, None, None]
        mask = tf.cast(inside & apply, x.dtype)[..., None]
        fill = gen.uniform([n, 1, 1, 1], 0, 255)
        return x * (1 - mask) + fill * mask

    def augment(x, *rest):
        x = affine(x)
        x = photometric(x) if a["photometric"] else x
        x = erase(x) if a["erase"] else x
        return (tf.clip_by_value(x, 0, 255), *rest)

    return augment


def _datasets(train: ImageSet, val: ImageSet, cfg: TrainConfig, seed: int | None = None,
              targets: Targets | None = None, batch_size: int | None = None):
    """The training stream (shuffled, augmented; (x, targets, weights)) and the val stream."""
    import tensorflow as tf
    k = len(train.classes)
    seed = cfg.seed if seed is None else seed
    targets = targets or build_targets(train, cfg)
    batch_size = batch_size or cfg.batch_size

    def to_float(x, y, *rest):
        return (tf.cast(x, tf.float32)[..., None], y if y.dtype == tf.float32 else tf.one_hot(y, k), *rest)

    augment = _augmenter(seed, cfg.augment)
    tr = (tf.data.Dataset.from_tensor_slices((train.images, targets.y, targets.weights))
          .shuffle(len(train.labels), seed=seed, reshuffle_each_iteration=True)
          .batch(batch_size, drop_remainder=True)
          .map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
          .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))
    va = (tf.data.Dataset.from_tensor_slices((val.images, val.labels))
          .batch(512).map(to_float).prefetch(tf.data.AUTOTUNE))
    return tr, va


def _epoch_extras_callback():
    """A callback adding the epoch's wall time and learning rate to the logs the CSV logger writes
    (built here so importing this module doesn't import Keras)."""
    import keras

    class EpochExtras(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.time()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = round(time.time() - self._t, 1)
                lr = self.model.optimizer.learning_rate
                logs["lr"] = float(lr.numpy() if hasattr(lr, "numpy") else lr)

    return EpochExtras()


def _per_source_callback(val: ImageSet):
    """Adds each val source's accuracy (``val_acc_<source>``) and their mean (``val_source_mean``,
    the selection figure when several sources are trained) to the epoch's logs, so the history
    shows whether one source gains at another's expense."""
    import keras
    from .data import source_name
    x = val.images[..., None].astype(np.float32)
    names = [source_name(r).replace(" ", "_") for r in val.roots]

    class PerSource(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            pred = self.model.predict(x, batch_size=512, verbose=0).argmax(1)
            accs = val.per_root_accuracy(pred)
            for n, r in zip(names, val.roots):
                logs[f"val_acc_{n}"] = round(accs[r], 5)
            logs["val_source_mean"] = round(float(np.mean(list(accs.values()))), 5)
            print("  per source: " + "  ".join(f"{n} {accs[r]:.3f}" for n, r in zip(names, val.roots)), flush=True)

    return PerSource()


def evaluate_sets(model, s: ImageSet) -> dict:
    """Plain and flip-averaged figures on a set, overall and per data root."""
    out = {}
    for name, flip in (("plain", False), ("flip", True)):
        pred = predict_probabilities(model, s.images, flip=flip).argmax(1)
        r = report(s.labels, pred, s.classes).to_dict()
        if len(s.roots) > 1:
            r["per_root_accuracy"] = s.per_root_accuracy(pred)
            r["per_root"] = per_root_reports(s.labels, pred, s.root_index, s.roots, s.classes)
        out[name] = r
    return out


def _history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        rows = [{k: (float(v) if k != "epoch" else int(v)) for k, v in row.items()} for row in csv.DictReader(f)]
    # A run killed between its backup and its CSV row repeats that epoch on resume: keep the last.
    return list({r["epoch"]: r for r in rows}.values())


def _checkpointed_epochs(ckpt: Path) -> int:
    """How many finished epochs the BackupAndRestore checkpoint in ``ckpt`` holds (0 without one)."""
    try:
        return int(json.loads((ckpt / "backup" / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _recorded_config(cfg: TrainConfig) -> dict:
    """The run's configuration for the metadata, absolute paths made relative to the repository."""
    from ..report import relative_path

    def rel(v):
        if isinstance(v, str) and v.startswith(os.sep):
            return relative_path(v)
        if isinstance(v, (list, tuple)):
            return [rel(x) for x in v]
        if isinstance(v, dict):
            return {rel(k): x for k, x in v.items()}
        return v
    return {k: rel(v) for k, v in cfg.__dict__.items()}


def licence_restrictions(roots: list[str]) -> list[str]:
    """The research-only licences a model trained on ``roots`` inherits (empty: none known)."""
    from ..config import RESTRICTED_DATA
    from .data import source_name
    return sorted({RESTRICTED_DATA[source_name(r)] for r in roots if source_name(r) in RESTRICTED_DATA})


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) training; write model.keras, model.tflite and metadata.json into ``cfg.out``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from .architecture import make_model

    out = Path(cfg.out)
    ckpt = out / "checkpoints"
    if ckpt.exists() and not cfg.resume:
        if (ckpt / "backup").exists():
            raise FileExistsError(f"{ckpt} holds an unfinished run: pass --resume to continue it, "
                                  f"or choose another --out")
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    if cfg.resume and not (ckpt / "backup").exists():
        log.warning("--resume: no checkpoint in %s, starting from scratch", ckpt)
    # The random streams (shuffle order, augmentations, dropout masks) restart with the process: seeded
    # alike, a resumed run would replay epoch 0's exact batches, which the model has already fit (its
    # train accuracy jumps for that epoch). So a resumed process seeds them by the epoch it starts at;
    # a fresh run keeps cfg.seed exactly, and the --limit-per-class subset always uses cfg.seed.
    stream_seed = cfg.seed + (_checkpointed_epochs(ckpt) if cfg.resume else 0)
    keras.utils.set_random_seed(stream_seed)
    # Every invocation that contributed epochs (the first run and each --resume), for the metadata.
    with (out / "commands.log").open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\t{cfg.command}\n")

    t_load = time.time()
    from .data import concat, hold_out, source_name
    train_set = load_image_set(cfg.data, cfg.image_size, framing=values_per_root(cfg.framing, cfg.data))
    held = []
    for root, frac in cfg.hold_out.items():
        train_set, part = hold_out(train_set, root, frac)
        held.append((part, f"{root}#holdout"))
    train_set = _limit(train_set, cfg.limit_per_class, cfg.seed)
    val_set = load_image_set(cfg.val, cfg.image_size, classes=train_set.classes,
                             framing=values_per_root(cfg.framing, cfg.val))
    if held:
        val_set = concat([val_set] + [p for p, _ in held], [None] + [n for _, n in held])
    val_set = _limit(val_set, cfg.limit_per_class, cfg.seed)
    print(f"loaded {len(train_set.labels)} train / {len(val_set.labels)} val images "
          f"in {time.time() - t_load:.0f}s; classes {train_set.classes}", flush=True)
    for name, part in (("train", train_set), ("val", val_set)):
        for root, counts in part.root_counts().items():
            print(f"  {name} {source_name(root)}: {sum(counts.values())} " + str(counts), flush=True)
    if len(train_set.labels) == 0:
        raise ValueError("no training images")
    k = len(train_set.classes)
    batch_size = cfg.batch_size
    if len(train_set.labels) < batch_size:
        # drop_remainder would leave zero steps: the run would "finish" having learnt nothing.
        batch_size = len(train_set.labels)
        print(f"note: only {batch_size} training images, fewer than --batch-size {cfg.batch_size}: "
              f"using batches of {batch_size}", flush=True)
    targets = build_targets(train_set, cfg)
    if cfg.teachers:
        from .distill import distill_targets
        y, taught = distill_targets(targets.y, train_set, cfg.teachers, cfg.distill)
        targets = Targets(y, targets.weights, {**targets.notes, **taught})
    steps = len(train_set.labels) // batch_size
    assert steps > 0
    total = steps * cfg.epochs
    warm = min(steps * cfg.warmup_epochs, total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate / 10, decay_steps=max(1, total - warm), alpha=0.01,
        warmup_target=cfg.learning_rate, warmup_steps=warm)
    model = make_model(k, cfg.image_size, tuple(cfg.widths))
    if cfg.init_from:
        # Fine-tuning: start from a trained model of the same shape (weights only; fresh optimizer).
        init = keras.saving.load_model(cfg.init_from, safe_mode=True, compile=False)
        model.set_weights(init.get_weights())
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )
    tr, va = _datasets(train_set, val_set, cfg, stream_seed, targets, batch_size)
    # Several val sources: select on the mean of their accuracies, so the largest can't outvote the rest.
    monitor = "val_source_mean" if len(val_set.roots) > 1 else "val_accuracy"
    done = _history(out / "history.csv") if cfg.resume else []
    best_so_far = max((h[monitor] for h in done if monitor in h), default=None)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(ckpt / "backup"), save_freq="epoch", delete_checkpoint=False),
        *([_per_source_callback(val_set)] if len(val_set.roots) > 1 else []),
        _epoch_extras_callback(),
        keras.callbacks.ModelCheckpoint(str(ckpt / "last.keras")),
        keras.callbacks.ModelCheckpoint(str(ckpt / "best.keras"), monitor=monitor, mode="max",
                                        save_best_only=True, initial_value_threshold=best_so_far),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=cfg.resume),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=cfg.patience),
    ]
    model.fit(tr, validation_data=va, epochs=cfg.epochs, callbacks=callbacks,
              verbose=1 if sys.stdout.isatty() else 2)

    history = _history(out / "history.csv")
    best = keras.saving.load_model(ckpt / "best.keras", safe_mode=True, compile=False)
    best.save(out / "model.keras")
    results = {"val": evaluate_sets(best, val_set)}
    if cfg.test:
        test_set = load_image_set(cfg.test, cfg.image_size, classes=train_set.classes,
                                  framing=values_per_root(cfg.framing, cfg.test))
        results["test"] = evaluate_sets(best, test_set)
    best_epoch = max(history, key=lambda h: h.get(monitor, 0))["epoch"] + 1 if history else None
    meta = {
        "name": out.name,
        "classes": train_set.classes,
        "input": {"size": cfg.image_size, "channels": 1, "dtype": "float32", "range": [0, 255],
                  "preprocessing": "grayscale, resize to size x size (INTER_AREA when shrinking); "
                                   "scaling to [0, 1] happens inside the model"},
        "architecture": {"name": model.name, "widths": list(cfg.widths), "params": int(model.count_params())},
        "command": cfg.command,
        "commands": [line.split("\t", 1)[1] for line in (out / "commands.log").read_text().splitlines()],
        "config": _recorded_config(cfg),
        "data": {"train": {"roots": train_set.roots, "counts": train_set.root_counts(), "n": int(len(train_set.labels))},
                 "val": {"roots": val_set.roots, "counts": val_set.root_counts(), "n": int(len(val_set.labels))},
                 "framing": cfg.framing, "hold_out": cfg.hold_out, "targets": targets.notes,
                 "batch_size_used": batch_size},
        "selection": monitor,
        "licence": licence_restrictions(cfg.data),
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "train_wall_seconds": round(sum(h.get("epoch_seconds", 0) for h in history), 1),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(), "tensorflow": tf.__version__,
                    "keras": keras.__version__},
        "metrics": results,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=2))
    from .shipping import ship
    return ship(out, cfg.data, cfg.val, cfg.test)
