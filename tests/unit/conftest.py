"""Fixtures for the unit tests that need a running web service."""

from __future__ import annotations

import pytest

from tests.support.web import start_server


@pytest.fixture(scope="module")
def server():
    proc, port = start_server()
    yield port
    proc.terminate()
    proc.wait(timeout=30)
