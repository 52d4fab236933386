"""The model directory format: weights file + ``metadata.json`` holding its sha256.

A model is a directory (local, or ``s3://bucket/prefix/`` fetched by
``fetch.py``) containing:

* ``metadata.json`` - name, version, format, feature list, training figures,
  and ``weights: {"file": ..., "sha256": ...}``;
* the weights: ``model.npz`` for ``tree-tables/1`` (plain arrays, read with
  ``allow_pickle=False``) or ``model.skops`` for ``skops/1`` (a generic
  scikit-learn regressor, loaded only with an explicit trusted-type list).

Nothing here unpickles: whatever ``MODEL_LOCATION`` points at is data, and
the sha256 in the metadata is checked before the weights are parsed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from streaming.features import FEATURES
from streaming.model import tree_tables
from streaming.model.tree_tables import TableFormatError, TreeTables

METADATA_FILE = "metadata.json"
NPZ_FILE = "model.npz"
SKOPS_FORMAT = "skops/1"
SKOPS_FILE = "model.skops"


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message names the location and the reason."""


class Predictor(Protocol):
    """What the handler needs from a model: a batch of feature rows -> minutes."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class LoadedModel:
    predictor: Predictor
    metadata: Mapping[str, Any]
    location: str

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "ride_duration_prediction_model"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(location: str | Path) -> LoadedModel:
    """Load a model directory or ``s3://`` prefix; raise ``ModelLoadError`` on any problem."""
    location = str(location)
    try:
        if location.startswith("s3://"):
            from streaming.model.fetch import fetch_model

            directory = fetch_model(location)
        else:
            directory = Path(location)
        return _load_directory(directory, location)
    except ModelLoadError:
        raise
    except Exception as exc:  # any other failure still names the location
        raise ModelLoadError(f"cannot load model from {location}: {exc}") from exc


def read_metadata(directory: Path, location: str) -> dict[str, Any]:
    """Read and check ``metadata.json`` (shape only; the weights are checked on load)."""
    path = directory / METADATA_FILE
    if not path.is_file():
        raise ModelLoadError(f"cannot load model from {location}: no {METADATA_FILE} there")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(
            f"cannot load model from {location}: {METADATA_FILE} is not JSON ({exc})"
        ) from None
    weights = metadata.get("weights") if isinstance(metadata, dict) else None
    if not isinstance(weights, dict) or not all(
        isinstance(weights.get(k), str) for k in ("file", "sha256")
    ):
        raise ModelLoadError(
            f"cannot load model from {location}: {METADATA_FILE} lacks weights.file/sha256"
        )
    if "/" in weights["file"] or "\\" in weights["file"] or weights["file"].startswith("."):
        raise ModelLoadError(
            f"cannot load model from {location}: weights.file must be a plain file name"
        )
    for key in ("version", "format"):
        if not isinstance(metadata.get(key), str):
            raise ModelLoadError(f"cannot load model from {location}: metadata has no {key!r}")
    if list(metadata.get("features", [])) != list(FEATURES):
        raise ModelLoadError(
            f"cannot load model from {location}: it expects features "
            f"{metadata.get('features')}, this service computes {list(FEATURES)}"
        )
    return metadata


def _load_directory(directory: Path, location: str) -> LoadedModel:
    metadata = read_metadata(directory, location)
    weights_path = directory / metadata["weights"]["file"]
    if not weights_path.is_file():
        raise ModelLoadError(f"cannot load model from {location}: {weights_path.name} is missing")
    data = weights_path.read_bytes()
    actual = sha256_bytes(data)
    if actual != metadata["weights"]["sha256"]:
        raise ModelLoadError(
            f"cannot load model from {location}: sha256 of {weights_path.name} is {actual}, "
            f"metadata says {metadata['weights']['sha256']} (corrupt or tampered)"
        )
    fmt = metadata["format"]
    if fmt == tree_tables.FORMAT:
        predictor: Predictor = _tree_tables_from_npz(data, location)
    elif fmt == SKOPS_FORMAT:
        from streaming.model.skops_format import load_skops

        predictor = load_skops(data, location)
    else:
        raise ModelLoadError(f"cannot load model from {location}: unknown format {fmt!r}")
    return LoadedModel(predictor=predictor, metadata=metadata, location=location)


def _tree_tables_from_npz(data: bytes, location: str) -> TreeTables:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = set(npz.files)
            expected = set(tree_tables.ARRAYS)
            if names != expected:
                raise TableFormatError(f"arrays {sorted(names)} differ from {sorted(expected)}")
            arrays = {name: npz[name] for name in tree_tables.ARRAYS}
        return TreeTables(**arrays)
    except (TableFormatError, ValueError, OSError) as exc:
        raise ModelLoadError(f"cannot load model from {location}: bad {NPZ_FILE}: {exc}") from None


def save_tree_tables(
    directory: Path, tables: TreeTables, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write ``model.npz`` and ``metadata.json``; returns the metadata as written."""
    directory.mkdir(parents=True, exist_ok=True)
    data = npz_bytes(tables.arrays())
    (directory / NPZ_FILE).write_bytes(data)
    return write_metadata(directory, metadata, NPZ_FILE, data, tree_tables.FORMAT)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` whose bytes depend only on the arrays (``np.savez`` stamps the
    current time into the zip), so retraining to the same trees gives the same
    sha256 and version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_metadata(
    directory: Path, metadata: dict[str, Any], weights_file: str, data: bytes, fmt: str
) -> dict[str, Any]:
    """Record format, feature list and the weights' sha256, then write ``metadata.json``."""
    full = dict(metadata)
    full["format"] = fmt
    full["features"] = list(FEATURES)
    full["weights"] = {"file": weights_file, "sha256": sha256_bytes(data), "bytes": len(data)}
    full.setdefault("version", f"{fmt.split('/', maxsplit=1)[0]}-{full['weights']['sha256'][:12]}")
    (directory / METADATA_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return full
