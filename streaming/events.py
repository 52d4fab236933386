"""One Kinesis record of a Lambda event -> a validated ``Ride`` or a ``Rejection``.

Pure functions, no I/O. A record that can never be predicted (bad input) becomes
a ``Rejection`` carrying a stable machine-readable ``reason`` and a human
``detail``; the handler sends it to the dead-letter stream. It must never be
reported in ``batchItemFailures``: Lambda would re-send it forever and block
its shard ("Lambda retries the batch from the lowest failed sequence number",
Lambda docs, *Using Lambda with Kinesis: batch item failures*).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from streaming import kpl
from streaming.kinesis_limits import (
    MAX_PARTITION_KEY_CHARS,
    is_valid_partition_key,
    partition_key_length,
)

#: ISO 8601 timestamps are short; anything longer is not one.
MAX_DATETIME_CHARS = 64
#: Arrival timestamps are epoch seconds; keep them inside what ``datetime`` handles.
MAX_EPOCH_SECONDS = 253_402_300_799.0  # 9999-12-31T23:59:59Z
#: TLC zone ids are small positive integers (1-265 today). Ids in this range that
#: the model has never seen are valid (predicted as an unknown zone and counted in
#: ``UnknownZoneShare``); zero, negative and larger ids are not zone ids at all,
#: and an unbounded JSON integer would not even fit the float64 feature matrix.
MIN_LOCATION_ID = 1
MAX_LOCATION_ID = 2**31 - 1
#: The year of ``pickup_datetime`` as written. Two years of margin on each side of
#: ``datetime``'s 1-9999 keep every offset (fromisoformat allows up to +-23:59) and
#: New York's own offset inside the range, so the instant exists both in UTC and in
#: New York local time: the features can always be computed.
MIN_PICKUP_YEAR = 2
MAX_PICKUP_YEAR = 9998
#: A KPL aggregate is one Kinesis record (<= 1 MiB) that may hold ~170,000 tiny user
#: records. Each one costs a prediction or a dead letter to publish, so an unbounded
#: aggregate could need more work than an invocation has time for; its parent would
#: then be reported on every retry and block the shard. An aggregate may hold at most
#: as many user records as Lambda puts in a whole batch (BatchSize <= 10,000) ...
MAX_USER_RECORDS_PER_AGGREGATE = 10_000
#: ... and writes at most this many dead letters; above it, the rejected user records
#: become one dead letter for the parent, carrying the count of each reason.
MAX_DEAD_LETTERS_PER_AGGREGATE = 100


class Reason(StrEnum):
    """Why a record was rejected; stable codes that dead-letter consumers filter on."""

    NOT_A_KINESIS_RECORD = "not_a_kinesis_record"
    INVALID_BASE64 = "invalid_base64"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    INVALID_RIDE = "invalid_ride"
    INVALID_LOCATION_ID = "invalid_location_id"
    INVALID_TRIP_DISTANCE = "invalid_trip_distance"
    INVALID_RIDE_ID = "invalid_ride_id"
    INVALID_PICKUP_DATETIME = "invalid_pickup_datetime"
    MISSING_EVENT_TIME = "missing_event_time"
    #: A KPL aggregate (valid magic and MD5) holding no user records.
    EMPTY_AGGREGATE = "empty_aggregate"
    #: A KPL aggregate with more than ``MAX_USER_RECORDS_PER_AGGREGATE`` user records.
    AGGREGATE_TOO_LARGE = "aggregate_too_large"
    #: More than ``MAX_DEAD_LETTERS_PER_AGGREGATE`` user records of one aggregate were
    #: rejected; one dead letter for the parent carries their count by reason.
    AGGREGATE_TOO_MANY_REJECTS = "aggregate_too_many_rejects"
    #: The model gave NaN or an infinity (never published: it is not JSON).
    PREDICTION_NOT_FINITE = "prediction_not_finite"
    #: The model raised for this one ride (defence in depth; see handler._predict).
    PREDICTION_FAILED = "prediction_failed"


class RecordRef:
    """Where a record came from: enough to report it, de-duplicate it and re-read it.

    Fields are read from the Lambda record when asked for (most are needed only
    for the few records that fail), and a malformed record yields ``None``s.
    """

    __slots__ = ("_partition_key", "index", "record", "sub_sequence_number")

    def __init__(
        self,
        index: int,
        record: Any,
        sub_sequence_number: int | None = None,
        partition_key: str | None = None,
    ) -> None:
        self.index = index  # position in the Lambda batch
        self.record = record if isinstance(record, dict) else {}
        self.sub_sequence_number = sub_sequence_number  # set for KPL user records
        self._partition_key = partition_key  # a KPL user record's own key

    def _kinesis(self) -> dict[str, Any]:
        kinesis = self.record.get("kinesis")
        return kinesis if isinstance(kinesis, dict) else {}

    @property
    def event_id(self) -> str | None:
        """``shardId-000000000000:4959...`` = shard + sequence number."""
        value = self.record.get("eventID")
        return value if isinstance(value, str) else None

    @property
    def sequence_number(self) -> str | None:
        value = self._kinesis().get("sequenceNumber")
        return value if isinstance(value, str) else None

    @property
    def partition_key(self) -> str | None:
        if self._partition_key is not None:
            return self._partition_key
        return self.record_partition_key

    @property
    def record_partition_key(self) -> str | None:
        """The Kinesis record's own key (an aggregate's, for a KPL user record)."""
        value = self._kinesis().get("partitionKey")
        return value if isinstance(value, str) else None

    @property
    def record_data(self) -> str | None:
        """The Kinesis record's data as Lambda delivered it (base64), if a string."""
        value = self._kinesis().get("data")
        return value if isinstance(value, str) else None

    @property
    def arrival_timestamp(self) -> float | None:
        """``approximateArrivalTimestamp`` (epoch seconds) if present and plausible."""
        value = self._kinesis().get("approximateArrivalTimestamp")
        if type(value) in (int, float) and 0.0 <= value <= MAX_EPOCH_SECONDS:
            return float(value)
        return None

    @property
    def event_source_arn(self) -> str | None:
        value = self.record.get("eventSourceARN")
        return value if isinstance(value, str) else None

    @classmethod
    def standalone(cls, index: int, arrival_timestamp: float | None = None) -> RecordRef:
        """A ref for an event that did not come from Kinesis (a file row, an HTTP request):
        its position is ``index``; ``arrival_timestamp`` stands in for the arrival time."""
        kinesis = (
            {} if arrival_timestamp is None else {"approximateArrivalTimestamp": arrival_timestamp}
        )
        return cls(index, {"kinesis": kinesis})

    def user_record(self, sub_sequence_number: int, partition_key: str) -> RecordRef:
        """The ref of one user record of a KPL aggregate in this record."""
        return RecordRef(self.index, self.record, sub_sequence_number, partition_key)

    def source(self) -> dict[str, Any]:
        """The ``source`` key of outputs: what a consumer de-duplicates on."""
        src: dict[str, Any] = {"eventID": self.event_id}
        if self.sub_sequence_number is not None:
            src["subSequenceNumber"] = self.sub_sequence_number
        return src


