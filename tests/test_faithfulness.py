"""Deletion/insertion faithfulness on real FER2013 val crops and the served model: the curves
measure what they claim, occlusion sensitivity runs on the served model without TensorFlow, and the
still page's default heat map explains the model better than a map that knows nothing."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from fer.config import REPO_ROOT
from fer.train.data import load_gray
from fer.classify.explain import DEFAULT_METHOD, OCCLUSION, explain_face
from fer.classify.faithfulness import deletion_insertion, pixel_order
from fer.classify.occlusion import grey_level, occlusion_map, patch_positions

from fer_samples import stratified_sample


@pytest.fixture(scope="module")
def val_crops(fer_root) -> list[np.ndarray]:
    return [load_gray(p, 48) for p, _ in stratified_sample(fer_root / "val", per_class=5, seed=21)]


def _smoke_model(classifier) -> bool:
    meta = classifier.info.metadata
    return bool((meta.get("config") or {}).get("limit_per_class")) or (meta.get("epochs_run") or 0) < 5


def _random_smooth(side: int, rng: np.random.Generator) -> np.ndarray:
    """A map with a CAM's texture and no knowledge: 6x6 noise upsampled."""
    return cv2.resize(rng.random((6, 6)).astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)


def test_the_curves_run_from_the_face_to_the_grey_crop_and_back(val_crops, classifier):
    crop = val_crops[3]
    probs = classifier.predict(crop[None])[0]
    k = int(np.argmax(probs))
    grey = np.full_like(crop, grey_level(crop))
    p_grey = classifier.predict(grey[None])[0][k]
    c = deletion_insertion(classifier.predict, crop, occlusion_map(classifier.predict, crop, k), k, steps=10)
    assert c.fractions[0] == 0 and c.fractions[-1] == 1 and np.all(np.diff(c.fractions) > 0)
    assert c.deletion[0] == pytest.approx(probs[k], abs=1e-6) and c.insertion[-1] == pytest.approx(probs[k], abs=1e-6)
    assert c.deletion[-1] == pytest.approx(p_grey, abs=1e-6) and c.insertion[0] == pytest.approx(p_grey, abs=1e-6)
    assert 0 <= c.deletion_auc <= 1 and 0 <= c.insertion_auc <= 1


def test_the_order_puts_the_most_blamed_pixels_first_and_breaks_ties_at_random():
    heat = np.zeros((4, 4), np.float32)
    heat[2, 1], heat[0, 3] = 1.0, 0.5
    order = pixel_order(heat)
    assert list(order[:2]) == [2 * 4 + 1, 0 * 4 + 3]
    assert list(order[2:]) != sorted(order[2:]), "a flat region must not be greyed in raster order"


def test_a_map_is_measured_more_faithful_than_its_own_inverse(val_crops, classifier):
    """The measure must tell an explanation from its opposite: greying the least blamed pixels first
    keeps the prediction up for longer."""
    better = 0
    for crop in val_crops[:14]:
        k = int(np.argmax(classifier.predict(crop[None])[0]))
        heat = occlusion_map(classifier.predict, crop, k)
        a = deletion_insertion(classifier.predict, crop, heat, k, steps=10)
        b = deletion_insertion(classifier.predict, crop, 1 - heat, k, steps=10)
        better += a.deletion_auc < b.deletion_auc and a.insertion_auc > b.insertion_auc
    assert better >= 12, f"the map beat its inverse on both curves in only {better}/14 crops"


def test_occlusion_maps_cover_the_crop_and_run_without_tensorflow(val_crops):
    assert patch_positions(48, 8, 4)[-1] == 40 and patch_positions(50, 8, 4)[-1] == 42
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from fer.classify.explain import OCCLUSION, explain_face
        from fer.classify.model import load_classifier
        clf = load_classifier("multisource_blend")
        crop = np.array({val_crops[0].tolist()!r}, dtype=np.uint8)
        ex = explain_face(clf, crop, flip=True)
        assert ex.method == OCCLUSION, ex.method
        assert ex.heatmap.shape == crop.shape and ex.heatmap.max() == 1.0 and ex.heatmap.min() >= 0
        assert ex.heatmap.std() > 0.01
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "occlusion loaded TensorFlow"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_the_default_heat_map_beats_a_random_map_on_val_crops(val_crops, classifier):
    """35 val crops, five of each class: the default method's deletion area is lower and its
    insertion area higher than a random smooth map's, on average and on most crops."""
    if _smoke_model(classifier):
        pytest.skip(f"{classifier.info.name} is a smoke-run model: its maps carry no signal to check")
    assert DEFAULT_METHOD == OCCLUSION
    rng = np.random.default_rng(0)
    ours, rand = [], []
    for crop in val_crops:
        ex = explain_face(classifier, crop)
        for heat, out in ((ex.heatmap, ours), (_random_smooth(crop.shape[0], rng), rand)):
            c = deletion_insertion(classifier.predict, crop, heat, ex.class_index, steps=10)
            out.append((c.deletion_auc, c.insertion_auc))
    ours, rand = np.array(ours), np.array(rand)
    assert ours[:, 0].mean() < rand[:, 0].mean() - 0.05, (ours[:, 0].mean(), rand[:, 0].mean())
    assert ours[:, 1].mean() > rand[:, 1].mean() + 0.1, (ours[:, 1].mean(), rand[:, 1].mean())
    assert (ours[:, 0] < rand[:, 0]).mean() >= 0.75 and (ours[:, 1] > rand[:, 1]).mean() >= 0.75
