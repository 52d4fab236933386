"""Host tools the static checks run (docker-compose, shellcheck): CI installs them
(.ci/run); elsewhere a missing one skips its check, in CI it fails it."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI") == "true"


def tool(name: str) -> str:
    """The path of ``name``; a skip (a failure in CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is missing in CI (.ci/run installs it)")
        pytest.skip(f"{name} not installed (apt install {name}); CI installs and runs it")
    return path
