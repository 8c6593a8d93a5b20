"""Training end to end on a few dozen real faces: checkpoint, SIGKILL, resume, finish, metadata."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fer.train.training import class_weights

from fer_samples import stratified_sample


@pytest.fixture(scope="module")
def tiny_data(fer_root, tmp_path_factory) -> dict[str, Path]:
    """7 classes x 6 train, x 3 val, x 3 test real images, copied to a temp folder-per-class tree."""
    base = tmp_path_factory.mktemp("tiny")
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        for path, c in stratified_sample(fer_root / split, n, seed=1):
            (base / split / c).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, base / split / c / path.name)
    return {s: base / s for s in ("train", "val", "test")}


def _train_cmd(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fer", "train", "--data", str(data["train"]), "--val", str(data["val"]),
            "--test", str(data["test"]), "--out", str(out), "--epochs", "3", "--batch-size", "8", *extra]


def _epochs_done(out: Path) -> int:
    hist = out / "history.csv"
    if not hist.exists():
        return 0
    with hist.open() as f:
        return len(list(csv.DictReader(f)))


def test_a_killed_run_resumes_from_its_last_checkpoint_and_finishes(tiny_data, tmp_path):
    out = tmp_path / "model"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(_train_cmd(tiny_data, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True)
    deadline = time.time() + 240
    while _epochs_done(out) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed:\n" + proc.stdout.read()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_after = _epochs_done(out)
    assert 1 <= killed_after < 3
    assert (out / "checkpoints" / "last.keras").is_file()
    assert not (out / "metadata.json").exists()

    # Starting again without --resume must not silently throw the checkpoint away.
    again = subprocess.run(_train_cmd(tiny_data, out), capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 2 and "--resume" in again.stderr

    resumed = subprocess.run(_train_cmd(tiny_data, out, "--resume"), capture_output=True, text=True, env=env,
                             timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Epoch 1/3" not in resumed.stdout, "the resumed run repeated a finished epoch"
    with (out / "history.csv").open() as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [0, 1, 2]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["epochs_run"] == 3
    assert meta["classes"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert meta["input"]["size"] == 48
    assert "--resume" in meta["command"]
    assert meta["data"]["train"]["n"] == 42
    assert set(meta["metrics"]) >= {"val", "test", "litert_val", "litert_test"}
    assert meta["metrics"]["test"]["plain"]["n"] == 21
    assert (out / "model.tflite").stat().st_size > 100_000
    assert (out / "model.keras").is_file()


def test_rare_classes_weigh_more_but_not_in_full_inverse_proportion():
    import numpy as np
    labels = np.array([0] * 400 + [1] * 25 + [2] * 100)
    w = class_weights(labels, 3)
    assert w[1] > w[2] > w[0]
    assert w[1] / w[0] == pytest.approx(4.0)  # sqrt(400 / 25)
    assert np.mean(list(w.values())) == pytest.approx(1.0)


def test_a_run_smaller_than_one_batch_still_takes_steps(tiny_data, tmp_path):
    """42 images and the default batch of 128: drop_remainder once gave zero steps, a "trained"
    model at a flat 14 % and exit 0. The batch now shrinks to the data and the weights move."""
    import numpy as np
    from fer.config import MODELS_DIR
    out = tmp_path / "small"
    cmd = [sys.executable, "-m", "fer", "train", "--data", str(tiny_data["train"]), "--val", str(tiny_data["val"]),
           "--out", str(out), "--epochs", "1", "--init-from", str(MODELS_DIR / "default" / "model.keras")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "using batches of 42" in r.stdout
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["data"]["batch_size_used"] == 42
    with (out / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["loss"]) > 0
    import keras
    before = keras.saving.load_model(MODELS_DIR / "default" / "model.keras", compile=False).get_weights()
    after = keras.saving.load_model(out / "model.keras", compile=False).get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after)), "no weight moved: zero steps taken"
