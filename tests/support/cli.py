"""The ``streaming`` command in a fresh interpreter, run from the repository root."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from tests.conftest import REPO

#: the command line of ``streaming`` (for ``subprocess.Popen`` as well)
STREAMING = [sys.executable, "-m", "streaming"]


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``streaming *args``; its output captured as text, its exit status not checked."""
    return subprocess.run(
        [*STREAMING, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def cli_summary(*args: str, **kwargs: Any) -> Any:
    """``cli(*args)``, which must succeed: the last line it prints, parsed as JSON."""
    proc = cli(*args, **kwargs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
