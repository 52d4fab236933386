"""The local event source mapping against a real Kinesis emulator.

Each test quotes the line of the AWS documentation whose behaviour it checks.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from streaming.consumer.kinesis_client import make_kinesis_client
from streaming.esm.checkpoints import CheckpointStore
from streaming.esm.destinations import JsonLinesFile, parse_destination
from streaming.esm.reader import StartingPosition
from streaming.esm.runner import EventSourceMapping, MappingConfig
from streaming.tools.stream_io import wait_active
from tests.support.clock import FakeClock
from tests.support.fault_proxy import FaultProxy
from tests.support.recorder import Recorder, fails_on
from tests.support.streams import EMULATOR, numbered, put, run_to_idle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: every field of a Lambda Kinesis record (Lambda docs, *Using Lambda with Kinesis*, example event)
RECORD_FIELDS = {
    "kinesis",
    "eventSource",
    "eventVersion",
    "eventID",
    "eventName",
    "invokeIdentityArn",
    "awsRegion",
    "eventSourceARN",
}
KINESIS_FIELDS = {
    "kinesisSchemaVersion",
    "partitionKey",
    "sequenceNumber",
    "data",
    "approximateArrivalTimestamp",
}


@pytest.fixture
def stream(new_stream):
    return new_stream(f"esm-{uuid.uuid4().hex[:8]}", 2)


def test_batches_hold_one_shards_records_in_order_with_every_field(kinesis, stream):
    # "Each batch contains records from a single shard/data stream."
    put(kinesis, stream, numbered(250))
    handler = Recorder()
    run_to_idle(kinesis, stream, handler, batch_size=40)
    assert sorted(handler.data()) == sorted(f"r{i}" for i in range(250))  # each once
    for event in handler.events:
        records = event["Records"]
        assert 1 <= len(records) <= 40
        assert len({r["eventID"].split(":")[0] for r in records}) == 1
        seqs = [int(r["kinesis"]["sequenceNumber"]) for r in records]
        assert seqs == sorted(seqs)
        for r in records:
            assert set(r) == RECORD_FIELDS and set(r["kinesis"]) == KINESIS_FIELDS
            assert r["eventSource"] == "aws:kinesis" and r["eventName"] == "aws:kinesis:record"
            assert r["eventID"] == f"{r['eventID'].split(':')[0]}:{r['kinesis']['sequenceNumber']}"
            assert isinstance(r["kinesis"]["approximateArrivalTimestamp"], float)
    context = handler.contexts[0]
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert context.function_name and context.aws_request_id
    assert len({c.aws_request_id for c in handler.contexts}) == len(handler.contexts)


def test_partial_failure_resumes_from_the_lowest_reported_sequence_number(kinesis, stream):
    # "Lambda retries the batch starting from the lowest sequence number reported."
    put(kinesis, stream, numbered(30), keys="same")  # one shard
    failed_once: set[str] = set()

    def rule(event, call):
        records = event["Records"]
        if call == 0:
            picks = [
                records[7]["kinesis"]["sequenceNumber"],
                records[4]["kinesis"]["sequenceNumber"],
            ]
            failed_once.update(picks)
            return {"batchItemFailures": [{"itemIdentifier": s} for s in picks]}
        return {"batchItemFailures": []}

    handler = Recorder(rule)
    mapping = run_to_idle(kinesis, stream, handler, batch_size=10)
    first, second = handler.events[0]["Records"], handler.events[1]["Records"]
    assert [r["kinesis"]["sequenceNumber"] for r in second] == [
        r["kinesis"]["sequenceNumber"] for r in first[4:]
    ]
    assert sorted(set(handler.data())) == sorted(f"r{i}" for i in range(30))
    assert mapping.stats.partial_failures == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"sequenceNumber": "1"}]},
        {"batchItemFailures": [{"itemIdentifier": "999999999"}]},
    ],
)
def test_invalid_partial_response_fails_the_whole_batch(kinesis, stream, bad):
    # "Lambda treats a batch as a complete failure if you return: an empty string
    # itemIdentifier, a null itemIdentifier, an itemIdentifier with a bad key name."
    put(kinesis, stream, numbered(5), keys="same")
    handler = Recorder(lambda event, call: bad if call == 0 else None)
    run_to_idle(kinesis, stream, handler)
    assert handler.data(handler.events[1]) == handler.data(handler.events[0])  # all again


@pytest.mark.parametrize(
    "ok", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "done"]
)
def test_these_responses_are_complete_successes(kinesis, stream, ok):
    # "Lambda treats a batch as a complete success if you return: an empty
    # batchItemFailures list, a null batchItemFailures list, an empty EventResponse,
    # a null EventResponse."
    put(kinesis, stream, numbered(5), keys="same")
    handler = Recorder(lambda event, call: ok)
    run_to_idle(kinesis, stream, handler)
    assert len(handler.events) == 1


def test_errors_are_retried_then_discarded_to_the_destination(kinesis, stream, tmp_path):
    # "If the function is invoked but returns an error, Lambda retries until the records
    # ... reach the configured retry quota (MaximumRetryAttempts)." "Lambda discards the
    # records and continues processing batches from the stream."
    put(kinesis, stream, numbered(12), keys="same")

    handler = Recorder(fails_on("r3"))
    dest = tmp_path / "failures.jsonl"
    mapping = run_to_idle(
        kinesis, stream, handler, batch_size=5, max_retries=2, destination=JsonLinesFile(dest)
    )
    [failure] = [json.loads(line) for line in dest.read_text().splitlines()]
    info = failure["KinesisBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3  # 1 + 2 retries
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert "poison" in failure["responseContext"]["errorMessage"]
    assert info["batchSize"] == 5 and info["streamArn"] == mapping.stream_arn
    first_batch = handler.events[0]["Records"]
    assert info["startSequenceNumber"] == first_batch[0]["kinesis"]["sequenceNumber"]
    assert info["endSequenceNumber"] == first_batch[-1]["kinesis"]["sequenceNumber"]
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    # processing continued after the discarded batch
    assert {f"r{i}" for i in range(5, 12)} <= set(handler.data())
    assert mapping.stats.discarded_records == 5


def test_bisect_isolates_the_bad_record(kinesis, stream, tmp_path):
    # "BisectBatchOnFunctionError ... splits a failed batch into two smaller batches,
    # isolating bad records ... Splitting batches doesn't consume the retry quota."
    put(kinesis, stream, numbered(16), keys="same")

    handler = Recorder(fails_on("r11"))
    dest = tmp_path / "failures.jsonl"
    mapping = run_to_idle(
        kinesis,
        stream,
        handler,
        batch_size=16,
        max_retries=0,
        bisect_on_error=True,
        destination=JsonLinesFile(dest),
    )
    [failure] = [json.loads(line) for line in dest.read_text().splitlines()]
    assert failure["KinesisBatchInfo"]["batchSize"] == 1
    ok = [d for e in handler.events[1:] for d in handler.data(e)]
    assert {f"r{i}" for i in range(16)} - {"r11"} <= set(ok)
    assert mapping.stats.bisections >= 4  # 16 -> 8 -> 4 -> 2 -> 1
    assert mapping.stats.discarded_records == 1


def test_old_records_are_discarded_without_invoking(kinesis, stream, tmp_path):
    # "MaximumRecordAgeInSeconds - Discard records older than the specified age."
    put(kinesis, stream, numbered(6), keys="same")
    clock = FakeClock()
    clock.advance(1.3)  # the records are 1.3 s old when the mapping starts
    handler = Recorder()
    dest = tmp_path / "failures.jsonl"
    run_to_idle(
        kinesis,
        stream,
        handler,
        max_record_age_s=1.0,
        destination=JsonLinesFile(dest),
        clock=clock,
    )
    assert handler.events == []
    [failure] = [json.loads(line) for line in dest.read_text().splitlines()]
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in failure
    assert failure["KinesisBatchInfo"]["batchSize"] == 6


def test_checkpoints_let_a_restarted_runner_resume(kinesis, stream, tmp_path):
    put(kinesis, stream, numbered(60), keys="same")
    path = tmp_path / "checkpoints.json"
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    arn, created = summary["StreamARN"], summary["StreamCreationTimestamp"]
    stop = threading.Event()
    first = Recorder(lambda event, call: stop.set() if call == 2 else None)
    mapping = EventSourceMapping(
        kinesis,
        stream,
        first,
        MappingConfig(batch_size=10, poll_interval_s=0.05),
        checkpoints=CheckpointStore.load(path, arn, created),
    )
    mapping.run(stop)
    assert len(first.events) == 3
    second = Recorder()
    run_to_idle(
        kinesis, stream, second, batch_size=10, checkpoints=CheckpointStore.load(path, arn, created)
    )
    assert first.data() + second.data() == [f"r{i}" for i in range(60)]  # no gap, no repeat


def test_expired_iterators_are_renewed(kinesis, stream, moto_endpoint):
    # GetShardIterator: "A shard iterator expires 5 minutes after it is returned."
    put(kinesis, stream, numbered(40))
    with FaultProxy(moto_endpoint) as proxy:
        client = make_kinesis_client(proxy.url)
        proxy.expire_get_records = 3
        handler = Recorder()
        mapping = run_to_idle(client, stream, handler, batch_size=10)
    assert proxy.iterators_expired == 3
    assert sum(s.reader.renewed_iterators for s in mapping.shards.values()) == 3
    assert sorted(handler.data()) == sorted(f"r{i}" for i in range(40))


def test_idle_shards_are_polled_about_once_per_interval(kinesis, stream, moto_endpoint):
    # "Lambda polls each shard ... at a base rate of once per second. When more records
    # are available, Lambda keeps processing batches until the function catches up."
    put(kinesis, stream, numbered(400), keys="same")
    clock = FakeClock()  # the waits between polls take no real time
    with FaultProxy(moto_endpoint) as proxy:
        client = make_kinesis_client(proxy.url)
        handler = Recorder()
        mapping = EventSourceMapping(
            client,
            stream,
            handler,
            MappingConfig(batch_size=50, poll_interval_s=0.5),
            clock=clock.monotonic,
            wall_clock=clock.time,
        )
        started = clock.monotonic()
        mapping.run(clock.stop, stop_when_idle_s=2.0)
        elapsed = clock.monotonic() - started
    assert len(handler.events) == 8
    # 8 full reads back to back on the busy shard, then ~1 read per 0.5 s per idle shard
    idle_reads = proxy.get_records_calls - 8
    assert idle_reads <= 2 * (elapsed / 0.5 + 2)
    assert idle_reads >= 2 * 2


def read_until_buffered(mapping, clock, count, timeout_s=30.0):
    """Step ``mapping`` until it holds ``count`` records read but not yet invoked
    (a poll that finds nothing lets a poll interval pass)."""
    deadline = time.monotonic() + timeout_s
    while sum(len(s.buffer) for s in mapping.shards.values()) < count:
        assert time.monotonic() < deadline, f"{count} records were not read"
        if not mapping.step():
            clock.advance(mapping.config.poll_interval_s)
            time.sleep(0.01)  # give a slower emulator time to show what was written


def test_batching_window_gathers_records(kinesis, stream):
    # "MaximumBatchingWindowInSeconds: the maximum amount of time to gather records
    # before invoking the function."
    clock = FakeClock()
    handler = Recorder()
    mapping = EventSourceMapping(
        kinesis,
        stream,
        handler,
        # short polls: an emulator slow to show records costs little of the window
        MappingConfig(batch_size=1000, batching_window_s=1.5, poll_interval_s=0.01),
        clock=clock.monotonic,
        wall_clock=clock.time,
    )
    for round_ in range(5):  # a round of records every 0.1 s
        put(kinesis, stream, numbered(10, f"w{round_}-"), keys="same")
        read_until_buffered(mapping, clock, 10 * (round_ + 1))
        clock.advance(0.1)
    assert handler.events == []  # about 0.5 s after the first round: the window is open
    clock.advance(1.1)  # 1.6 s after the first round: the window (1.5 s) has passed
    while mapping.step():
        pass
    assert len(handler.data()) == 50
    assert len(handler.events) == 1  # without the window: about one per round


def test_starting_positions(kinesis, stream):
    # StartingPosition: "AT_TIMESTAMP, TRIM_HORIZON, or LATEST"
    put(kinesis, stream, numbered(5, "old"), keys="same")
    time.sleep(1.1)
    middle = datetime.now(UTC)
    time.sleep(0.1)
    put(kinesis, stream, numbered(5, "new"), keys="same")
    at = Recorder()
    run_to_idle(kinesis, stream, at, starting_position=StartingPosition("AT_TIMESTAMP", middle))
    assert sorted(at.data()) == sorted(f"new{i}" for i in range(5))
    latest = Recorder()
    run_to_idle(kinesis, stream, latest, starting_position=StartingPosition("LATEST"))
    assert latest.events == []


def test_a_handler_that_outlives_its_timeout_has_failed(kinesis, stream):
    put(kinesis, stream, numbered(3), keys="same")
    clock = FakeClock()
    handler = Recorder(lambda event, call: clock.advance(0.3) if call == 0 else None)
    mapping = run_to_idle(kinesis, stream, handler, timeout_s=0.2, clock=clock)
    assert mapping.stats.function_errors == 1 and len(handler.events) == 2


def test_without_report_batch_item_failures_the_response_is_ignored(kinesis, stream):
    # FunctionResponseTypes: without ReportBatchItemFailures, Lambda ignores the list.
    put(kinesis, stream, numbered(4), keys="same")

    def rule(event, call):
        return {
            "batchItemFailures": [
                {"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}
            ]
        }

    handler = Recorder(rule)
    run_to_idle(kinesis, stream, handler, report_batch_item_failures=False)
    assert len(handler.events) == 1


def test_sqs_on_failure_destination(kinesis, stream, moto_endpoint):
    import boto3

    session = boto3.session.Session(region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName=f"esm-fail-{uuid.uuid4().hex[:6]}")["QueueUrl"],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    destination = parse_destination(
        arn, session=session, endpoint_url=moto_endpoint, mapping_id="test"
    )
    put(kinesis, stream, numbered(2), keys="same")

    def boom(event, context):
        raise ValueError("nope")

    run_to_idle(kinesis, stream, boom, max_retries=0, destination=destination)
    messages = sqs.receive_message(QueueUrl=destination.queue_url, MaxNumberOfMessages=10)
    [message] = messages["Messages"]
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["KinesisBatchInfo"]["batchSize"] == 2


def test_a_stream_is_not_an_on_failure_destination():
    with pytest.raises(ValueError, match="not a stream"):
        parse_destination(
            "arn:aws:kinesis:us-east-1:000000000000:stream/dlq",
            session=None,
            endpoint_url=None,
            mapping_id="x",
        )


def test_child_shards_are_read_after_their_parent(kinesis, new_stream):
    # Kinesis developer guide, resharding: "read the parent shard until you are done
    # ... before you read the child shards", which keeps each key's records in order.
    if EMULATOR == "moto":
        pytest.skip(
            "moto keeps writing to the parent after SplitShard and never closes it; "
            "this test runs in the LocalStack suite"
        )
    name = new_stream(f"reshard-{uuid.uuid4().hex[:8]}", 1)
    keys = [f"key-{i % 10}" for i in range(20)]
    put(kinesis, name, numbered(20, "before"), keys=keys)
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    wait_active(kinesis, name)
    put(kinesis, name, numbered(20, "after"), keys=keys)
    handler = Recorder()
    mapping = run_to_idle(kinesis, name, handler, batch_size=7)
    delivered = handler.data()
    assert sorted(delivered) == sorted(
        [f"before{i}" for i in range(20)] + [f"after{i}" for i in range(20)]
    )
    assert all(d.startswith("before") for d in delivered[:20])  # the parent first
    shards = [r["eventID"].split(":")[0] for e in handler.events for r in e["Records"]]
    assert shards[:20] == ["shardId-000000000000"] * 20 and len(set(shards)) == 3
    assert mapping.checkpoints.get("shardId-000000000000").finished


def test_the_observer_is_told_each_start_batch_discard_and_failing_read(
    kinesis, stream, moto_endpoint
):
    """What ``streaming run`` prints comes from these events; and a run that stops
    while reading fails knows it (``failing_reads``), so it cannot look like success."""
    from streaming.esm.events import Discarded, Invoked, ReadFailed, ReadRecovered, ShardStarted

    put(kinesis, stream, numbered(6), keys="same")
    seen = []
    with FaultProxy(moto_endpoint) as proxy:
        client = make_kinesis_client(proxy.url)
        mapping = EventSourceMapping(
            client,
            stream,
            Recorder(fails_on("r2")),
            MappingConfig(
                batch_size=3, max_retries=0, poll_interval_s=0.05, retry_base_delay_s=0.01
            ),
            observer=seen.append,
        )
        mapping.run(stop_when_idle_s=0.3)
        assert mapping.failing_reads() == {}
        proxy.refuse = True  # the endpoint goes away
        mapping.run(stop_when_idle_s=0.3)
        failing = mapping.failing_reads()
        assert set(failing) == set(mapping.shards) and all(failing.values())
        proxy.refuse = False
        mapping.run(stop_when_idle_s=0.3)
        assert mapping.failing_reads() == {}
    starts = [e for e in seen if isinstance(e, ShardStarted)]
    assert sorted(e.shard_id for e in starts) == sorted(mapping.shards)
    assert all(e.resume_after is None and e.position == "TRIM_HORIZON" for e in starts)
    invoked = [e for e in seen if isinstance(e, Invoked)]
    assert [(e.records, e.outcome) for e in invoked] == [(3, "failed"), (3, "ok")]
    assert invoked[0].error == "RuntimeError: poison" and invoked[0].retry_in_s is None
    [discarded] = [e for e in seen if isinstance(e, Discarded)]
    assert (discarded.records, discarded.condition) == (3, "RetryAttemptsExhausted")
    assert any(isinstance(e, ReadFailed) for e in seen)
    assert any(isinstance(e, ReadRecovered) for e in seen)