@dataclass(frozen=True, slots=True)
class Ride:
    """A valid "ride started" event."""

    ride_id: int | str
    pu_location_id: int
    do_location_id: int
    trip_distance: float
    #: ``ride.pickup_datetime`` if sent: naive means New York local time.
    pickup_datetime: datetime | None
    ref: RecordRef

    @property
    def partition_key(self) -> str:
        return str(self.ride_id)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that can never be predicted, and why."""

    reason: Reason
    detail: str
    ref: RecordRef
    #: The record's data exactly as Lambda delivered it (base64), if any; for a
    #: KPL user record, that user record's data (base64), replayable on its own.
    data: str | None
    #: For ``AGGREGATE_TOO_MANY_REJECTS``: how many user records had each reason.
    rejected_reasons: Mapping[str, int] | None = None


class InvalidEvent(Exception):
    """Raised by ``decode_payload`` and the validators: the reason code and the detail
    that every mode (stream, file, HTTP) reports for the same bad input."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN/Infinity, which are not JSON (RFC 8259 section 6).
    raise ValueError(f"{name} is not valid JSON")


# One decoder, built once: json.loads(**kwargs) would rebuild it per record.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN = _JSON.scan_once


def decode_records(records: list[Any]) -> list[Ride | Rejection]:
    """Every ride event of a Lambda Kinesis batch, in order (KPL aggregates unpacked)."""
    out: list[Ride | Rejection] = []
    for index, record in enumerate(records):
        out.extend(decode_record(record, index))
    return out


def decode_record(record: Any, index: int) -> list[Ride | Rejection]:
    """Decode and validate ``Records[index]``: one item, or one per KPL user record.

    Items of an aggregated record keep the parent's ``index`` (a failure is
    reported by the parent's sequence number: Lambda re-sends the whole
    parent) and carry their sub-sequence number in ``ref``.
    """
    ref = RecordRef(index, record)
    data = ref.record_data
    if data is None:
        return [
            Rejection(Reason.NOT_A_KINESIS_RECORD, "record has no kinesis.data string", ref, None)
        ]
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        return [Rejection(Reason.INVALID_BASE64, f"kinesis.data is not base64: {exc}", ref, data)]
    if raw[:4] == kpl.MAGIC:
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


def validate_event(payload: Any, ref: RecordRef) -> Ride | Rejection:
    """Validate an already-decoded ride event (batch files, HTTP): the handler's rules."""
    try:
        return validate_ride(payload, ref)
    except InvalidEvent as exc:
        return Rejection(exc.reason, exc.detail, ref, None)


def decode_json(raw: bytes, ref: RecordRef) -> Ride | Rejection:
    """UTF-8 JSON bytes -> a validated ride (JSON-lines files, HTTP bodies)."""
    return _decode_one(raw, ref, None)


def decode_payload(raw: bytes) -> Any:
    """UTF-8 -> JSON value (any type; the validator checks the shape)."""
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


def validate_ride(payload: Any, ref: RecordRef) -> Ride:
    """Check the ride event's shape and types; raise ``InvalidEvent`` with the first problem.

    The common case - every field present with its usual type - is checked in
    one pass; anything else goes through the field-by-field checks below, which
    say exactly what is wrong.
    """
    if type(payload) is dict:
        ride = payload.get("ride")
        ride_id = payload.get("ride_id")
        if type(ride) is dict:
            pu = ride.get("PULocationID")
            do = ride.get("DOLocationID")
            distance = ride.get("trip_distance")
            pickup = ride.get("pickup_datetime")
            if (
                type(pu) is int
                and type(do) is int
                and MIN_LOCATION_ID <= pu <= MAX_LOCATION_ID
                and MIN_LOCATION_ID <= do <= MAX_LOCATION_ID
                and type(distance) is float
                and 0.0 <= distance < math.inf
                and (
                    (type(ride_id) is int and -_MAX_ID < ride_id < _MAX_ID)
                    or (
                        type(ride_id) is str
                        and 0 < len(ride_id) <= MAX_PARTITION_KEY_CHARS
                        and ride_id.isascii()
                    )
                )
                and (pickup is None or (type(pickup) is str and len(pickup) <= 32))
            ):
                moment = None
                if pickup is not None:
                    try:
                        moment = datetime.fromisoformat(pickup)
                    except ValueError:
                        moment = _INVALID_TIME
                    else:
                        if not MIN_PICKUP_YEAR <= moment.year <= MAX_PICKUP_YEAR:
                            moment = _INVALID_TIME
                if moment is not _INVALID_TIME and (
                    moment is not None or ref.arrival_timestamp is not None
                ):
                    return Ride(ride_id, pu, do, distance, moment, ref)
    return _validate_slowly(payload, ref)


#: |ride_id| below this has at most 255 digits, so str(ride_id) fits a partition key
_MAX_ID = 10**255
_INVALID_TIME = object()


def _validate_slowly(payload: Any, ref: RecordRef) -> Ride:
    if not isinstance(payload, dict):
        raise InvalidEvent(
            Reason.NOT_AN_OBJECT, f"event must be a JSON object, got {_json_type(payload)}"
        )
    ride = payload.get("ride")
    if not isinstance(ride, dict):
        what = "missing" if ride is None else f"a {_json_type(ride)}"
        raise InvalidEvent(Reason.INVALID_RIDE, f"'ride' must be an object, got {what}")
    pu = _location_id(ride, "PULocationID")
    do = _location_id(ride, "DOLocationID")
    distance = _trip_distance(ride)
    ride_id = _ride_id(payload)
    pickup = _pickup_datetime(ride)
    if pickup is None and ref.arrival_timestamp is None:
        raise InvalidEvent(
            Reason.MISSING_EVENT_TIME,
            "ride.pickup_datetime is missing and the event carries no arrival time to use "
            "instead; send pickup_datetime",
        )
    return Ride(ride_id, pu, do, distance, pickup, ref)


def _location_id(ride: dict[str, Any], field: str) -> int:
    value = ride.get(field)
    if type(value) is int:  # bool is a subclass of int: `type is` excludes it
        if MIN_LOCATION_ID <= value <= MAX_LOCATION_ID:
            return value
        raise InvalidEvent(
            Reason.INVALID_LOCATION_ID,
            f"ride.{field} must be an integer from {MIN_LOCATION_ID} to {MAX_LOCATION_ID}, "
            f"got {_short(value)}",
        )
    if value is None and field not in ride:
        raise InvalidEvent(Reason.INVALID_LOCATION_ID, f"ride.{field} is missing")
    raise InvalidEvent(
        Reason.INVALID_LOCATION_ID,
        f"ride.{field} must be an integer, got {_json_type(value)} {_short(value)}",
    )


def _trip_distance(ride: dict[str, Any]) -> float:
    value = ride.get("trip_distance")
    if type(value) not in (int, float):
        what = "missing" if "trip_distance" not in ride else _json_type(value)
        raise InvalidEvent(
            Reason.INVALID_TRIP_DISTANCE, f"ride.trip_distance must be a number, got {what}"
        )
    try:
        distance = float(value)
    except OverflowError:  # an integer too large for a float
        distance = math.inf
    if not math.isfinite(distance) or distance < 0:
        raise InvalidEvent(
            Reason.INVALID_TRIP_DISTANCE,
            f"ride.trip_distance must be finite and >= 0, got {value!r}",
        )
    return distance


def _ride_id(payload: dict[str, Any]) -> int | str:
    value = payload.get("ride_id")
    if type(value) is int:
        if len(str(value)) > MAX_PARTITION_KEY_CHARS:
            raise InvalidEvent(
                Reason.INVALID_RIDE_ID,
                f"ride_id has more than {MAX_PARTITION_KEY_CHARS} digits",
            )
        return value
    if isinstance(value, str):
        if not value:
            raise InvalidEvent(Reason.INVALID_RIDE_ID, "ride_id must not be empty")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent(
                Reason.INVALID_RIDE_ID, "ride_id contains a lone surrogate (not Unicode)"
            ) from None
        if not is_valid_partition_key(value):
            raise InvalidEvent(
                Reason.INVALID_RIDE_ID,
                f"ride_id is {partition_key_length(value)} characters (UTF-16); a Kinesis "
                f"partition key allows {MAX_PARTITION_KEY_CHARS}",
            )
        return value
    what = "missing" if "ride_id" not in payload else _json_type(value)
    raise InvalidEvent(
        Reason.INVALID_RIDE_ID, f"ride_id must be an integer or a non-empty string, got {what}"
    )


def _pickup_datetime(ride: dict[str, Any]) -> datetime | None:
    value = ride.get("pickup_datetime")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DATETIME_CHARS:
        raise InvalidEvent(
            Reason.INVALID_PICKUP_DATETIME,
            f"ride.pickup_datetime must be an ISO 8601 string, got {_json_type(value)}",
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(
            Reason.INVALID_PICKUP_DATETIME,
            f"ride.pickup_datetime {_short(value)} is not ISO 8601",
        ) from None
    if not MIN_PICKUP_YEAR <= moment.year <= MAX_PICKUP_YEAR:
        raise InvalidEvent(
            Reason.INVALID_PICKUP_DATETIME,
            f"ride.pickup_datetime {_short(value)} is outside years "
            f"{MIN_PICKUP_YEAR}-{MAX_PICKUP_YEAR}",
        )
    return moment


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
