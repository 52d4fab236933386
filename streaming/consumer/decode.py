"""The records of a Lambda Kinesis batch -> validated ``Ride`` or ``Rejection`` items.

Pure. base64 -> (KPL aggregate ->) UTF-8 JSON -> ``validate``. Every input
record yields at least one item, and a KPL aggregate at most a bounded number,
so one record can neither vanish nor need more work than an invocation has.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from streaming.consumer import kpl
from streaming.consumer.records import InvalidEvent, Reason, RecordRef, Rejection, Ride
from streaming.consumer.validate import validate_ride

#: A KPL aggregate is one Kinesis record (<= 1 MiB) that may hold ~170,000 tiny user
#: records. Each one costs a prediction or a dead letter to publish, so an unbounded
#: aggregate could need more work than an invocation has time for; its parent would
#: then be reported on every retry and block the shard. An aggregate may hold at most
#: as many user records as Lambda puts in a whole batch (BatchSize <= 10,000) ...
MAX_USER_RECORDS_PER_AGGREGATE = 10_000
#: ... and writes at most this many dead letters; above it, the rejected user records
#: become one dead letter for the parent, carrying the count of each reason.
MAX_DEAD_LETTERS_PER_AGGREGATE = 100


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN/Infinity, which are not JSON (RFC 8259 section 6).
    raise ValueError(f"{name} is not valid JSON")


# One decoder, built once: json.loads(**kwargs) would rebuild it per record.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN = _JSON.scan_once


def decode_records(
    records: list[Any], invocation_time: float | None = None, *, start: int = 0
) -> list[Ride | Rejection]:
    """Every ride event of a Lambda Kinesis batch, in order (KPL aggregates unpacked).

    ``invocation_time`` (epoch seconds) is the pickup time of a ride whose event
    has neither ``pickup_datetime`` nor an arrival time (``RecordRef.event_epoch``).
    ``start``: the index in the batch of ``records[0]``, when they are a slice of it.
    """
    out: list[Ride | Rejection] = []
    for index, record in enumerate(records, start):
        out.extend(decode_record(record, index, invocation_time))
    return out


def decode_record(
    record: Any, index: int, invocation_time: float | None = None
) -> list[Ride | Rejection]:
    """Decode and validate ``Records[index]``: one item, or one per KPL user record.

    Items of an aggregated record keep the parent's ``index`` (a failure is
    reported by the parent's sequence number: Lambda re-sends the whole
    parent) and carry their sub-sequence number in ``ref``.
    """
    ref = RecordRef(index, record, invocation_time=invocation_time)
    data = ref.record_data
    if data is None:
        return [
            Rejection(Reason.NOT_A_KINESIS_RECORD, "record has no kinesis.data string", ref, None)
        ]
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        return [Rejection(Reason.INVALID_BASE64, f"kinesis.data is not base64: {exc}", ref, data)]
    if kpl.is_aggregated(raw):
        users = kpl.deaggregate(raw, max_records=MAX_USER_RECORDS_PER_AGGREGATE)
        if users is not None:
            return _decode_aggregate(users, ref, data)
    return [_decode_one(raw, ref, data)]


def _decode_aggregate(
    users: list[kpl.UserRecord] | kpl.TooManyRecords, ref: RecordRef, data: str
) -> list[Ride | Rejection]:
    """The user records of one KPL aggregate, each accounted for, the work bounded.

    Whatever the aggregate holds, it yields at least one item (an empty one is
    dead-lettered, not silently dropped) and at most ``MAX_USER_RECORDS_PER_AGGREGATE``
    rides plus ``MAX_DEAD_LETTERS_PER_AGGREGATE`` dead letters. Replaying the dead
    letter of a whole parent re-sends its good user records too: consumers see their
    predictions again and drop them by ``source`` (eventID + subSequenceNumber).
    """
    if isinstance(users, kpl.TooManyRecords):
        detail = (
            f"the KPL aggregate holds more than {MAX_USER_RECORDS_PER_AGGREGATE} user "
            "records, more than one invocation handles; the whole record is kept"
        )
        return [Rejection(Reason.AGGREGATE_TOO_LARGE, detail, ref, data)]
    if not users:
        detail = "the KPL aggregate holds no user records"
        return [Rejection(Reason.EMPTY_AGGREGATE, detail, ref, data)]
    items = [
        _decode_one(u.data, ref.user_record(i, u.partition_key), None) for i, u in enumerate(users)
    ]
    rejected = [item for item in items if isinstance(item, Rejection)]
    if len(rejected) <= MAX_DEAD_LETTERS_PER_AGGREGATE:
        return items
    reasons = Counter(r.reason.value for r in rejected)
    detail = (
        f"{len(rejected)} of the {len(users)} user records of this KPL aggregate were "
        f"rejected (more than {MAX_DEAD_LETTERS_PER_AGGREGATE} get one dead letter for the "
        f"whole record); first: subSequenceNumber {rejected[0].ref.sub_sequence_number}, "
        f"{rejected[0].detail}"
    )
    summary = Rejection(Reason.AGGREGATE_TOO_MANY_REJECTS, detail, ref, data, dict(reasons))
    return [*(item for item in items if isinstance(item, Ride)), summary]


def _decode_one(raw: bytes, ref: RecordRef, data: str | None) -> Ride | Rejection:
    try:
        return validate_ride(decode_payload(raw), ref)
    except InvalidEvent as exc:
        original = data if data is not None else base64.b64encode(raw).decode("ascii")
        return Rejection(exc.reason, exc.detail, ref, original)


def decode_json(raw: bytes, ref: RecordRef) -> Ride | Rejection:
    """UTF-8 JSON bytes -> a validated ride (JSON-lines files, HTTP bodies)."""
    return _decode_one(raw, ref, None)


def _msgspec_decoder() -> Callable[[bytes], Any] | None:
    """msgspec's JSON decoder (untyped), or None where msgspec is not installed."""
    try:
        import msgspec
    except ImportError:
        return None
    return msgspec.json.Decoder().decode


