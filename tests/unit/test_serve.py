"""``streaming serve`` over real HTTP on loopback: gunicorn, both body shapes, bad input."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from streaming.consumer.features import feature_matrix
from streaming.consumer.records import RecordRef
from streaming.consumer.validate import validate_event
from tests.support.web import call


def expected(shipped_model, ride):
    item = validate_event({"ride": ride, "ride_id": 1}, RecordRef.standalone(0))
    return float(shipped_model.predictor.predict(feature_matrix([item]))[0])


def test_health_and_openapi(server, shipped_model):
    status, health = call("GET", "/health", port=server)
    assert status == 200 and health == {
        "status": "ok",
        "model": shipped_model.name,
        "model_version": shipped_model.version,
    }
    status, spec = call("GET", "/openapi.json", port=server)
    assert status == 200 and spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {"/predict", "/health", "/openapi.json"}


def test_course_body_and_stream_event_both_work(server, shipped_model):
    ride = {
        "PULocationID": 130,
        "DOLocationID": 205,
        "trip_distance": 3.66,
        "pickup_datetime": "2023-02-01T08:15:00",
    }
    status, answer = call("POST", "/predict", ride, port=server)
    assert status == 200
    assert answer == {
        "duration": expected(shipped_model, ride),
        "model_version": shipped_model.version,
    }
    status, answer = call("POST", "/predict", {"ride": ride, "ride_id": 256}, port=server)
    assert status == 200 and answer["ride_id"] == 256
    assert answer["duration"] == expected(shipped_model, ride)


def test_without_pickup_time_the_ride_starts_now(server):
    status, answer = call(
        "POST",
        "/predict",
        {"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40},
        port=server,
    )
    assert status == 200 and 1 < answer["duration"] < 120
    # the same rule as the stream: the time used is said in the answer
    assert answer["pickup_time"]["source"] == "invocation"
    assert abs(answer["pickup_time"]["epoch"] - time.time()) < 60


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"not json", "invalid_json"),
        (b"\xff\xfe", "invalid_utf8"),
        (b"[1, 2]", "not_an_object"),
        (
            json.dumps({"PULocationID": "130", "DOLocationID": 205, "trip_distance": 1}).encode(),
            "invalid_location_id",
        ),
        (json.dumps({"PULocationID": 130, "DOLocationID": 205}).encode(), "invalid_trip_distance"),
        (
            json.dumps({"PULocationID": 1, "DOLocationID": 2, "trip_distance": -1}).encode(),
            "invalid_trip_distance",
        ),
        (
            json.dumps(
                {"ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": 1}}
            ).encode(),
            "invalid_ride_id",
        ),
        (
            json.dumps(
                {
                    "PULocationID": 1,
                    "DOLocationID": 2,
                    "trip_distance": 1,
                    "pickup_datetime": "tomorrow",
                }
            ).encode(),
            "invalid_pickup_datetime",
        ),
        (b'{"PULocationID": 1, "DOLocationID": 2, "trip_distance": NaN}', "invalid_json"),
    ],
)
def test_bad_input_gets_a_400_with_the_reason(server, body, reason):
    status, answer = call("POST", "/predict", raw=body, port=server)
    assert status == 400 and answer["error"] == reason and answer["detail"]


def test_http_errors(server):
    assert call("GET", "/predict", port=server)[0] == 405
    assert call("GET", "/nope", port=server)[0] == 404
    status, answer = call("POST", "/predict", raw=b"{" + b" " * 70_000 + b"}", port=server)
    assert status == 413 and answer["error"] == "body_too_large"


def test_concurrent_requests_each_get_their_own_answer(server, shipped_model, holdout_trips):
    rides = []
    for row in holdout_trips.sample(n=300, random_state=8).itertuples():
        rides.append(
            {
                "PULocationID": int(row.PULocationID),
                "DOLocationID": int(row.DOLocationID),
                "trip_distance": float(row.trip_distance),
                "pickup_datetime": row.pickup_datetime.isoformat(),
            }
        )

    def ask(i):
        return i, call("POST", "/predict", {"ride": rides[i], "ride_id": i}, port=server)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(ask, range(len(rides))))
    for i, (status, answer) in results:
        assert status == 200 and answer["ride_id"] == i
        assert answer["duration"] == expected(shipped_model, rides[i])
