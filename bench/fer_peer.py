"""The `fer` library's side of bench/compare_fer.py: runs inside bench/out/fer-venv (fer's import
name is ours too, so it can't share our venv) as a JSON-lines server on stdin/stdout.

Each request is one JSON object with a ``cmd``; each answer is one JSON line (``{"error": ...}`` when
the request failed). Arrays travel as .npy files named in the request. Timings are taken in here,
so the pipe's round trip is never counted. Nothing of our engine is imported.

    {"cmd": "hello"}                                     versions, labels, preprocessing
    {"cmd": "classify", "npy": P, "model": "tflite"|"keras"}   crops (N, h, w) uint8 -> label names
    {"cmd": "frame", "npy": P, "runs": n, "warmup": w[, "model": "keras"]}
                                                         ms of detect_emotions on one BGR frame
    {"cmd": "classifier", "npy": P, "runs": n, "warmup": w}    ms of one crop through the classifier
    {"cmd": "detect", "npy": P}                          boxes and ms for each frame of (N, H, W, 3)
"""
from __future__ import annotations

import json
import os
import sys
import time

# The protocol gets its own copy of stdout; fd 1 then points at stderr, so whatever TensorFlow or
# fer print (C++ logs, warnings) can never corrupt an answer.
_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import fer  # noqa: E402
from fer.fer import FER  # noqa: E402  (fer 25.10.3's package __init__ does not export FER)

CASCADE = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
INPUT = (64, 64)  # fer's emotion model input, both the TFLite and the Keras file

_detector: FER | None = None
_keras: FER | None = None
_arrays: dict[str, np.ndarray] = {}


def detector() -> FER:
    """fer with its defaults (Haar: scale 1.1, 5 neighbours, 50 px min face; quantized TFLite), given
    OpenCV's frontal-face cascade explicitly: the same file our detector loads."""
    global _detector
    if _detector is None:
        _detector = FER(cascade_file=CASCADE)
    return _detector


def keras_detector() -> FER:
    """fer with its original Keras file instead of the TFLite one (FER(use_tflite=False)): each frame's
    faces then go through one Keras ``model(x)`` call, as fer did before it shipped the TFLite file."""
    global _keras
    if _keras is None:
        _keras = FER(cascade_file=CASCADE, use_tflite=False)
    return _keras


def keras_model():
    """fer's original Keras file, loaded the way FER(use_tflite=False) loads it."""
    keras_detector()
    return FER._model_cache


def labels() -> list[str]:
    return [FER._get_labels()[i] for i in range(len(FER._get_labels()))]


def load(path: str) -> np.ndarray:
    if path not in _arrays:
        _arrays[path] = np.load(path, mmap_mode="r")
    return _arrays[path]


def preprocess(crops: np.ndarray) -> np.ndarray:
    """What FER.detect_emotions does to a face crop: plain cv2.resize to 64x64, then [-1, 1]."""
    faces = np.stack([cv2.resize(np.ascontiguousarray(c), INPUT) for c in crops]).astype("float32")
    return (faces / 255.0 - 0.5) * 2.0


def classify(req: dict) -> dict:
    crops = load(req["npy"])
    names = labels()
    out: list[str] = []
    for start in range(0, len(crops), 512):
        x = preprocess(crops[start:start + 512])
        if req.get("model", "tflite") == "tflite":
            probs = detector()._classify_emotions(x)  # fer's own call: batch-1 TFLite invokes in a loop
        else:  # batched with a channel axis: fer's own call passes (N, 64, 64) and Keras 3 warns
            probs = keras_model().predict(x[..., None], batch_size=256, verbose=0)
        out += [names[int(k)] for k in np.argmax(np.asarray(probs), axis=1)]
    return {"labels": out}


def timed(fn, runs: int, warmup: int) -> list[float]:
    """Milliseconds per call (the same loop as bench/latency.py's, which can't be imported here)."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return ms


def frame(req: dict) -> dict:
    img = np.ascontiguousarray(load(req["npy"]))
    det = keras_detector() if req.get("model") == "keras" else detector()
    ms = timed(lambda: det.detect_emotions(img), req.get("runs", 1), req.get("warmup", 0))
    return {"ms": ms, "faces": len(det.detect_emotions(img))}


def classifier(req: dict) -> dict:
    crop = np.ascontiguousarray(cv2.resize(np.ascontiguousarray(load(req["npy"])), INPUT))[None]
    det = detector()
    return {"ms": timed(lambda: det._classify_emotions((crop.astype("float32") / 255.0 - 0.5) * 2.0),
                        req.get("runs", 1), req.get("warmup", 0))}


def detect(req: dict) -> dict:
    frames = load(req["npy"])
    det = detector()
    boxes, ms = [], []
    for f in frames:
        f = np.ascontiguousarray(f)
        t = time.perf_counter()
        found = det.detect_emotions(f)
        ms.append((time.perf_counter() - t) * 1e3)
        boxes.append([[int(v) for v in face["box"]] for face in found])
    return {"boxes": boxes, "ms": ms}


def hello(req: dict) -> dict:
    import tensorflow as tf
    det = detector()
    settings = {k: getattr(det, f"_FER__{k}") for k in ("scale_factor", "min_neighbors", "min_face_size", "offsets")}
    return {"fer": fer.__version__, "fer_path": os.path.dirname(fer.__file__), "tensorflow": tf.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__, "labels": labels(), "input": list(INPUT),
            "preprocessing": "gray, cv2.resize to 64x64, x/255, (x-0.5)*2 -> [-1, 1]",
            "model": "emotion_model_quantized.tflite (FER default use_tflite=True)",
            "detector": {"cascade": CASCADE, **settings}}


HANDLERS = {"hello": hello, "classify": classify, "frame": frame, "classifier": classifier, "detect": detect}


def main() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            answer = HANDLERS[req["cmd"]](req)
        except Exception as e:  # report and keep serving: one bad request should not end the run
            answer = {"error": f"{type(e).__name__}: {e}"}
        _proto.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
