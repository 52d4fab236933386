"""Save a fitted scikit-learn regressor as a ``skops/1`` model directory.

The generic path (any regressor taking the raw ``FEATURES`` matrix), served by
``model.skops_format`` with an explicit trusted-type list; slower to start than
tree tables, so the shipped model does not use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streaming.model.contract import SKOPS_FILE, SKOPS_FORMAT
from streaming.training.artifact_writer import write_metadata


def save_skops(directory: Path, estimator: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """Write a fitted regressor (taking the raw ``FEATURES`` matrix) as a skops model dir."""
    import skops.io as sio

    directory.mkdir(parents=True, exist_ok=True)
    data = sio.dumps(estimator)
    (directory / SKOPS_FILE).write_bytes(data)
    return write_metadata(directory, metadata, SKOPS_FILE, data, SKOPS_FORMAT)
