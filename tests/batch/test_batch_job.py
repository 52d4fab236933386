"""The batch job on a real database (SQLite and PostgreSQL): New York days with 23 and
25 hours, idempotent re-runs, a failed run leaving the old rows, a backfill, and bad
rows becoming rejects with the stream's reasons."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    MetaData,
    Numeric,
    Table,
    delete,
    func,
    select,
    text,
)

from streaming.batch.days import ServiceDay
from streaming.batch.input_table import InputSpec
from streaming.batch.job import DUPLICATE_RIDE_ID, score_day
from streaming.batch.tlc_import import rides_table
from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.database.batch_tables import predictions, rejects, runs
from streaming.database.engine import open_store
from tests.batch.conftest import load_rides, ride
from tests.conftest import make_record
from tests.support.postgres import fresh_database

FALL_BACK = ServiceDay(date(2021, 11, 7))
SPRING_FORWARD = ServiceDay(date(2021, 3, 14))


def stored(engine, day: ServiceDay) -> dict[str, float]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(predictions.c.ride_id, predictions.c.predicted_duration).where(
                predictions.c.service_day == day.day
            )
        )
        return dict(rows.all())


def stream_predictions(model, rows: list[dict]) -> dict[str, float]:
    """What the stream's handler (TEST_RUN) predicts for the same rides."""
    events = [
        {
            "ride": {
                "PULocationID": r["pu_location_id"],
                "DOLocationID": r["do_location_id"],
                "trip_distance": r["trip_distance"],
                "pickup_datetime": r["pickup_datetime"].isoformat(),
            },
            "ride_id": r["ride_id"],
        }
        for r in rows
    ]
    handler = RideDurationService(model, Settings(test_run=True))
    response = handler.handle(
        {"Records": [make_record(e, seq=i + 1) for i, e in enumerate(events)]}
    )
    return {
        str(p["prediction"]["ride_id"]): p["prediction"]["ride_duration"]
        for p in response["predictions"]
    }


def test_the_fall_back_day_has_25_hours_and_both_01_hours(batch_db, shipped_model):
    _, engine = batch_db
    inside = [
        ride(1, datetime(2021, 11, 7, 0, 0, 0)),
        ride(2, datetime(2021, 11, 7, 1, 15)),  # 01:15 EDT
        ride(3, datetime(2021, 11, 7, 1, 15), pu=75),  # 01:15 EST, the repeated hour
        ride(4, datetime(2021, 11, 7, 1, 59, 59)),
        ride(5, datetime(2021, 11, 7, 23, 59, 59)),
    ]
    outside = [ride(6, datetime(2021, 11, 6, 23, 59, 59)), ride(7, datetime(2021, 11, 8))]
    load_rides(engine, inside + outside)
    result = score_day(engine, shipped_model, InputSpec(), FALL_BACK)
    assert FALL_BACK.hours == 25
    assert result.summary.predicted == 5 and result.summary.rejected == 0
    assert result.summary.by_hour[1].rides == 3  # both 01:xx hours, as written
    got = stored(engine, FALL_BACK)
    assert got == stream_predictions(shipped_model, inside)  # the stream's answer, to the bit


def test_the_spring_forward_day_has_23_hours(batch_db, shipped_model):
    _, engine = batch_db
    inside = [
        ride(1, datetime(2021, 3, 14, 1, 59)),
        ride(2, datetime(2021, 3, 14, 2, 30)),  # a clock time that did not happen: TLC has them
        ride(3, datetime(2021, 3, 14, 3, 0)),
    ]
    load_rides(engine, [*inside, ride(4, datetime(2021, 3, 15, 0, 0))])
    result = score_day(engine, shipped_model, InputSpec(), SPRING_FORWARD)
    assert SPRING_FORWARD.hours == 23
    assert result.summary.predicted == 3
    assert stored(engine, SPRING_FORWARD) == stream_predictions(shipped_model, inside)


