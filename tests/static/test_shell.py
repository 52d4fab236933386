"""The shell scripts (the LocalStack suite, CI's entry point) pass shellcheck."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO
from tests.support.tools import tool


def test_shell_scripts_pass_shellcheck():
    scripts = sorted(str(p) for p in (REPO / "integration-test").rglob("*.sh"))
    scripts.append(str(REPO / ".ci/run"))
    proc = subprocess.run(
        [tool("shellcheck"), *scripts], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout
