"""Overlay layout: on real frames with real faces close together, no tag or bar chart covers a face
or another annotation, what is drawn stays inside the planned rectangles, stills number their faces
like the page does, and live tags carry the track id."""
from __future__ import annotations

import numpy as np
import pytest

from fer.train.compose import background, paste_face
from fer.train.data import load_gray
from fer.faces.detection import Box, DetectorSettings, FaceDetector
from fer.overlay import Rect, layout_overlays
from fer.pipeline import FramePipeline, draw_faces_layout
from fer.offline.still import analyse_still, encode_png

from fer_samples import stratified_sample


@pytest.fixture(scope="module")
def pipeline(classifier):
    return FramePipeline(classifier, FaceDetector(DetectorSettings()))


@pytest.fixture(scope="module")
def val_faces(fer_root) -> list[np.ndarray]:
    return [load_gray(p, 48) for p, c in stratified_sample(fer_root / "val", 12, seed=3) if c in ("happy", "surprise")]


def _frame_with(faces, width, height, boxes, pipeline, seed=0):
    """The first pair/group of the real faces that the detector finds exactly once each when pasted at
    ``boxes`` (chosen by the detector only); returns (frame, detected faces)."""
    n = len(boxes)
    for start in range(0, len(faces) - n + 1):
        frame = background(width, height, seed)
        for crop, box in zip(faces[start:start + n], boxes):
            paste_face(frame, crop, box)
        found = pipeline.analyse(frame).faces
        if len(found) == n:
            return frame, found
    pytest.fail(f"the detector never found all {n} pasted faces")


def _check_no_overlaps(layout, width, height):
    boxes = [f.box for f in layout.faces]
    annotations = layout.annotations()
    for r in annotations:
        assert r.inside(width, height), r
    for i, f in enumerate(layout.faces):
        if f.bars is not None:
            assert not any(f.bars.overlaps(b) for b in boxes), f"face {i + 1}'s bars cover a face"
        assert not any(f.tag.overlaps(b) for j, b in enumerate(boxes) if j != i), f"face {i + 1}'s tag covers a face"
    for i, a in enumerate(annotations):
        for b in annotations[i + 1:]:
            assert not a.overlaps(b), (a, b)


def _check_drawn_inside_layout(before, after, layout):
    """Every changed pixel lies on a box's outline or inside a planned tag or bar chart."""
    allowed = np.zeros(before.shape[:2], bool)
    for f in layout.faces:
        t = max(1, round((f.box.x1 - f.box.x0) / 120)) + 1
        b = f.box
        allowed[max(0, b.y0 - t):b.y1 + t, max(0, b.x0 - t):b.x1 + t] = True
        allowed[b.y0 + t:b.y1 - t, b.x0 + t:b.x1 - t] = False
    for r in layout.annotations():
        allowed[r.y0:r.y1, r.x0:r.x1] = True
    changed = np.any(before != after, axis=2)
    assert changed.any()
    assert not (changed & ~allowed).any(), f"{int((changed & ~allowed).sum())} pixels drawn outside the layout"


def test_two_real_faces_side_by_side_get_bars_that_cover_no_face(pipeline, val_faces):
    w, h = 640, 360
    frame, faces = _frame_with(val_faces, w, h, [Box(150, 90, 160, 160), Box(330, 100, 160, 160)], pipeline)
    before = frame.copy()
    layout = draw_faces_layout(frame, faces, numbered=True)
    _check_no_overlaps(layout, w, h)
    _check_drawn_inside_layout(before, frame, layout)
    assert all(f.bars is not None for f in layout.faces), "there is room for both charts beside the pair"
    assert [f.text.split(":")[0] for f in layout.faces] == ["1", "2"]


def test_four_faces_in_a_tight_grid_fall_back_to_tags_without_covering_anything(pipeline, val_faces):
    w, h = 640, 480
    boxes = [Box(60, 40, 150, 150), Box(250, 40, 150, 150), Box(60, 260, 150, 150), Box(250, 260, 150, 150)]
    frame, faces = _frame_with(val_faces, w, h, boxes, pipeline, seed=2)
    detected = [Rect.of_box(f.box) for f in faces]
    if any(a.overlaps(b) for i, a in enumerate(detected) for b in detected[i + 1:]):
        pytest.skip("the detector's boxes overlap each other: no layout can keep clear of both")
    before = frame.copy()
    layout = draw_faces_layout(frame, faces)
    _check_no_overlaps(layout, w, h)
    _check_drawn_inside_layout(before, frame, layout)


def test_a_face_filling_a_portrait_photo_keeps_its_bars_off_the_face(pipeline, val_faces, classifier):
    """A 384x570 portrait photo whose face fills most of it: the bar chart finds a place off the face."""
    import cv2
    frame, _ = _frame_with(val_faces, 384, 570, [Box(40, 120, 300, 300)], pipeline, seed=4)
    ok, buf = cv2.imencode(".png", frame)
    res = analyse_still(buf.tobytes(), "portrait.png", pipeline)
    assert len(res.faces) == 1
    layout = draw_faces_layout(frame.copy(), res.faces, numbered=True)
    _check_no_overlaps(layout, 384, 570)
    (f,) = layout.faces
    assert f.bars is not None and f.text.startswith("1: ")
    assert encode_png(res.annotated)


