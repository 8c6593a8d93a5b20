"""The data set explorer page through AppTest: its counts are the folder's, the content audit reports
the problems planted in a copy of real FER2013 images, paths leaving the roots are refused, and the
model-over-a-split view fills a confusion matrix whose cells list their images."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer.train import audit
from fer.config import REPO_ROOT

PAGE = str(REPO_ROOT / "pages" / "dataset_explorer.py")


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _table(at: AppTest, *columns: str):
    """The first dataframe on the page with these columns (keys don't reach AppTest for plain tables)."""
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}")


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def planted(fer_root, tmp_path, monkeypatch) -> Path:
    """Copies of real images as <split>/<class>/, with a truncated file, a cross-split duplicate and
    a duplicate filed under another class; configured as an extra explorer root."""
    root = tmp_path / "planted"
    seen: set[bytes] = set()
    for split, offset in (("train", 0), ("test", 50)):
        for c in ("happy", "sad", "surprise"):
            (root / split / c).mkdir(parents=True)
            picked = 0
            for f in sorted((fer_root / "test" / c).iterdir())[offset:]:
                if picked == 5:
                    break
                if (b := f.read_bytes()) not in seen:
                    seen.add(b)
                    shutil.copy(f, root / split / c / f.name)
                    picked += 1
    first_happy = sorted((root / "train" / "happy").iterdir())[0]
    shutil.copy(first_happy, root / "test" / "happy" / "leak.jpg")
    first_sad = sorted((root / "train" / "sad").iterdir())[0]
    shutil.copy(first_sad, root / "train" / "surprise" / "mislabeled.jpg")
    data = first_happy.read_bytes()
    (root / "train" / "happy" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    monkeypatch.setenv(audit.ROOTS_ENV, str(root))
    return root


def test_the_counts_shown_are_the_folders_counts(fer_root):
    at = _page()
    table = at.dataframe[0].value
    for split in ("train", "val", "test"):
        for cls in table["class"]:
            n = sum(1 for _ in (fer_root / split / cls).iterdir())
            assert int(table.loc[table["class"] == cls, split].iloc[0]) == n, (split, cls)
    total = sum(1 for s in ("train", "val", "test") for c in (fer_root / s).iterdir() for _ in c.iterdir())
    assert _metrics(at)["Images"] == f"{total:,}"
    assert len(at.get("plotly_chart")) >= 1
    assert len(at.get("image")) == 24, "the first page of thumbnails, not the whole class"


def test_the_content_audit_reports_what_was_planted(planted):
    at = _page()
    at.selectbox(key="ex_root").set_value(planted.resolve())
    at.run()
    assert _metrics(at)["Images"] == "33"
    at.button(key="ex_scan").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    m = _metrics(at)
    assert (m["Corrupt files"], m["Shared across splits"], m["Conflicting labels"]) == ("1", "1", "1")
    corrupt = _table(at, "file", "problem")
    assert list(corrupt["file"]) == ["train/happy/truncated.jpg"]
    assert "truncated" in corrupt["problem"].iloc[0]
    cross = _table(at, "copies", "splits", "files")
    assert cross["files"].iloc[0] == f"test/happy/leak.jpg | train/happy/{sorted((planted / 'train' / 'happy').iterdir())[0].name}"


def test_paths_that_leave_the_roots_are_refused(planted, tmp_path):
    at = _page()
    at.selectbox(key="ex_root").set_value(planted.resolve())
    for bad in ("../", "../../etc", "/etc", str(tmp_path)):
        at.text_input(key="ex_sub").input(bad)
        at.run()
        errors = [e.value for e in at.error]
        assert errors and errors[0].startswith("Refused:"), (bad, errors)
    (planted / "escape").symlink_to(tmp_path, target_is_directory=True)
    at.text_input(key="ex_sub").input("escape")
    at.run()
    assert [e.value for e in at.error][0].startswith("Refused:")
    at.text_input(key="ex_sub").input("test")
    at.run()
    assert not at.error and _metrics(at)["Images"] == "16"


def test_the_model_over_a_split_fills_the_confusion_matrix_and_a_cell_lists_its_images(planted, default_classifier):
    at = _page()
    at.selectbox(key="ex_root").set_value(planted.resolve())
    at.run()
    at.selectbox(key="ex_dis_split").set_value("test")
    at.button(key="ex_run_model").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    index = audit.index_dataset(planted)
    preds = audit.predict_split(index, "test", default_classifier)
    assert _metrics(at)["Accuracy"] == f"{preds.report().accuracy:.1%}"
    assert any(el.key == "ex_cm" for el in at.get("plotly_chart"))
    k = int(preds.predicted[preds.labels == default_classifier.classes.index("happy")][0])
    at.selectbox(key="ex_true").set_value("happy")
    at.selectbox(key="ex_pred").set_value(default_classifier.classes[k])
    at.run()
    n = len(preds.cell("happy", default_classifier.classes[k]))
    assert f"**{n:,} image(s) labelled happy, predicted {default_classifier.classes[k]}**" in [m.value for m in at.markdown]
    table = _table(at, "file", *default_classifier.classes)
    assert len(table) == n and list(table.columns[1:]) == default_classifier.classes


def test_a_sub_folder_of_classes_shows_no_pseudo_split_and_one_count_column(planted):
    at = _page()
    at.selectbox(key="ex_root").set_value(planted.resolve())
    at.text_input(key="ex_sub").input("test")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    m = _metrics(at)
    assert m["Splits"] == "none", m["Splits"]  # short enough to show whole; the folder is in a caption
    table = _table(at, "class")
    assert list(table.columns) == ["class", "images"], list(table.columns)
    assert dict(zip(table["class"], table["images"])) == {"happy": 6, "sad": 5, "surprise": 5}
    assert not [s for s in at.selectbox if s.label == "Split"], "a one-folder data set has no split to choose"


def test_file_names_under_thumbnails_break_only_at_their_joints():
    from ui.text import BREAK, breakable_file_name
    assert breakable_file_name("PrivateTest_10077120.jpg") == f"PrivateTest_{BREAK}10077120{BREAK}.jpg"
    assert breakable_file_name("a-b_c.d.png") == f"a-{BREAK}b_{BREAK}c.d{BREAK}.png"
    assert breakable_file_name("plain") == "plain"
    assert breakable_file_name("x.jpg").replace(BREAK, "") == "x.jpg"


def test_every_data_set_of_the_data_folder_is_offered_by_name_and_relative_path(fer_root):
    from fer.config import DATA_SET_NAMES, data_root
    base = data_root()
    sets = [d for d in base.iterdir() if d.is_dir() and any(c.is_dir() for c in d.iterdir())]
    at = _page()
    picker = at.selectbox(key="ex_root")
    labels = list(picker.options)
    for d in sets:
        assert f"{DATA_SET_NAMES.get(d.name, d.name)} · {d.name}" in labels, labels
    absolute = str(base.resolve())
    for d in sets:
        picker = at.selectbox(key="ex_root")
        picker.set_value(d.resolve())
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        shown = [e.value for e in (*at.markdown, *at.caption, *at.error, *at.warning, *at.info)]
        shown += [m.value for m in at.metric] + [m.label for m in at.metric]
        assert not [t for t in shown if absolute in str(t)], "the machine's data path is shown"
        assert _metrics(at)["Images"] != "0"
