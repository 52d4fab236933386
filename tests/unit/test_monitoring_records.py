"""Hostile input to the monitoring function's pure parts: records and window state.
No record or state may raise, and the state stays bounded whatever it is fed."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from streaming.monitoring.records import Predicted, RideStarted, Skipped, read_records
from streaming.monitoring.window_state import (
    MAX_REASONS,
    MAX_VERSIONS,
    OTHER,
    WindowState,
    parse_state,
)
from tests.support.budget import examples
from tests.support.strategies import batches, json_values, scalars


def _record(value) -> dict:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return {"kinesis": {"data": base64.b64encode(data).decode()}}


prediction_like = st.fixed_dictionaries(
    {
        "version": scalars,
        "prediction": st.fixed_dictionaries({"ride_id": scalars, "ride_duration": scalars}),
        "source": json_values,
    }
)
finished_like = st.fixed_dictionaries(
    {"event": st.just("ride_finished"), "ride_id": scalars},
    optional={"duration_minutes": scalars, "dropoff_datetime": scalars, "version": scalars},
)
ride_like = st.fixed_dictionaries(
    {
        "ride": st.one_of(
            json_values, st.fixed_dictionaries({"PULocationID": scalars, "DOLocationID": scalars})
        )
    }
)
dead_letter_like = st.fixed_dictionaries(
    {"schema": st.just("ride-dead-letter/v1"), "reason": json_values}
)


@examples(300)
@given(
    st.lists(
        prediction_like | finished_like | dead_letter_like | ride_like | json_values, max_size=10
    )
)
def test_any_event_is_read_or_skipped_with_a_reason(values):
    items = [item for _, item in read_records([_record(v) for v in values])]
    assert len(items) == len(values)
    state = WindowState()
    for item in items:
        if isinstance(item, Skipped):
            assert item.reason and len(item.reason) < 64
        if isinstance(item, Predicted):
            assert -100_000 <= item.minutes <= 100_000
            state.add_prediction(item.version, "champion", item.minutes)
        if isinstance(item, RideStarted):
            assert 1 <= item.pu_location_id <= 2**31 - 1 and 1 <= item.do_location_id <= 2**31 - 1
            state.add_ride(item.pu_location_id < 300, item.do_location_id < 300)
    assert parse_state(json.loads(json.dumps(state.as_json()))).as_json() == state.as_json()


@examples(200)
@given(batches())
def test_the_prediction_functions_hostile_batches_never_raise_here(records):
    assert len(list(read_records(records))) >= 0


@examples(300)
@given(json_values)
def test_any_state_parses_or_starts_afresh(value):
    state = parse_state(value)
    assert len(state.versions) <= MAX_VERSIONS
    assert json.loads(json.dumps(state.as_json()))["v"] == 1


def test_a_flood_of_versions_and_reasons_keeps_the_state_bounded():
    state = WindowState()
    for i in range(1000):
        state.add_prediction(f"v{i}" * 100, "champion", 5.0)
        state.add_dead_letter(f"reason-{i}")
    assert len(state.versions) == MAX_VERSIONS and OTHER in state.versions
    assert len(state.dead_letters) == MAX_REASONS
    assert sum(v.records for v in state.versions.values()) == 1000
    assert len(json.dumps(state.as_json())) < 64_000
    assert parse_state(state.as_json()).as_json() == state.as_json()


def test_records_of_no_kinesis_shape_are_skipped():
    items = [i for _, i in read_records([None, 5, {"kinesis": {"data": "!!"}}, {}])]
    assert items == [
        Skipped("not_a_kinesis_record"),
        Skipped("not_a_kinesis_record"),
        Skipped("not_base64"),
        Skipped("not_a_kinesis_record"),
    ]
    assert list(read_records("not a list")) == []


def test_an_arrival_time_too_large_for_a_float_is_no_time():
    """Found by the property above: ``math.isfinite(10**400)`` raises OverflowError."""
    record = _record({"event": "ride_finished", "ride_id": 1, "duration_minutes": 3})
    for bad in (10**400, -(10**400), float("nan"), True, "1", -5):
        record["kinesis"]["approximateArrivalTimestamp"] = bad
        [(arrival, item)] = list(read_records([record]))
        assert arrival == 0.0 and item.ride_key == "1"


def test_the_database_secret_is_a_url_or_rds_json_and_errors_never_show_it():
    import pytest

    from streaming.monitoring.secret import url_from_secret_string
    from streaming.monitoring.settings import MonitoringConfigError

    arn = "arn:aws:secretsmanager:us-east-1:1:secret:db"
    assert url_from_secret_string(arn, "postgres://u:p@h/db") == "postgresql://u:p@h/db"
    rds = {"engine": "postgres", "host": "db.x", "port": 5433, "username": "mon",
           "password": "s3cr:t@", "dbname": "monitoring"}  # fmt: skip
    assert (
        url_from_secret_string(arn, json.dumps(rds))
        == "postgresql://mon:s3cr%3At%40@db.x:5433/monitoring"
    )
    assert url_from_secret_string(arn, json.dumps({"url": "sqlite:///m.db"})) == "sqlite:///m.db"
    for bad in ("hunter2-password", json.dumps({"password": "hunter2-password"}), None, ""):
        with pytest.raises(MonitoringConfigError) as caught:
            url_from_secret_string(arn, bad)
        assert "hunter2" not in str(caught.value) and arn in str(caught.value)
