"""Load a model: a directory or ``s3://`` prefix -> a ``LoadedModel`` ready to predict.

Nothing here unpickles: whatever ``MODEL_LOCATION`` points at is data, the
sha256 in the metadata is checked before the weights are parsed, and sizes
are bounded before anything is read (``npz``). Any problem is one
``ModelLoadError`` naming the location and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from streaming.model import tree_tables
from streaming.model.contract import (
    NPZ_FILE,
    SKOPS_FORMAT,
    ModelLoadError,
    read_metadata,
    sha256_bytes,
)
from streaming.model.fetch import fetch_model
from streaming.model.npz import NpzFormatError, read_npz
from streaming.model.skops_format import load_skops
from streaming.model.tree_tables import TableFormatError, TreeTables

#: Largest weights file read into memory (either format). The shipped model is
#: ~1 MB; Lambda's default memory is 1 GB and its /tmp 512 MB.
MAX_WEIGHTS_BYTES = 256 << 20


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
        return str(self.metadata["name"])


def load_model(location: str | Path) -> LoadedModel:
    """Load a model directory or ``s3://`` prefix; raise ``ModelLoadError`` on any problem."""
    location = str(location)
    try:
        directory = fetch_model(location) if location.startswith("s3://") else Path(location)
        return _load_directory(directory, location)
    except ModelLoadError:
        raise
    except Exception as exc:  # any other failure still names the location
        raise ModelLoadError(f"cannot load model from {location}: {exc}") from exc


def _load_directory(directory: Path, location: str) -> LoadedModel:
    metadata = read_metadata(directory, location)
    weights_path = directory / metadata["weights"]["file"]
    if not weights_path.is_file():
        raise ModelLoadError(f"cannot load model from {location}: {weights_path.name} is missing")
    _check_weights_size(weights_path, location)
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
        predictor = load_skops(data, location)
    else:
        raise ModelLoadError(f"cannot load model from {location}: unknown format {fmt!r}")
    return LoadedModel(predictor=predictor, metadata=metadata, location=location)


def _check_weights_size(path: Path, location: str) -> None:
    """Refuse an oversized weights file before reading or hashing it.

    (``weights.bytes`` in the metadata is informational: the sha256 already
    catches a truncated or different file.)
    """
    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise ModelLoadError(
            f"cannot load model from {location}: {path.name} is {size} bytes, "
            f"more than {MAX_WEIGHTS_BYTES}"
        )


def _tree_tables_from_npz(data: bytes, location: str) -> TreeTables:
    try:
        return TreeTables(**read_npz(data, tree_tables.ARRAYS))
    except (NpzFormatError, TableFormatError) as exc:
        raise ModelLoadError(f"cannot load model from {location}: bad {NPZ_FILE}: {exc}") from None
