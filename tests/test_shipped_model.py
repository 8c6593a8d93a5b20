"""The shipped model on real FER2013 data: accuracy, and the LiteRT runtime agreeing with Keras."""
from __future__ import annotations

import numpy as np
import pytest

from fer.config import CLASSES
from fer.train.data import load_gray

from fer_samples import stratified_sample


@pytest.fixture(scope="module")
def test_sample(fer_root):
    """All of test/ (3,589 crops; LiteRT reads them in seconds). A 30 % stratified sample was used
    first, but its sampling noise (about +-1.4 points, one standard error) is as large as the margin
    being checked: one fixed seed read 66.6 % for a model that scores 69.5 % on the whole split."""
    root = fer_root / "test"
    picked = [(p, c) for c in CLASSES for p in sorted((root / c).iterdir())]
    images = np.stack([load_gray(p, 48) for p, _ in picked])
    labels = np.array([CLASSES.index(c) for _, c in picked])
    return images, labels


#: The floor the default model must clear (issue 2: 68 % here). The FER2013-only `default` scores
#: 69.5 % (70.8 % with flip averaging); the blend served by default, 69.0 %.
ACCURACY_FLOOR = 0.68


def test_shipped_model_clears_the_accuracy_floor_on_the_test_split(classifier, test_sample):
    images, labels = test_sample
    assert classifier.classes == list(CLASSES)
    acc = float((classifier.predict(images).argmax(1) == labels).mean())
    assert acc >= ACCURACY_FLOOR, f"accuracy {acc:.3f} on {len(labels)} test images"
    recorded = classifier.info.headline_figures()["FER2013 test"]["accuracy"]  # evaluate --record
    assert abs(acc - recorded) < 0.005, f"measured {acc:.3f} vs the {recorded:.3f} recorded in the metadata"


def test_every_class_is_recalled_above_chance(classifier, test_sample):
    images, labels = test_sample
    pred = classifier.predict(images).argmax(1)
    for k, c in enumerate(CLASSES):
        recall = float((pred[labels == k] == k).mean())
        assert recall > 1 / len(CLASSES), f"{c}: recall {recall:.2f}"


def test_probabilities_are_a_distribution(classifier, test_sample):
    probs = classifier.predict(test_sample[0][:64])
    assert probs.shape == (64, len(CLASSES))
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-3)


def test_litert_runtime_agrees_with_the_keras_model(classifier, fer_root):
    sample = stratified_sample(fer_root / "val", per_class=40)
    images = np.stack([load_gray(p, 48) for p, _ in sample])
    lite = classifier.predict(images)
    ref = classifier.keras_model().predict(images[..., None].astype(np.float32), verbose=0)
    agreement = float((lite.argmax(1) == ref.argmax(1)).mean())
    assert agreement >= 0.97, f"top-1 agreement {agreement:.3f}"
    assert float(np.abs(lite - ref).mean()) < 0.02


def test_batched_and_single_predictions_match(classifier, test_sample):
    images = test_sample[0][:20]
    batch = classifier.predict(images)
    single = np.concatenate([classifier.predict(images[i:i + 1]) for i in range(len(images))])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_flip_averaging_is_symmetric(classifier, test_sample):
    images = test_sample[0][:16]
    a = classifier.predict(images, flip=True)
    b = classifier.predict(images[:, :, ::-1], flip=True)
    np.testing.assert_allclose(a, b, atol=1e-5)
