"""Where the model looked: a heat map for one face crop, overlaid on it.

The default is occlusion sensitivity on the served LiteRT model (``fer/classify/occlusion.py``): grey out
each patch of the face, see how much the class's log-probability falls. It was chosen by
faithfulness, measured with deletion and insertion curves on the served model
(``fer/classify/faithfulness.py``, ``bench/explain_faithfulness.py``): on 175 FER2013 val crops its median
deletion area was 0.137 (HiResCAM 0.267, Grad-CAM 0.220, a random smooth map 0.327; lower is
better) and its median insertion area 0.610 (0.337, 0.464, 0.307; higher is better), beating
HiResCAM on 90-93 % of crops. It also needs no TensorFlow.

HiResCAM (Draelos & Carin, 2020) and Grad-CAM (Selvaraju et al., 2017) stay available. Both read the
last convolutional features (6x6 for the shipped 48 px model); Grad-CAM averages the gradients over
all locations first, HiResCAM keeps them per location (gradient x activation element-wise). On
the shipped model HiResCAM's maps were hardly more faithful than random (maps that point at
corners: its hottest pixel sat in the crop's outer band in 57 of 175 crops), and classic
Grad-CAM found no positive evidence at all in 145 of 175, falling back to SmoothGrad.

Both CAMs differentiate the class *logit*, not the softmax probability: a confident softmax saturates
and its gradient vanishes, which would make the most convincing faces look unexplained.

When a CAM has nothing to say (a model without a spatial convolutional layer, or no positive
evidence for the class) we fall back to SmoothGrad saliency, |d logit / d pixel| averaged over a few
noisy copies of the crop, which needs nothing but the input gradient. The explanation then carries
the reason (``Explanation.fallback``), so a page can say why the chosen method was not used.

The overlay tints the face in proportion to the heat: where the map is cold the face shows as it
is, so the regions that matter stand out on a readable face (a uniform JET blend paints the
whole crop dark blue).

The CAMs run on the Keras model (``Classifier.keras_model()``), so TensorFlow is imported only here,
on the first CAM explanation, never when serving starts. Import order matters in a process that also
runs WebRTC: aiortc must be loaded before TensorFlow (their native crypto libraries clash; importing
aiortc after TensorFlow segfaults), so we load it first when it is installed.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import numpy as np

#: Side of the returned overlay: the 48 px crop is too small to read on screen.
OVERLAY_SIZE = 192
#: Heat map opacity over the face where the map is hottest; it falls with the heat to 0 where the
#: map is 0, so cold regions leave the face untinted.
OVERLAY_ALPHA = 0.6
#: How to read the overlay, one line, for the UI.
HOW_TO_READ = ("Red/yellow = the regions that pushed the model towards this label the most (with occlusion: "
               "greying them out lowers this label's probability the most); faint or untinted = little "
               "influence. It shows where the model looked, not why.")

HIRESCAM = "HiResCAM"
GRAD_CAM = "Grad-CAM"
OCCLUSION = "Occlusion"
SMOOTHGRAD = "SmoothGrad saliency"
#: The methods a user can choose, the default (the most faithful, see DEFAULT_METHOD) first.
METHODS: tuple[str, ...] = (OCCLUSION, HIRESCAM, GRAD_CAM)
#: Measured by bench/explain_faithfulness.py on FER2013 val crops (docs/models.md, "Heat maps"): occlusion on
#: the served model has the lowest deletion and the highest insertion area of the three.
DEFAULT_METHOD = OCCLUSION
#: The caption-friendly name of each method.
METHOD_NOTES = {OCCLUSION: "Occlusion sensitivity (on the served model)",
                HIRESCAM: "HiResCAM (Grad-CAM without gradient averaging)", GRAD_CAM: "Grad-CAM",
                SMOOTHGRAD: "SmoothGrad saliency"}


@dataclass(frozen=True)
class Explanation:
    """One face's explanation.

    ``heatmap``: (s, s) float32 in [0, 1] on the model's input grid (s = crop side).
    ``overlay``: (OVERLAY_SIZE, OVERLAY_SIZE, 3) BGR uint8, the crop with the heat map on top.
    ``class_index``/``label``: the class explained. ``method``: ``OCCLUSION``, ``HIRESCAM``,
    ``GRAD_CAM`` or ``SMOOTHGRAD`` (the CAMs' fallback). ``layer``: the feature layer the CAM used (None for saliency).
    ``fallback``: when ``method`` is not the method asked for, why that one could not explain this face.
    """
    heatmap: np.ndarray
    overlay: np.ndarray
    class_index: int
    label: str
    method: str
    layer: str | None = None
    fallback: str | None = None


def _load_aiortc_first() -> None:
    """Import aiortc (when installed) while TensorFlow is not loaded yet. Measured here: importing
    aiortc *after* TensorFlow segfaults the process at import time, so once TensorFlow is in, it's
    too late and we leave aiortc alone (that process then must never load WebRTC)."""
    if "tensorflow" in sys.modules or "aiortc" in sys.modules:
        return
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass


#: Layers that only subsample or regularise features: Grad-CAM on the layer before them keeps twice
#: the resolution (6x6 instead of 3x3 for the shipped 48 px model) with the same information.
_PASS_THROUGH = ("Pooling", "Dropout")


def _spatial_layer_name(model) -> str | None:
    """The last layer with a 4-D (N, H, W, C) output and H, W > 1 that is not a pooling or dropout
    layer: the last convolutional features at their full resolution."""
    for layer in reversed(model.layers):
        if any(t in type(layer).__name__ for t in _PASS_THROUGH):
            continue
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if shape is not None and len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1:
            return layer.name
    return None


class Explainer:
    """Explanations for one Keras classifier; builds its gradient model once (thread-safe)."""

    def __init__(self, keras_model, classes: list[str]) -> None:
        _load_aiortc_first()
        import keras
        self.model = keras_model
        self.classes = list(classes)
        self.layer = _spatial_layer_name(keras_model)
        head = keras_model.layers[-1]
        # Logits: the last Dense layer's input times its kernel, when that layer ends in a softmax.
        self._head = head if getattr(head, "activation", None) is keras.activations.softmax else None
        outputs = [keras_model.layers[-1].input if self._head is not None else keras_model.output]
        if self.layer is not None:
            outputs.insert(0, keras_model.get_layer(self.layer).output)
        self._grad_model = keras.Model(keras_model.input, outputs)  # same input structure as the model
        self._lock = threading.Lock()

    def _logits(self, head_input):
        if self._head is None:
            return head_input
        import tensorflow as tf
        z = tf.matmul(head_input, self._head.kernel)
        return z + self._head.bias if self._head.bias is not None else z

    def cam(self, crop: np.ndarray, class_index: int, method: str = HIRESCAM) -> np.ndarray | None:
        """(s, s) float32 class activation map in [0, 1], or None when there is no positive evidence.

        HIRESCAM: ReLU(sum over channels of gradient * activation), location by location.
        GRAD_CAM: the gradients are first averaged over locations, one weight per channel.
        """
        if self.layer is None:
            return None
        import tensorflow as tf
        x = tf.convert_to_tensor(_batch(crop))
        with tf.GradientTape() as tape:
            features, head_input = self._grad_model(x, training=False)
            score = self._logits(head_input)[0, class_index]
        grads = tape.gradient(score, features)
        if grads is None:
            return None
        if method == GRAD_CAM:
            grads = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # (1, 1, 1, C)
        cam = tf.nn.relu(tf.reduce_sum(features * grads, axis=-1))[0].numpy()
        if not np.isfinite(cam).all() or cam.max() <= 1e-12:
            return None
        return _to_unit(_resize(cam, crop.shape[0]))

    def smoothgrad(self, crop: np.ndarray, class_index: int, samples: int = 16, noise: float = 0.1,
                   seed: int = 0) -> np.ndarray:
        """(s, s) float32 saliency in [0, 1]: mean |gradient of the logit| over noisy copies."""
        import tensorflow as tf
        rng = np.random.default_rng(seed)
        base = _batch(crop)
        noisy = base + rng.normal(0, noise * 255.0, size=(samples,) + base.shape[1:]).astype(np.float32)
        x = tf.convert_to_tensor(np.clip(noisy, 0, 255))
        with tf.GradientTape() as tape:
            tape.watch(x)
            outs = self._grad_model(x, training=False)
            head_input = outs[-1] if isinstance(outs, (list, tuple)) else outs
            score = tf.reduce_sum(self._logits(head_input)[:, class_index])
        g = np.abs(tape.gradient(score, x).numpy()).mean(axis=(0, 3))
        return _to_unit(_blur(g))

    def explain(self, crop: np.ndarray, class_index: int | None = None, flip: bool = False,
                method: str = HIRESCAM) -> Explanation:
        """Explain one (s, s) uint8 gray or (s, s, 3) RGB face crop (the model's own) for ``class_index`` (default: the model's top class).

        ``flip`` mirrors what flip test-time augmentation does to the prediction: the face's map and
        the mirrored face's map (mirrored back) are averaged. ``method``: HIRESCAM or GRAD_CAM; either
        falls back to SMOOTHGRAD when it finds no positive evidence.
        """
        if method not in (HIRESCAM, GRAD_CAM):
            raise ValueError(f"method must be {HIRESCAM!r} or {GRAD_CAM!r}, not {method!r}")
        crop = _checked_crop(crop)
        views = [crop, np.ascontiguousarray(crop[:, ::-1])] if flip else [crop]
        with self._lock:
            if class_index is None:
                probs = np.mean([np.asarray(self.model(_batch(v), training=False))[0]
                                 for v in views], axis=0)
                class_index = int(np.argmax(probs))
            maps = [self.cam(v, class_index, method) for v in views]
            layer, fallback = self.layer, None
            if any(m is None for m in maps):
                fallback = self._why_no_cam(method, class_index)
                maps = [self.smoothgrad(v, class_index) for v in views]
                method, layer = SMOOTHGRAD, None
        if flip:
            maps[1] = maps[1][:, ::-1]
        heat = _to_unit(np.mean(maps, axis=0))
        return Explanation(heatmap=heat.astype(np.float32), overlay=overlay(crop, heat), class_index=class_index,
                           label=self.classes[class_index], method=method, layer=layer, fallback=fallback)

    def _why_no_cam(self, method: str, class_index: int) -> str:
        if self.layer is None:
            return f"this model has no convolutional feature map for {method} to weigh"
        how = ("its gradients averaged over the face weigh against every location" if method == GRAD_CAM
               else "no location has gradient x activation above zero")
        return (f"{method} found no evidence for '{self.classes[class_index]}' in the {self.layer} features "
                f"({how})")


def overlay(crop: np.ndarray, heatmap: np.ndarray, size: int = OVERLAY_SIZE, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """A gray (s, s) or RGB (s, s, 3) uint8 crop and a [0, 1] heat map -> (size, size, 3) BGR uint8: the
    JET colour of each pixel's heat blended over the face with opacity ``alpha * heat``, so the face
    shows through untinted where the map is cold."""
    import cv2
    face = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
    face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR if face.ndim == 2 else cv2.COLOR_RGB2BGR).astype(np.float32)
    heat = np.clip(cv2.resize(np.clip(heatmap, 0, 1).astype(np.float32), (size, size),
                              interpolation=cv2.INTER_CUBIC), 0, 1)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
    weight = (alpha * heat)[..., None]
    return np.clip(face * (1 - weight) + colour * weight + 0.5, 0, 255).astype(np.uint8)


def _checked_crop(crop: np.ndarray) -> np.ndarray:
    """One face crop as a model takes it: (s, s) uint8 gray or (s, s, 3) uint8 RGB; ValueError otherwise."""
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or not (crop.ndim == 2 or (crop.ndim == 3 and crop.shape[2] == 3)):
        raise ValueError(f"explain() takes one (s, s) uint8 gray or (s, s, 3) RGB crop, got {crop.shape} {crop.dtype}")
    return crop


def _batch(crop: np.ndarray) -> np.ndarray:
    """One crop as a batch of one for the Keras model: (1, s, s, channels) float32."""
    x = crop.astype(np.float32)
    return (x[..., None] if x.ndim == 2 else x)[None]


def _resize(a: np.ndarray, side: int) -> np.ndarray:
    import cv2
    return cv2.resize(a.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)


def _blur(a: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.GaussianBlur(a.astype(np.float32), (0, 0), sigmaX=max(1.0, a.shape[0] / 48))


def _to_unit(a: np.ndarray) -> np.ndarray:
    a = np.maximum(np.asarray(a, dtype=np.float32), 0)
    hi = float(a.max()) if a.size else 0.0
    return a / hi if hi > 0 else np.zeros_like(a)


_explainers: dict[str, Explainer] = {}
_explainers_lock = threading.Lock()


def explainer_for(classifier) -> Explainer:
    """The ``Explainer`` of a ``fer.classify.model.Classifier`` (one per model folder per process); the first
    call imports TensorFlow and loads ``model.keras``."""
    key = str(classifier.info.path.resolve())
    with _explainers_lock:
        if key not in _explainers:
            _load_aiortc_first()
            _explainers[key] = Explainer(classifier.keras_model(), classifier.classes)
        return _explainers[key]


def explain_face(classifier, crop: np.ndarray, class_index: int | None = None, flip: bool = False,
                 method: str = DEFAULT_METHOD) -> Explanation:
    """``method`` (DEFAULT_METHOD unless asked) for one (s, s) uint8 face crop of ``classifier``'s model.

    OCCLUSION runs on the served LiteRT model and never loads TensorFlow; HIRESCAM and GRAD_CAM run
    on the Keras twin (SmoothGrad as their fallback).
    """
    if method != OCCLUSION:
        return explainer_for(classifier).explain(crop, class_index, flip=flip, method=method)
    from .occlusion import occlusion_map
    crop = _checked_crop(crop)
    if class_index is None:
        class_index = int(np.argmax(classifier.predict(crop[None], flip=flip)[0]))
    heat = occlusion_map(classifier.predict, crop, class_index, flip=flip)
    return Explanation(heatmap=heat, overlay=overlay(crop, heat), class_index=class_index,
                       label=classifier.classes[class_index], method=OCCLUSION)
