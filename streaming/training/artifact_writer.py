"""Write a model directory: the weights file and ``metadata.json`` with its sha256.

Training's side of ``model.contract``. The npz is written deterministically
(no zip timestamps), so retraining to the same trees gives the same sha256 and
version.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from streaming.model import tree_tables
from streaming.model.contract import FEATURES, METADATA_FILE, NPZ_FILE, sha256_bytes
from streaming.model.tree_tables import TreeTables


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
