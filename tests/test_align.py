"""Faces lined up by their eyes: the same framing whether a head is upright or tilted, whichever
detector found it, in serving and in training."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer.config import data_root
from fer.faces.align import Eyes, align_face, eyes_from_box
from fer.faces.tight import find_eyes

RAF_TEST = data_root() / "rafdb" / "test"
pytestmark = pytest.mark.skipif(not RAF_TEST.is_dir(), reason=f"needs RAF-DB test faces in {RAF_TEST} (FER_DATA_DIR)")


def _faces(n: int = 6) -> list[np.ndarray]:
    """Real faces of several expressions, each on a larger grey canvas so a turned copy keeps
    the whole face in the picture."""
    out = []
    for cls in ("happy", "surprise", "neutral", "sad", "angry", "fear")[:n]:
        img = cv2.imread(str(sorted((RAF_TEST / cls).iterdir())[5]))
        out.append(cv2.copyMakeBorder(img, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=(120, 120, 120)))
    return out


def _turned(img: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderValue=(120, 120, 120))


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_a_level_pair_of_eyes_lands_where_the_framing_puts_them():
    from fer.faces.align import EYE_LINE, SIDE_IN_EYE_DISTANCES
    img = np.zeros((400, 400), np.uint8)
    right, left = (150.0, 200.0), (250.0, 200.0)  # 100 px apart
    img[198:203, 148:153] = 255
    img[198:203, 248:253] = 255
    size = 120
    crop = align_face(img, Eyes(right, left), size)
    ys, xs = np.nonzero(crop > 128)
    half_gap = size / SIDE_IN_EYE_DISTANCES / 2
    assert abs(ys.mean() - EYE_LINE * size) < 1.5
    assert abs(xs[xs < size / 2].mean() - (size / 2 - half_gap)) < 1.5
    assert abs(xs[xs > size / 2].mean() - (size / 2 + half_gap)) < 1.5


@pytest.mark.parametrize("degrees", [-30, 30])
def test_a_tilted_real_face_is_cut_as_its_upright_self(degrees):
    """BlazeFace's eyes on a real face turned by 30 degrees give the crop of the upright face: its
    middle (eyes, nose, mouth) far closer to the upright crop's than the same window cut without
    turning back."""
    lined, unturned = [], []
    for img in _faces():
        level = find_eyes(img)
        upright = align_face(img, level, 112)
        turned = _turned(img, degrees)
        eyes = find_eyes(turned)
        if eyes is None:
            continue  # BlazeFace misses some turned faces; the ones it finds must be lined up
        assert abs(eyes.tilt_degrees + degrees - level.tilt_degrees) < 12, "the eye line is not where the face was turned to"
        flat = Eyes(eyes.right, (eyes.right[0] + eyes.distance, eyes.right[1]))  # same eyes, not turned back
        middle = slice(24, 88)
        lined.append(_diff(align_face(turned, eyes, 112)[middle, middle], upright[middle, middle]))
        unturned.append(_diff(align_face(turned, flat, 112)[middle, middle], upright[middle, middle]))
    assert len(lined) >= 4
    assert np.mean(lined) < 0.6 * np.mean(unturned), (lined, unturned)


def test_a_box_without_landmarks_is_framed_like_its_eyes():
    """A face held through a missed frame, or found by Haar, has only its box: cut from where the eyes
    sit in such a box, it is framed about as the eyes frame it."""
    from fer.faces.detectors import DetectorSettings
    from fer.faces.detectors.blazeface import BlazeFaceDetector
    det = BlazeFaceDetector(DetectorSettings(name="blazeface"))
    offsets, ratios = [], []
    for img in _faces():
        big = cv2.resize(img, None, fx=2, fy=2)
        d = det.detect_scored(big)[0]
        eyes, guess = Eyes(*d.keypoints[:2]), eyes_from_box(d.box)
        mid = np.mean([eyes.right, eyes.left], 0)
        guess_mid = np.mean([guess.right, guess.left], 0)
        offsets.append(np.hypot(*(mid - guess_mid)) / eyes.distance)
        ratios.append(guess.distance / eyes.distance)
    assert np.median(offsets) < 0.25, offsets
    assert 0.85 < np.median(ratios) < 1.15, ratios


def test_a_huge_face_is_shrunk_without_aliasing():
    """A face far larger than the crop is shrunk through an area-averaged copy first: the crop of a
    5x enlargement matches the crop of the original."""
    img = _faces(1)[0]
    e = find_eyes(img)
    big = cv2.resize(img, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)
    eb = Eyes((e.right[0] * 5, e.right[1] * 5), (e.left[0] * 5, e.left[1] * 5))
    assert _diff(align_face(big, eb, 112), align_face(img, e, 112)) < 4


@pytest.mark.parametrize("degrees", [-30, 30])
def test_a_tilted_face_reads_as_its_upright_self(degrees):
    """Through the whole pipeline with a model of eyes-level crops, a real face turned by 30 degrees
    gets the upright face's label, every probability within 0.1 of the upright face's. Faces the model
    reads with confidence only (top probability 0.6 or more upright): an expression read at 0.3-0.45
    flips between its close runners-up under any small change of the crop."""
    from fer.classify.model import list_models, load_classifier
    from fer.pipeline import FramePipeline
    aligned = [m.name for m in list_models() if m.framing == "eyes"]
    assert aligned, "no shipped model reads eyes-level crops"
    pipeline = FramePipeline(load_classifier(aligned[0]))
    compared = 0
    for img in _faces():
        upright = pipeline.analyse(img).faces
        turned = pipeline.analyse(_turned(img, degrees)).faces
        if len(upright) != 1 or len(turned) != 1 or upright[0].score < 0.6:
            continue  # a face the detector misses turned is the detector's business (test_detectors)
        compared += 1
        a, b = upright[0], turned[0]
        assert b.label == a.label
        assert max(abs(a.probabilities[c] - b.probabilities[c]) for c in a.probabilities) < 0.1
    assert compared >= 2
