"""The frame pipeline on real faces pasted into larger frames: found, classified, drawn."""
from __future__ import annotations

import numpy as np
import pytest

from fer.train.compose import compose, iou
from fer.config import CLASSES
from fer.train.data import load_gray
from fer.faces.detection import DetectorSettings, FaceDetector
from fer.pipeline import FramePipeline, crop_faces, draw_faces, to_gray

from fer_samples import stratified_sample


@pytest.fixture(scope="module")
def clear_faces(fer_root, classifier):
    """Test faces of each class that the classifier itself is sure of (p >= 0.8) on the raw crop."""
    sample = stratified_sample(fer_root / "test", per_class=60, seed=5)
    crops = np.stack([load_gray(p, 48) for p, _ in sample])
    probs = classifier.predict(crops)
    out = {}
    for (path, c), crop, p in zip(sample, crops, probs):
        if CLASSES[int(p.argmax())] == c and p.max() >= 0.8:
            out.setdefault(c, []).append(crop)
    return out


@pytest.fixture(scope="module")
def pipeline(classifier):
    return FramePipeline(classifier, FaceDetector(DetectorSettings()))


def test_a_face_pasted_into_a_frame_is_found_and_classified(pipeline, clear_faces):
    happy = clear_faces["happy"][:10]
    assert len(happy) >= 5
    found = correct = 0
    for i, crop in enumerate(happy):
        frame, (truth,) = compose([crop], 640, 480, face_px=160, seed=i)
        faces = pipeline.analyse(frame).faces
        hits = [f for f in faces if iou(f.box, truth) >= 0.4]
        found += bool(hits)
        correct += bool(hits) and hits[0].label == "happy"
        for f in faces:
            assert set(f.probabilities) == set(CLASSES)
            assert abs(sum(f.probabilities.values()) - 1) < 1e-3
            assert f.score == max(f.probabilities.values())
    assert found >= 8, f"found {found}/10 pasted faces"
    assert correct >= 7, f"{correct}/10 pasted happy faces read happy"


def test_several_faces_in_one_frame_are_classified_in_one_batch(pipeline, clear_faces):
    crops = [clear_faces[c][0] for c in ("happy", "surprise", "happy", "surprise")]
    frame, truths = compose(crops, 640, 480, face_px=140, seed=3)
    result = pipeline.analyse(frame)
    matched = [max((iou(f.box, t) for f in result.faces), default=0) for t in truths]
    assert sum(m >= 0.4 for m in matched) >= 3
    assert {"detect", "classify", "total"} <= set(result.timings_ms)


def test_a_frame_without_faces_gives_no_faces(pipeline):
    frame, _ = compose([], 640, 480)
    assert pipeline.analyse(frame).faces == []


def test_whole_image_mode_classifies_a_precropped_face(pipeline, clear_faces):
    crop = clear_faces["happy"][0]
    faces = pipeline.analyse_whole(np.repeat(crop[..., None], 3, 2)).faces
    assert len(faces) == 1 and faces[0].label == "happy"
    assert tuple(faces[0].box) == (0, 0, 48, 48)


def test_drawing_marks_the_face_in_its_expression_colour(pipeline, clear_faces):
    # The first clear happy face Haar finds (detection rates are pinned by the tests above).
    for crop in clear_faces["happy"]:
        frame, (truth,) = compose([crop], 640, 480, face_px=160, seed=9)
        faces = pipeline.analyse(frame).faces
        if faces:
            break
    assert faces
    before = frame.copy()
    draw_faces(frame, faces)
    changed = np.any(frame != before, axis=2)
    x, y, w, h = faces[0].box
    assert changed[y, x:x + w].mean() > 0.9  # the box's top edge
    assert changed.sum() < frame.shape[0] * frame.shape[1] * 0.2  # nothing but annotations


def test_crops_are_taken_from_the_box_with_a_margin_and_padded_at_edges():
    gray = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    from fer.faces.detection import Box
    crops = crop_faces(gray, [Box(0, 0, 40, 40), Box(50, 50, 50, 50)], 48)
    assert crops.shape == (2, 48, 48) and crops.dtype == np.uint8


def test_downscaled_detection_keeps_large_faces(classifier, clear_faces):
    """The shrunk scan the live page uses still finds faces of 96 px and more."""
    det = FaceDetector(DetectorSettings())
    assert det.shrink_factor() < 1.0
    crops = [c for cs in clear_faces.values() for c in cs[:4]]
    found = 0
    for i, crop in enumerate(crops):
        frame, (truth,) = compose([crop], 640, 480, face_px=120, seed=i)
        found += any(iou(b, truth) >= 0.4 for b in det.detect(to_gray(frame)))
    assert found / len(crops) >= 0.7, f"{found}/{len(crops)}"


@pytest.mark.parametrize("px,share", [(48, 0.6), (90, 0.7), (100, 0.7), (180, 0.7), (200, 0.7), (400, 0.7)])
def test_faces_are_found_on_both_sides_of_each_scanned_copy_s_size_range(clear_faces, px, share):
    """The scan runs on halved copies, each for faces of one to two cascade windows: a 640x480
    frame's faces of 48-96 px are looked for in the half-size copy, 96-192 in the quarter-size one,
    larger ones in the eighth. Sizes just inside either side of a boundary must be found alike, and a
    face must come out as one box, not as a box on one of its parts."""
    det = FaceDetector(DetectorSettings())
    crops = [c for cs in clear_faces.values() for c in cs[:4]]
    found = parts = 0
    for i, crop in enumerate(crops):
        frame, (truth,) = compose([crop], 640, 480, face_px=px, seed=i)
        boxes = det.detect(to_gray(frame))
        found += any(iou(b, truth) >= 0.4 for b in boxes)
        parts += sum(iou(b, truth) < 0.4 for b in boxes)
    assert found / len(crops) >= share, f"{found}/{len(crops)} faces of {px} px found"
    assert parts <= len(crops) // 6, f"{parts} boxes that are not the {px} px face"


