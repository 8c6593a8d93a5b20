"""The one home of class order, colours, default sizes and thresholds."""
from __future__ import annotations

import os
from pathlib import Path

#: FER2013's seven expressions, in the order the shipped model outputs them.
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

#: Folder names other data sets use for our classes (matched case-insensitively).
CLASS_ALIASES: dict[str, str] = {
    "anger": "angry", "angry": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "joyful": "happy", "smile": "happy",
    "neutral": "neutral", "calm": "neutral",
    "sad": "sad", "sadness": "sad", "unhappy": "sad",
    "surprise": "surprise", "surprised": "surprise", "surprising": "surprise", "shock": "surprise",
}

#: BGR colours, one per expression, used for boxes and bars everywhere.
CLASS_COLORS_BGR: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (0, 200, 255),
    "neutral": (180, 180, 180),
    "sad": (200, 120, 30),
    "surprise": (0, 140, 255),
}

#: Side of the square grayscale crop the default model takes (FER2013's native size).
DEFAULT_IMAGE_SIZE = 48

#: Still images (``predict``, ``evaluate``, the still-image page) average each face's prediction with
#: its mirror image's by default: FER2013 test 70.8 % instead of 69.5 % for a second classifier pass
#: (under a millisecond a face). The live page runs single passes, where latency matters most.
STILL_FLIP = True

#: The only decoders Pillow may use (its names): the formats of IMAGE_EXTENSIONS (Pillow's JPEG opener
#: also reads MPO, the phone JPEGs holding several pictures). Pillow opens dozens more (BLP, SPIDER,
#: DDS, ...), rarely seen and less hardened: three of the five crash types the fuzz test found were in
#: such decoders.
IMAGE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

#: Image files we read from folders.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

#: Refuse images with more pixels than this before decoding them in full (decompression bombs).
MAX_IMAGE_PIXELS = 50_000_000

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("FER_MODELS_DIR", REPO_ROOT / "models"))
#: The model served when none is named: the ensemble of the fine-tuned pretrained face network
#: (``faceres_multisource``) and the small gray network (``multisource_blend``). The default rule: a
#: model becomes the default if it beats the default on RAF-DB held-out and AffectNet val and loses
#: at most 3 points of FER2013 val (docs/models.md has the figures). ``models/default`` is the one
#: with no research licence: ``FER_MODEL=default`` makes it the one served when none is named (every
#: page, command and the API), for a deployment outside non-commercial research.
DEFAULT_MODEL_NAME = os.environ.get("FER_MODEL") or "faceres_ensemble"


def data_root() -> Path:
    """Where the shared data sets live; ``FER_DATA_DIR`` overrides ``../shared/data``."""
    return Path(os.environ.get("FER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def pretrained_root() -> Path:
    """Where pretrained face networks live (training starts there; never read at run time):
    ``FER_PRETRAINED_DIR`` overrides ``<data_root>/../pretrained/human-models-3.0.4``."""
    override = os.environ.get("FER_PRETRAINED_DIR")
    if override:
        return Path(override)
    return data_root().parent / "pretrained" / "human-models-3.0.4"


def fer2013_root() -> Path:
    """The folder-per-class FER2013 copy (train/ val/ test/)."""
    return data_root() / "fer2013"

#: The data sets of the shared data folder by folder name, as people know them.
DATA_SET_NAMES: dict[str, str] = {"fer2013": "FER2013", "rafdb": "RAF-DB", "affectnet": "AffectNet", "ferplus": "FER+"}

#: Extra border around a Haar box before cropping, as a fraction of the box side (FER2013 crops
#: show a little more than the Haar box does).
CROP_MARGIN = 0.1

#: Data sets whose licence a model trained on them inherits (by data set folder name); the
#: training metadata and the model report carry the restriction.
RESTRICTED_DATA: dict[str, str] = {
    "rafdb": "RAF-DB: non-commercial research use only (BUPT PRIS agreement); cite Li, Deng and Du, CVPR 2017",
    "affectnet": "AffectNet: academic research licence, non-commercial research use only, no redistribution "
                 "outside research; cite Mollahosseini, Hasani and Mahoor, IEEE TAC 2017",
}

#: ``batch --engine local``: files per Parquet part file (closed and renamed when whole, so a kill
#: loses at most the open one). Here, not in fer.offline.batch, so the CLI's option parser can show the
#: default without importing pyarrow and the model.
BATCH_PART_FILES = 512
