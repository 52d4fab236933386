"""A rejected record -> the dead-letter event that keeps it recoverable.

The dead letter says why (``reason`` code + ``detail``), where the record came
from (``source``: eventID = shard + sequence number, plus the stream ARN and
arrival time) and what it was: the original base64 data when the dead letter
still fits Kinesis' 1 MiB record limit, else its size and sha256, so it can be
re-read from the input stream by sequence number while retention lasts.

Every field copied from the input record is bounded and valid Unicode, and the
partition key is always one Kinesis accepts: a dead letter that could not be
written would be reported to Lambda on every retry and block its shard.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from streaming.consumer.encoding import compact_json
from streaming.consumer.kinesis_limits import MAX_BYTES_PER_RECORD, is_valid_partition_key
from streaming.consumer.records import Rejection

SCHEMA = "ride-dead-letter/v1"
#: Metadata strings copied from the record (real ones are far shorter: partition
#: keys <= 256, sequence numbers <= 128, ARNs <= 2048 characters).
MAX_FIELD_CHARS = 2048
#: The reason's detail is a sentence; a longer one is cut.
MAX_DETAIL_CHARS = 1000
FALLBACK_PARTITION_KEY = "dead-letter"


def dead_letter_event(rejection: Rejection, *, version: str) -> dict[str, Any]:
    """The dead letter for ``rejection``, with the original data if it fits."""
    ref = rejection.ref
    source = ref.source()
    source["eventID"] = _text(source["eventID"])
    event: dict[str, Any] = {
        "schema": SCHEMA,
        "reason": rejection.reason.value,
        "detail": _text(rejection.detail, MAX_DETAIL_CHARS) or rejection.reason.value,
        "source": source,
        "sequenceNumber": _text(ref.sequence_number),
        "partitionKey": _text(ref.partition_key),
        "eventSourceARN": _text(ref.event_source_arn),
        "approximateArrivalTimestamp": ref.arrival_timestamp,
        "modelVersion": version,
    }
    if rejection.rejected_reasons is not None:
        event["rejected"] = {
            "count": sum(rejection.rejected_reasons.values()),
            "reasons": dict(rejection.rejected_reasons),
        }
    if rejection.data is not None:
        event["data"] = rejection.data
        if len(compact_json(event)) + len(partition_key(rejection).encode()) > MAX_BYTES_PER_RECORD:
            del event["data"]
            raw = _raw_bytes(rejection.data)
            event["size"] = len(raw)
            event["sha256"] = hashlib.sha256(raw).hexdigest()
    return event


def partition_key(rejection: Rejection) -> str:
    """Keep the input's partition key (same shard locality) when Kinesis accepts it;
    else the Kinesis record's own key (a KPL user record's may be anything), the
    eventID, the sequence number, or a constant: always a valid key."""
    ref = rejection.ref
    for key in (ref.partition_key, ref.record_partition_key, ref.event_id, ref.sequence_number):
        if is_valid_partition_key(key):
            return key  # type: ignore[return-value]
    return FALLBACK_PARTITION_KEY


def _text(value: str | None, limit: int = MAX_FIELD_CHARS) -> str | None:
    """A copied string made safe to publish: valid Unicode, at most ``limit`` characters."""
    if value is None:
        return None
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


def _raw_bytes(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return data.encode("utf-8", "surrogatepass")  # not base64: describe it as given
