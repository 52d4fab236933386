"""A real Kinesis/S3/SQS emulator over HTTP, one per session.

By default moto's server on loopback. With ``STREAMING_TEST_ENDPOINT`` set (as
``integration-test/localstack.sh`` does) the same tests run against that
endpoint instead - LocalStack - and ``STREAMING_TEST_EMULATOR`` names it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid

import pytest

from streaming.consumer.kinesis_client import make_kinesis_client
from streaming.tools.stream_io import create_stream, read_all

pytestmark = pytest.mark.integration

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


EMULATOR = os.environ.get("STREAMING_TEST_EMULATOR", "moto")


@pytest.fixture(scope="session")
def moto_endpoint():
    """The emulator's endpoint (moto unless STREAMING_TEST_ENDPOINT points elsewhere)."""
    saved = {k: os.environ.get(k) for k in FAKE_ENV}
    os.environ.update(FAKE_ENV)
    external = os.environ.get("STREAMING_TEST_ENDPOINT")
    server = None
    if external:
        yield external
    else:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    if server is not None:
        server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def kinesis(moto_endpoint):
    return make_kinesis_client(moto_endpoint)


@pytest.fixture
def new_stream(kinesis):
    """Create streams for one test; delete them afterwards (emulators cap the shards)."""
    made: list[str] = []

    def make(name: str | None = None, shards: int = 2) -> str:
        name = name or f"s-{uuid.uuid4().hex[:10]}"
        create_stream(kinesis, name, shards)
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(Exception):
            kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@pytest.fixture
def streams(new_stream):
    """Fresh input (2 shards), predictions (2 shards) and dead-letter streams per test."""
    tag = uuid.uuid4().hex[:8]
    return {
        "input": new_stream(f"in-{tag}", 2),
        "predictions": new_stream(f"pred-{tag}", 2),
        "dead_letters": new_stream(f"dlq-{tag}", 1),
    }


def run_to_idle(
    client, stream, handler, *, idle_s=0.4, destination=None, checkpoints=None, **config
):
    """Run the local event source mapping until every shard is idle; return it."""
    from streaming.esm.runner import EventSourceMapping, MappingConfig

    defaults = {
        "poll_interval_s": 0.05,
        "retry_base_delay_s": 0.01,
        "retry_max_delay_s": 0.05,
        "shard_refresh_s": 0.2,
    }
    mapping = EventSourceMapping(
        client,
        stream,
        handler,
        MappingConfig(**(defaults | config)),
        destination=destination,
        checkpoints=checkpoints,
    )
    mapping.run(stop_when_idle_s=idle_s)
    return mapping


def read_json(client, stream):
    """(shard, decoded JSON) of every record of ``stream``."""
    return [(shard, json.loads(r["Data"])) for shard, r in read_all(client, stream)]
