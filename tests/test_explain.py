"""fer.classify.explain on real FER2013 faces and the model under test: the heat map is a well-formed map of
the crop, explains the class asked for, respects mirroring, falls back to saliency when Grad-CAM
can't apply, and (for a trained model) points at what the prediction depends on."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

if "tensorflow" not in sys.modules:  # aiortc first: importing it after TensorFlow segfaults (fer/classify/explain.py)
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass

from fer.config import REPO_ROOT
from fer.train.data import load_gray
from fer.classify.explain import (GRAD_CAM, HIRESCAM, METHODS, OVERLAY_SIZE, SMOOTHGRAD, Explainer, explain_face,
                         explainer_for)


def _faces(root, cls: str, n: int, size: int = 48) -> list[np.ndarray]:
    files = sorted((root / "test" / cls).iterdir())[:n]
    return [load_gray(f, size) for f in files]


def _smoke_model(classifier) -> bool:
    """A model from a smoke run (a subset of the data, a couple of epochs) can't be held to quality."""
    meta = classifier.info.metadata
    return bool((meta.get("config") or {}).get("limit_per_class")) or (meta.get("epochs_run") or 0) < 5


def test_the_heat_map_is_a_unit_range_hirescam_map_of_the_crop_with_an_overlay(fer_root, classifier):
    crop = _faces(fer_root, "happy", 1)[0]
    ex = explain_face(classifier, crop, method=HIRESCAM)
    assert ex.method == HIRESCAM
    assert ex.layer and not any(t in ex.layer for t in ("pool", "drop"))
    assert ex.heatmap.shape == crop.shape and ex.heatmap.dtype == np.float32
    assert np.isfinite(ex.heatmap).all() and ex.heatmap.min() >= 0 and ex.heatmap.max() == pytest.approx(1.0)
    assert ex.heatmap.std() > 0.01, "a constant map explains nothing"
    assert ex.overlay.shape == (OVERLAY_SIZE, OVERLAY_SIZE, 3) and ex.overlay.dtype == np.uint8
    assert ex.label == classifier.classes[ex.class_index]


def test_the_class_asked_for_is_the_class_explained(fer_root, classifier):
    crop = _faces(fer_root, "surprise", 1)[0]
    maps = {}
    for k in range(len(classifier.classes)):
        ex = explain_face(classifier, crop, class_index=k, method=HIRESCAM)
        assert ex.class_index == k and ex.label == classifier.classes[k]
        maps[k] = ex.heatmap
    assert len({m.tobytes() for m in maps.values()}) > 1, "every class got the same map"
    keras_top = int(np.argmax(classifier.keras_model()(crop[None, :, :, None].astype(np.float32)).numpy()))
    assert explain_face(classifier, crop, method=HIRESCAM).class_index == keras_top
    assert explain_face(classifier, crop).class_index == int(np.argmax(classifier.predict(crop[None])[0]))


def test_classic_grad_cam_is_available_and_unknown_methods_are_refused(fer_root, classifier):
    crop = _faces(fer_root, "neutral", 1)[0]
    ex = explain_face(classifier, crop, method=GRAD_CAM)
    assert ex.method in (GRAD_CAM, SMOOTHGRAD) and ex.heatmap.shape == crop.shape
    with pytest.raises(ValueError):
        explain_face(classifier, crop, method="guesswork")


def test_logits_reconstructed_for_grad_cam_give_the_models_probabilities(fer_root, classifier):
    import tensorflow as tf
    ex = explainer_for(classifier)
    x = np.stack(_faces(fer_root, "fear", 8))[..., None].astype(np.float32)
    _, head_input = ex._grad_model(x, training=False)
    probs = tf.nn.softmax(ex._logits(head_input)).numpy()
    np.testing.assert_allclose(probs, classifier.keras_model()(x).numpy(), atol=1e-5)


def test_flip_averaged_maps_of_a_face_and_its_mirror_are_mirror_images(fer_root, classifier):
    crop = _faces(fer_root, "angry", 1)[0]
    k = 0
    for method in METHODS:
        a = explain_face(classifier, crop, class_index=k, flip=True, method=method)
        b = explain_face(classifier, np.ascontiguousarray(crop[:, ::-1]), class_index=k, flip=True, method=method)
        np.testing.assert_allclose(a.heatmap, b.heatmap[:, ::-1], atol=1e-4, err_msg=method)