def test_a_timestamptz_column_is_cut_at_new_york_midnight(postgres_admin, shipped_model):
    """PostgreSQL only: SQLite has no time zone type (its text times are tested below)."""
    engine = open_store(fresh_database(postgres_admin))
    table = Table(
        "rides_utc",
        MetaData(),
        Column("ride_id", BigInteger),
        Column("pickup_datetime", DateTime(timezone=True)),
        Column("pu_location_id", BigInteger),
        Column("do_location_id", BigInteger),
        Column("trip_distance", Float),
    )
    utc = datetime.fromisoformat
    rows = {
        1: utc("2021-11-07T05:30:00+00:00"),  # 01:30 EDT on the 7th
        2: utc("2021-11-07T06:30:00+00:00"),  # 01:30 EST on the 7th
        3: utc("2021-11-08T04:30:00+00:00"),  # 23:30 EST on the 7th
        4: utc("2021-11-07T03:59:00+00:00"),  # 23:59 EDT on the 6th
        5: utc("2021-11-08T05:00:00+00:00"),  # 00:00 EST on the 8th
    }
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(
            table.insert(),
            [
                {
                    "ride_id": k,
                    "pickup_datetime": v,
                    "pu_location_id": 130,
                    "do_location_id": 205,
                    "trip_distance": 3.66,
                }
                for k, v in rows.items()
            ],
        )
    spec = InputSpec("rides_utc", no_dropoff=True)
    result = score_day(engine, shipped_model, spec, FALL_BACK)
    assert set(stored(engine, FALL_BACK)) == {"1", "2", "3"}
    assert result.summary.by_hour[1].rides == 2 and result.summary.by_hour[23].rides == 1


def test_a_rerun_replaces_the_day_and_gives_the_same_rows(batch_db, shipped_model):
    _, engine = batch_db
    day = ServiceDay(date(2021, 1, 15))
    base = datetime(2021, 1, 15, 8)
    load_rides(
        engine, [ride(i, base + timedelta(minutes=7 * i), pu=i % 200 + 1) for i in range(50)]
    )
    first = score_day(engine, shipped_model, InputSpec(), day, chunk_rows=7)
    before = stored(engine, day)
    second = score_day(engine, shipped_model, InputSpec(), day, chunk_rows=7)
    assert stored(engine, day) == before and len(before) == 50
    assert first.run_id != second.run_id
    source = rides_table()
    with engine.begin() as conn:  # the source changes: the re-run follows it
        conn.execute(delete(source).where(source.c.ride_id < 10))
    score_day(engine, shipped_model, InputSpec(), day)
    assert set(stored(engine, day)) == {str(i) for i in range(10, 50)}
    with engine.connect() as conn:
        statuses = conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all()
    assert dict(statuses) == {"succeeded": 3}


class Boom(RuntimeError):
    pass


class FailingSink:
    """Fails on the second chunk, after the first one's rows were written."""

    def __init__(self) -> None:
        self.chunks = 0

    def write(self, rows):
        self.chunks += 1
        if self.chunks == 2:
            raise Boom("disk full (injected)")

    def commit(self):
        pass

    def abort(self):
        self.aborted = True


def test_a_failed_run_leaves_the_previous_rows_and_is_on_record(batch_db, shipped_model):
    _, engine = batch_db
    day = ServiceDay(date(2021, 1, 15))
    base = datetime(2021, 1, 15, 8)
    load_rides(engine, [ride(i, base + timedelta(minutes=i)) for i in range(30)])
    score_day(engine, shipped_model, InputSpec(), day)
    before = stored(engine, day)
    with engine.begin() as conn:  # the next run would see other rides
        conn.execute(delete(rides_table()))
    load_rides(engine, [ride(100 + i, base + timedelta(minutes=i)) for i in range(30)])
    sink = FailingSink()
    with pytest.raises(Boom):
        score_day(engine, shipped_model, InputSpec(), day, chunk_rows=10, sink=sink)
    assert sink.aborted
    assert stored(engine, day) == before  # rolled back: the old rows, all of them
    with engine.connect() as conn:
        failed = conn.execute(select(runs).where(runs.c.status == "failed")).one()
    assert "disk full" in failed.error and failed.finished_at is not None


