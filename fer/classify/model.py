"""Load a model folder (LiteRT file for serving, Keras file for training and explanations, metadata)
and classify batches of face crops fast.

A model folder holds ``model.tflite``, ``model.keras`` and ``metadata.json``. Serving never imports
TensorFlow: the LiteRT interpreter runs the network in a fraction of a millisecond, where a Keras
call costs tens of milliseconds of overhead.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DEFAULT_MODEL_NAME, MODELS_DIR
from .ensemble import EnsembleClassifier, is_ensemble
from .errors import ModelError

__all__ = ["Classifier", "EnsembleClassifier", "ModelError", "ModelInfo", "list_models", "load_classifier",
           "load_ensemble", "resolve_model"]

#: Larger batches are split into chunks of this many crops (one interpreter per batch size seen).
MAX_BATCH = 16


@dataclass(frozen=True)
class ModelInfo:
    """A model folder and what its metadata says about it."""
    name: str
    path: Path
    metadata: dict

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def input_size(self) -> int:
        return int(self.metadata["input"]["size"])

    @property
    def channels(self) -> int:
        """1: gray crops; 3: RGB crops."""
        return int(self.metadata["input"].get("channels", 1))

    @property
    def framing(self) -> str:
        """How the model's crops are cut: "eyes" (``fer.faces.align``: eyes level, fixed framing) or
        "box" (a square around the detector's box, ``fer.pipeline.crop_faces``)."""
        return str(self.metadata["input"].get("framing", "box"))

    def test_accuracy(self) -> float | None:
        """The shipped runtime's accuracy on the test split, if it was measured."""
        m = self.metadata.get("metrics", {})
        for key in ("litert_test", "test"):
            if key in m:
                return float(m[key]["plain"]["accuracy"])
        return None

    def headline_figures(self) -> dict[str, dict]:
        """See ``headline_figures``."""
        return headline_figures(self.metadata)

    @property
    def licence(self) -> list[str]:
        """Research-only licences inherited from the training data (empty for FER2013-only models)."""
        return list(self.metadata.get("licence", []))


#: Recorded evaluations shown as a model's headline figures: (label, data root, truth), single pass.
HEADLINE_SETS: tuple[tuple[str, str, str], ...] = (
    ("FER2013 test", "fer2013/test", "folder"),
    ("FER+ test", "fer2013/test", "ferplus"),
    ("RAF-DB test", "rafdb/test", "folder"),
    ("AffectNet test", "affectnet/test", "folder"),
)


def headline_figures(metadata: dict) -> dict[str, dict]:
    """Label -> {"accuracy", "macro_f1", "n"} for each headline set the model was evaluated on
    (``evaluate --record``, single pass), in HEADLINE_SETS order."""
    out = {}
    evals = metadata.get("evaluations", {})
    for label, root, truth in HEADLINE_SETS:
        for key, r in evals.items():
            parts = [part.strip() for part in key.split("|")]
            if len(parts) != 3:
                continue
            roots, t, mode = parts
            if roots.endswith(root) and t == f"truth={truth}" and mode == "single pass":
                out[label] = {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "n": r["n"]}
    return out


def resolve_model(name_or_path: str | Path | None = None, models_dir: Path = MODELS_DIR) -> ModelInfo:
    """A model by name (a folder in ``models/``) or by path; the default model when None."""
    p = Path(name_or_path) if name_or_path else models_dir / DEFAULT_MODEL_NAME
    if not p.exists() and name_or_path and not Path(name_or_path).is_absolute():
        p = models_dir / str(name_or_path)
    meta_path = p / "metadata.json"
    if not meta_path.is_file():
        known = ", ".join(m.name for m in list_models(models_dir)) or "none"
        raise ModelError(f"no model at {p} (expected {meta_path}); models available: {known}")
    try:
        meta = json.loads(meta_path.read_text())
        meta["classes"], meta["input"]["size"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{meta_path} is not valid model metadata ({e})") from None
    return ModelInfo(name=p.name, path=p, metadata=meta)


def list_models(models_dir: Path = MODELS_DIR) -> list[ModelInfo]:
    """Every loadable model folder under ``models_dir`` (a network file, or an ensemble of other
    folders), default first."""
    found = []
    if models_dir.is_dir():
        for d in sorted(models_dir.iterdir()):
            if not (d / "metadata.json").is_file():
                continue
            try:
                info = resolve_model(d, models_dir)
            except ModelError:
                continue
            if (d / "model.tflite").is_file() or (d / "model.keras").is_file() or is_ensemble(info):
                found.append(info)
    return sorted(found, key=lambda m: (m.name != DEFAULT_MODEL_NAME, m.name))


class Classifier:
    """Face crops (N, s, s) uint8 gray, or (N, s, s, 3) uint8 RGB for a colour model -> probabilities
    (N, classes) float32, via LiteRT.

    Thread-safe: one lock around the interpreters (a LiteRT interpreter must not be invoked from
    two threads at once), so one instance serves every session of a process.
    """

    def __init__(self, info: ModelInfo, num_threads: int = 2) -> None:
        self.info = info
        self.classes = info.classes
        self.input_size = info.input_size
        self.channels = info.channels
        self.framing = info.framing
        self._file = info.path / "model.tflite"
        if not self._file.is_file():
            raise ModelError(f"{info.path} has no model.tflite (export it with `python -m fer export`)")
        self._threads = num_threads
        self._interpreters: dict[int, object] = {}
        self._lock = threading.Lock()
        self._keras = None
        self._interpreter(1)  # fail now, not on the first frame

    def _interpreter(self, batch: int):
        it = self._interpreters.get(batch)
        if it is None:
            from ai_edge_litert.interpreter import Interpreter
            try:
                it = Interpreter(model_path=str(self._file), num_threads=self._threads)
                inp = it.get_input_details()[0]["index"]
                if batch != 1:
                    it.resize_tensor_input(inp, [batch, self.input_size, self.input_size, self.channels], strict=False)
                it.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                raise ModelError(f"could not load {self._file}: {e}") from None
            self._interpreters[batch] = it
        return it

    def predict(self, crops: np.ndarray, flip: bool = False) -> np.ndarray:
        """``crops``: (N, s, s) uint8 gray faces, or (N, s, s, 3) RGB for a colour model. ``flip``
        averages each face with its mirror."""
        crops = np.asarray(crops)
        s = self.input_size
        shape = (s, s) if self.channels == 1 else (s, s, self.channels)
        if crops.shape[1:] != shape:
            raise ValueError(f"expected crops of shape (N, {', '.join(map(str, shape))}), got {crops.shape}")
        n = len(crops)
        if n == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        if flip:
            both = self.predict(np.concatenate([crops, crops[:, :, ::-1]]))
            return (both[:n] + both[n:]) / 2
        x = crops.astype(np.float32)
        if self.channels == 1:
            x = x[..., None]
        out = np.empty((n, len(self.classes)), np.float32)
        with self._lock:
            for start in range(0, n, MAX_BATCH):
                chunk = x[start:start + MAX_BATCH]
                it = self._interpreter(len(chunk))
                it.set_tensor(it.get_input_details()[0]["index"], chunk)
                it.invoke()
                out[start:start + len(chunk)] = it.get_tensor(it.get_output_details()[0]["index"])
        # The int8 softmax comes in steps of 1/256, so rows sum to 1 +- 0.01: renormalise.
        out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out

    def warm(self) -> None:
        """One call on a blank face in the model's own crop shape: the first invoke of an interpreter
        sets up its delegate, which a stream's first face should not wait for."""
        shape = (1, self.input_size, self.input_size) + ((self.channels,) if self.channels > 1 else ())
        self.predict(np.zeros(shape, np.uint8))

    def keras_model(self):
        """The Keras model (for explanations and checks); imports TensorFlow on first use."""
        if self._keras is None:
            path = self.info.path / "model.keras"
            if not path.is_file():
                raise ModelError(f"{self.info.path} has no model.keras")
            import keras  # noqa: F401  (TensorFlow loads here, never at serving start-up)
            try:
                self._keras = keras.saving.load_model(path, safe_mode=True, compile=False)
            except Exception as e:  # Keras refuses code (Lambda layers, foreign modules) with several types
                message = " ".join(str(e).split())  # one line; Keras names the refused class near the end
                raise ModelError(f"could not load {path} (refused or damaged): {type(e).__name__}: {message}") from e
        return self._keras


def server_threads() -> int:
    """The dashboard's classifier threads: ``FER_LITERT_THREADS``, default 2."""
    raw = os.environ.get("FER_LITERT_THREADS", "2")
    if not raw.isdigit() or int(raw) < 1:
        raise ModelError(f"FER_LITERT_THREADS must be a whole number >= 1, not {raw!r}")
    return int(raw)


_cache: dict[tuple[str, int], Classifier] = {}
#: Re-entrant: an ensemble loads its members through ``load_classifier`` while holding it.
_cache_lock = threading.RLock()


def load_classifier(name_or_path: str | Path | None = None, num_threads: int = 2) -> Classifier:
    """Load once per process and share: every page, session and thread gets the same instance. An
    ensemble folder (``fer.classify.ensemble``) gives an ``EnsembleClassifier`` over its members,
    each loaded (and shared) through this function."""
    info = resolve_model(name_or_path)
    key = (str(info.path.resolve()), num_threads)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = load_ensemble(info, num_threads) if is_ensemble(info) else Classifier(info, num_threads)
        return _cache[key]


def load_ensemble(info: ModelInfo, num_threads: int = 2, load=None) -> EnsembleClassifier:
    """The ensemble of an ensemble folder: its members (folders beside it, named in its metadata's
    ``ensemble.members`` with their weights) loaded with ``load`` (default: ``load_classifier``)."""
    load = load or load_classifier
    try:
        pairs = [(str(m["model"]), float(m["weight"])) for m in info.metadata["ensemble"]["members"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{info.path}/metadata.json: ensemble.members must list "
                         f"{{'model': name, 'weight': number}} entries ({e})") from None
    members = []
    for name, _ in pairs:
        member = resolve_model(name, info.path.parent)
        if is_ensemble(member):
            raise ModelError(f"{info.name}: member {name} is itself an ensemble")
        members.append(load(member.path, num_threads))
    return EnsembleClassifier(info, members, [w for _, w in pairs], [n for n, _ in pairs])
