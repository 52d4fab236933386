"""A TLC date-time column (pickup, drop-off) read so that no value can raise.

Timestamps of any unit, with or without a time zone, become ISO 8601 text for
the stream's validator (naive = New York local time, as TLC writes it; aware =
that instant, written in UTC); values beyond ``datetime``'s years 1-9999 are
rejects with their reason, never an exception. String columns are passed on as
they are (a value that is not UTF-8 is a reject). ``durations`` gives the
drop-off minus the pickup, where both are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streaming.consumer.records import Reason
from streaming.consumer.validate import MAX_PICKUP_YEAR, MIN_PICKUP_YEAR

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: ``datetime``'s range (years 1-9999) in seconds from 1970-01-01.
_MIN_EPOCH_S = -62_135_596_800
_END_EPOCH_S = 253_402_300_800  # 10000-01-01T00:00:00
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_UNIT_NAME = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
#: Longer strings are not date-times (the validator's own limit is shorter).
_MAX_DATETIME_CHARS = 64


@dataclass
class Times:
    """A date-time column, read so that no value can raise."""

    #: ISO 8601 text per row for the validator (a string column's own text); None = null
    text: list[Any]
    #: rows whose value is no date-time at all: row -> (reason, detail)
    problems: dict[int, tuple[Reason, str]]
    #: timestamp columns: microseconds from 1970-01-01 (UTC if ``aware``, else wall
    #: clock), 0 where not ``usable``
    micros: Any = None
    usable: Any = None
    aware: bool = False


def null_times(n: int) -> Times:
    """A column of nulls: no pickup time in any row."""
    return Times([None] * n, {})


def string_times(column: Any) -> Times:
    """A string column's values as they are, for the validator to parse. A parquet file
    may hold bytes that are not UTF-8 in a string column: such a value is rejected."""
    import pyarrow as pa

    try:
        return Times(column.to_pylist(), {})
    except UnicodeDecodeError:
        pass
    text: list[Any] = []
    problems: dict[int, tuple[Reason, str]] = {}
    for i, raw in enumerate(column.cast(pa.large_binary()).to_pylist()):
        try:
            text.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            text.append(raw.decode("utf-8", "replace"))
            problems[i] = (
                Reason.INVALID_PICKUP_DATETIME,
                f"ride.pickup_datetime is not UTF-8 text: {exc}",
            )
    return Times(text, problems)


def timestamp_times(column: Any) -> Times:
    """A timestamp column of any unit, with or without a time zone -> ISO 8601 text.

    Values are read as int64 counts of the column's unit (never raises, unlike
    ``as_py()`` beyond year 9999), bounded to ``datetime``'s years 1-9999 and
    formatted by numpy. Nanoseconds are floored to microseconds (Python's and the
    validator's resolution). An aware column's values are written in UTC (``Z``):
    the same instant; the validator converts it to New York time.
    """
    import numpy as np
    import pyarrow as pa

    unit = column.type.unit
    aware = column.type.tz is not None
    per_second = _PER_SECOND[unit]
    counts = column.cast(pa.int64())
    if counts.null_count:
        valid = counts.is_valid().to_numpy(zero_copy_only=False)
        values = counts.fill_null(0).to_numpy()
    else:
        valid = None
        values = counts.to_numpy()
    lo, hi = _MIN_EPOCH_S * per_second, _END_EPOCH_S * per_second - 1  # Python ints
    in_range = (values >= max(lo, _INT64_MIN)) & (values <= min(hi, _INT64_MAX))
    usable = in_range if valid is None else in_range & valid
    all_usable = bool(usable.all())
    counts_ok = values if all_usable else np.where(usable, values, 0)
    if per_second >= 1_000_000:
        micros = counts_ok // (per_second // 1_000_000)
    else:
        micros = counts_ok * (1_000_000 // per_second)
    whole_seconds = not (micros % 1_000_000).any()
    text = np.datetime_as_string(
        micros.astype("datetime64[us]"),
        unit="s" if whole_seconds else "us",
        timezone="UTC" if aware else "naive",
    ).tolist()
    problems: dict[int, tuple[Reason, str]] = {}
    if not all_usable:
        for i in np.flatnonzero(~usable).tolist():
            if valid is not None and not valid[i]:
                text[i] = None  # null: the validator says what is missing
                continue
            raw = int(values[i])
            text[i] = f"{column.type} {raw}"
            problems[i] = (
                Reason.INVALID_PICKUP_DATETIME,
                f"ride.pickup_datetime {raw} {_UNIT_NAME[unit]} from 1970-01-01"
                f"{' UTC' if aware else ''} is outside years {MIN_PICKUP_YEAR}-{MAX_PICKUP_YEAR}",
            )
    return Times(text, problems, micros, usable, aware)


def durations(pickup: Times, dropoff: Times | None, n: int) -> list[float | None]:
    """Drop-off minus pickup in minutes per row (``actual_duration``), None when unknown:
    a value missing or unusable, or one time zone-aware and the other not."""
    if dropoff is None:
        return [None] * n
    if pickup.micros is not None and dropoff.micros is not None:
        if pickup.aware != dropoff.aware:
            return [None] * n
        minutes = ((dropoff.micros - pickup.micros) / 1e6 / 60.0).tolist()
        both = pickup.usable & dropoff.usable
        if both.all():
            return minutes
        return [m if ok else None for m, ok in zip(minutes, both.tolist(), strict=True)]
    return [
        _minutes_between(_parse_time(p), _parse_time(d))
        for p, d in zip(pickup.text, dropoff.text, strict=True)
    ]


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or len(text) > _MAX_DATETIME_CHARS:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    try:
        return (end - start).total_seconds() / 60.0
    except (TypeError, OverflowError):  # naive vs aware; beyond timedelta
        return None
