"""A pretrained backbone as the product would serve it: rebuild cost, fidelity to the original graph,
size, and LiteRT speed per face against the shipped model, in one run.

    python bench/backbone_speed.py [--backbone faceres|mobilefacenet] [--size 112] [--runs 200] [--json]

Rebuilds the backbone (``fer.train.backbones.build_backbone``), compares its feature with the
original TensorFlow.js graph run by TensorFlow on 8 real RAF-DB test faces, puts a 7-class Dense
head on it (untrained: speed only) and converts that to LiteRT as float32, float16 weights,
dynamic-range int8 (int8 weights, float activations) and full int8 (the shipped model's kind,
calibrated on 64 RAF-DB train faces). Each file, and the shipped ``models/default/model.tflite``,
runs one face at a time on one thread (``ai_edge_litert`` Interpreter, ``num_threads=1``): median
and range of ms per face over ``--runs`` calls, in 10 interleaved rounds (20 warm-up and
``--runs``/10 timed calls each) so other processes' load falls on every file alike, and the ratio
to the shipped model measured in the same run.
The last line printed is JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer.config import CLASSES, MODELS_DIR, data_root  # noqa: E402
from fer.train.backbones import BACKBONES, build_backbone  # noqa: E402


def real_faces(split: str, count: int, size: int) -> np.ndarray:
    """``count`` RAF-DB faces of ``split``, cycling through the classes, RGB float 0..255 at size x size."""
    root = data_root() / "rafdb" / split
    if not root.is_dir():
        sys.exit(f"RAF-DB not found at {root} (set FER_DATA_DIR)")
    per_class = [sorted((root / c).glob("*.jpg")) for c in CLASSES]
    faces = []
    for i in range(count):
        files = per_class[i % len(CLASSES)]
        bgr = cv2.resize(cv2.imread(str(files[(i // len(CLASSES)) % len(files)])), (size, size),
                         interpolation=cv2.INTER_AREA)
        faces.append(bgr[..., ::-1].astype(np.float32))
    return np.stack(faces)


def to_litert(model, kind: str, calibration: np.ndarray) -> bytes:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    with contextlib.redirect_stdout(io.StringIO()):  # Keras's export prints every variable's spec
        return converter.convert()


def ms_per_face(model_path: Path, face: np.ndarray, runs: int) -> list[float]:
    """One-face invocations of the LiteRT file on one thread, in ms, after 20 untimed warm-up calls."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(model_path), num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = np.ascontiguousarray(face.reshape(inp["shape"]), dtype=inp["dtype"])
    times = []
    for i in range(20 + runs):
        t = time.perf_counter()
        it.set_tensor(inp["index"], x)
        it.invoke()
        it.get_tensor(out["index"])
        if i >= 20:
            times.append((time.perf_counter() - t) * 1e3)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3),
            "max_ms": round(max(times), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbone", default="faceres", choices=sorted(BACKBONES))
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args()
    say = (lambda *a: None) if args.json else print

    import keras
    from tfjs_reference import original_feature

    t = time.perf_counter()
    backbone = build_backbone(args.backbone, args.size)
    rebuild_s = time.perf_counter() - t
    faces = real_faces("test", 8, args.size)
    original = original_feature(args.backbone, faces)
    rebuilt = np.asarray(backbone(faces, training=False))
    diff = float(np.abs(rebuilt - original).max())
    result = {"backbone": args.backbone, "size": args.size, "rebuild_s": round(rebuild_s, 2),
              "backbone_params": backbone.count_params(), "feature_dims": int(rebuilt.shape[1]),
              "feature_max_abs_diff": diff, "feature_max_abs": float(np.abs(original).max()),
              "feature_max_rel_diff": diff / float(np.abs(original).max())}
    say(f"{args.backbone}: rebuild {rebuild_s:.2f} s (Keras imported), {backbone.count_params():,} parameters; "
        f"{rebuilt.shape[1]}-d feature vs the original graph on 8 RAF-DB faces: max abs diff {diff:.2e} "
        f"(features up to {result['feature_max_abs']:.2f})")

    keras.utils.set_random_seed(0)
    head = keras.layers.Dense(len(CLASSES), activation="softmax", name="expression")(backbone.output)
    classifier = keras.Model(backbone.input, head, name=f"{args.backbone}_expression")
    calibration = real_faces("train", 64, args.size)
    face = faces[0:1]
    shipped = MODELS_DIR / "default" / "model.tflite"
    shipped_size = int(json.loads((shipped.parent / "metadata.json").read_text())["input"]["size"])
    shipped_face = cv2.resize(cv2.cvtColor(faces[0].astype(np.uint8), cv2.COLOR_RGB2GRAY),
                              (shipped_size, shipped_size), interpolation=cv2.INTER_AREA).astype(np.float32)
    files: dict[str, tuple[Path, np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("float32", "float16", "dynamic-int8", "int8"):
            t = time.perf_counter()
            path = Path(tmp) / f"{args.backbone}_{kind}.tflite"
            path.write_bytes(to_litert(classifier, kind, calibration))
            say(f"converted {kind} in {time.perf_counter() - t:.1f} s: {path.stat().st_size / 1e6:.2f} MB")
            files[kind] = (path, face)
        files["shipped default"] = (shipped, shipped_face)
        # Interleave rounds so a load change from other processes hits every file alike.
        times: dict[str, list[float]] = {k: [] for k in files}
        rounds = 10
        for _ in range(rounds):
            for kind, (path, x) in files.items():
                times[kind] += ms_per_face(path, x, max(1, args.runs // rounds))
        sizes = {k: p.stat().st_size for k, (p, _) in files.items()}
    base = statistics.median(times["shipped default"])
    result["litert"] = {}
    say(f"\nLiteRT, one face at a time, num_threads=1, {len(times['shipped default'])} runs each "
        f"(backbone at {args.size}x{args.size} + 7-class head; shipped default at {shipped_size}x{shipped_size} grey):")
    for kind, t_ms in times.items():
        s = summary(t_ms)
        s["size_mb"] = round(sizes[kind] / 1e6, 2)
        s["x_shipped"] = round(s["median_ms"] / base, 2)
        result["litert"][kind] = s
        say(f"  {kind:16s} median {s['median_ms']:6.2f} ms (range {s['min_ms']:.2f}-{s['max_ms']:.2f}), "
            f"{s['size_mb']:5.2f} MB, {s['x_shipped']:.2f}x the shipped model's time")
    ratio = result["litert"]["dynamic-int8"]["median_ms"] / result["litert"]["float32"]["median_ms"]
    say(f"  dynamic-int8 / float32: {ratio:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
