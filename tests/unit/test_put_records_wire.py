"""The one-pass PutRecords body (``put_records_wire``): what goes on the wire is what
botocore would send, it is what is signed, and answers read back the same."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from streaming.consumer.kinesis_client import make_kinesis_client
from tests.support.budget import examples

CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}


class Wire:
    """A loopback Kinesis that keeps every request (headers, body) and writes every record."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, str]] = []
        wire = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                wire.requests.append((dict(self.headers), body, self.path))
                count = len(json.loads(body)["Records"])
                answer = json.dumps(
                    {
                        "FailedRecordCount": 1 if count > 1 else 0,
                        "Records": [
                            {
                                "ErrorCode": "ProvisionedThroughputExceededException",
                                "ErrorMessage": "x",
                            }
                            if i == 1
                            else {
                                "SequenceNumber": f"{1000 + i}",
                                "ShardId": "shardId-000000000000",
                            }
                            for i in range(count)
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    server = Wire()
    yield server
    server.server.shutdown()
    server.server.server_close()


@functools.cache
def clients(url: str):
    session = boto3.session.Session(region_name="us-east-1", **CREDENTIALS)
    plain = session.client(
        "kinesis", endpoint_url=url, config=Config(retries={"total_max_attempts": 1})
    )
    return plain, make_kinesis_client(url, session=session)


def sent_document(wire: Wire, client, **params) -> dict:
    before = len(wire.requests)
    client.put_records(**params)
    _, body, _ = wire.requests[before]
    return json.loads(body)


records = st.lists(
    st.fixed_dictionaries(
        {"Data": st.binary(max_size=300), "PartitionKey": st.text(min_size=1, max_size=40)},
        optional={"ExplicitHashKey": st.integers(0, 2**128 - 1).map(str)},
    ),
    min_size=1,
    max_size=12,
)


@examples(60)
@given(records=records, by_arn=st.booleans())
def test_the_body_is_the_document_botocore_would_send(wire, records, by_arn):
    plain, fast = clients(wire.url)
    target = (
        {"StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/p"}
        if by_arn
        else {"StreamName": "p"}
    )
    expected = sent_document(wire, plain, Records=records, **target)
    assert sent_document(wire, fast, Records=records, **target) == expected


def test_the_signature_covers_the_body_that_is_sent(wire):
    _, fast = clients(wire.url)
    fast.put_records(
        StreamName="p", Records=[{"Data": b"x" * 50, "PartitionKey": str(i)} for i in range(40)]
    )
    headers, body, path = wire.requests[-1]
    assert len(json.loads(body)["Records"]) == 40
    request = AWSRequest(
        method="POST",
        url=wire.url + path,
        data=body,
        headers={
            k: v
            for k, v in headers.items()
            if k.lower() in {"content-type", "x-amz-target", "x-amz-date", "host"}
        },
    )
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(*CREDENTIALS.values()), "kinesis", "us-east-1")
    signer.add_auth(request)
    assert request.headers["Authorization"] == headers["Authorization"]
    tampered = AWSRequest(
        method="POST",
        url=wire.url + path,
        data=body + b" ",
        headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
    )
    tampered.context["timestamp"] = headers["X-Amz-Date"]
    signer.add_auth(tampered)
    assert tampered.headers["Authorization"] != headers["Authorization"]  # the body counts


def test_the_answer_reads_the_same(wire):
    plain, fast = clients(wire.url)
    entries = [{"Data": b"{}", "PartitionKey": str(i)} for i in range(5)]
    a = plain.put_records(StreamName="p", Records=entries)
    b = fast.put_records(StreamName="p", Records=entries)
    for answer in (a, b):
        answer.pop("ResponseMetadata")
    assert a == b and b["Records"][1]["ErrorCode"] == "ProvisionedThroughputExceededException"


def test_a_single_record_goes_as_botocore_sends_it(wire):
    _, fast = clients(wire.url)
    fast.put_records(StreamName="p", Records=[{"Data": b"a", "PartitionKey": "k"}])
    assert json.loads(wire.requests[-1][1])["Records"] == [{"Data": "YQ==", "PartitionKey": "k"}]