_FAST_DECODE = _msgspec_decoder()


def decode_payload(raw: bytes) -> Any:
    """UTF-8 JSON bytes -> value (any type; the validator checks the shape).

    msgspec parses first, and whatever it refuses goes to ``decode_payload_stdlib``,
    which decides every refusal: the same reasons and words as before, whatever
    msgspec's own message. Why: msgspec took 24% off ``decode_records`` (15.0 ms per
    10,000 records; 13% of a TEST_RUN batch) for 5.8 ms of import after the rest of
    the init and 0.23 MB of zip, and with this fallback every poison-proof property
    test passed unchanged and every handler probe answered as the stdlib does
    (bench/JSON.md). Where msgspec accepts a document,
    its value is the stdlib's: the same integers (beyond 64 bits too, up to
    Python's 4,300-digit limit), floats, strings and last-wins duplicate keys; it
    refuses what the stdlib would turn into something else (NaN and Infinity
    literals, ``1e400``, lone surrogates, a BOM), so those take the stdlib path.
    """
    if _FAST_DECODE is not None:
        try:
            return _FAST_DECODE(raw)
        except Exception:  # DecodeError, ValidationError, UnicodeDecodeError, RecursionError
            pass
    return decode_payload_stdlib(raw)


def decode_payload_stdlib(raw: bytes) -> Any:
    """UTF-8 -> JSON value with the standard library, and every refusal's reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(Reason.INVALID_UTF8, f"the event is not UTF-8 text: {exc}") from None
    try:
        # Fast path: the C scanner alone, when the text is exactly one JSON value
        # (decode() adds two regex whitespace scans around the same call).
        value, end = _SCAN(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError, RecursionError):
        pass
    try:  # the full decoder: surrounding whitespace, and its error messages
        return _JSON.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(Reason.INVALID_JSON, f"the event is not JSON: {exc}") from None
