"""bench/standin.py: a stand-in Kinesis endpoint in its own process, spoken to by real boto3."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.config import Config

from bench.standin import HASH_SPACE, Latency, ShardMap, start_standin
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.publish import Entry, publish

pytestmark = pytest.mark.slow  # starts a server process

THROTTLED = "ProvisionedThroughputExceededException"


def client_for(url: str):
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16),
    )


def records(n: int, key=str, size: int = 100) -> list[dict]:
    return [{"Data": b"x" * size, "PartitionKey": key(i)} for i in range(n)]


@pytest.fixture(scope="module")
def standin_50ms():
    with start_standin(delay_ms=50, shards=2) as (url, stats, reset):
        yield url, stats, reset


@pytest.fixture
def fresh(standin_50ms):
    url, stats, reset = standin_50ms
    reset()
    return url, stats


# -- the model, without a process -------------------------------------------------------


def test_botocore_speaks_json_to_kinesis():
    # what the stand-in parses; if botocore moved to CBOR, the stand-in refuses it (400)
    model = botocore.session.get_session().get_service_model("kinesis")
    assert model.protocol == "json"


def test_shards_split_the_hash_space_evenly_as_create_stream_does():
    two = ShardMap(2)
    assert [two.hash_range(s) for s in range(2)] == [
        (0, 2**127 - 1),
        (2**127, HASH_SPACE - 1),
    ]
    three = ShardMap(3)
    assert three.hash_range(1)[0] == 113427455640312821154458202477256070485
    assert three.shard_of_hash(three.starts[1] - 1) == 0
    assert three.shard_of_hash(three.starts[1]) == 1
    assert three.shard_of_hash(HASH_SPACE - 1) == 2
    # MD5("0") = cfcd2084... > 2**127: shard 1 of 2
    assert two.shard_of_key("0") == 1


def test_lognormal_latency_goes_through_both_quantiles():
    latency = Latency.parse("p50=20,p99=120")
    assert latency.quantile(0.5) == pytest.approx(0.020)
    assert latency.quantile(0.99) == pytest.approx(0.120)
    import random

    rng = random.Random(0)
    draws = sorted(latency.draw(rng) for _ in range(20_000))
    assert draws[10_000] == pytest.approx(0.020, rel=0.05)
    assert draws[19_800] == pytest.approx(0.120, rel=0.1)
    assert Latency.fixed(30).draw(rng) == 0.030
    for bad in ("p50=20", "p50=30,p99=20", "p90=1,p99=2", "p50=0,p99=1"):
        with pytest.raises(ValueError):
            Latency.parse(bad)


# -- the process, spoken to by boto3 ----------------------------------------------------


def test_put_records_all_accepted_after_the_delay(fresh):
    url, stats = fresh
    client = client_for(url)
    client.list_shards(StreamName="s")  # the connection is open before the call is timed
    batch = records(500)
    started = time.perf_counter()
    out = client.put_records(StreamName="s", Records=batch)
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.050
    assert out["FailedRecordCount"] == 0
    assert all(r["SequenceNumber"] and "ErrorCode" not in r for r in out["Records"])
    assert {r["ShardId"] for r in out["Records"]} == {f"shardId-00000000000{i}" for i in (0, 1)}
    shards = ShardMap(2)
    expected = [f"shardId-{shards.shard_of_key(r['PartitionKey']):012d}" for r in batch]
    assert [r["ShardId"] for r in out["Records"]] == expected
    counts = stats()
    assert counts["calls_by_operation"] == {"ListShards": 1, "PutRecords": 1}
    assert counts["entries_received"] == counts["entries_accepted"] == 500
    assert counts["entries_throttled"] == 0
    assert counts["bytes_received"] == sum(100 + len(r["PartitionKey"]) for r in batch)
    assert sum(counts["accepted_by_shard"].values()) == 500


def test_entries_beyond_a_shards_capacity_are_throttled(fresh):
    """3,000 records to one shard at once: about the 1,000-record burst is accepted."""
    url, stats = fresh
    client = client_for(url)
    client.list_shards(StreamName="s")
    outs: list[dict] = []

    def put() -> None:
        outs.append(client.put_records(StreamName="s", Records=records(500, key=lambda i: "k")))

    threads = [threading.Thread(target=put) for _ in range(6)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    results = [r for out in outs for r in out["Records"]]
    assert len(results) == 3000
    throttled = [r for r in results if "ErrorCode" in r]
    accepted = 3000 - len(throttled)
    # the burst, plus what refilled (1,000/s) while the calls were arriving
    assert 1000 <= accepted <= 1000 + 1000 * elapsed + 1
    assert {r["ErrorCode"] for r in throttled} == {THROTTLED}
    assert all("Rate exceeded for shard" in r["ErrorMessage"] for r in throttled)
    assert sum(out["FailedRecordCount"] for out in outs) == len(throttled)
    counts = stats()
    assert counts["entries_accepted"] == accepted
    assert counts["entries_throttled"] == len(throttled)
    # the other shard's capacity is its own
    full = ShardMap(2).shard_of_key("k")
    other = next(str(i) for i in range(100) if ShardMap(2).shard_of_key(str(i)) != full)
    out = client.put_records(StreamName="s", Records=records(500, key=lambda i: other))
    assert out["FailedRecordCount"] == 0


def test_put_record_and_describe_stream_summary(fresh):
    url, _ = fresh
    client = client_for(url)
    summary = client.describe_stream_summary(StreamName="rides")["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["StreamARN"].endswith(":stream/rides")
    assert summary["OpenShardCount"] == 2
    out = client.put_record(StreamName="rides", Data=b"{}", PartitionKey="0")
    assert out["ShardId"] == "shardId-000000000001" and out["SequenceNumber"]


def test_concurrent_calls_overlap():
    with start_standin(delay_ms=200, shards=2) as (url, stats, _):
        client = client_for(url)
        warm = [threading.Thread(target=client.list_shards, kwargs={"StreamName": "s"})]
        warm.append(threading.Thread(target=client.list_shards, kwargs={"StreamName": "s"}))
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        threads = [
            threading.Thread(
                target=client.put_records, kwargs={"StreamName": "s", "Records": records(10)}
            )
            for _ in range(2)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        assert 0.200 <= elapsed < 0.350  # ~200 ms, not the ~400 ms of one after the other
        assert stats()["entries_accepted"] == 20


def test_lognormal_latency_in_the_process():
    with start_standin(latency="p50=20,p99=120", seed=1) as (url, _, _):
        client = client_for(url)
        client.list_shards(StreamName="s")
        times = []
        for _ in range(15):
            started = time.perf_counter()
            client.put_records(StreamName="s", Records=records(1))
            times.append(time.perf_counter() - started)
        assert 0.010 < statistics.median(times) < 0.060


def test_publish_through_kinesis_sender(fresh):
    """The project's publisher, over boto3, against the stand-in: 2,000 entries written once."""
    url, stats = fresh
    send = kinesis_sender(client_for(url))
    entries = [Entry(json.dumps({"ride_id": i}).encode(), str(i), i) for i in range(2000)]
    out = publish(send, "rides", entries)
    assert out.failed == [] and out.published == 2000
    assert out.calls >= 4
    counts = stats()
    assert counts["entries_accepted"] == 2000  # each entry written exactly once
    assert counts["entries_received"] == 2000 + out.retried_entries
    assert counts["entries_throttled"] == out.retried_entries


# -- what it refuses --------------------------------------------------------------------


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_malformed_json_is_a_serialization_exception(fresh):
    url, _ = fresh
    headers = {
        "X-Amz-Target": "Kinesis_20131202.PutRecords",
        "Content-Type": "application/x-amz-json-1.1",
    }
    status, body = raw_post(url, b"{not json", headers)
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = raw_post(url, b"[]", headers)
    assert status == 400 and body["__type"] == "SerializationException"
    cbor = {**headers, "Content-Type": "application/x-amz-cbor-1.1"}
    status, body = raw_post(url, b"\xa0", cbor)
    assert status == 400 and body["__type"] == "SerializationException"
    unknown = {**headers, "X-Amz-Target": "Kinesis_20131202.GetRecords"}
    status, body = raw_post(url, b"{}", unknown)
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = raw_post(url, json.dumps({"StreamName": "s", "Records": []}).encode(), headers)
    assert status == 400 and body["__type"] == "ValidationException"


def test_a_body_over_the_cap_is_refused_unread(fresh):
    url, _ = fresh
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
            b"Content-Length: 7340032\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["__type"] == "SerializationException"
