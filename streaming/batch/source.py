"""Read one day of rides from the input table, in chunks, as rows for scoring.

Rows come in the order of (pickup time, ride id), ``chunk_rows`` at a time from a
server-side cursor on PostgreSQL (``stream_results``), so a day of millions of
rides runs in bounded memory. The day is bounded on the column itself
(``pickup >= day AND pickup < next day``) so an index on it is used.

Each stored value becomes what the stream's validator reads in a ride event
(``to_row``, pure): a timestamp as ISO 8601 text (naive = New York local time,
as stored; aware = that instant), an integral number as an int, a decimal as a
float. Nothing else is changed, so a bad value is rejected with the stream's
reason, never raised: the input table belongs to someone else, and hostile
input is normal input.

On SQLite, timestamps are text; the day's bounds are bound as ``YYYY-MM-DD``
text, which sorts before every time of that day in both ``2021-01-15 08:00:00``
and ``2021-01-15T08:00:00`` spellings. On PostgreSQL the session's time zone is
New York's, so a ``timestamptz`` column is cut at New York midnight too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, literal

from streaming.batch.days import ServiceDay
from streaming.batch.input_table import InputSpec
from streaming.consumer.features import NEW_YORK
from streaming.consumer.records import Reason
from streaming.serving.rows import Row

DEFAULT_CHUNK_ROWS = 10_000
#: longer text is not a date-time (the validator's own limit is shorter)
_MAX_TIME_CHARS = 64


@dataclass
class DayRow:
    """One row read for scoring, with what the outputs need besides the ride."""

    row: Row
    #: the pickup as New York wall-clock time (None when the stored value is no time)
    pickup_local: datetime | None


def read_day(
    conn: Connection, spec: InputSpec, day: ServiceDay, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[list[DayRow]]:
    """The day's rides in chunks of at most ``chunk_rows``; row numbers count from 0."""
    source = spec.clause()
    pickup = source.c[spec.name_of("pickup_datetime")]
    ride_id = source.c[spec.name_of("ride_id")]
    if conn.dialect.name == "sqlite":
        low, high = literal(day.day.isoformat()), literal(day.end.date().isoformat())
    else:
        low, high = literal(day.start), literal(day.end)
    query = source.select().where(and_(pickup >= low, pickup < high)).order_by(pickup, ride_id)
    result = conn.execute(
        query, execution_options={"stream_results": True, "yield_per": chunk_rows}
    )
    roles = [spec.role_of(c.name) for c in source.columns]
    first = 0
    for chunk in result.partitions(chunk_rows):
        rows = [
            to_row(first + i, dict(zip(roles, values, strict=True)))
            for i, values in enumerate(chunk)
        ]
        first += len(rows)
        yield rows


def to_row(number: int, values: dict[str, Any]) -> DayRow:
    """One stored row (values by role) -> the ride event the stream would get, and its
    actual duration when the drop-off is known. Pure; never raises."""
    pickup = values.get("pickup_datetime")
    event = {
        "ride": {
            "PULocationID": zone_id(values.get("pu_location_id")),
            "DOLocationID": zone_id(values.get("do_location_id")),
            "trip_distance": distance(values.get("trip_distance")),
            "pickup_datetime": time_text(pickup),
        },
        "ride_id": ride_id(values.get("ride_id")),
    }
    local = local_time(pickup)
    actual = minutes_between(local, local_time(values.get("dropoff_datetime")))
    return DayRow(Row(number, event, actual, _pickup_problem(pickup)), local)


def _pickup_problem(pickup: Any) -> tuple[Reason, str] | None:
    """A batch row must say when the ride started: without a time (null, or a date
    with no time of day) the stream would use the invocation time, which for a day
    scored later is not the ride's hour. Such a row is rejected."""
    if pickup is None:
        return Reason.INVALID_PICKUP_DATETIME, "ride.pickup_datetime is missing"
    if isinstance(pickup, date) and not isinstance(pickup, datetime):
        return (
            Reason.INVALID_PICKUP_DATETIME,
            "ride.pickup_datetime is a date with no time of day (the pickup hour is a feature)",
        )
    return None


def zone_id(value: Any) -> Any:
    """An integral number as an int (a zone column may be numeric or float); anything
    else as it is, for the validator to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if _integral(value):
        return int(value)
    return _plain(value)


def distance(value: Any) -> Any:
    """A decimal as a float; anything else as it is."""
    if isinstance(value, Decimal):
        if value.is_snan():  # float() raises on a signaling NaN
            return str(value)
        return float(value)  # NaN and infinities stay what they are: the validator says no
    return _plain(value)


def ride_id(value: Any) -> Any:
    """An integral decimal as an int; anything else as it is."""
    if _integral(value):
        return int(value)
    return _plain(value)


def _integral(value: Any) -> bool:
    """A finite decimal holding a whole number of at most 64 bits (larger ones stay
    decimal, so ``int()`` never builds a million-digit number from ``1E+999999``)."""
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and abs(value) < 2**63
        and value == value.to_integral_value()
    )


def time_text(value: Any) -> Any:
    """A timestamp as ISO 8601 (naive stays naive: New York local time); text as it is."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return None  # a date is not a pickup time
    return _plain(value)


def local_time(value: Any) -> datetime | None:
    """A stored time as a naive New York wall-clock time, or None if it is not one."""
    if isinstance(value, str) and len(value) <= _MAX_TIME_CHARS:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(NEW_YORK).replace(tzinfo=None)
    except (OverflowError, ValueError):
        return None


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    """Wall-clock minutes from ``start`` to ``end`` (None if either is unknown).

    Wall-clock, as TLC's own durations and the training data are: a ride across
    the fall-back hour reads an hour shorter than it was, as it does there."""
    if start is None or end is None:
        return None
    minutes = (end - start).total_seconds() / 60.0
    return minutes if math.isfinite(minutes) else None


def _plain(value: Any) -> Any:
    """Driver types the validator would not know (memoryview, UUID, ...) as text, so
    the reject says what the value was; JSON-like values as they are."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
