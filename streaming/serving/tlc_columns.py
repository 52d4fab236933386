"""A TLC trip file (parquet) -> rows of ride events, its columns read safely.

The file and its columns are checked before the first row (a missing column, a
column of a type that cannot hold its values: ``ScoreError``); after that, a
bad value makes only its row a reject. ``ride_id`` is the row number in the
file (the rule of every tool). Rows are read in chunks (parquet row batches),
so memory stays flat whatever the file's size.

Column types. Pickup: a timestamp without a time zone is New York local time
(as TLC writes it); with a time zone it is that instant; ISO 8601 strings are
read by the stream's validator (naive = New York local time); any unit (s, ms,
us, ns). A null pickup has no pickup time: the ride starts at the run's start.
A date column is refused: it has no time of day, and the pickup hour is a model
feature. Zone ids: integers, or floats/decimals holding integers. Distance:
numbers. A column of any other type is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from streaming.serving.errors import ScoreError
from streaming.serving.locations import explain, io_errors, reading
from streaming.serving.rows import Row
from streaming.serving.tlc_times import (
    Times,
    durations,
    null_times,
    string_times,
    timestamp_times,
)

PICKUP = "lpep_pickup_datetime"
DROPOFF = "lpep_dropoff_datetime"
TLC_COLUMNS = [PICKUP, DROPOFF, "PULocationID", "DOLocationID", "trip_distance"]
#: Every TLC column but the drop-off time (used only for ``actual_duration``).
REQUIRED_COLUMNS = [PICKUP, "PULocationID", "DOLocationID", "trip_distance"]


class TlcFile:
    """An open TLC parquet file whose columns were checked: its row count, and its rows."""

    def __init__(self, path: Path, uri: str | None = None) -> None:
        import pyarrow.parquet as pq

        self.uri = uri or str(path)
        try:
            self.parquet = pq.ParquetFile(path)
            schema = self.parquet.schema_arrow
        except io_errors() as exc:
            why = explain(exc, self.uri)
            raise ScoreError(f"cannot read {self.uri} as parquet: {why}") from exc
        self.columns = check_columns(schema, self.uri)
        #: from the file's metadata: known before a row is read
        self.num_rows: int = self.parquet.metadata.num_rows

    def chunks(self, chunk_rows: int) -> Iterator[list[Row]]:
        batches = self.parquet.iter_batches(batch_size=chunk_rows, columns=self.columns)
        return _tlc_chunks(reading(batches, self.uri))


def tlc_rows(path: Path, chunk_rows: int, uri: str | None = None) -> Iterator[list[Row]]:
    """A TLC parquet file in chunks of rows. The file and its columns are checked here,
    before the first chunk (``ScoreError``); a bad value makes only its row a reject."""
    return TlcFile(path, uri).chunks(chunk_rows)


def _kind(arrow_type: Any) -> str:
    """How a column's values are read: int, float, decimal, timestamp, string, date,
    null - or ``other`` (a type that can never hold a value of the column)."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    types = pa.types
    if types.is_integer(t):
        return "int"
    if types.is_floating(t):
        return "float"
    if types.is_decimal(t):
        return "decimal"
    if types.is_timestamp(t):
        return "timestamp"
    if types.is_string(t) or types.is_large_string(t) or types.is_string_view(t):
        return "string"
    if types.is_date(t):
        return "date"
    if types.is_null(t):
        return "null"
    return "other"


_NUMBERS = {"int", "float", "decimal", "null"}
_DATETIMES = {"timestamp", "string", "null"}
_ACCEPTED = {
    PICKUP: (_DATETIMES, "a timestamp (no time zone = New York local time) or ISO 8601 strings"),
    DROPOFF: (_DATETIMES, "a timestamp or ISO 8601 strings (or leave the column out)"),
    "PULocationID": (_NUMBERS, "integer zone ids"),
    "DOLocationID": (_NUMBERS, "integer zone ids"),
    "trip_distance": (_NUMBERS, "numbers (miles)"),
}


