"""The model contract: what a model directory is, and what every reader and writer shares.

A leaf module (no imports from the rest of ``streaming``), so the loader
(``artifact``), the S3 fetcher (``fetch``), the skops reader, the training
writers and the feature builder all depend on it and not on each other.

A model is a directory (local, or ``s3://bucket/prefix/`` fetched by
``fetch.py``) containing:

* ``metadata.json`` - name, version, format, feature list, training figures,
  and ``weights: {"file": ..., "sha256": ...}``;
* the weights: ``model.npz`` for ``tree-tables/1`` (plain arrays, read with
  ``allow_pickle=False``) or ``model.skops`` for ``skops/1`` (a generic
  scikit-learn regressor, loaded only with an explicit trusted-type list).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: Column order of the model input: recorded in every model's metadata, checked
#: when a model is loaded, and built by ``consumer.features`` (serving) and
#: ``training.tlc`` (training).
FEATURES: tuple[str, ...] = (
    "PULocationID",
    "DOLocationID",
    "trip_distance",
    "pickup_hour",
    "pickup_weekday",
)
#: The ``model`` field of every prediction event (the course's name).
MODEL_NAME = "ride_duration_prediction_model"

METADATA_FILE = "metadata.json"
NPZ_FILE = "model.npz"
SKOPS_FORMAT = "skops/1"
SKOPS_FILE = "model.skops"

#: Largest ``metadata.json`` read: the shipped one is ~4 KB.
MAX_METADATA_BYTES = 1 << 20


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message names the location and the reason."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(directory: Path, location: str) -> dict[str, Any]:
    """Read and check ``metadata.json`` (shape only; the weights are checked on load)."""
    path = directory / METADATA_FILE
    if not path.is_file():
        raise ModelLoadError(f"cannot load model from {location}: no {METADATA_FILE} there")
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ModelLoadError(
            f"cannot load model from {location}: {METADATA_FILE} is {size} bytes, "
            f"more than {MAX_METADATA_BYTES}"
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
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
    name = metadata.setdefault("name", MODEL_NAME)  # models written before names were kept
    if not isinstance(name, str) or not 1 <= len(name) <= 256:
        raise ModelLoadError(
            f"cannot load model from {location}: metadata 'name' must be a string of "
            "1-256 characters (it is the 'model' field of every prediction)"
        )
    if list(metadata.get("features", [])) != list(FEATURES):
        raise ModelLoadError(
            f"cannot load model from {location}: it expects features "
            f"{metadata.get('features')}, this service computes {list(FEATURES)}"
        )
    return metadata
