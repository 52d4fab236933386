"""Small Kinesis helpers for the tools and tests: stream creation that waits for ACTIVE,
a check that a stream is there before a command relies on it, and reading a whole
stream once. Not the Lambda hot path.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from streaming.esm.reader import ShardReader, StartingPosition, list_shards


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


def require_stream(client: Any, name: str, option: str, endpoint: str) -> str:
    """The ARN of stream ``name``; a one-line ``CommandError`` if it does not exist.

    A command checks its streams before it starts, so a missing stream (or an
    endpoint that does not answer, or no credentials: those errors propagate
    to ``errors.describe``) stops it at once with the cause, rather than after
    a progress bar or in a retry loop. ``option`` names where the name came from."""
    from streaming.commandline.errors import CommandError

    try:
        summary = client.describe_stream_summary(StreamName=name)
    except client.exceptions.ResourceNotFoundException:
        raise CommandError(
            f"{option} {name}: no such stream at {endpoint} (create it, or check the "
            "name and --endpoint-url)"
        ) from None
    return summary["StreamDescriptionSummary"]["StreamARN"]


def read_all(
    client: Any, stream: str, start: StartingPosition | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every record of every shard, from ``start`` (TRIM_HORIZON) to now, as (shard, record)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for shard in list_shards(client, stream):
        reader = ShardReader(client, stream, shard["ShardId"], start or StartingPosition())
        while True:
            result = reader.read()
            out.extend((shard["ShardId"], r) for r in result.records)
            if result.closed or (not result.records and result.millis_behind == 0):
                break
    return out