def test_a_model_without_convolutional_features_falls_back_to_smoothgrad(fer_root):
    import keras
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    ex = Explainer(model, ["a", "b", "c"]).explain(_faces(fer_root, "sad", 1)[0])
    assert ex.method == SMOOTHGRAD and ex.layer is None
    assert ex.heatmap.shape == (48, 48) and ex.heatmap.max() == pytest.approx(1.0) and ex.heatmap.min() >= 0


def test_hiding_the_hottest_pixels_costs_the_prediction_more_than_hiding_the_coldest(fer_root, classifier):
    """What the heat map claims, checked by occlusion: blanking the quarter of the face the map marks as
    most important lowers the explained class's probability more than blanking the least important
    quarter. Averaged over 40 test faces of several classes."""
    if _smoke_model(classifier):
        pytest.skip(f"{classifier.info.name} is a smoke-run model: its maps carry no signal to check")
    model = classifier.keras_model()
    hot_drop, cold_drop = [], []
    for cls in ("happy", "surprise", "angry", "sad"):
        for crop in _faces(fer_root, cls, 10):
            ex = explain_face(classifier, crop)
            order = np.argsort(ex.heatmap, axis=None)
            q = order.size // 4
            variants = []
            for idx in (order[-q:], order[:q]):
                v = crop.copy().reshape(-1)
                v[idx] = int(crop.mean())
                variants.append(v.reshape(crop.shape))
            x = np.stack([crop] + variants)[..., None].astype(np.float32)
            p = model(x).numpy()[:, ex.class_index]
            hot_drop.append(p[0] - p[1])
            cold_drop.append(p[0] - p[2])
    hot_drop, cold_drop = np.array(hot_drop), np.array(cold_drop)
    assert hot_drop.mean() > cold_drop.mean() + 0.02, (hot_drop.mean(), cold_drop.mean())
    assert (hot_drop > cold_drop).mean() >= 0.65, (hot_drop > cold_drop).mean()


def test_the_engine_modules_do_not_import_tensorflow_and_explaining_loads_aiortc_first():
    code = textwrap.dedent("""
        import sys
        import fer.classify.explain, fer.train.audit, fer.offline.still, fer.report, ui.charts
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TF imported at import time"
        import numpy as np
        from fer.classify.model import load_classifier
        clf = load_classifier("multisource_blend")
        fer.classify.explain.explain_face(clf, np.full((clf.input_size,) * 2, 128, np.uint8), method=fer.classify.explain.HIRESCAM)
        names = list(sys.modules)
        if "aiortc" in names:
            assert names.index("aiortc") < names.index("tensorflow"), "TensorFlow was loaded before aiortc"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_the_occlusion_overlay_leaves_the_face_untinted_where_the_map_is_cold(fer_root, classifier):
    import cv2
    from fer.classify.explain import OCCLUSION
    for crop in _faces(fer_root, "happy", 3):
        ex = explain_face(classifier, crop, method=OCCLUSION)
        heat = cv2.resize(ex.heatmap, (OVERLAY_SIZE, OVERLAY_SIZE), interpolation=cv2.INTER_CUBIC)
        face = cv2.resize(crop, (OVERLAY_SIZE, OVERLAY_SIZE), interpolation=cv2.INTER_CUBIC).astype(int)
        cold, hot = heat < 0.1, heat > 0.8
        assert cold.mean() > 0.1 and hot.any()  # the premise: the map has both
        tint = np.abs(ex.overlay.astype(int) - face[..., None]).max(axis=2)
        assert np.median(tint[cold]) <= 12, "cold regions are tinted: the face is hard to see there"
        assert np.median(tint[hot]) >= 60, "hot regions must stand out"


def test_a_cam_that_falls_back_to_saliency_says_why(fer_root, classifier):
    crops = _faces(fer_root, "happy", 12) + _faces(fer_root, "sad", 12)
    results = [explain_face(classifier, c, method=GRAD_CAM) for c in crops]
    fell_back = [r for r in results if r.method == SMOOTHGRAD]
    if not fell_back:
        pytest.skip("Grad-CAM found evidence on every face here: no fallback to check")
    for r in fell_back:
        assert r.fallback and GRAD_CAM in r.fallback and r.label in r.fallback
    assert all(r.fallback is None for r in results if r.method == GRAD_CAM)
