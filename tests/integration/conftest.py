"""A real Kinesis/S3/SQS emulator over HTTP, one per session.

By default moto's server on loopback. With ``STREAMING_TEST_ENDPOINT`` set (as
``integration-test/localstack.sh`` does) the same tests run against that
endpoint instead - LocalStack - and ``STREAMING_TEST_EMULATOR`` names it
(``tests.support.streams.EMULATOR``). Helpers that are not fixtures (write, read,
run the event source mapping) are in ``tests/support/streams.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid

import pytest

from streaming.consumer.kinesis_client import TOOLS, make_kinesis_client
from streaming.tools.stream_io import create_stream

pytestmark = pytest.mark.integration

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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
    """The client tests set up streams with and the local mapping reads with: the
    patient TOOLS profile, as `streaming run` reads (the hot path's 5 s read timeout
    and single attempt are the handler's, which makes its own client). A loaded
    LocalStack took more than 5 s to answer DescribeStreamSummary in CI."""
    return make_kinesis_client(moto_endpoint, profile=TOOLS)


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


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """A new bucket on the emulator -> (client, bucket). Every S3 client made during
    the test, the code's own too, goes to the emulator (AWS_ENDPOINT_URL_S3)."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    client = boto3.client("s3")
    bucket = f"test-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket
