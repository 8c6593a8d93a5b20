"""BlazeFace (short + full range, padded second look) is the detector of every path unless told
otherwise, on real data: the still and batch commands find both people of a real frame Haar misses,
a data set's tight crops are found without --no-detect, and the walking clip's small faces are."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import cv2
import pytest

from fer.config import REPO_ROOT, data_root
from fer.faces.detectors import DetectorSettings, make_detector
from fer.faces.detectors.base import Box, iou
from fer.faces.detectors.two_range import TwoRangeBlazeFace
from fer.pipeline import FramePipeline

from fer_samples import stratified_sample

sys.path.insert(0, str(REPO_ROOT / "bench"))
from clips import MATCH_IOU, score, videos_dir  # noqa: E402
from video_clips import HEAD_POSE, WALKING, real_clip  # noqa: E402


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)


def test_every_entry_point_builds_blazeface_unless_told_otherwise(classifier):
    from fer.cli.main import build_parser
    from fer.offline.batch.analyser import FileAnalyser
    from fer.cli.commands import detector_settings
    from ui.sidebar import current_settings
    parser = build_parser()
    for command in (["predict", "x.jpg"], ["video", "x.mp4", "--csv", "o.csv"], ["batch", "d", "--out", "o"]):
        assert detector_settings(parser.parse_args(command)).name == "blazeface", command
        haar = detector_settings(parser.parse_args([*command, "--detector", "haar"]))
        assert haar.name == "haar" and make_detector(haar).takes == "gray", command  # one option away
    assert isinstance(FramePipeline(classifier).detector, TwoRangeBlazeFace)
    assert isinstance(FileAnalyser().photos.detector, TwoRangeBlazeFace)
    assert current_settings().detector.name == "blazeface"  # the sidebar's default (pages, live)


def test_predict_and_batch_find_both_people_of_a_real_frame_by_default(tmp_path):
    """A head-pose clip frame, at its own size, where Haar (one option away) misses a person (the
    clip's README: Haar finds 0.12 faces a frame there): ``predict`` and ``batch`` find both."""
    clip = real_clip(HEAD_POSE, 0)
    haar = make_detector(DetectorSettings(name="haar"))
    i = next(k for k, f in enumerate(clip.frames)
             if score([haar.detect(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))], [clip.truth[k]]).found < 2)
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "frame.png"), clip.frames[i])
    (entry,) = json.loads(run_cli("predict", "--json", str(photos / "frame.png")).stdout)
    boxes = [Box(*f["box"]) for f in entry["faces"]]
    assert score([boxes], [clip.truth[i]]).found == 2 and len(boxes) == 2, boxes
    (by_haar,) = json.loads(run_cli("predict", "--json", "--detector", "haar", str(photos / "frame.png")).stdout)
    assert score([[Box(*f["box"]) for f in by_haar["faces"]]], [clip.truth[i]]).found < 2
    out = tmp_path / "out"
    r = run_cli("batch", str(photos), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    from fer.offline.batch.output import read_results
    rows = read_results(out).to_pylist()
    assert sorted(Box(*(r_[k] for k in "xywh")) for r_ in rows) == sorted(boxes)


def _crops(name: str, per_class: int) -> list:
    root = data_root() / name / "test"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    return [cv2.imread(str(p)) for p, _ in stratified_sample(root, per_class=per_class, seed=5)]


def test_a_data_sets_tight_crops_are_found():
    """RAF-DB (100x100), AffectNet (96x96) and FER2013 (48x48) test crops, the face filling the
    picture: the padded second look finds nearly all (measured 98.6-100 % on 500 of each); both
    networks on the crop as it is miss many (the padded look is what finds them)."""
    det = make_detector()
    found = as_is = n = 0
    for name in ("rafdb", "affectnet", "fer2013"):
        crops = _crops(name, 5)
        hits = sum(bool(det.detect(c)) for c in crops)
        assert hits >= len(crops) - 1, f"{name}: {hits}/{len(crops)}"
        found += hits
        as_is += sum(bool(det._whole(c, {})) for c in crops)
        n += len(crops)
    assert found / n >= 0.97 and as_is < found, (found, as_is, n)


def test_predict_finds_the_face_of_a_48_pixel_crop_without_no_detect(fer_root, tmp_path):
    (path, _), = stratified_sample(fer_root / "test", per_class=1, seed=2)[:1]
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), cv2.imread(str(path)))
    r = run_cli("predict", "--json", str(crop))
    assert r.returncode == 0, r.stderr[-2000:]
    (entry,) = json.loads(r.stdout)
    (face,) = entry["faces"]
    x, y, w, h = face["box"]
    assert x >= 0 and y >= 0 and x + w <= 48 and y + h <= 48 and w >= 30, face["box"]


def test_the_walking_clips_small_faces_are_found(tmp_path):
    """Three people far from the camera (faces 36-65 px of 480): short range alone finds few, the
    default (full range beside it) nearly all, frame by frame and as ``fer video`` rows, at least as
    many rows as Haar's."""
    clip = real_clip(WALKING, 0)
    det = make_detector()
    assert score([det.detect(f) for f in clip.frames], clip.truth).found_share >= 0.9
    assert score([det.short.detect(f) for f in clip.frames], clip.truth).found_share < 0.3
    rows = {}
    for name in ("blazeface", "haar"):
        out = tmp_path / f"{name}.csv"
        r = run_cli("video", str(videos_dir() / WALKING), "--csv", str(out), "--detector", name, "--no-progress")
        assert r.returncode == 0, r.stderr[-2000:]
        with open(out, newline="") as fh:
            rows[name] = list(csv.DictReader(fh))
    assert len(rows["blazeface"]) >= len(rows["haar"]), {k: len(v) for k, v in rows.items()}
    assert len(rows["blazeface"]) >= 0.9 * 3 * (len(clip.frames) - 2)
    on_faces = sum(any(iou(Box(*(int(x[k]) for k in "xywh")), t) >= MATCH_IOU for t in clip.truth[int(x["frame"])])
                   for x in rows["blazeface"])
    assert on_faces == len(rows["blazeface"])
