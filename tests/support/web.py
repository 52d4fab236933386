"""A real ``streaming serve`` (gunicorn) on a free loopback port, a tiny HTTP client, raw
sockets for what http.client will not send, and the ASGI app driven in this process."""

from __future__ import annotations

import asyncio
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


def start_server(*extra_args: str):
    """``streaming serve`` on a free port -> (process, port); ``process.log`` is its output."""
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
        *extra_args,
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
    proc.log = log
    return proc, port


def server_log(proc) -> str:
    """Everything the server has written so far."""
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read()


def call(method, path, body=None, *, port, raw=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, json.loads(payload) if payload else None


def raw_request(port, data: bytes, *, timeout: float = 10.0):
    """Send ``data`` as is on a new connection; read the answer until the server closes
    it or its Content-Length is in -> (status, headers (lower-case names), JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_response(s)


def read_response(s: socket.socket):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, json.loads(body) if body else None


def chunked(body: bytes, size: int = 7) -> bytes:
    """``body`` in Transfer-Encoding: chunked framing, ``size`` bytes a chunk."""
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    return out + b"0\r\n\r\n"


def asgi_call(app, method: str, path: str, body: bytes = b"", *, pieces: int = 1):
    """Drive the ASGI app in this process, the body in ``pieces`` messages (as a chunked
    or slow body arrives) -> (status, headers dict, JSON body)."""
    step = max(1, -(-len(body) // pieces))
    messages = [
        {"type": "http.request", "body": body[i : i + step], "more_body": i + step < len(body)}
        for i in range(0, len(body), step)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(len(body)).encode())] if pieces == 1 else [],
    }
    asyncio.run(app(scope, receive, send))
    start, answer = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert int(headers["content-length"]) == len(answer["body"])
    return start["status"], headers, json.loads(answer["body"])
