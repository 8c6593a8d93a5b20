"""A model that is the weighted average of other shipped models' probabilities.

Why: the pretrained face network (``faceres_multisource``) reads in-the-wild faces far better than
the small gray network, and reads FER2013's 48x48 gray faces worse; the small network the other way
round. Averaged, they keep most of both (docs/models.md, "faceres_ensemble"). An ensemble folder
holds only ``metadata.json``: its ``ensemble.members`` name the member folders in ``models/`` and
their weights, and serving loads each member's own LiteRT file.

The ensemble takes the crops of its first member (eyes-level colour crops); a member that reads
another kind of crop gets it made from those: gray if it is gray, resized to its input side. Every
caller (live, still, heat maps by occlusion, ``evaluate``) then sees one classifier with one kind
of crop.
"""
from __future__ import annotations

import cv2
import numpy as np

from .errors import ModelError


def is_ensemble(info) -> bool:
    """The model folder (a ``ModelInfo``) is an ensemble of other folders (no network file of its own)."""
    return "ensemble" in info.metadata


def member_crops(crops: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Eyes-level RGB crops (N, s, s, 3) as a member's input: gray (N, size, size) for a gray
    member, (N, size, size, 3) otherwise; shrunk by area averaging."""
    out = []
    for c in crops:
        if channels == 1:
            c = cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)
        if c.shape[0] != size:
            c = cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA if c.shape[0] > size else cv2.INTER_LINEAR)
        out.append(c)
    shape = (0, size, size) + ((channels,) if channels > 1 else ())
    return np.stack(out) if out else np.zeros(shape, np.uint8)


class EnsembleClassifier:
    """The same interface as ``fer.classify.model.Classifier`` (crops in, probabilities out,
    thread-safe through its members' locks) over loaded member classifiers and their weights
    (``fer.classify.model.load_ensemble`` makes one from a folder)."""

    def __init__(self, info, members: list, weights: list[float], names: list[str]) -> None:
        if not members or len(weights) != len(members) or any(w <= 0 for w in weights):
            raise ModelError(f"{info.path}/metadata.json: an ensemble needs members with positive weights")
        self.info = info
        self.members = members
        total = sum(weights)
        self.weights = [w / total for w in weights]
        self.classes = info.classes
        for name, m in zip(names, members):
            if list(m.classes) != list(self.classes):
                raise ModelError(f"{info.name}: member {name} has classes {m.classes}, the ensemble {self.classes}")
        first = members[0]
        mixed = any((m.framing, m.channels) != (first.framing, first.channels) for m in members[1:])
        if mixed and (first.framing, first.channels) != ("eyes", 3):
            raise ModelError(f"{info.name}: members read different crops, so the first must read eyes-level colour "
                             "crops (the others' are made from them)")
        self.input_size, self.channels, self.framing = first.input_size, first.channels, first.framing

    def predict(self, crops: np.ndarray, flip: bool = False) -> np.ndarray:
        """``crops`` in the first member's shape (the first member reads them as they are, and its
        ``predict`` refuses any other shape); each member's probabilities, weighted, summed."""
        crops = np.asarray(crops)
        out = np.zeros((len(crops), len(self.classes)), np.float32)
        for member, w in zip(self.members, self.weights):
            same = (member.input_size, member.channels) == (self.input_size, self.channels)
            x = crops if same else member_crops(crops, member.input_size, member.channels)
            out += w * member.predict(x, flip=flip)
        return out

    def warm(self) -> None:
        """Each member's first call made ahead (see ``Classifier.warm``)."""
        for m in self.members:
            m.warm()

    def keras_model(self):
        """An ensemble has no one network to read: the CAM heat maps need one (occlusion works)."""
        raise ModelError(f"{self.info.name} averages {len(self.members)} models, so Grad-CAM-family heat maps "
                         "have no single network to read; occlusion sensitivity explains it")
