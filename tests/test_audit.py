"""fer.train.audit on real data: the index matches the folders, the content scan finds what we planted
(corrupt files, duplicates, train/test leakage, label conflicts), listing stays fast at 30k+ files,
and nothing outside the configured roots is ever read."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer.train import audit
from fer.train.audit import PathRefused, confine, configured_roots, index_dataset
from fer.train.data import load_gray, model_crop_reader


def _folder_counts(root: Path) -> dict[str, dict[str, int]]:
    return {s.name: {c.name: sum(1 for f in c.iterdir() if f.is_file()) for c in sorted(s.iterdir()) if c.is_dir()}
            for s in sorted(root.iterdir()) if s.is_dir()}


def test_index_counts_equal_the_fer2013_folders(fer_root):
    index = index_dataset(fer_root)
    expected = _folder_counts(fer_root)
    assert index.splits == ["train", "val", "test"]
    assert index.counts() == {s: expected[s] for s in index.splits}
    assert index.total() == sum(n for per in expected.values() for n in per.values())


def test_listing_fer2013_is_fast_and_a_page_touches_only_its_files(fer_root):
    t = time.perf_counter()
    index = index_dataset(fer_root)
    elapsed = time.perf_counter() - t
    assert elapsed < 2.0, f"indexing {index.total()} files took {elapsed:.2f} s"
    happy = index.count("train", "happy")
    page = index.page("train", "happy", 3, 48)
    assert len(page) == 48 and all(p.is_file() for p in page)
    assert index.pages("train", "happy", 48) == -(-happy // 48)
    last = index.page("train", "happy", index.pages("train", "happy", 48) - 1, 48)
    assert 1 <= len(last) <= 48


def test_listing_a_flat_folder_of_30000_files_is_fast(tmp_path):
    folder = tmp_path / "flat" / "happy"
    folder.mkdir(parents=True)
    for i in range(30_000):
        (folder / f"img_{i:05d}.jpg").touch()
    t = time.perf_counter()
    index = index_dataset(tmp_path / "flat")
    elapsed = time.perf_counter() - t
    assert index.splits == [audit.SINGLE_SPLIT] and index.count(audit.SINGLE_SPLIT, "happy") == 30_000
    assert elapsed < 2.0, f"indexing 30,000 files took {elapsed:.2f} s"
    assert [p.name for p in index.page(audit.SINGLE_SPLIT, "happy", 1, 10)] == [f"img_{i:05d}.jpg" for i in range(10, 20)]


@pytest.fixture
def planted(fer_root, tmp_path) -> dict:
    """A small split data set copied from FER2013 with known problems planted in it."""
    root = tmp_path / "planted"
    seen: set[bytes] = set()
    src: dict[str, list[Path]] = {}
    for c in ("happy", "sad", "angry"):  # FER2013 has duplicates of its own: take only distinct images
        src[c] = []
        for f in sorted((fer_root / "test" / c).iterdir()):
            if len(src[c]) == 6:
                break
            if (b := f.read_bytes()) not in seen:
                seen.add(b)
                src[c].append(f)
    for split in ("train", "val", "test"):
        for c, files in src.items():
            (root / split / c).mkdir(parents=True)
    for c, files in src.items():
        for f in files[:4]:
            shutil.copy(f, root / "train" / c / f.name)
        shutil.copy(files[4], root / "val" / c / files[4].name)
        shutil.copy(files[5], root / "test" / c / files[5].name)
    leak = src["happy"][0]  # in train/happy already: a copy in test is leakage
    shutil.copy(leak, root / "test" / "happy" / "leaked.jpg")
    shutil.copy(leak, root / "train" / "happy" / "copy_of_first.jpg")  # duplicate inside train
    conflict = src["sad"][1]  # in train/sad already: the same bytes filed as angry
    shutil.copy(conflict, root / "train" / "angry" / "also_sad.jpg")
    data = src["angry"][2].read_bytes()
    (root / "train" / "angry" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "val" / "sad" / "garbage.png").write_bytes(b"this is not an image" * 10)
    (root / "train" / "happy" / "notes.txt").write_text("not an image, ignored")
    outside = tmp_path / "outside.jpg"
    shutil.copy(src["happy"][1], outside)
    (root / "train" / "happy" / "escape.jpg").symlink_to(outside)          # leaves the root: refused
    (root / "train" / "sad" / "inside_link.jpg").symlink_to(root / "val" / "sad" / src["sad"][4].name)
    return {"root": root, "leak": leak.name, "conflict": conflict.name}


def test_content_audit_finds_corrupt_files_duplicates_leakage_and_label_conflicts(planted):
    index = index_dataset(planted["root"])
    assert index.refused == ["train/happy/escape.jpg"]
    assert index.other_files == 1
    seen = []
    report = audit.audit(index, progress=lambda d, t: seen.append((d, t)), chunk=5)
    assert seen[-1] == (index.total(), index.total()) and len(seen) > 1
    assert [f for f, _ in report.corrupt] == ["train/angry/truncated.jpg", "val/sad/garbage.png"]
    reasons = dict(report.corrupt)
    assert "truncated" in reasons["train/angry/truncated.jpg"] and "not an image" in reasons["val/sad/garbage.png"]
    groups = {frozenset(g.files) for g in report.duplicates}
    assert frozenset({f"train/happy/{planted['leak']}", "train/happy/copy_of_first.jpg",
                      "test/happy/leaked.jpg"}) in groups
    assert [set(g.splits) for g in report.cross_split] == [{"train", "test"}, {"train", "val"}]
    assert [set(g.classes) for g in report.conflicting] == [{"sad", "angry"}]
    assert report.sizes == {(48, 48): index.total() - 2}
    assert report.modes == {"L": index.total() - 2}


def test_confine_refuses_paths_that_leave_the_root(planted, tmp_path):
    root = planted["root"]
    assert confine(root, "train/happy") == (root / "train" / "happy").resolve()
    assert confine(root, "train/sad/inside_link.jpg").is_file()
    for bad in ("..", "../outside.jpg", "train/../../outside.jpg", "/etc/passwd", str(tmp_path / "outside.jpg"),
                "C:\\Windows", "..\\outside.jpg", "~/x", "train/happy/escape.jpg"):
        with pytest.raises(PathRefused):
            confine(root, bad)
    (root / "link_out").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(PathRefused):
        confine(root, "link_out/outside.jpg")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "..", ".", "/", "\\", "x.jpg", "~", "C:", "%2e%2e"]), max_size=8))
def test_confine_never_returns_a_path_outside_the_root(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "confine_root"
    (root / "a" / "b").mkdir(parents=True, exist_ok=True)
    try:
        out = confine(root, "".join(parts))
    except PathRefused:
        return
    assert out == root.resolve() or out.is_relative_to(root.resolve())


def test_configured_roots_are_every_data_set_of_the_data_folder_plus_the_environment_folders(fer_root, tmp_path):
    from fer.config import data_root
    extra = tmp_path / "mine"
    extra.mkdir()
    roots = configured_roots({audit.ROOTS_ENV: os.pathsep.join([str(extra), str(tmp_path / "missing"), ""])})
    in_data = sorted(d.resolve() for d in data_root().iterdir() if d.is_dir() and any(c.is_dir() for c in d.iterdir()))
    assert roots[0] == fer_root.resolve() and roots[-1] == extra.resolve()
    assert sorted(roots[:-1]) == in_data and len(in_data) >= 1
    assert (data_root() / "videos").resolve() not in roots  # a folder of files is not a data set


def test_predictions_over_a_split_match_the_classifier_and_fill_the_confusion_matrix(fer_root, classifier):
    index = index_dataset(fer_root)
    seen = []
    preds = audit.predict_split(index, "val", classifier, progress=lambda d, t: seen.append(d), chunk=1000)
    n = sum(index.count("val", c) for c in index.classes("val"))
    assert len(preds.paths) == n and seen[-1] == n and not preds.unreadable
    rep = preds.report()
    assert rep.n == n and np.asarray(rep.confusion).sum() == n
    rng = np.random.default_rng(0)
    read = model_crop_reader(classifier) or (lambda path: load_gray(path, classifier.input_size))
    for i in rng.choice(n, 20, replace=False):
        crop = read(fer_root / preds.paths[i])
        np.testing.assert_allclose(preds.probabilities[i], classifier.predict(crop[None])[0], atol=1e-6)
        assert classifier.classes[preds.labels[i]] == Path(preds.paths[i]).parent.name
    true_cls = "happy"
    pred_cls = classifier.classes[int(np.bincount(preds.predicted[preds.labels == classifier.classes.index(true_cls)],
                                                minlength=len(classifier.classes)).argmax())]
    members = preds.cell(true_cls, pred_cls)
    k = classifier.classes.index(pred_cls)
    assert len(members) == rep.confusion[classifier.classes.index(true_cls)][k] > 0
    confidences = preds.probabilities[members, k]
    assert np.all(np.diff(confidences) <= 0), "a cell's images come most confident first"
