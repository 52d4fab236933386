"""The settings of the event source mapping added for parity with AWS, on the emulator.

Each test quotes the sentence of the Lambda documentation it checks (the table is
docs/esm-parity.md): ParallelizationFactor, FilterCriteria, TumblingWindowInSeconds,
the batching window's 6 MB cut, errors before invocation, IteratorAge and the
EventCount metrics, a stream consumer's ARN, and the settings Kinesis does not take.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid

import pytest

from streaming.esm.checkpoints import CheckpointStore
from streaming.esm.destinations import JsonLinesFile
from streaming.esm.filtering import parse_filter_criteria
from streaming.esm.invoker import ContextSpec, ProcessInvoker, WorkerSetup
from streaming.esm.runner import EventSourceMapping, MappingConfig
from tests.support.anywhere import emulator_env, run_anywhere
from tests.support.clock import FakeClock
from tests.support.kpl_build import aggregate
from tests.support.recorder import Recorder
from tests.support.streams import put, run_to_idle

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def one_shard(new_stream):
    return new_stream(f"par-{uuid.uuid4().hex[:8]}", 1)


# -- ParallelizationFactor -------------------------------------------------------------

LANE_HANDLER = """
import json, os, time

def handler(event, context):
    started = time.time()
    time.sleep(0.25)
    records = [[r["kinesis"]["partitionKey"], r["kinesis"]["sequenceNumber"]]
               for r in event["Records"]]
    with open(os.environ["LANE_LOG"], "a") as log:
        log.write(json.dumps({"pid": os.getpid(), "start": started, "end": time.time(),
                              "records": records}) + "\\n")
    return {"batchItemFailures": []}
