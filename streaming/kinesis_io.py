"""Small Kinesis helpers shared by the demo, the tests and (later) the local runner.

Stream creation that waits for ACTIVE, and a reader that drains every shard
from TRIM_HORIZON. These are tooling, not the Lambda hot path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any


def create_stream(client: Any, name: str, shards: int, *, timeout_s: float = 30.0) -> str:
    """Create ``name`` with ``shards`` shards (if absent), wait until ACTIVE, return its ARN."""
    with contextlib.suppress(client.exceptions.ResourceInUseException):  # exists already
        client.create_stream(StreamName=name, ShardCount=shards)
    return wait_active(client, name, timeout_s=timeout_s)


def wait_active(client: Any, name: str, *, timeout_s: float = 30.0) -> str:
    """Wait until the stream is ACTIVE (after creation or a reshard); return its ARN."""
    deadline = time.monotonic() + timeout_s
    while True:
        desc = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if desc["StreamStatus"] == "ACTIVE":
            return desc["StreamARN"]
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {name} not ACTIVE after {timeout_s} s")
        time.sleep(0.1)


def shard_ids(client: Any, stream: str) -> list[str]:
    shards: list[str] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        page = client.list_shards(**kwargs)
        shards.extend(s["ShardId"] for s in page["Shards"])
        token = page.get("NextToken")
        if not token:
            return shards
        kwargs = {"NextToken": token}


def iter_shard(
    client: Any, stream: str, shard_id: str, *, limit: int = 1000, **position: Any
) -> Iterator[list[dict[str, Any]]]:
    """Yield batches of records of one shard until it is drained (caught up, nothing new).

    ``position`` defaults to TRIM_HORIZON; pass ``ShardIteratorType`` and
    ``StartingSequenceNumber`` to start elsewhere.
    """
    position = position or {"ShardIteratorType": "TRIM_HORIZON"}
    iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard_id, **position)[
        "ShardIterator"
    ]
    while iterator:
        page = client.get_records(ShardIterator=iterator, Limit=limit)
        if page["Records"]:
            yield page["Records"]
        elif page.get("MillisBehindLatest", 0) == 0:
            return
        iterator = page.get("NextShardIterator")


def read_all(client: Any, stream: str) -> list[tuple[str, dict[str, Any]]]:
    """Every record of every shard, as (shard id, record)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for shard in shard_ids(client, stream):
        for batch in iter_shard(client, stream, shard):
            out.extend((shard, r) for r in batch)
    return out
