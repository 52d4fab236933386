"""``streaming replay``: dead letters fixed and replayed become predictions."""

from __future__ import annotations

import uuid

import pytest

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.esm.checkpoints import CheckpointStore
from streaming.esm.destinations import parse_destination
from streaming.tools.replay import replay_on_failure_queue
from tests.support.cli import cli_summary
from tests.support.rides import ride_bytes
from tests.support.streams import put, read_json, run_to_idle

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def replay(*args, endpoint):
    """``streaming replay *args`` with only the emulator's settings: its JSON report."""
    env = {
        "KINESIS_ENDPOINT_URL": endpoint,
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return cli_summary("replay", *args, env=env, timeout=120)


def test_dead_letters_fixed_and_replayed_become_predictions(
    shipped_model, kinesis, streams, moto_endpoint
):
    payloads = [ride_bytes(i, distance=1.5 + i) for i in range(5)]
    payloads += [ride_bytes(100, distance="3.66"), ride_bytes(101, distance="12.1")]  # a string
    big = {"padding": "x" * 800_000}  # too big to carry in a letter
    payloads += [ride_bytes(102, distance="7.5", event_fields=big)]
    payloads += [b"not json at all"]
    put(kinesis, streams["input"], payloads)
    svc = RideDurationService(
        shipped_model,
        Settings(
            predictions_stream=streams["predictions"],
            dead_letter_stream=streams["dead_letters"],
            kinesis_endpoint_url=moto_endpoint,
        ),
    )
    arn = kinesis.describe_stream_summary(StreamName=streams["input"])["StreamDescriptionSummary"][
        "StreamARN"
    ]
    checkpoints = CheckpointStore(None, arn)  # one mapping, running on: keeps its position
    run_to_idle(kinesis, streams["input"], svc.handle, checkpoints=checkpoints)
    letters = [d for _, d in read_json(kinesis, streams["dead_letters"])]
    assert sorted(d["reason"] for d in letters) == ["invalid_json"] + ["invalid_trip_distance"] * 3
    assert sum("data" not in d for d in letters) == 1  # the big one: size + sha256 only

    args = [
        "--dead-letters",
        streams["dead_letters"],
        "--to",
        streams["input"],
        "--reason",
        "invalid_trip_distance",
        "--source-stream",
        streams["input"],
        "--transform",
        "tests.support.fixes:distance_as_number",
    ]
    preview = replay(*args, "--dry-run", endpoint=moto_endpoint)
    assert preview["selected"] == 3 and preview["replayed"] == 0
    report = replay(*args, endpoint=moto_endpoint)
    assert report == {
        "selected": 3,
        "replayed": 3,
        "skipped": 0,
        "unrecoverable": 0,
        "failed": 0,
        "by_reason": {"invalid_trip_distance": 3},
        "dry_run": False,
    }

    run_to_idle(kinesis, streams["input"], svc.handle, checkpoints=checkpoints)  # picks them up
    predicted = {o["prediction"]["ride_id"] for _, o in read_json(kinesis, streams["predictions"])}
    assert predicted == {0, 1, 2, 3, 4, 100, 101, 102}
    # the invalid_json letter was not selected: still only in the dead-letter stream
    assert len(read_json(kinesis, streams["dead_letters"])) == 4


def test_on_failure_queue_batches_are_re_read_and_replayed(
    kinesis, streams, moto_endpoint, new_stream
):
    import boto3

    session = boto3.session.Session(region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"onfail-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    destination = parse_destination(
        url, session=session, endpoint_url=moto_endpoint, mapping_id="t"
    )
    put(kinesis, streams["input"], [ride_bytes(i, distance=2.0) for i in range(6)])

    def down(event, context):  # an outage longer than the retries
        raise ConnectionError("output unavailable")

    run_to_idle(kinesis, streams["input"], down, max_retries=0, destination=destination)
    replay_to = new_stream(f"replayed-{uuid.uuid4().hex[:6]}", 1)
    report = replay_on_failure_queue(kinesis, sqs, url, streams["input"], replay_to, delete=True)
    assert report.replayed == 6 and report.unrecoverable == 0
    replayed = sorted(d["ride_id"] for _, d in read_json(kinesis, replay_to))
    assert replayed == list(range(6))
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


def discarded_batches(kinesis, stream, endpoint, rides):
    """``rides`` rides sent to ``stream`` and given up on by the mapping: (sqs, queue url)
    of the on-failure queue now describing their batches (visibility timeout 300 s)."""
    import boto3

    session = boto3.session.Session(region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=endpoint)
    url = sqs.create_queue(
        QueueName=f"onfail-{uuid.uuid4().hex[:6]}", Attributes={"VisibilityTimeout": "300"}
    )["QueueUrl"]
    destination = parse_destination(url, session=session, endpoint_url=endpoint, mapping_id="t")
    put(kinesis, stream, [ride_bytes(i, distance=2.0) for i in range(rides)])

    def down(event, context):  # an outage longer than the retries
        raise ConnectionError("output unavailable")

    run_to_idle(kinesis, stream, down, max_retries=0, destination=destination)
    return sqs, url


def test_a_dry_run_on_the_queue_consumes_nothing(kinesis, streams, moto_endpoint, new_stream):
    """The runbook's order - dry run, then the real run - selects the same messages twice.

    Receiving hides a message for the queue's visibility timeout; a dry run
    makes what it received visible again, so nothing is consumed."""
    _, url = discarded_batches(kinesis, streams["input"], moto_endpoint, 6)
    replay_to = new_stream(f"replayed-{uuid.uuid4().hex[:6]}", 1)
    args = ["--on-failure-queue", url, "--source-stream", streams["input"], "--to", replay_to]
    for _ in range(2):  # a second dry run too: the first one left every message there
        preview = replay(*args, "--dry-run", endpoint=moto_endpoint)
        assert preview["selected"] == 6 and preview["replayed"] == 0 and preview["dry_run"]
    assert read_json(kinesis, replay_to) == []
    report = replay(*args, "--delete", endpoint=moto_endpoint)
    assert report["selected"] == 6 and report["replayed"] == 6 and report["failed"] == 0
    assert sorted(d["ride_id"] for _, d in read_json(kinesis, replay_to)) == list(range(6))
    again = replay(*args, endpoint=moto_endpoint)  # deleted once replayed: nothing left
    assert again["selected"] == 0


def test_without_delete_the_messages_stay_for_the_next_run(
    kinesis, streams, moto_endpoint, new_stream
):
    """A real run without --delete leaves its messages in the queue, visible at once."""
    sqs, url = discarded_batches(kinesis, streams["input"], moto_endpoint, 3)
    replay_to = new_stream(f"replayed-{uuid.uuid4().hex[:6]}", 1)
    first = replay_on_failure_queue(kinesis, sqs, url, streams["input"], replay_to)
    second = replay_on_failure_queue(kinesis, sqs, url, streams["input"], replay_to)
    assert first.replayed == second.replayed == 3
