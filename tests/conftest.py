"""Shared fixtures: the shipped model, real TLC rows, and Lambda-shaped records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from streaming.esm.lambda_event import lambda_record

# Property-based tests (hypothesis). `make test` loads "ci": derandomised (the
# same examples on every run, so CI is repeatable) with each test's own bounded
# budget. `make fuzz` loads "fuzz": a random seed it prints, and every budget
# multiplied by FUZZ_MULTIPLIER, to search for what the fixed examples miss.
FUZZ_MULTIPLIER = 50
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")

# `pytest -m "not slow"` is the fast inner loop. `slow` marks a test that trains
# a model, reads a whole month, starts a server (gunicorn, moto, LocalStack) or
# takes more than about 2 s: by hand, or here for every test that uses one of
# these fixtures (directly or through another fixture).
SLOW_FIXTURES = {
    "holdout_trips": "reads a whole month",
    "server": "starts streaming serve (gunicorn): tests/unit/conftest.py",
    "served": "starts streaming serve (gunicorn): test_serve_hostile.py's own",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
MODELS = REPO / "models"
SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events"

#: The course's test event (MLOps Zoomcamp, 04-deployment/streaming).
COURSE_RIDE = {
    "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66},
    "ride_id": 256,
}


def make_record(
    payload: Any,
    seq: int = 1,
    *,
    key: str | None = None,
    arrival: float = 1_676_000_000.0,
    raw: bool = False,
) -> dict[str, Any]:
    """A Lambda ``Records[]`` entry carrying ``payload`` (JSON-encoded unless ``raw``)."""
    data = payload if raw else json.dumps(payload).encode()
    return lambda_record(
        {
            "Data": data,
            "PartitionKey": key or str(seq),
            "SequenceNumber": f"{seq:056d}",
            "ApproximateArrivalTimestamp": arrival,
        },
        shard_id=SHARD,
        stream_arn=STREAM_ARN,
        region="us-east-1",
    )


def decode_one(record: Any, index: int = 0):
    """The single item of a plain (not KPL-aggregated) record."""
    from streaming.consumer.decode import decode_record

    [item] = decode_record(record, index)
    return item


@pytest.fixture(scope="session")
def postgres_admin():
    """One throwaway PostgreSQL server for the session (monitoring and batch tests):
    its admin URL; ``tests.support.postgres.fresh_database`` makes each test's own."""
    from tests.support.postgres import postgres_server

    with postgres_server() as server:
        yield server.url


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.support.tools import tool

    executable = shutil.which("chromium") or tool("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-background-networking"],
            headless=True,
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shipped_model():
    from streaming.model import load_model

    return load_model(MODELS)


@pytest.fixture(scope="session")
def holdout_trips():
    """The unseen month (2023-02), cleaned as for training."""
    from streaming.training import tlc

    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2023-02"))
    return trips