"""


def test_parallelization_factor_runs_lanes_at_once_in_key_order(one_shard, moto_endpoint, tmp_path):
    """ "Lambda can process up to 10 batches in each shard simultaneously. If you increase
    the number of concurrent batches per shard, Lambda still ensures in-order processing
    at the partition-key level." (Using Lambda with Kinesis)"""
    from streaming.consumer.kinesis_client import make_kinesis_client

    kinesis = make_kinesis_client(moto_endpoint)
    keys = [f"key{i % 8}" for i in range(160)]  # 8 keys interleaved, one shard
    put(kinesis, one_shard, [f"r{i}".encode() for i in range(160)], keys=keys)
    (tmp_path / "lanes_handler.py").write_text(LANE_HANDLER)
    log = tmp_path / "lanes.jsonl"
    env = emulator_env(moto_endpoint) | {"LANE_LOG": str(log)}
    result = run_anywhere(
        "run",
        "--stream",
        one_shard,
        "--handler",
        "lanes_handler:handler",
        "--parallelization-factor",
        "4",
        "--batch-size",
        "5",
        "--poll-interval",
        "0.05",
        "--stop-when-idle",
        "1.5",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "parallelization factor 4" in result.stdout
    batches = [json.loads(line) for line in log.read_text().splitlines()]
    seen = [tuple(r) for b in batches for r in b["records"]]
    assert sorted(seen, key=lambda r: int(r[1])) == sorted(set(seen), key=lambda r: int(r[1]))
    assert len(seen) == 160
    # real concurrency: some batches overlap in time, in different worker processes
    overlaps = [
        (a, b)
        for i, a in enumerate(batches)
        for b in batches[i + 1 :]
        if a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlaps and any(a["pid"] != b["pid"] for a, b in overlaps)
    most = max(sum(1 for b in batches if b["start"] <= a["start"] < b["end"]) for a in batches)
    assert most > 1
    for key in {k for k, _ in seen}:
        mine = sorted(
            (b for b in batches if any(k == key for k, _ in b["records"])), key=lambda b: b["start"]
        )
        sequence = [int(s) for b in mine for k, s in b["records"] if k == key]
        assert sequence == sorted(sequence), f"{key} out of order"
        for earlier, later in itertools.pairwise(mine):  # never two of one key at once
            assert earlier["end"] <= later["start"], f"two batches of {key} at once"
    summary = json.loads(result.stdout.strip().splitlines()[-1])["runner"]
    assert summary["records_done"] == 160 and summary["discarded_records"] == 0


def test_a_failing_lane_holds_the_checkpoint_and_the_others_go_on(kinesis, one_shard):
    """The shard's checkpoint is the last record before the first unfinished one: a
    restart re-delivers only unfinished work (and what followed it)."""
    keys = [f"key{i % 4}" for i in range(40)]
    put(kinesis, one_shard, [f"r{i}".encode() for i in range(40)], keys=keys)
    poison = "r9"  # key1: its lane fails until the retries run out

    def rule(event, call):
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        if poison in data:
            raise RuntimeError("poison")

    handler = Recorder(rule)
    arn, created = _arn_and_created(kinesis, one_shard)
    store = CheckpointStore(None, arn, created=created)
    clock = FakeClock()
    mapping = EventSourceMapping(
        kinesis,
        one_shard,
        handler,
        MappingConfig(
            parallelization_factor=4,
            batch_size=3,
            max_retries=-1,
            poll_interval_s=0.05,
            retry_base_delay_s=0.05,
            retry_max_delay_s=0.05,
        ),
        checkpoints=store,
        clock=clock.monotonic,
        wall_clock=clock.time,
    )
    for _ in range(400):
        mapping.step()
        clock.advance(0.05)
    delivered = {d for e in handler.events if poison not in _data(e) for d in _data(e)}
    other_keys = {f"r{i}" for i in range(40) if i % 4 != 1}
    assert other_keys <= delivered  # the other lanes finished everything
    checkpoint = store.get(mapping.shards[next(iter(mapping.shards))].shard_id).sequence_number
    sequences = _sequences(kinesis, one_shard)
    # the poisoned batch starts at r9 or before it (its lane's batch): never after it
    assert checkpoint is None or int(checkpoint) < int(sequences["r9"])


def _data(event):
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]


def _sequences(kinesis, stream):
    from streaming.tools.stream_io import read_all

    return {r["Data"].decode(): r["SequenceNumber"] for _, r in read_all(kinesis, stream)}


def _arn_and_created(kinesis, stream):
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    from streaming.esm.checkpoints import creation_key

    return summary["StreamARN"], creation_key(summary["StreamCreationTimestamp"])


# -- FilterCriteria --------------------------------------------------------------------


def test_records_matching_no_filter_are_dropped_and_checkpointed_past(kinesis, one_shard, tmp_path):
    """ "If none of your filters are satisfied, Lambda discards the record." A record whose
    data is not JSON is dropped too ("Non-JSON | Valid JSON | Lambda drops the record"),
    an aggregate (KPL) record included; none of them reaches the function or a dead letter,
    and the checkpoint moves past them."""
    rides = [
        json.dumps({"ride": {"PULocationID": pu}, "ride_id": i}).encode()
        for i, pu in enumerate([50, 150, 250, 99, 101])
    ]
    kpl = aggregate(["k"], [(0, rides[1])])
    put(kinesis, one_shard, [*rides, b"not json", kpl, b'{"ride": {}}'], keys="same")
    criteria = parse_filter_criteria(
        json.dumps(
            {
                "Filters": [
                    {
                        "Pattern": json.dumps(
                            {"data": {"ride": {"PULocationID": [{"numeric": [">", 100]}]}}}
                        )
                    }
                ]
            }
        )
    )
    handler = Recorder()
    dead = JsonLinesFile(tmp_path / "failures.jsonl")
    mapping = run_to_idle(
        kinesis, one_shard, handler, filter_criteria=criteria, destination=dead, max_retries=0
    )
    kept = [json.loads(d)["ride_id"] for d in handler.data()]
    assert kept == [1, 2, 4]
    assert mapping.stats.filtered_out_events == 5 and mapping.stats.polled_events == 8
    assert not dead.path.exists()
    [shard] = mapping.checkpoints.shards
    last = max(int(r) for r in _sequences_of(kinesis, one_shard))
    assert int(mapping.checkpoints.get(shard).sequence_number) == last  # the last one, filtered


def _sequences_of(kinesis, stream):
    from streaming.tools.stream_io import read_all

    return [r["SequenceNumber"] for _, r in read_all(kinesis, stream)]


def test_a_filter_lambda_would_refuse_is_one_line(moto_endpoint, tmp_path):
    """ "If you attempt to add more filters than your current quota permits, Lambda will
    return an error." - and a pattern on a key other than data: "Kinesis event source
    mappings only support filtering on the data key." """
    env = emulator_env(moto_endpoint)
    six = {"Filters": [{"Pattern": json.dumps({"data": {"a": [i]}})} for i in range(6)]}
    (tmp_path / "six.json").write_text(json.dumps(six))
    cases = {
        "@six.json": "quota",
        json.dumps({"Filters": [{"Pattern": json.dumps({"partitionKey": ["a"]})}]}): "data",
        "{not json": "not JSON",
    }
    for criteria, words in cases.items():
        result = run_anywhere(
            "run", "--stream", "any", "--filter-criteria", criteria, cwd=tmp_path, env=env
        )
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "--filter-criteria" in line and words in line, line


# -- TumblingWindowInSeconds -----------------------------------------------------------


def counting_window(event, context):
    """A windowed aggregator: counts records in ``state``; the final invocation returns it."""
    state = dict(event["state"])
    state["count"] = state.get("count", 0) + len(event["Records"])
    return {"state": state, "batchItemFailures": []}


def test_a_tumbling_window_carries_state_and_ends_with_a_final_invocation(kinesis, one_shard):
    """ "Each invocation receives a state"; "At the end of the window, the flag
    isFinalInvokeForWindow is set to true to indicate that this is the final state";
    "Lambda determines tumbling window boundaries based on the time when records were
    inserted into the stream"; a batch never spans two windows."""
    import time

    time.sleep(_to_next_window(2) + 0.05)
    put(kinesis, one_shard, [b"a0", b"a1", b"a2"], keys="same")
    handler = Recorder(lambda event, call: counting_window(event, None))
    mapping = run_to_idle(
        kinesis, one_shard, handler, tumbling_window_s=2, batch_size=2, idle_s=3.0
    )
    events = handler.events
    assert {k for e in events for k in e} >= {
        "Records",
        "window",
        "state",
        "shardId",
        "eventSourceARN",
        "isFinalInvokeForWindow",
        "isWindowTerminatedEarly",
    }
    data_events = [e for e in events if e["Records"]]
    assert [len(e["Records"]) for e in data_events] == [2, 1]
    assert data_events[0]["state"] == {} and data_events[1]["state"] == {"count": 2}
    [final] = [e for e in events if e["isFinalInvokeForWindow"]]
    assert final["state"] == {"count": 3} and final["Records"] == []
    assert final["window"] == data_events[0]["window"]
    start = final["window"]["start"]
    assert start.endswith("Z") and _seconds(final["window"]["end"]) - _seconds(start) == 2
    assert mapping.stats.records_done == 3


def test_a_runner_killed_mid_window_reads_the_whole_window_again(kinesis, one_shard, tmp_path):
    """Lambda keeps a window's state until its final invocation; the local runner
    keeps it in memory, so its persisted checkpoint stays at the window's start until
    the final invocation succeeds: a restarted runner counts the window whole, once."""
    import threading
    import time

    from streaming.esm.checkpoints import CheckpointStore
    from streaming.esm.runner import EventSourceMapping, MappingConfig

    time.sleep(_to_next_window(4) + 0.05)
    put(kinesis, one_shard, [b"a0", b"a1", b"a2"], keys="same")
    summary = kinesis.describe_stream_summary(StreamName=one_shard)["StreamDescriptionSummary"]
    arn, created = summary["StreamARN"], summary["StreamCreationTimestamp"]
    path = tmp_path / "checkpoints.json"
    stop = threading.Event()

    def killed_after_one_batch(event, call):
        stop.set()  # the runner dies before the window's final invocation
        return counting_window(event, None)

    first = Recorder(killed_after_one_batch)
    config = MappingConfig(tumbling_window_s=4, batch_size=2, poll_interval_s=0.05)
    checkpoints = CheckpointStore.load(path, arn, created)
    EventSourceMapping(kinesis, one_shard, first, config, checkpoints=checkpoints).run(stop)
    assert [len(e["Records"]) for e in first.events] == [2]
    assert not any(e["isFinalInvokeForWindow"] for e in first.events)
    assert (
        CheckpointStore.load(path, arn, created).get(first.events[0]["shardId"]).sequence_number
        is None
    )

    second = Recorder(lambda event, call: counting_window(event, None))
    run_to_idle(
        kinesis, one_shard, second, tumbling_window_s=4, batch_size=2, idle_s=5.0,
        checkpoints=CheckpointStore.load(path, arn, created),
    )  # fmt: skip
    [final] = [e for e in second.events if e["isFinalInvokeForWindow"]]
    assert final["state"] == {"count": 3}  # the whole window, once
    shard = final["shardId"]
    assert CheckpointStore.load(path, arn, created).get(shard).sequence_number is not None


def _to_next_window(window_s):
    import time

    now = time.time()
    return window_s - (now % window_s)


def _seconds(iso):
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_windowed_response_without_state_is_a_failed_invocation(kinesis, one_shard):
    """ "If the response does not contain a state property, Lambda considers this a failed
    invocation." """
    put(kinesis, one_shard, [b"x"], keys="same")

    def rule(event, call):  # no state, but for the final invocation (else the shard waits)
        return {"state": {}} if event["isFinalInvokeForWindow"] else {"batchItemFailures": []}

    handler = Recorder(rule)
    mapping = run_to_idle(
        kinesis, one_shard, handler, tumbling_window_s=2, max_retries=1, idle_s=1.0
    )
    assert mapping.stats.function_errors == 2 and mapping.stats.discarded_records == 1
    assert handler.events[-1]["isFinalInvokeForWindow"]


def test_state_over_1_mb_ends_the_window_early(kinesis, one_shard):
    """ "Your state can be a maximum of 1 MB per shard. If it exceeds that size, Lambda
    terminates the window early" - the next invocation continues the window with a
    fresh state."""
    import time

    time.sleep(_to_next_window(2) + 0.05)
    put(kinesis, one_shard, [b"big", b"after"], keys="same")

    def rule(event, call):
        if event["Records"] and _data(event) == ["big"]:
            return {"state": {"blob": "x" * (1024 * 1024 + 1)}}
        return {"state": {"seen": len(event["Records"])}}

    handler = Recorder(rule)
    run_to_idle(kinesis, one_shard, handler, tumbling_window_s=2, batch_size=1, idle_s=1.0)
    first, early, after = handler.events[:3]
    assert _data(first) == ["big"]
    assert early["isFinalInvokeForWindow"] and early["isWindowTerminatedEarly"]
    assert early["Records"] == [] and len(early["state"]["blob"]) > 1024 * 1024
    assert _data(after) == ["after"] and after["state"] == {}
    assert after["window"] == first["window"]


def test_windows_need_one_lane():
    with pytest.raises(ValueError, match="parallelization factor 1"):
        MappingConfig(tumbling_window_s=60, parallelization_factor=2)
    with pytest.raises(ValueError, match="0-900"):
        MappingConfig(tumbling_window_s=901)


# -- the batching window's 6 MB cut ---------------------------------------------------


def test_the_batching_window_closes_at_6_mb(kinesis, one_shard, moto_endpoint):
    """ "Before invoking the function, Lambda continues to read records from the event
    source until it has gathered a full batch, the batching window expires, or the batch
    reaches the payload limit of 6 MB" - without waiting for the window."""
    import time

    from streaming.consumer.kinesis_client import TOOLS, make_kinesis_client

    big = [bytes([65 + i]) * 900_000 for i in range(6)]
    for payload in big:  # one per call: a shard takes 1 MB/s (LocalStack enforces it)
        put(kinesis, one_shard, [payload], keys="same")
    clock = FakeClock()  # the window's 300 s never pass unless the test says so
    handler = Recorder()
    mapping = EventSourceMapping(
        # patient reads: an emulator can take seconds to return 5 MB (LocalStack did)
        make_kinesis_client(moto_endpoint, profile=TOOLS),
        one_shard,
        handler,
        MappingConfig(batch_size=1000, batching_window_s=300, poll_interval_s=0.01),
        clock=clock.monotonic,
        wall_clock=clock.time,
    )
    deadline = time.monotonic() + 120  # real time, for a slow emulator; the fake clock stays
    while not handler.events and time.monotonic() < deadline:
        if not mapping.step():
            time.sleep(0.05)
    assert handler.events, "the 6 MB buffer waited for the window"
    assert clock.elapsed < 300
    first = handler.events[0]
    size = sum(len(r["kinesis"]["data"]) for r in first["Records"])
    assert size <= 6 * 1024 * 1024 and len(first["Records"]) == 5  # a 6th would pass 6 MB


# -- errors before invocation ------------------------------------------------------------


def test_throttles_do_not_use_the_retry_quota(kinesis, one_shard):
    """ "Before invocation: If a Lambda event source mapping is unable to invoke the
    function due to throttling or other issues, it retries until the records expire or
    exceed the maximum age configured on the event source mapping" - whatever
    MaximumRetryAttempts says (here 0)."""
    put(kinesis, one_shard, [b"t0", b"t1"], keys="same")
    clock = FakeClock()
    handler = Recorder()
    mapping = run_to_idle(
        kinesis,
        one_shard,
        handler,
        reserved_concurrency=0,
        max_retries=0,
        max_record_age_s=5,
        clock=clock,
        idle_s=1.0,
    )
    assert handler.events == []  # never invoked
    assert mapping.stats.throttles >= 3  # retried past MaximumRetryAttempts 0
    assert mapping.stats.discarded_by_condition == {"RecordAgeExceeded": 2}


INIT_FAILS = """
raise RuntimeError("init failed: no model")

def handler(event, context):
    return {}
"""


def test_an_init_failure_is_a_function_error(kinesis, one_shard, tmp_path, monkeypatch):
    """An invoked function whose init fails returns an error: "Function errors include
    exceptions that your code throws and exceptions that the Lambda runtime throws"
    (Types of metrics for Lambda functions, Errors) - so it uses the retry quota."""
    (tmp_path / "broken_init.py").write_text(INIT_FAILS)
    put(kinesis, one_shard, [b"i0"], keys="same")
    invoker = ProcessInvoker(WorkerSetup("broken_init:handler", (str(tmp_path),), {}, None), 1)
    try:
        result = invoker.submit({"Records": []}, ContextSpec("f", 5.0, "us-east-1")).result()
        assert result.error.startswith("Runtime.InitError") and "no model" in result.error
        mapping = EventSourceMapping(
            kinesis,
            one_shard,
            config=MappingConfig(max_retries=1, poll_interval_s=0.05, retry_base_delay_s=0.01),
            invoker=invoker,
        )
        mapping.run(stop_when_idle_s=0.5)
    finally:
        invoker.close()
    assert mapping.stats.function_errors == 2 and mapping.stats.discarded_records == 1


# -- IteratorAge, EventCount, a consumer's ARN, settings Kinesis does not take --------


def test_run_reports_iterator_age_and_event_counts_as_emf(one_shard, moto_endpoint, tmp_path):
    """ "IteratorAge - ... the age of the last record in the event ... the time between
    when a stream receives the record and when the event source mapping sends the event
    to the function"; with MetricsConfig EventCount: PolledEventCount,
    FilteredOutEventCount, InvokedEventCount, FailedInvokeEventCount, DroppedEventCount,
    OnFailureDestinationDeliveredEventCount (Types of metrics for Lambda functions)."""
    import time

    from streaming.consumer.kinesis_client import make_kinesis_client

    kinesis = make_kinesis_client(moto_endpoint)
    put(kinesis, one_shard, [b'{"keep": 1}', b'{"keep": 0}', b'{"keep": 1}'], keys="same")
    time.sleep(1.0)  # the records are at least a second old when sent
    (tmp_path / "ok_handler.py").write_text("def handler(event, context):\n    return {}\n")
    pattern = json.dumps({"data": {"keep": [1]}})
    log = tmp_path / "run.log"
    result = run_anywhere(
        "run", "--stream", one_shard, "--handler", "ok_handler:handler", "--emf",
        "--filter-criteria", json.dumps({"Filters": [{"Pattern": pattern}]}),
        "--poll-interval", "0.05", "--stop-when-idle", "0.5", "--log-file", str(log),
        cwd=tmp_path, env=emulator_env(moto_endpoint),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "PolledEventCount 3, FilteredOutEventCount 1, InvokedEventCount 2" in result.stdout
    emf = [json.loads(line) for line in log.read_text().splitlines() if '"_aws"' in line]
    [batch] = [m for m in emf if "IteratorAge" in m]
    assert 1000 <= batch["IteratorAge"] < 60_000
    [totals] = [m for m in emf if "PolledEventCount" in m]  # each count once: summable
    assert (totals["PolledEventCount"], totals["FilteredOutEventCount"]) == (3, 1)
    assert (totals["InvokedEventCount"], totals["DroppedEventCount"]) == (2, 0)
    assert totals["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AWS/Lambda"


def test_a_stream_consumer_arn_polls_its_stream(one_shard, moto_endpoint, tmp_path):
    """Enhanced fan-out: a mapping's EventSourceArn may be a stream consumer's ARN
    (arn:aws:kinesis:...:stream/<name>/consumer/<name>:<time>); its stream is read."""
    from streaming.consumer.kinesis_client import make_kinesis_client

    kinesis = make_kinesis_client(moto_endpoint)
    arn = kinesis.describe_stream_summary(StreamName=one_shard)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="predictor")
    consumer_arn = consumer["Consumer"]["ConsumerARN"]
    put(kinesis, one_shard, [b"e0", b"e1"], keys="same")
    (tmp_path / "ok_handler.py").write_text("def handler(event, context):\n    return {}\n")
    env = emulator_env(moto_endpoint)
    common = ["--handler", "ok_handler:handler", "--poll-interval", "0.05"]
    result = run_anywhere(
        "run", "--stream", consumer_arn, *common, "--stop-when-idle", "0.5", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"stream consumer predictor (enhanced fan-out) belongs to {one_shard}" in result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["runner"]["records_done"] == 2
    missing = consumer_arn.replace("predictor", "nobody")
    result = run_anywhere("run", "--stream", missing, *common, cwd=tmp_path, env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "no such stream consumer" in line


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("--provisioned-pollers", "Amazon MSK, self-managed Apache Kafka and Amazon SQS"),
        ("--maximum-concurrency", "Amazon SQS event sources only"),
    ],
)
def test_settings_kinesis_does_not_take_are_refused_with_the_reason(
    option, words, moto_endpoint, tmp_path
):
    """ProvisionedPollerConfig: "(Amazon SQS, Amazon MSK, and self-managed Apache Kafka
    only)"; ScalingConfig: "(Amazon SQS only)" (CreateEventSourceMapping)."""
    result = run_anywhere(
        "run", "--stream", "any", option, "2", cwd=tmp_path, env=emulator_env(moto_endpoint)
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert option in line and words in line


# -- on-failure destinations: SNS's 256 KB, S3's payload ------------------------------


def test_sns_drops_the_response_above_256_kb_and_s3_carries_the_invocation(
    kinesis, one_shard, moto_endpoint, s3
):
    """ "Amazon SNS destinations have a message size limit of 256 KB. If the combined size
    of the function request and response payload exceeds the limit, Lambda will drop the
    payload" (API reference, OnFailure); "For Amazon S3 destinations, Lambda also sends
    the entire invocation record along with the metadata ... the payload field contains
    the original invocation record as an escaped JSON string." """
    import boto3

    from streaming.esm.destinations import parse_destination

    session = boto3.session.Session(region_name="us-east-1")
    sns = session.client("sns", endpoint_url=moto_endpoint)
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name=f"fail-{uuid.uuid4().hex[:6]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"sub-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    client, bucket = s3
    put(kinesis, one_shard, [b"p0"], keys="same")

    def huge_error(event, context):
        raise ValueError("x" * 300_000)

    for target in (topic, f"arn:aws:s3:::{bucket}"):
        destination = parse_destination(
            target, session=session, endpoint_url=moto_endpoint, mapping_id="m-1"
        )
        run_to_idle(kinesis, one_shard, huge_error, max_retries=0, destination=destination)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert "errorMessage" not in record.get("responseContext", {})  # dropped: over 256 KB
    [obj] = client.list_objects_v2(Bucket=bucket, Prefix="aws/lambda/m-1/")["Contents"]
    stored = json.loads(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    invocation = json.loads(stored["payload"])  # an escaped JSON string
    assert _data(invocation) == ["p0"]
    assert len(stored["responseContext"]["errorMessage"]) < 5000  # ours: bounded


# -- what a function or a destination can do wrong ------------------------------------


def test_a_destination_that_fails_is_counted_and_the_run_goes_on(kinesis, one_shard):
    """ "If delivery to the destination fails ... For the DestinationDeliveryFailures metric,
    Lambda emits a 1. For the DroppedEventCount metric, Lambda emits a number equal to the
    number of events that failed delivery." The records stay discarded."""

    class Down:
        def send(self, failure):
            raise ConnectionError("the queue is down")

    put(kinesis, one_shard, [b"d0", b"d1"], keys="same")

    def boom(event, context):
        raise ValueError("nope")

    mapping = run_to_idle(kinesis, one_shard, boom, max_retries=0, destination=Down())
    assert mapping.stats.destination_delivery_failures == 1
    assert mapping.stats.event_counts()["DroppedEventCount"] == 2
    assert mapping.stats.event_counts()["OnFailureDestinationDeliveredEventCount"] == 0


def test_a_response_that_is_not_json_is_a_runtime_error(kinesis, one_shard):
    """Lambda returns the JSON of the function's result: one that cannot be serialized
    fails the invocation (Runtime.MarshalError) - also in this process."""
    put(kinesis, one_shard, [b"m0"], keys="same")
    handler = Recorder(lambda event, call: {"state": {1, 2}} if call == 0 else {})
    mapping = run_to_idle(kinesis, one_shard, handler, max_retries=2)
    assert mapping.stats.function_errors == 1 and mapping.stats.records_done == 1


CRASHES = """
import base64, os, time

def handler(event, context):
    data = [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]]
    if b"crash" in data:
        os._exit(3)
    time.sleep(0.5)
    return {"pid": os.getpid()}
"""


def test_a_dying_environment_fails_only_its_own_invocation(tmp_path):
    """Each concurrent invocation has its own environment: one that exits fails only
    the invocation it was running (Runtime.ExitError); the others finish."""
    (tmp_path / "crashes.py").write_text(CRASHES)
    invoker = ProcessInvoker(WorkerSetup("crashes:handler", (str(tmp_path),), {}, None), 4)
    spec = ContextSpec("f", 30.0, "us-east-1")

    def event(data):
        return {"Records": [{"kinesis": {"data": base64.b64encode(data).decode()}}]}

    try:
        slow = [invoker.submit(event(b"fine"), spec) for _ in range(2)]
        crash = invoker.submit(event(b"crash"), spec)
        assert crash.result(60).error.startswith("Runtime.ExitError")
        results = [f.result(60) for f in slow]
        assert all(r.error is None for r in results)
        again = invoker.submit(event(b"fine"), spec).result(60)
        assert again.error is None
        assert again.response["pid"] in {r.response["pid"] for r in results}  # a warm one
    finally:
        invoker.close()
    assert invoker.environments_started == 3  # the dead one was not reused
