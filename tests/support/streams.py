"""Kinesis streams on the emulator: write records, read them back, and run the
local event source mapping over a stream until it is idle."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.publish import Entry, publish
from streaming.tools.stream_io import read_all
from tests.support.clock import FakeClock

#: which emulator the integration tests talk to: moto (default) or LocalStack
#: (integration-test/localstack.sh sets STREAMING_TEST_EMULATOR=localstack)
EMULATOR = os.environ.get("STREAMING_TEST_EMULATOR", "moto")


def numbered(n: int, prefix: str = "r") -> list[bytes]:
    """``n`` payloads: b'<prefix>0', b'<prefix>1', ..."""
    return [f"{prefix}{i}".encode() for i in range(n)]


def put(
    kinesis: Any, stream: str, payloads: Sequence[bytes], keys: str | Sequence[str] | None = None
) -> None:
    """Write ``payloads`` to ``stream``, every one of them. Partition keys: ``keys``
    (one for all, which puts them on one shard, or one each) or k0, k1, ... (spread).

    Patient, as a test's producer may be: entries still failing after ``publish``'s
    bounded retries (an emulator that enforces a shard's 1 MB/s, as LocalStack does for
    megabyte records on one key) are sent again for up to a minute of real time."""
    if isinstance(keys, str):
        keys = [keys] * len(payloads)
    entries = [Entry(d, keys[i] if keys else f"k{i}", i) for i, d in enumerate(payloads)]
    deadline = time.monotonic() + 60
    while entries:
        failed = set(publish(kinesis_sender(kinesis), stream, entries).failed)
        entries = [e for e in entries if e.ref in failed]
        assert not entries or time.monotonic() < deadline, f"{len(entries)} records not written"
        if entries:
            time.sleep(1.0)


def read_json(client: Any, stream: str) -> list[tuple[str, Any]]:
    """(shard, decoded JSON) of every record of ``stream``."""
    return [(shard, json.loads(r["Data"])) for shard, r in read_all(client, stream)]


def run_to_idle(
    client,
    stream,
    handler,
    *,
    idle_s=0.4,
    destination=None,
    checkpoints=None,
    clock: FakeClock | None = None,
    **config,
):
    """Run the local event source mapping until every shard is idle; return it.

    ``config``: ``MappingConfig`` fields (short poll and retry intervals unless
    given). With ``clock`` (a ``FakeClock``) the mapping runs on it: time passes only
    when it waits or the test says so, and its waits take no real time.
    """
    from streaming.esm.runner import EventSourceMapping, MappingConfig

    defaults = {
        "poll_interval_s": 0.05,
        "retry_base_delay_s": 0.01,
        "retry_max_delay_s": 0.05,
        "shard_refresh_s": 0.2,
    }
    clocks = {"clock": clock.monotonic, "wall_clock": clock.time} if clock else {}
    mapping = EventSourceMapping(
        client,
        stream,
        handler,
        MappingConfig(**(defaults | config)),
        destination=destination,
        checkpoints=checkpoints,
        **clocks,
    )
    mapping.run(clock.stop if clock else None, stop_when_idle_s=idle_s)
    return mapping
