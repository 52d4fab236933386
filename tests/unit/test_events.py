"""Decode + validate: the course event passes; every bad-input kind is rejected by name."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from streaming.consumer.records import Reason, Rejection, Ride
from tests.conftest import COURSE_RIDE, decode_one, make_record
from tests.support.rides import course_ride


def test_course_event_decodes_to_a_ride():
    item = decode_one(make_record(COURSE_RIDE, seq=7), 3)
    assert isinstance(item, Ride)
    assert (item.pu_location_id, item.do_location_id, item.trip_distance) == (130, 205, 3.66)
    assert item.ride_id == 256 and item.partition_key == "256"
    assert item.pickup_datetime is None
    assert item.ref.index == 3
    assert item.ref.sequence_number == f"{7:056d}"
    assert item.ref.source() == {"eventID": f"shardId-000000000000:{7:056d}"}


def test_string_ride_id_and_integral_distance_are_valid():
    item = decode_one(make_record(course_ride(ride_id="r-1", trip_distance=0)), 0)
    assert isinstance(item, Ride)
    assert item.ride_id == "r-1" and item.trip_distance == 0.0


def test_unknown_zone_ids_in_range_are_valid():
    # Zones the model has never seen are predicted (and counted in UnknownZoneShare).
    for pu, do in ((9999, 1), (1, 2**31 - 1)):
        item = decode_one(make_record(course_ride(PULocationID=pu, DOLocationID=do)), 0)
        assert isinstance(item, Ride), (pu, do)


def test_extra_fields_are_ignored():
    event = course_ride()
    event["ride"]["VendorID"] = 2
    event["source_system"] = "app"
    assert isinstance(decode_one(make_record(event), 0), Ride)


def test_pickup_datetime_naive_and_aware():
    naive = decode_one(make_record(course_ride(pickup_datetime="2023-02-01T08:15:00")), 0)
    aware = decode_one(make_record(course_ride(pickup_datetime="2023-02-01T13:15:00Z")), 0)
    assert naive.pickup_datetime == datetime(2023, 2, 1, 8, 15)
    assert aware.pickup_datetime.tzinfo is not None


def test_null_pickup_datetime_means_absent():
    item = decode_one(make_record(course_ride(pickup_datetime=None)), 0)
    assert isinstance(item, Ride) and item.pickup_datetime is None


BAD = {
    "not base64": (Reason.INVALID_BASE64, None),
    "not utf-8": (Reason.INVALID_UTF8, b"\xff\xfe{}"),
    "not json": (Reason.INVALID_JSON, b"ride 130 -> 205"),
    "NaN constant": (Reason.INVALID_JSON, b'{"ride": {"trip_distance": NaN}}'),
    "trailing garbage": (Reason.INVALID_JSON, b'{"ride_id": 1} x'),
    "array": (Reason.NOT_AN_OBJECT, b"[1, 2]"),
    "string": (Reason.NOT_AN_OBJECT, b'"ride"'),
    "no ride": (Reason.INVALID_RIDE, {"ride_id": 1}),
    "ride is a list": (Reason.INVALID_RIDE, {"ride": [130, 205], "ride_id": 1}),
    "PU missing": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=...)),
    "PU null": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=None)),
    "PU string": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID="130")),
    "PU float": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=130.0)),
    "PU boolean": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=True)),
    "PU zero": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=0)),
    "PU negative": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=-5)),
    "DO negative": (Reason.INVALID_LOCATION_ID, course_ride(DOLocationID=-3)),
    "PU 2**31": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=2**31)),
    "PU 400 digits": (Reason.INVALID_LOCATION_ID, course_ride(PULocationID=10**400)),
    "DO minus 400 digits": (Reason.INVALID_LOCATION_ID, course_ride(DOLocationID=-(10**400))),
    "DO boolean": (Reason.INVALID_LOCATION_ID, course_ride(DOLocationID=False)),
    "distance missing": (Reason.INVALID_TRIP_DISTANCE, course_ride(trip_distance=...)),
    "distance string": (Reason.INVALID_TRIP_DISTANCE, course_ride(trip_distance="3.66")),
    "distance boolean": (Reason.INVALID_TRIP_DISTANCE, course_ride(trip_distance=True)),
    "distance negative": (Reason.INVALID_TRIP_DISTANCE, course_ride(trip_distance=-0.5)),
    "distance huge integer": (Reason.INVALID_TRIP_DISTANCE, course_ride(trip_distance=10**400)),
    "distance 1e400": (
        Reason.INVALID_TRIP_DISTANCE,
        b'{"ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": 1e400}, "ride_id": 1}',
    ),
    "ride_id missing": (Reason.INVALID_RIDE_ID, {"ride": COURSE_RIDE["ride"]}),
    "ride_id null": (Reason.INVALID_RIDE_ID, course_ride(ride_id=None)),
    "ride_id empty": (Reason.INVALID_RIDE_ID, course_ride(ride_id="")),
    "ride_id too long": (Reason.INVALID_RIDE_ID, course_ride(ride_id="x" * 257)),
    "ride_id 257 digits": (Reason.INVALID_RIDE_ID, course_ride(ride_id=10**256)),
    "ride_id boolean": (Reason.INVALID_RIDE_ID, course_ride(ride_id=True)),
    "ride_id float": (Reason.INVALID_RIDE_ID, course_ride(ride_id=1.5)),
    "ride_id object": (Reason.INVALID_RIDE_ID, course_ride(ride_id={"id": 1})),
    "ride_id lone surrogate": (
        Reason.INVALID_RIDE_ID,
        b'{"ride": {"PULocationID": 1, '
        b'"DOLocationID": 2, "trip_distance": 1}, "ride_id": "\\ud800"}',
    ),
    "pickup not a string": (
        Reason.INVALID_PICKUP_DATETIME,
        course_ride(pickup_datetime=1676000000),
    ),
    "pickup not ISO": (Reason.INVALID_PICKUP_DATETIME, course_ride(pickup_datetime="Feb 1st, 8am")),
    # Instants outside what UTC or New York local time can represent (years 1-9999).
    "pickup year 1 UTC": (
        Reason.INVALID_PICKUP_DATETIME,
        course_ride(pickup_datetime="0001-01-01T00:00:00+00:00"),
    ),
    "pickup year 1 +14:00": (
        Reason.INVALID_PICKUP_DATETIME,
        course_ride(pickup_datetime="0001-01-01T00:00:00+14:00"),
    ),
    "pickup year 9999 -01:00": (
        Reason.INVALID_PICKUP_DATETIME,
        course_ride(pickup_datetime="9999-12-31T23:59:59-01:00"),
    ),
    "pickup year 9999 New York": (
        Reason.INVALID_PICKUP_DATETIME,
        course_ride(pickup_datetime="9999-12-31T20:00:00-05:00"),
    ),
    "pickup year 1 naive": (
        Reason.INVALID_PICKUP_DATETIME,
        course_ride(pickup_datetime="0001-01-01"),
    ),
    "ride_id 129 emoji": (Reason.INVALID_RIDE_ID, course_ride(ride_id="\U0001f695" * 129)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_rejected_with_its_reason(case):
    reason, payload = BAD[case]
    if payload is None:
        record = make_record(COURSE_RIDE)
        record["kinesis"]["data"] = "%%% not base64 %%%"
    elif isinstance(payload, bytes):
        record = make_record(payload, raw=True)
    else:
        record = make_record(payload)
    item = decode_one(record, 5)
    assert isinstance(item, Rejection), case
    assert item.reason is reason, (case, item.detail)
    assert item.detail  # a human-readable explanation
    assert item.ref.index == 5 and item.ref.sequence_number == f"{1:056d}"
    assert item.data == record["kinesis"]["data"]  # the original bytes are kept


def test_missing_event_time_is_rejected():
    record = make_record(COURSE_RIDE)
    del record["kinesis"]["approximateArrivalTimestamp"]
    item = decode_one(record, 0)
    assert isinstance(item, Rejection) and item.reason is Reason.MISSING_EVENT_TIME
    with_pickup = make_record(course_ride(pickup_datetime="2023-02-01T08:00:00"))
    del with_pickup["kinesis"]["approximateArrivalTimestamp"]
    assert isinstance(decode_one(with_pickup, 0), Ride)


@pytest.mark.parametrize("record", [None, "x", {}, {"kinesis": {}}, {"kinesis": {"data": 5}}])
def test_malformed_lambda_records_are_rejected(record):
    item = decode_one(record, 0)
    assert isinstance(item, Rejection) and item.reason is Reason.NOT_A_KINESIS_RECORD


def test_reason_codes_are_stable_strings():
    # Dead-letter consumers filter on these; renaming one is a breaking change.
    assert {r.value for r in Reason} == {
        "not_a_kinesis_record",
        "invalid_base64",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "invalid_ride",
        "invalid_location_id",
        "invalid_trip_distance",
        "invalid_ride_id",
        "invalid_pickup_datetime",
        "missing_event_time",
        "empty_aggregate",
        "aggregate_too_large",
        "aggregate_too_many_rejects",
        "prediction_not_finite",
        "prediction_failed",
    }


def test_data_is_decoded_strictly_as_base64():
    record = make_record(COURSE_RIDE)
    record["kinesis"]["data"] = base64.b64encode(b'{"a": 1}').decode() + "\n"
    item = decode_one(record, 0)
    assert isinstance(item, Rejection) and item.reason is Reason.INVALID_BASE64


def test_fast_path_agrees_with_the_field_by_field_checks():
    """validate_ride's one-pass check must accept exactly what the detailed one accepts."""
    import random

    from streaming.consumer.records import InvalidEvent
    from streaming.consumer.validate import _validate_slowly, validate_ride

    rng = random.Random(5)
    values = [
        0,
        1,
        265,
        -3,
        2**31 - 1,
        2**31,
        10**400,
        -(10**400),
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T20:00:00-05:00",
        "0002-01-01T00:00:00+23:59",
        "9998-12-31T23:59:59-23:59",
        "\U0001f695" * 128,
        "\U0001f695" * 129,
        10**255 - 1,
        10**255,
        -(10**255),
        2.5,
        0.0,
        -0.0,
        -1.5,
        float("inf"),
        float("nan"),
        True,
        None,
        "",
        "x",
        "é",
        "\ud800",
        "7" * 256,
        "7" * 257,
        "2023-02-01T08:15:00",
        "2023-02-01T08:15:00+01:00",
        "yesterday",
        "2023-02-01T08:15:00.000000000000000000000000000000",
        [],
        {},
    ]
    ref = decode_one(make_record(COURSE_RIDE)).ref

    def outcome(check, payload):
        try:
            r = check(payload, ref)
        except InvalidEvent as exc:
            return ("invalid", exc.reason)
        return (
            "ride",
            r.ride_id,
            r.pu_location_id,
            r.do_location_id,
            r.trip_distance,
            r.pickup_datetime,
        )

    for _ in range(20_000):
        ride_fields = {
            k: rng.choice(values)
            for k in ("PULocationID", "DOLocationID", "trip_distance", "pickup_datetime")
            if rng.random() < 0.9
        }
        payload = {"ride": ride_fields, "ride_id": rng.choice(values)}
        fast, slow = outcome(validate_ride, payload), outcome(_validate_slowly, payload)
        assert fast[:2] == slow[:2] if fast[0] == "invalid" else fast == slow, payload


def test_a_value_nested_to_any_depth_the_parser_takes_is_a_dead_letter_not_a_crash():
    """bench/JSON.md found it: a location id nested just under the JSON parser's depth
    limit parsed, and the reason's detail (``repr``) then overflowed the stack on Python
    3.11 (depth 992 here), failing the whole batch. Every depth up to past the limit."""
    from streaming.consumer.decode import decode_records
    from streaming.consumer.records import Rejection
    from tests.conftest import make_record

    for depth in range(1, 1200):
        nested = "[" * depth + "]" * depth
        ride = f'"PULocationID": {nested}, "DOLocationID": 1, "trip_distance": 1'
        data = f'{{"ride": {{{ride}}}, "ride_id": 1}}'.encode()
        [item] = decode_records([make_record(data, raw=True)])
        assert isinstance(item, Rejection), depth
        assert len(item.detail) < 300, depth
