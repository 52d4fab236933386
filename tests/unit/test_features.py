"""Event time -> New York hour/weekday, and the feature matrix layout."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streaming.consumer.features import feature_matrix, new_york_hour_weekday
from streaming.consumer.records import Ride
from streaming.model.contract import FEATURES
from tests.conftest import decode_one, make_record
from tests.support.rides import course_ride

NY = ZoneInfo("America/New_York")


def reference(epochs):
    moments = [datetime.fromtimestamp(e, NY) for e in epochs]
    return [m.hour for m in moments], [m.weekday() for m in moments]


def test_vectorised_conversion_matches_zoneinfo_everywhere():
    rng = np.random.default_rng(7)
    epochs = np.concatenate(
        [
            rng.uniform(0, 4.1e9, 20_000),  # 1970 .. 2099
            # around the 2023 DST switches (12 March, 5 November), every 37 s
            np.arange(1_678_600_000, 1_678_660_000, 37.0),
            np.arange(1_699_160_000, 1_699_220_000, 37.0),
        ]
    )
    hours, weekdays = new_york_hour_weekday(epochs)
    ref_h, ref_w = reference(epochs)
    assert hours.tolist() == ref_h
    assert weekdays.tolist() == ref_w


def test_dst_switch_hours():
    # 2023-03-12 06:59:59Z = 01:59:59 EST; 07:00:00Z = 03:00:00 EDT
    hours, _ = new_york_hour_weekday(np.array([1_678_604_399.0, 1_678_604_400.0]))
    assert hours.tolist() == [1, 3]


def _ride(**ride_fields):
    event = course_ride(ride_id=1, **ride_fields)
    item = decode_one(make_record(event, arrival=1_675_260_000.0), 0)  # 2023-02-01 14:00Z
    assert isinstance(item, Ride)
    return item


def test_event_time_sources():
    naive = _ride(pickup_datetime="2023-02-03T23:30:00")  # New York wall clock
    aware = _ride(pickup_datetime="2023-02-04T04:30:00+00:00")  # same instant, in UTC
    arrival = _ride()  # arrival 2023-02-01T14:00Z = 09:00 EST, a Wednesday
    x = feature_matrix([naive, aware, arrival])
    assert x[:, 3].tolist() == [23, 23, 9]
    assert x[:, 4].tolist() == [4, 4, 2]  # Friday, Friday, Wednesday


def test_matrix_columns_follow_features():
    x = feature_matrix([_ride()])
    assert FEATURES == (
        "PULocationID",
        "DOLocationID",
        "trip_distance",
        "pickup_hour",
        "pickup_weekday",
    )
    assert x.dtype == np.float64 and x.shape == (1, 5)
    assert x[0, :3].tolist() == [130, 205, 3.66]


def test_empty_batch_gives_empty_matrix():
    assert feature_matrix([]).shape == (0, 5)


@pytest.mark.parametrize(
    "text,hour,weekday",
    [
        ("2023-02-01", 0, 2),
        ("2023-02-01 08:15", 8, 2),
        ("2023-02-05T23:59:59.999999", 23, 6),
        ("2023-02-01T08:15:00-05:00", 8, 2),
        ("2023-07-01T12:00:00Z", 8, 5),  # EDT
    ],
)
def test_iso_forms(text, hour, weekday):
    x = feature_matrix([_ride(pickup_datetime=text)])
    assert (x[0, 3], x[0, 4]) == (hour, weekday)
