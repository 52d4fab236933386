"""Model directories for tests: the shipped model under another version (a shadow whose
answers are known: the champion's, under its own name in every output)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import MODELS


def shipped_model_as(directory: Path, version: str) -> Path:
    """Copy the shipped model's files into ``directory`` with ``version`` in its metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in MODELS.iterdir():
        if item.is_file():
            shutil.copy(item, directory / item.name)
    metadata = json.loads((directory / "metadata.json").read_text())
    metadata["version"] = version
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory
