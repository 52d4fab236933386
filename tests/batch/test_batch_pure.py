"""The batch job's pure parts: New York days, stored values -> ride events (no value
can raise), the report (escaped, self-contained), and the scheduled function's
settings and day."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.batch.days import DayError, ServiceDay, day_range, parse_day, yesterday
from streaming.batch.function import (
    BatchConfigError,
    BatchFunction,
    BatchSettings,
    day_of,
    parse_columns,
)
from streaming.batch.report import DayFigures, ReportInput, render
from streaming.batch.source import to_row
from streaming.batch.summary import DaySummary
from streaming.consumer.features import NEW_YORK
from streaming.serving.score_chunk import score_rows
from tests.support.strategies import json_values

# -- days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hours"),
    [("2021-03-14", 23), ("2021-11-07", 25), ("2021-01-15", 24), ("2023-03-12", 23)],
)
def test_a_new_york_day_is_as_long_as_its_clocks_say(day, hours):
    assert ServiceDay(parse_day(day)).hours == hours


def test_yesterday_is_yesterday_in_new_york_not_in_utc():
    # 04:59 UTC on the 15th is 23:59 on the 14th in New York: yesterday is the 13th
    assert yesterday(datetime(2021, 1, 15, 4, 59, tzinfo=UTC)) == date(2021, 1, 13)
    assert yesterday(datetime(2021, 1, 15, 5, 0, tzinfo=UTC)) == date(2021, 1, 14)
    # the fall-back night: 05:30 UTC (01:30 EDT) and 06:30 UTC (01:30 EST) are both the 7th
    assert yesterday(datetime(2021, 11, 7, 5, 30, tzinfo=UTC)) == date(2021, 11, 6)
    assert yesterday(datetime(2021, 11, 7, 6, 30, tzinfo=UTC)) == date(2021, 11, 6)
    with pytest.raises(DayError):
        yesterday(datetime(2021, 1, 15))  # naive: which zone?


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30)))
@settings(max_examples=200)
def test_yesterday_is_always_the_day_before_the_new_york_date(moment):
    aware = moment.replace(tzinfo=UTC)
    assert yesterday(aware) == aware.astimezone(NEW_YORK).date() - timedelta(days=1)


@pytest.mark.parametrize("text", ["2021-1-5", "2021-02-30", "yesterday", "", "2021-01-15T00"])
def test_a_bad_date_says_the_format(text):
    with pytest.raises(DayError, match="YYYY-MM-DD"):
        parse_day(text)


def test_a_backfill_is_every_day_in_order_and_bounded():
    days = day_range(date(2021, 2, 27), date(2021, 3, 2))
    assert [str(d) for d in days] == ["2021-02-27", "2021-02-28", "2021-03-01", "2021-03-02"]
    with pytest.raises(DayError, match="before"):
        day_range(date(2021, 3, 2), date(2021, 3, 1))
    with pytest.raises(DayError, match="at most"):
        day_range(date(2000, 1, 1), date(2021, 1, 1))


# -- stored values -> ride events --------------------------------------------------------

stored_values = (
    json_values
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.sampled_from([Decimal("1E+999999"), Decimal("-1E+999999"), Decimal("sNaN")])
    | st.datetimes()
    | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-23, minutes=-59))]))
    | st.dates()
    | st.binary(max_size=20)
    | st.uuids()
)


@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                k: stored_values
                for k in (
                    "ride_id",
                    "pickup_datetime",
                    "pu_location_id",
                    "do_location_id",
                    "trip_distance",
                    "dropoff_datetime",
                )
            },
        ),
        max_size=8,
    )
)
@settings(max_examples=300)
def test_no_stored_value_can_raise_and_every_row_is_accounted_for(shipped_model, rows):
    read = [to_row(n, values) for n, values in enumerate(rows)]
    good, bad = score_rows(shipped_model, [r.row for r in read])
    assert sorted(good["source_row"] + bad["source_row"]) == list(range(len(rows)))
    for r in read:
        json.dumps(r.row.payload, default=str)  # a reject's stored record can be written


COURSE_VALUES = {
    "ride_id": 256,
    "pu_location_id": 130,
    "do_location_id": 205,
    "trip_distance": 3.66,
}


def test_driver_types_become_what_the_validator_reads(shipped_model):
    row = to_row(
        0,
        {
            "ride_id": Decimal("256"),
            "pickup_datetime": datetime(2021, 1, 15, 8, 30),
            "pu_location_id": Decimal("130"),
            "do_location_id": 205.0,
            "trip_distance": Decimal("3.66"),
            "dropoff_datetime": datetime(2021, 1, 15, 8, 42),
        },
    )
    assert row.row.payload == {
        "ride": {
            "PULocationID": 130,
            "DOLocationID": 205,
            "trip_distance": 3.66,
            "pickup_datetime": "2021-01-15T08:30:00",
        },
        "ride_id": 256,
    }
    assert row.row.actual_duration == 12.0
    # a huge decimal is never expanded into a million-digit int
    assert to_row(0, {"pu_location_id": Decimal("1E+999999")}).row.payload["ride"][
        "PULocationID"
    ] == str(Decimal("1E+999999"))
    # no pickup time, or a date without one: rejected, never scored at the invocation time
    for pickup in (None, date(2021, 1, 15)):
        good, bad = score_rows(
            shipped_model, [to_row(0, {**COURSE_VALUES, "pickup_datetime": pickup}).row]
        )
        assert good["source_row"] == [] and bad["reason"] == ["invalid_pickup_datetime"]
    # an aware pickup is stored as New York wall-clock time
    aware = datetime(2021, 11, 7, 6, 30, tzinfo=UTC)
    assert to_row(0, {"pickup_datetime": aware}).pickup_local == datetime(2021, 11, 7, 1, 30)


# -- the report --------------------------------------------------------------------------


def test_the_report_escapes_what_came_from_data_and_fetches_nothing():
    summary = DaySummary()
    for minutes in (3.0, 12.5, 80.0):
        summary.add_prediction(minutes, minutes + 1, datetime(2021, 11, 7, 1, 30), 130)
    summary.add_reject("<script>alert(1)</script>")
    page = render(
        ReportInput(
            day=ServiceDay(date(2021, 11, 7)),
            model_version='v1"><img src=x onerror=alert(1)>',
            run_id="r1",
            summary=summary,
            history=[DayFigures(date(2021, 11, 6), 10, 1, 12.0, 3.0)],
            zone_names={130: "<b>Jamaica</b> (Queens)"},
        )
    )
    assert "<script>" not in page and "<img" not in page and "<b>Jamaica" not in page
    assert "25 hours" in page  # the fall-back day says so
    assert not re.search(r"(src|href)=[\"']?https?:", page)  # nothing from the network
    assert page.count("<svg") >= 5


# -- the scheduled function --------------------------------------------------------------


def test_the_scheduled_time_gives_the_new_york_day_before_it():
    assert day_of({"scheduled_time": "2021-01-15T07:00:00Z"}).day == date(2021, 1, 14)
    assert day_of({"scheduled_time": "2021-01-15T04:00:00Z"}).day == date(2021, 1, 13)
    assert day_of({"date": "2021-11-07"}).day == date(2021, 11, 7)
    for bad in ("soon", "2021-01-15T07:00:00", 12):
        with pytest.raises(DayError):
            day_of({"scheduled_time": bad})
    with pytest.raises(DayError):
        day_of({"date": "2021-13-01"})


def test_settings_are_checked_at_init():
    with pytest.raises(BatchConfigError, match="MONITORING_DB"):
        BatchSettings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "f"})
    got = BatchSettings.from_env(
        {"MONITORING_DB_URL": "sqlite:///x.db", "BATCH_COLUMNS": "pickup_datetime=t, ride_id=id"}
    )
    assert got.spec.name_of("pickup_datetime") == "t" and got.spec.name_of("ride_id") == "id"
    for bad in ("pickup=t", "ride_id", "ride_id=pickup_datetime"):
        with pytest.raises(BatchConfigError, match="BATCH_COLUMNS"):
            parse_columns(bad)
    with pytest.raises(BatchConfigError, match="BATCH_CHUNK_ROWS"):
        BatchSettings.from_env({"BATCH_CHUNK_ROWS": "10"})


def test_the_function_emits_its_metrics_even_when_the_run_fails(tmp_path, shipped_model):
    from streaming.database.engine import open_store

    lines: list[str] = []
    engine = open_store(f"sqlite:///{tmp_path / 'b.db'}")  # no rides table: the run fails
    settings_ = BatchSettings.from_env({"MONITORING_DB_URL": "sqlite:///unused.db"})
    function = BatchFunction(engine, shipped_model, settings_, emit=lines.append)
    with pytest.raises(Exception, match="rides"):
        function.handle({"date": "2021-01-15"})
    [line] = lines
    assert json.loads(line)["RunSucceeded"] == 0.0 and json.loads(line)["RidesScored"] == 0.0