def test_a_still_is_numbered_in_reading_order_without_bars_and_the_cli_json_agrees(pipeline, val_faces, tmp_path):
    """Sizes chosen so the detector's order (largest first) is not the reading order: a small face top
    left, a large one top right, a middle-sized one below."""
    import cv2
    import json
    import subprocess
    import sys
    boxes = [Box(40, 40, 120, 120), Box(300, 30, 200, 200), Box(60, 300, 160, 160)]
    frame, found = _frame_with(val_faces, 560, 500, boxes, pipeline, seed=5)
    assert [f.box.w for f in found] != sorted(f.box.w for f in found)  # the premise: size order differs
    ok, buf = cv2.imencode(".png", frame)
    res = analyse_still(buf.tobytes(), "group.png", pipeline)
    centres = [(f.box.x + f.box.w / 2, f.box.y + f.box.h / 2) for f in res.faces]
    nearest = [min(range(3), key=lambda j: abs(boxes[j].x + boxes[j].w / 2 - cx) + abs(boxes[j].y + boxes[j].h / 2 - cy))
               for cx, cy in centres]
    assert nearest == [0, 1, 2]  # top left, top right, then the row below
    redrawn = frame.copy()
    layout = draw_faces_layout(redrawn, res.faces, bars=False, numbered=True)
    np.testing.assert_array_equal(redrawn, res.annotated)  # tags "1:", "2:", "3:" in that order, no bars
    assert [f.text.split(":")[0] for f in layout.faces] == ["1", "2", "3"]
    assert all(f.bars is None for f in layout.faces)
    path = tmp_path / "group.png"
    path.write_bytes(buf.tobytes())
    cli = subprocess.run([sys.executable, "-m", "fer", "predict", "--json", "--detector", "haar", str(path)],
                         capture_output=True, text=True, timeout=300)
    (entry,) = json.loads(cli.stdout)
    assert [f["face"] for f in entry["faces"]] == [1, 2, 3]
    assert [f["box"] for f in entry["faces"]] == [list(f.box) for f in res.faces]
    table = subprocess.run([sys.executable, "-m", "fer", "predict", "--detector", "haar", str(path)],
                           capture_output=True, text=True, timeout=300).stdout
    assert [line.split(":")[0].strip() for line in table.splitlines()[1:]] == ["Face 1", "Face 2", "Face 3"]


def test_bar_charts_are_drawn_with_rows_tall_enough_to_name_their_classes_or_not_at_all():
    from fer.overlay import NAMED_ROW
    for side in range(30, 220, 10):  # a 60 px face split seven ways had 8 px rows: unnamed stripes
        (f,) = layout_overlays(640, 480, [Box(200, 150, side, side)], ["1: happy 80%"], 7).faces
        assert f.bars is None or f.row >= NAMED_ROW, (side, f.row)
    (f,) = layout_overlays(640, 480, [Box(200, 150, 160, 160)], ["1: happy 80%"], 0).faces
    assert f.bars is None  # no classes to chart: no space kept for a chart


def test_live_tags_carry_the_track_id(pipeline, val_faces):
    from dataclasses import replace
    frame, faces = _frame_with(val_faces, 640, 360, [Box(150, 90, 160, 160), Box(330, 100, 160, 160)], pipeline)
    tracked = [replace(f, track_id=tid) for f, tid in zip(faces, (7, 3))]
    layout = draw_faces_layout(frame, tracked)
    assert [f.text.split(" ")[0] for f in layout.faces] == ["#7", "#3"]


def test_random_crowds_of_separate_faces_never_get_overlapping_annotations():
    """Pure geometry over many frames: 1-6 non-overlapping boxes of 40-300 px at random places."""
    rng = np.random.default_rng(0)
    tested = fallbacks = 0
    for _ in range(400):
        w, h = int(rng.integers(200, 1300)), int(rng.integers(200, 900))
        boxes: list[Box] = []
        for _ in range(int(rng.integers(1, 7)) * 20):
            s = int(rng.integers(40, min(300, w, h)))
            b = Box(int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1)), s, s)
            if not any(Rect.of_box(b).overlaps(Rect.of_box(o), 2) for o in boxes):
                boxes.append(b)
            if len(boxes) == 6:
                break
        texts = [f"{i + 1}: surprise 100%" for i in range(len(boxes))]
        layout = layout_overlays(w, h, boxes, texts, 7)
        _check_no_overlaps(layout, w, h)
        tested += len(boxes)
        fallbacks += sum(f.bars is None for f in layout.faces)
    assert fallbacks < tested  # most faces keep their charts
