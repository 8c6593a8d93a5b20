"""The five-class view: disgust and fear dropped, the other five renormalised, everywhere the
probabilities go (pipeline, predict, evaluate, the live CSV), on real FER2013 faces."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fer.classes import FIVE, FOLDED_OUT, SEVEN, class_view, fold_labels
from fer.config import CLASSES
from fer.train.data import load_gray
from fer.pipeline import FramePipeline

from fer_samples import stratified_sample

FIVE_CLASSES = ["angry", "happy", "neutral", "sad", "surprise"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def val_sample(fer_root):
    return stratified_sample(fer_root / "val", 6, seed=9)


def test_folding_drops_disgust_and_fear_and_keeps_the_odds_between_the_other_five(val_sample, classifier):
    crops = np.stack([load_gray(p, 48) for p, _ in val_sample])
    seven = classifier.predict(crops)
    view = class_view(FIVE, classifier.classes)
    five = view.fold(seven)
    assert list(view.classes) == FIVE_CLASSES and five.shape == (len(crops), 5)
    np.testing.assert_allclose(five.sum(axis=1), 1, atol=1e-5)
    kept = seven[:, [classifier.classes.index(c) for c in FIVE_CLASSES]]
    np.testing.assert_allclose(five * kept.sum(axis=1, keepdims=True), kept, atol=1e-5)  # same ratios
    top7 = seven.argmax(1)
    for i, k in enumerate(top7):  # a face read as one of the five keeps its label
        if classifier.classes[k] not in FOLDED_OUT:
            assert FIVE_CLASSES[five[i].argmax()] == classifier.classes[k]
    assert class_view(SEVEN, classifier.classes).fold(seven) is not None
    np.testing.assert_array_equal(class_view(SEVEN, classifier.classes).fold(seven), seven)


def test_a_row_with_nothing_left_becomes_uniform_and_unknown_views_are_refused():
    view = class_view(FIVE, CLASSES)
    row = np.zeros((1, 7), np.float32)
    row[0, CLASSES.index("disgust")] = 1.0
    np.testing.assert_allclose(view.fold(row), [[0.2] * 5])
    with pytest.raises(ValueError, match="five"):
        class_view("six", CLASSES)


def test_labels_of_folded_out_classes_are_left_out_of_evaluation():
    labels = np.array([CLASSES.index(c) for c in ("angry", "disgust", "fear", "surprise", "happy")])
    keep, mapped = fold_labels(labels, class_view(FIVE, CLASSES))
    assert keep.tolist() == [True, False, False, True, True]
    assert [FIVE_CLASSES[i] for i in mapped] == ["angry", "surprise", "happy"]


def test_the_pipeline_reports_five_classes(fer_root, classifier):
    path, _ = stratified_sample(fer_root / "test", 1, seed=2)[3]
    import cv2
    img = cv2.imread(str(path))
    five = FramePipeline(classifier, classes=FIVE).analyse_whole(img).faces[0]
    seven = FramePipeline(classifier).analyse_whole(img).faces[0]
    assert list(five.probabilities) == FIVE_CLASSES and list(seven.probabilities) == list(CLASSES)
    rest = sum(seven.probabilities[c] for c in FIVE_CLASSES)
    for c in FIVE_CLASSES:
        assert five.probabilities[c] == pytest.approx(seven.probabilities[c] / rest, abs=1e-5)
    assert five.label == max(five.probabilities, key=five.probabilities.get)


def test_predict_with_five_classes_prints_five_renormalised_probabilities(val_sample):
    paths = [str(p) for p, _ in val_sample[:3]]
    out = run_cli("predict", *paths, "--no-detect", "--json", "--classes", "five")
    assert out.returncode == 0, out.stderr
    for entry in json.loads(out.stdout):
        (face,) = entry["faces"]
        assert list(face["probabilities"]) == FIVE_CLASSES
        assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert face["label"] in FIVE_CLASSES
    assert "--classes" in run_cli("predict", "--help").stdout


def test_evaluate_with_five_classes_scores_the_five_and_counts_what_it_left_out(tmp_path, val_sample):
    for path, c in val_sample:
        (tmp_path / c).mkdir(exist_ok=True)
        shutil.copy(path, tmp_path / c / path.name)
    out = run_cli("evaluate", str(tmp_path), "--json", "--classes", "five")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["classes"] == FIVE_CLASSES and r["class_view"] == "five"
    assert r["n"] == 30 and r["folded_out"] == {"disgust": 6, "fear": 6}
    assert {c: r["per_class"][c]["support"] for c in FIVE_CLASSES} == {c: 6 for c in FIVE_CLASSES}
    text = run_cli("evaluate", str(tmp_path), "--classes", "five")
    assert text.returncode == 0 and "left out: 6 disgust images" in text.stdout
    only_fear = tmp_path / "only_fear"
    shutil.copytree(tmp_path / "fear", only_fear / "fear")
    bad = run_cli("evaluate", str(only_fear), "--classes", "five")
    assert bad.returncode == 2 and "no image" in bad.stderr and "Traceback" not in bad.stderr


def test_the_explorers_predictions_fold_into_the_five_class_view(tmp_path, val_sample, classifier):
    from fer.train.audit import index_dataset, predict_split
    from fer.classes import fold_predictions
    for path, c in val_sample:
        (tmp_path / "val" / c).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / "val" / c / path.name)
    seven = predict_split(index_dataset(tmp_path), "val", classifier)
    five = fold_predictions(seven, class_view(FIVE, classifier.classes))
    assert five.classes == FIVE_CLASSES and len(five.paths) == 30
    assert five.skipped == {"disgust": 6, "fear": 6}
    np.testing.assert_allclose(five.probabilities.sum(axis=1), 1, atol=1e-5)
    rep = five.report()
    assert rep.classes == FIVE_CLASSES and rep.n == 30
    assert fold_predictions(seven, class_view(SEVEN, classifier.classes)) is seven
