"""A rejected record -> the dead-letter event that keeps it recoverable.

The dead letter says why (``reason`` code + ``detail``), where the record came
from (``source``: eventID = shard + sequence number, plus the stream ARN and
arrival time) and what it was: the original base64 data when the dead letter
still fits Kinesis' 1 MiB record limit, else its size and sha256, so it can be
re-read from the input stream by sequence number while retention lasts.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from streaming.events import Rejection
from streaming.publish import MAX_BYTES_PER_RECORD

SCHEMA = "ride-dead-letter/v1"


def dead_letter_event(rejection: Rejection, *, version: str) -> dict[str, Any]:
    """The dead letter for ``rejection``, with the original data if it fits."""
    ref = rejection.ref
    event: dict[str, Any] = {
        "schema": SCHEMA,
        "reason": rejection.reason.value,
        "detail": rejection.detail,
        "source": ref.source(),
        "sequenceNumber": ref.sequence_number,
        "partitionKey": ref.partition_key,
        "eventSourceARN": ref.event_source_arn,
        "approximateArrivalTimestamp": ref.arrival_timestamp,
        "modelVersion": version,
    }
    if rejection.data is not None:
        event["data"] = rejection.data
        if len(encode(event)) + len(partition_key(rejection).encode()) > MAX_BYTES_PER_RECORD:
            del event["data"]
            raw = _raw_bytes(rejection.data)
            event["size"] = len(raw)
            event["sha256"] = hashlib.sha256(raw).hexdigest()
    return event


def partition_key(rejection: Rejection) -> str:
    """Keep the input's partition key (same shard locality); fall back to the eventID."""
    ref = rejection.ref
    return ref.partition_key or ref.event_id or ref.sequence_number or "dead-letter"


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def _raw_bytes(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return data.encode("utf-8", "surrogatepass")  # not base64: describe it as given