def test_bad_rows_become_rejects_with_the_streams_reasons(batch_db, shipped_model):
    url, engine = batch_db
    table = Table(
        "rides_loose",
        MetaData(),
        Column("ride_id", BigInteger),  # no key: duplicates are possible
        Column("pickup_datetime", DateTime),
        Column("pu_location_id", Numeric),
        Column("do_location_id", Float),
        Column("trip_distance", Float),
        Column("dropoff_datetime", DateTime),
    )
    at = datetime(2021, 1, 15, 9)
    rows = [
        (1, 130, 205.0, 3.66),  # good
        (2, None, 205.0, 3.66),  # no pickup zone
        (3, 0, 205.0, 3.66),  # zone 0
        (4, Decimal("1.5"), 205.0, 3.66),  # not a whole zone
        (5, Decimal("130"), 1e300, 3.66),  # a drop-off zone beyond any id
        (6, 130, 205.0, -1.0),  # negative distance
        (7, 130, 205.0, None),  # no distance
        (1, 75, 205.0, 2.0),  # ride 1 again
        (8, Decimal("74"), 75.0, 1.0),  # good: a numeric zone holding a whole number
    ]
    if url.startswith("postgresql"):
        rows.append((9, Decimal("NaN"), 205.0, float("nan")))  # NaN in numeric and float8
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(
            table.insert(),
            [
                {
                    "ride_id": r,
                    "pickup_datetime": at + timedelta(minutes=n),
                    "pu_location_id": pu,
                    "do_location_id": do,
                    "trip_distance": km,
                    "dropoff_datetime": at + timedelta(minutes=n + 10),
                }
                for n, (r, pu, do, km) in enumerate(rows)
            ],
        )
    day = ServiceDay(date(2021, 1, 15))
    result = score_day(engine, shipped_model, InputSpec("rides_loose"), day)
    s = result.summary
    assert s.predicted + s.rejected == len(rows)  # every row accounted for
    assert s.predicted == 2
    assert s.rejects[DUPLICATE_RIDE_ID] == 1
    assert s.rejects["invalid_trip_distance"] == 2
    # the NaN row fails on its zone first, as the stream checks it
    assert s.rejects["invalid_location_id"] == 4 + url.startswith("postgresql")
    with engine.connect() as conn:
        stored_rejects = conn.execute(select(rejects).order_by(rejects.c.row_number)).all()
    assert len(stored_rejects) == s.rejected
    assert all(json.loads(r.record)["ride"] for r in stored_rejects)  # the row, as read
    assert {r.reason for r in stored_rejects} <= {
        "invalid_location_id",
        "invalid_trip_distance",
        DUPLICATE_RIDE_ID,
    }


def test_text_times_on_sqlite_are_read_and_bad_ones_rejected(tmp_path, shipped_model):
    engine = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE rides (ride_id, pickup_datetime, pu_location_id, "
                "do_location_id, trip_distance, dropoff_datetime)"
            )
        )
        values = [
            (1, "2021-01-15 00:00:00", 130, 205, 3.66, "2021-01-15 00:12:00"),
            (2, "2021-01-15T08:30:00", 130, 205, 3.66, None),
            (3, "2021-01-15 garbage", 130, 205, 3.66, None),
            (4, "2021-01-15 23:59:59.999999", "130", 205, 3.66, "not a time"),
            (5, "2021-01-16 00:00:00", 130, 205, 3.66, None),  # the next day
            ("ride-6", "2021-01-15 12:00:00", 130, 205, 3, None),
        ]
        for v in values:
            conn.execute(
                text("INSERT INTO rides VALUES (:a, :b, :c, :d, :e, :f)"),
                dict(zip("abcdef", v, strict=True)),
            )
    result = score_day(engine, shipped_model, InputSpec(), ServiceDay(date(2021, 1, 15)))
    assert result.summary.predicted == 3  # 1, 2 and "ride-6"
    assert dict(result.summary.rejects) == {
        "invalid_pickup_datetime": 1,
        "invalid_location_id": 1,  # "130" is text, as the stream would reject it
    }
    assert result.summary.total.with_actual == 1