def check_columns(schema: Any, uri: str) -> list[str]:
    """The TLC columns to read; ``ScoreError`` if one is missing or of an unusable type."""
    names = set(schema.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ScoreError(
            f"{uri} has no column {', '.join(missing)}: a TLC trip file has "
            f"{', '.join(REQUIRED_COLUMNS)} (ride events go in a JSON-lines file)"
        )
    columns = [c for c in TLC_COLUMNS if c in names]
    for name in columns:
        if schema.names.count(name) > 1:
            raise ScoreError(f"{uri} has {schema.names.count(name)} columns named {name}; keep one")
        arrow_type = schema.field(name).type
        kind = _kind(arrow_type)
        accepted, expected = _ACCEPTED[name]
        if kind == "date" and name == PICKUP:
            raise ScoreError(
                f"{uri}: column {name} is {arrow_type}, a date without a time of day, but the "
                "pickup hour is a model feature: store a timestamp (New York local time)"
            )
        if kind not in accepted:
            raise ScoreError(f"{uri}: column {name} is {arrow_type}; expected {expected}")
    return columns


def _tlc_chunks(batches: Iterable[Any]) -> Iterator[list[Row]]:
    first = 0
    for batch in batches:
        yield _tlc_chunk(batch, first)
        first += batch.num_rows


def _tlc_chunk(batch: Any, first: int) -> list[Row]:
    n = batch.num_rows
    cols = {name: _decoded(batch.column(name)) for name in batch.schema.names}
    pickup = _times(cols[PICKUP])
    dropoff = _times(cols[DROPOFF]) if DROPOFF in cols else None
    actual = durations(pickup, dropoff, n)
    pu = _zone_ids(cols["PULocationID"])
    do = _zone_ids(cols["DOLocationID"])
    distance = _numbers(cols["trip_distance"])
    problems = pickup.problems
    rows = []
    for i, (p, d, km, t, a) in enumerate(zip(pu, do, distance, pickup.text, actual, strict=True)):
        row = first + i
        rows.append(
            Row(
                row,
                {
                    "ride": {
                        "PULocationID": p,
                        "DOLocationID": d,
                        "trip_distance": km,
                        "pickup_datetime": t,
                    },
                    "ride_id": row,
                },
                a,
                problems.get(i) if problems else None,
            )
        )
    return rows


def _decoded(column: Any) -> Any:
    import pyarrow as pa

    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _zone_ids(column: Any) -> list[Any]:
    """Zone ids as Python values for the validator to judge. Integer columns give ints;
    a float or decimal holding an integer (130.0: a zone column with nulls turns float)
    gives that int; anything else (1.5, NaN, inf, null) is passed on as is."""
    kind = _kind(column.type)
    if kind == "int":
        return column.to_pylist()
    if kind == "null":
        return [None] * len(column)
    values = column.to_pylist()
    if kind == "float":
        return [_zone_id(v) for v in values]
    return [_decimal_zone_id(v) for v in values]


def _zone_id(value: Any) -> Any:
    """A zone column stored as floats (a parquet column with nulls) holds integers:
    130.0 is zone 130. Anything else is passed on for validation to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _decimal_zone_id(value: Any) -> Any:
    if value is None:
        return None
    numerator, denominator = value.as_integer_ratio()
    return numerator if denominator == 1 else float(value)


def _numbers(column: Any) -> list[Any]:
    """Trip distances as Python ints/floats (decimals as floats) for the validator."""
    kind = _kind(column.type)
    if kind == "null":
        return [None] * len(column)
    values = column.to_pylist()
    if kind == "decimal":
        return [None if v is None else float(v) for v in values]
    return values


def _times(column: Any) -> Times:
    kind = _kind(column.type)
    if kind == "null":
        return null_times(len(column))
    if kind == "string":
        return string_times(column)
    return timestamp_times(column)
