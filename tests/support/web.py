"""A real ``streaming serve`` (gunicorn) on a free loopback port, and a tiny HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import REPO


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server():
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MODEL_LOCATION", "RUN_ID", "MODEL_VERSION", "TEST_RUN")
    }
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server
    command = [
        sys.executable,
        "-m",
        "streaming",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--threads",
        "4",
    ]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = call("GET", "/health", port=port)
            if status == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        log.seek(0)
        pytest.fail(log.read())
    return proc, port


def call(method, path, body=None, *, port, raw=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, json.loads(payload) if payload else None
