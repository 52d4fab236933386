"""Drain a stream through a handler the way Lambda's event source mapping would.

A minimal, synchronous stand-in for the mapping used by the demo and tests:
per shard, in order, batches of up to ``batch_size`` records become Lambda
events; when the response lists ``batchItemFailures`` the batch is retried
from the lowest reported sequence number ("Lambda ... retries the batch
starting from the lowest sequence number reported", Lambda docs, *Kinesis:
reporting batch item failures*), up to ``max_attempts`` per batch. Sequence
numbers are compared as integers (moto's are "1", "2", ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streaming.kinesis_event import lambda_event
from streaming.kinesis_io import iter_shard, shard_ids
from streaming.lambda_context import LocalContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class DrainStats:
    invocations: int = 0
    records_delivered: int = 0  # counting re-deliveries
    retried_batches: int = 0
    #: records still failing after max_attempts (on AWS: the on-failure destination)
    abandoned: list[str] = field(default_factory=list)


def drain(
    client: Any,
    stream: str,
    handler: Handler,
    *,
    batch_size: int = 100,
    max_attempts: int = 10,
    region: str = "us-east-1",
    timeout_s: float = 60.0,
    on_invoke: Callable[[DrainStats], None] | None = None,
) -> DrainStats:
    """Deliver every record of ``stream`` (from TRIM_HORIZON) to ``handler``."""
    stream_arn = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    stats = DrainStats()
    for shard in shard_ids(client, stream):
        for batch in iter_shard(client, stream, shard, limit=batch_size):
            pending = batch
            for attempt in range(max_attempts):
                event = lambda_event(pending, shard_id=shard, stream_arn=stream_arn, region=region)
                response = handler(event, LocalContext(timeout_s=timeout_s))
                stats.invocations += 1
                stats.records_delivered += len(pending)
                if on_invoke:
                    on_invoke(stats)
                failures = [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
                if not failures:
                    break
                lowest = min(int(s) for s in failures)
                pending = [r for r in pending if int(r["SequenceNumber"]) >= lowest]
                if attempt + 1 == max_attempts:
                    stats.abandoned.extend(r["SequenceNumber"] for r in pending)
                else:
                    stats.retried_batches += 1
    return stats
