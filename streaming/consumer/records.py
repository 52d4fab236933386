"""A Lambda Kinesis record and what it becomes: a ``Ride`` or a ``Rejection``.

The types every step of the batch shares. A record that can never be predicted
(bad input) becomes a ``Rejection`` carrying a stable machine-readable
``reason`` and a human ``detail``; the handler sends it to the dead-letter
stream. It must never be reported in ``batchItemFailures``: Lambda would
re-send it forever and block its shard ("Lambda retries the batch from the
lowest failed sequence number", Lambda docs, *Using Lambda with Kinesis: batch
item failures*). ``RecordRef`` remembers where an item came from: enough to
report it, de-duplicate it and re-read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: Arrival timestamps are epoch seconds; keep them inside what ``datetime`` handles.
MAX_EPOCH_SECONDS = 253_402_300_799.0  # 9999-12-31T23:59:59Z


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

    __slots__ = ("_partition_key", "index", "invocation_time", "record", "sub_sequence_number")

    def __init__(
        self,
        index: int,
        record: Any,
        sub_sequence_number: int | None = None,
        partition_key: str | None = None,
        invocation_time: float | None = None,
    ) -> None:
        self.index = index  # position in the Lambda batch
        self.record = record if isinstance(record, dict) else {}
        self.sub_sequence_number = sub_sequence_number  # set for KPL user records
        self._partition_key = partition_key  # a KPL user record's own key
        #: when the handler (or a request, or a scoring run) took the record: the
        #: last resort for the pickup time (see ``event_epoch``)
        self.invocation_time = invocation_time

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
    def event_epoch(self) -> float | None:
        """The pickup time to use when the event has no ``pickup_datetime``.

        One rule for the stream, the web service and batch scoring: the record's
        arrival time (the backend writes the event as the ride starts), else the
        invocation time - when the handler, the request or the scoring run took
        it. The course's own unit-test event has neither a pickup time nor an
        arrival time, and is predicted with the invocation time; the output says
        so (``uses_invocation_time``).
        """
        arrival = self.arrival_timestamp
        return arrival if arrival is not None else self.invocation_time

    @property
    def uses_invocation_time(self) -> bool:
        return self.arrival_timestamp is None and self.invocation_time is not None

    @property
    def event_source_arn(self) -> str | None:
        value = self.record.get("eventSourceARN")
        return value if isinstance(value, str) else None

    @classmethod
    def standalone(cls, index: int, invocation_time: float | None = None) -> RecordRef:
        """A ref for an event that did not come from Kinesis (a file row, an HTTP request):
        its position is ``index``; it has no arrival time, so a ride without
        ``pickup_datetime`` starts at ``invocation_time`` (the request's or the run's)."""
        return cls(index, {}, invocation_time=invocation_time)

    def user_record(self, sub_sequence_number: int, partition_key: str) -> RecordRef:
        """The ref of one user record of a KPL aggregate in this record."""
        return RecordRef(
            self.index, self.record, sub_sequence_number, partition_key, self.invocation_time
        )

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
