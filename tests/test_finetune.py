"""Fine-tuning a pretrained face network end to end on a few real faces of each source: crops cut the
pipeline's way, an epoch, a resumed epoch, and a model folder the product serves."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer.config import data_root, pretrained_root

pytestmark = pytest.mark.skipif(
    not all((data_root() / d).is_dir() for d in ("rafdb/train", "affectnet/train", "affectnet/val",
                                                  "fer2013/train", "fer2013/val"))
    or not (pretrained_root() / "faceres.json").is_file(),
    reason="needs ../shared/data (rafdb, affectnet, fer2013) and ../shared/pretrained (FER_DATA_DIR, FER_PRETRAINED_DIR)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from fer.train.finetune import FinetuneConfig, train
    tmp = tmp_path_factory.mktemp("finetune")
    cfg = FinetuneConfig(out=str(tmp / "run"), size=64, epochs=1, samples_per_epoch=48, batch_size=16,
                         limit_per_class=4, cache=str(tmp / "crops"))
    train(cfg, log=lambda *a: None)
    return cfg, tmp


def test_training_crops_are_lined_up_faces_of_every_source(run):
    from fer.train.crops import load_or_build
    cfg, tmp = run
    for split in ("rafdb/train", "affectnet/train", "fer2013/train"):
        s = load_or_build(data_root() / split, cfg.size, tmp / "crops", limit_per_class=4)
        assert s.images.shape[1:] == (96, 96, 3) and len(s.labels) == 28
        assert s.found.mean() >= 0.9, f"BlazeFace found faces in only {s.found.mean():.0%} of {split}"
        assert sorted(set(s.labels.tolist())) == list(range(7))


def test_a_smaller_input_size_shrinks_the_cached_crops_instead_of_cutting_again(run):
    import cv2

    from fer.train.crops import cache_path, context_side, load_or_build
    cfg, tmp = run
    root = data_root() / "rafdb/train"
    big = load_or_build(root, cfg.size, tmp / "crops", limit_per_class=4)
    logged = []
    small = load_or_build(root, 48, tmp / "crops", log=logged.append, limit_per_class=4)
    assert any("shrinking" in m for m in logged) and not any("cutting" in m for m in logged)
    assert cache_path(tmp / "crops", root, 48, 4).is_file()
    side = context_side(48)
    assert small.images.shape[1:] == (side, side, 3)
    assert (small.paths == big.paths).all() and (small.labels == big.labels).all()
    expected = cv2.resize(big.images[3], (side, side), interpolation=cv2.INTER_AREA)
    assert np.array_equal(small.images[3], expected)


def test_a_run_checkpoints_and_resumes_without_losing_an_epoch(run):
    from fer.train.finetune import FinetuneConfig, train
    cfg, _ = run
    out = cfg.out
    first = (open(f"{out}/history.csv").read().splitlines())
    assert len(first) == 2  # header + epoch 1
    with pytest.raises(SystemExit, match="--resume"):
        train(cfg)
    train(FinetuneConfig(**{**cfg.__dict__, "epochs": 2}), resume=True, log=lambda *a: None)
    rows = open(f"{out}/history.csv").read().splitlines()
    assert rows[:2] == first and rows[2].startswith("2,")
    assert json.load(open(f"{out}/checkpoints/state.json"))["epoch"] == 2


def test_a_run_ships_as_a_model_the_pipeline_serves(run):
    import cv2

    from fer.classify.model import Classifier, resolve_model
    from fer.pipeline import FramePipeline
    from fer.train.finetune_ship import ship
    cfg, tmp = run
    out = tmp / "model"
    meta = ship(tmp / "run", out, "smoke", "test", log=lambda *a: None,
                formats_tried=(("dynamic", "int8 weights"),), max_drop=100.0)
    assert meta["input"]["channels"] == 3 and meta["input"]["framing"] == "eyes"
    assert set(meta["backbone"]["files_sha256"]) == {"faceres.json", "faceres.bin"}
    assert any("RAF-DB" in x for x in meta["licence"]) and any("VGGFace2" in x for x in meta["licence"])
    clf = Classifier(resolve_model(out))
    face = cv2.imread(str(next((data_root() / "rafdb" / "test" / "happy").iterdir())))
    result = FramePipeline(clf).analyse_whole(face)
    assert result.crops.shape == (1, 64, 64, 3)
    p = np.array(list(result.faces[0].probabilities.values()))
    assert abs(p.sum() - 1) < 1e-3 and len(p) == 7
