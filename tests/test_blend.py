"""``blend``: the shipped FER2013 model averaged with the multi-source fine-tune of it (WiSE-FT)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fer.train.blend import BlendError, blend_weights
from fer.config import MODELS_DIR
from fer.train.data import load_image_set

from fer_samples import stratified_sample


def test_blend_weights_interpolate_and_refuse_mismatches():
    a, b = [np.zeros((2, 3), np.float32), np.ones(4, np.float32)], [np.ones((2, 3), np.float32), np.zeros(4, np.float32)]
    mid = blend_weights(a, b, 0.25)
    assert np.allclose(mid[0], 0.25) and np.allclose(mid[1], 0.75) and mid[0].dtype == np.float32
    with pytest.raises(BlendError, match="architectures"):
        blend_weights(a, [b[0]], 0.5)
    with pytest.raises(BlendError, match="alpha"):
        blend_weights(a, b, 1.5)


@pytest.fixture(scope="module")
def small_roots(tmp_path_factory, fer_root):
    base = tmp_path_factory.mktemp("blend")
    for split, n in (("train", 3), ("val", 6)):
        for path, c in stratified_sample(fer_root / split, n, seed=2):
            (base / split / c).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, base / split / c / path.name)
    return base


def test_a_blend_sits_between_its_parents_and_is_shipped_with_its_record(small_roots, tmp_path):
    import keras
    if not (MODELS_DIR / "multisource" / "model.keras").is_file():
        pytest.skip("models/multisource is not in this checkout")
    out = tmp_path / "blend"
    r = subprocess.run([sys.executable, "-m", "fer", "blend", "default", "multisource", "--alpha", "0.5",
                        "--out", str(out), "--calibration", str(small_roots / "train"), "--val", str(small_roots / "val")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["blend"]["alpha"] == 0.5 and meta["blend"]["base"]["model"] == "models/default"
    assert meta["licence"] == json.loads((MODELS_DIR / "multisource" / "metadata.json").read_text())["licence"]
    assert set(meta["metrics"]) == {"litert_val"} and "evaluations" not in meta  # no parent's figures
    assert (out / "model.tflite").stat().st_size > 100_000
    assert meta["epochs_run"] > 11 and meta["train_wall_seconds"] > 9000  # both parents, every stage
    from fer.report import training_stages
    stages = training_stages(meta)
    assert stages[0].name.startswith("base (default)") and stages[-1].name == "blend (WiSE-FT)"
    assert any(s.name.startswith("fine-tune (multisource)") for s in stages) and "blend" in stages[-1].commands[0]
    images = load_image_set([small_roots / "val"], 48).images[..., None].astype("float32")
    probs = {name: keras.saving.load_model(path / "model.keras", compile=False).predict(images, verbose=0)
             for name, path in (("base", MODELS_DIR / "default"), ("tuned", MODELS_DIR / "multisource"), ("blend", out))}
    # Not a mix of outputs: a third model, different from each parent, nearer each than they are to each other.
    far = np.abs(probs["base"] - probs["tuned"]).mean()
    assert 0 < np.abs(probs["blend"] - probs["base"]).mean() < far
    assert 0 < np.abs(probs["blend"] - probs["tuned"]).mean() < far
    again = subprocess.run([sys.executable, "-m", "fer", "blend", "default", "multisource", "--alpha", "0.5",
                            "--out", str(out), "--calibration", str(small_roots / "train"), "--val", str(small_roots / "val")],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "already holds files" in again.stderr
