"""The command line on real data: predict's JSON shape, evaluate's report and class matching."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.train.compose import compose
from fer.config import CLASSES
from fer.train.data import load_gray

from fer_samples import stratified_sample


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, timeout=300)


def test_predict_json_has_one_entry_per_image_with_boxes_labels_and_probabilities(tmp_path, fer_root):
    faces = [load_gray(p, 48) for p, c in stratified_sample(fer_root / "test", 2, seed=1) if c == "happy"]
    frame, _ = compose(faces[:1], 640, 480, face_px=160)
    framed = tmp_path / "frame.png"
    cv2.imwrite(str(framed), frame)
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), compose([], 320, 240)[0])
    out = run_cli("predict", str(framed), str(empty), "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["path"] for r in rows] == [str(framed), str(empty)]
    assert rows[1]["faces"] == []
    (face,) = rows[0]["faces"]
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert list(face["probabilities"]) == list(CLASSES)
    assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-3


def test_predict_without_json_prints_a_table(tmp_path, fer_root):
    path = stratified_sample(fer_root / "test", 1)[0][0]
    out = run_cli("predict", str(path), "--no-detect")
    assert out.returncode == 0, out.stderr
    assert "1 face(s)" in out.stdout and "box=(0, 0, 48, 48)" in out.stdout


def test_evaluate_matches_aliased_folders_and_reports_unknown_classes(tmp_path, fer_root):
    aliases = {"angry": "Anger", "happy": "joy", "sad": "sadness", "surprise": "surprised"}
    sample = stratified_sample(fer_root / "test", 8, seed=4)
    for path, c in sample:
        if c in aliases:
            dest = tmp_path / aliases[c]
            dest.mkdir(exist_ok=True)
            shutil.copy(path, dest / path.name)
    (tmp_path / "contempt").mkdir()
    shutil.copy(sample[0][0], tmp_path / "contempt" / "x.jpg")
    png = tmp_path / "confusion.png"
    out = run_cli("evaluate", str(tmp_path), "--json", "--confusion-png", str(png))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert {"accuracy", "macro_f1", "per_class", "confusion", "classes", "n"} <= set(r)
    assert r["n"] == 32
    assert r["classes"] == list(CLASSES)
    assert {c: r["per_class"][c]["support"] for c in aliases} == {c: 8 for c in aliases}
    assert sum(map(sum, r["confusion"])) == 32
    assert any("contempt" in k for k in r["skipped_classes"])
    assert cv2.imread(str(png)) is not None


def test_evaluate_on_the_full_test_split_matches_the_metadata(fer_root):
    """Flip averaging is the default (as in predict and on the still-image page); --no-flip is one pass."""
    from fer.classify.model import resolve_model
    meta = resolve_model(None).metadata
    # What `evaluate --record` kept for FER2013 test (a multi-source model's litert_test pools every source).
    recorded = {k.rsplit("|", 1)[1].strip(): v["accuracy"] for k, v in meta["evaluations"].items()
                if k.startswith("../shared/data/fer2013/test | truth=folder |")}
    for args, mode in (((), "flip"), (("--no-flip",), "single pass")):
        out = run_cli("evaluate", str(fer_root / "test"), "--json", *args)
        assert out.returncode == 0, out.stderr
        r = json.loads(out.stdout)
        assert r["n"] == 3589 and r["flip"] == (mode == "flip")
        assert abs(r["accuracy"] - recorded[mode]) < 1e-6, (mode, r["accuracy"], recorded)


def test_a_missing_model_is_a_clear_error(tmp_path):
    out = run_cli("predict", str(tmp_path / "x.jpg"), "--model", "no_such_model")
    assert out.returncode == 2
    assert "no model at" in out.stderr and "Traceback" not in out.stderr


def test_evaluate_record_keeps_the_confusion_matrix_for_the_model_report(classifier, tmp_path, fer_root):
    import shutil
    folder = tmp_path / "m"
    shutil.copytree(classifier.info.path, folder, ignore=shutil.ignore_patterns("checkpoints", "*.keras"))
    data = tmp_path / "data"
    for path, cls in stratified_sample(fer_root / "test", 5, seed=2):
        (data / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, data / cls / path.name)
    out = run_cli("evaluate", str(data), "--model", str(folder), "--no-flip", "--record", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    (rec,) = [v for k, v in json.loads((folder / "metadata.json").read_text())["evaluations"].items()
              if k.split("|")[0].strip().endswith("/data")]
    assert rec["confusion"] == r["confusion"] and rec["classes"] == r["classes"]
    assert sum(map(sum, rec["confusion"])) == r["n"]


def test_the_installed_fer_command_is_python_minus_m_fer(tmp_path):
    """``pip install -e .`` (pyproject.toml's console script) puts a ``fer`` command beside Python that
    runs the same command line, from any directory."""
    command = Path(sys.executable).parent / "fer"
    if not command.is_file():
        pytest.skip(f"no {command}: the package is not installed (`pip install -e .`)")
    installed = subprocess.run([str(command), "predict", "--help"], capture_output=True, text=True, timeout=300,
                               cwd=tmp_path)
    module = run_cli("predict", "--help")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout == module.stdout


def test_fer_model_picks_the_model_served_when_none_is_named(tmp_path, fer_root):
    """A deployment outside non-commercial research serves `default` with FER_MODEL=default."""
    import os
    import shutil
    data = tmp_path / "data" / "happy"
    data.mkdir(parents=True)
    for p in sorted((fer_root / "test" / "happy").iterdir())[:3]:
        shutil.copy(p, data / p.name)
    served = {}
    for value in ("default", ""):
        env = {**os.environ, "FER_MODEL": value}
        out = subprocess.run([sys.executable, "-m", "fer", "evaluate", str(tmp_path / "data"), "--json", "--no-flip"],
                             capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stderr
        served[value] = json.loads(out.stdout)["model"]
    from fer.config import DEFAULT_MODEL_NAME
    assert served == {"default": "default", "": DEFAULT_MODEL_NAME} and DEFAULT_MODEL_NAME != "default"