def _moving_face_frames(crop: np.ndarray, n: int, seed: int = 0):
    """A face drifting right and down and growing a little, frame by frame, as in a webcam video."""
    from fer.train.compose import background, paste_face
    from fer.faces.detection import Box
    bg = background(640, 480, seed=seed)
    for i in range(n):
        truth = Box(120 + 5 * i, 100 + 3 * i, 140 + 2 * i, 140 + 2 * i)
        yield paste_face(bg.copy(), crop, truth), truth


def test_searching_near_the_last_box_follows_a_moving_face(clear_faces):
    """Between a video's full scans only the neighbourhood of each face is searched; it must keep
    finding the face as it moves (where a full scan finds it too)."""
    det = FaceDetector(DetectorSettings())
    both = near_hits = 0
    for crop in [cs[0] for cs in clear_faces.values()][:5]:
        previous = None
        for frame, truth in _moving_face_frames(crop, 12):
            gray = to_gray(frame)
            full = [b for b in det.detect(gray) if iou(b, truth) >= 0.4]
            if previous and full:
                both += 1
                near_hits += any(iou(b, truth) >= 0.4 for b in det.detect_near(gray, previous, hold=False))
            previous = full[:1] or previous
    assert both >= 20, f"the full scan found too few faces to judge ({both})"
    assert near_hits / both >= 0.9, f"{near_hits}/{both}"


def test_near_search_holds_or_drops_a_face_that_is_not_refound():
    """Where no face is, the search finds nothing; ``hold`` keeps the old box for the next full scan to judge."""
    from fer.train.compose import background
    from fer.faces.detection import Box
    det = FaceDetector(DetectorSettings())
    gray = to_gray(background(640, 480, seed=3))
    old = Box(200, 150, 150, 150)
    assert det.detect_near(gray, [old], hold=False) == []
    assert det.detect_near(gray, [old]) == [old]


def _happy_and_surprised_frames(clear_faces):
    """Six frames, each with a clear happy and a clear surprised face of 140 px: (frame, truths)."""
    for seed in range(6):
        crops = [clear_faces["happy"][seed % len(clear_faces["happy"])], clear_faces["surprise"][seed]]
        yield compose(crops, 640, 480, face_px=140, seed=seed)


def test_a_full_scan_leaves_out_the_faces_it_is_told_to_skip(clear_faces):
    """A video's periodic full scan skips the followed faces just re-found near their boxes: they are
    painted flat in the scanned copy, so only the other faces are found (and cost the deep stages)."""
    det = FaceDetector(DetectorSettings())
    tried = 0
    for frame, truths in _happy_and_surprised_frames(clear_faces):
        gray = to_gray(frame)
        both = det.detect(gray)
        found = [next((b for b in both if iou(b, t) >= 0.4), None) for t in truths]
        if None in found:
            continue  # Haar misses some FER2013 crops; the test needs a frame where it finds both
        tried += 1
        a, b = found
        assert [x for x in det.detect(gray, skip=[a]) if iou(x, truths[0]) >= 0.2] == []
        assert any(iou(x, truths[1]) >= 0.4 for x in det.detect(gray, skip=[a]))
        assert det.detect(gray, skip=[a, b]) == []
        assert np.array_equal(gray, to_gray(frame)), "the caller's frame must not be painted"
    assert tried >= 3, f"only {tried} frames with both faces found"


def test_a_video_rescan_keeps_refound_faces_and_finds_new_ones(pipeline, clear_faces):
    """The live path's periodic scan: followed faces re-found near their boxes plus any new face
    (one the upright view finds: every second rescan runs it, one of the other views between)."""
    upright = FaceDetector(DetectorSettings(tilts=(), profiles=False))
    tried = 0
    for seed, (frame, truths) in enumerate(_happy_and_surprised_frames(clear_faces)):
        full = pipeline.analyse(frame).faces
        if len(full) != 2 or not all(max(iou(f.box, t) for f in full) >= 0.4 for t in truths):
            continue  # the test needs a frame where the full scan finds both
        if not any(iou(b, truths[1]) >= 0.4 for b in upright.detect(to_gray(frame))):
            continue  # ... and the upright view the new one
        tried += 1
        followed = [f.box for f in full if iou(f.box, truths[0]) >= 0.4]
        rescans = [pipeline.analyse(frame, near=followed, rescan=True).faces for _ in range(2)]
        assert all(any(iou(f.box, truths[0]) >= 0.4 for f in r) for r in rescans), (seed, rescans)
        rescan = next((r for r in rescans if len(r) == 2), None)
        assert rescan is not None, (seed, rescans)
        assert all(max(iou(f.box, t) for f in rescan) >= 0.4 for t in truths), seed
        assert sorted(f.label for f in rescan) == sorted(f.label for f in full), seed
    assert tried >= 3, f"only {tried} frames with both faces found"
