"""The installed ``streaming`` script, run from any directory, with a chosen environment.

``tests.support.cli`` runs ``python -m streaming`` from the repository root;
these helpers run the console script the editable install made (as a user
types ``.venv/bin/streaming``) from another directory, and build the
environments the mistakes need (the emulator's, none at all for credentials).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.cli import STREAMING


def streaming_command() -> list[str]:
    """The ``streaming`` script beside this interpreter, else ``python -m streaming``."""
    script = Path(sys.executable).with_name("streaming")
    return [str(script)] if script.is_file() else list(STREAMING)


def run_anywhere(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``streaming *args`` run in ``cwd``; output captured as text, exit status not checked."""
    return subprocess.run(
        [*streaming_command(), *args],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def emulator_env(endpoint: str) -> dict[str, str]:
    """This environment pointed at ``endpoint`` with the emulator's credentials."""
    env = dict(os.environ)
    env.update(
        {
            "KINESIS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


def no_credentials_env(endpoint: str, home: Path) -> dict[str, str]:
    """The emulator's endpoint, and no AWS credentials anywhere boto3 would look."""
    env = emulator_env(endpoint)
    for var in list(env):
        if var.startswith("AWS_") and var not in ("AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"):
            del env[var]
    env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_CONFIG_FILE": str(home / "no-config"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": str(home),
        }
    )
    return env


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_one_line_failure(
    name: str, proc: subprocess.CompletedProcess, prefix: str, says: list[str]
) -> str:
    """The rule of every command's mistakes: a non-zero exit, exactly one line on stderr
    that starts with ``prefix`` and contains each of ``says`` (lower case), no traceback.
    Returns the line."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, f"{name}: exit 0; stdout {proc.stdout[-500:]!r}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, f"{name}: {len(lines)} lines on stderr:\n{proc.stderr}"
    line = lines[0].lower()
    assert line.startswith(prefix), line
    missing = [word for word in says if word.lower() not in line]
    assert not missing, f"{name}: {missing} not in {lines[0]!r}"
    return lines[0]
