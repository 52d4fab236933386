"""``streaming batch import-tlc``: a TLC month into the ``rides`` table, for the local
batch job and its tests.

The columns are the batch job's defaults (``tables.INPUT_COLUMNS``) and the ride
id is the project's one rule for TLC trips: the row's number in the month's
file, 0-based, before any cleaning (``training.tlc``). Because of that rule two
months cannot share a table (their ids would collide): a table holding rides
is refused unless ``replace`` says to empty it first. Times are stored as
New York wall-clock time (``timestamp without time zone``), as TLC writes them.
The file is read with the batch scorer's TLC reader, so a value it cannot
read is stored as NULL (and rejected when the day is scored), never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    MetaData,
    Table,
    delete,
    func,
    select,
)

from streaming.batch.input_table import DEFAULT_INPUT_TABLE
from streaming.batch.source import local_time
from streaming.commandline.errors import CommandError
from streaming.serving.tlc_columns import tlc_rows

CHUNK_ROWS = 20_000


def rides_table(name: str = DEFAULT_INPUT_TABLE) -> Table:
    """The default input table: the six columns the batch job reads, indexed on pickup."""
    table = Table(
        name,
        MetaData(),
        Column("ride_id", BigInteger, primary_key=True, autoincrement=False),
        Column("pickup_datetime", DateTime, nullable=True),
        Column("pu_location_id", BigInteger, nullable=True),
        Column("do_location_id", BigInteger, nullable=True),
        Column("trip_distance", Float, nullable=True),
        Column("dropoff_datetime", DateTime, nullable=True),
    )
    Index(f"{name}_pickup_idx", table.c.pickup_datetime)
    return table


@dataclass(frozen=True)
class Imported:
    rows: int
    first_pickup: str | None
    last_pickup: str | None


def import_tlc(
    engine: Engine, path: Path, *, table_name: str = DEFAULT_INPUT_TABLE, replace: bool = False
) -> Imported:
    """Load one TLC parquet file into ``table_name`` (created if missing), in one
    transaction: a failed import leaves the table as it was."""
    table = rides_table(table_name)
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        present = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if present and not replace:
            raise CommandError(
                f"table {table_name!r} already holds {present:,} rides: give --replace to "
                "load this month instead (TLC ride ids are row numbers in one month's file, "
                "so two months cannot share a table), or --table for another table"
            )
        if present:
            conn.execute(delete(table))
        rows = 0
        for chunk in tlc_rows(path, CHUNK_ROWS):
            values = []
            for row in chunk:
                ride = row.payload["ride"]
                pickup = local_time(ride["pickup_datetime"])
                actual = row.actual_duration
                dropoff = None
                if pickup is not None and actual is not None:
                    try:
                        dropoff = pickup + timedelta(microseconds=round(actual * 60e6))
                    except (OverflowError, ValueError):
                        dropoff = None
                values.append(
                    {
                        "ride_id": row.source_row,
                        "pickup_datetime": pickup,
                        "pu_location_id": _int_or_none(ride["PULocationID"]),
                        "do_location_id": _int_or_none(ride["DOLocationID"]),
                        "trip_distance": _float_or_none(ride["trip_distance"]),
                        "dropoff_datetime": dropoff,
                    }
                )
            if values:
                conn.execute(table.insert(), values)
            rows += len(values)
        low, high = conn.execute(
            select(func.min(table.c.pickup_datetime), func.max(table.c.pickup_datetime))
        ).one()
    return Imported(rows, _text(low), _text(high))


def _int_or_none(value: object) -> int | None:
    return value if type(value) is int and -(2**63) <= value < 2**63 else None


def _float_or_none(value: object) -> float | None:
    if type(value) is int:
        return float(value)
    return value if type(value) is float else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
