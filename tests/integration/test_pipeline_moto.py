"""The handler against a real Kinesis emulator (moto server, boto3 over HTTP)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.training import tlc
from tests.schemas import assert_valid
from tests.support.fault_proxy import FaultProxy
from tests.support.streams import put, read_json, run_to_idle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD = [
    (b'{"ride": {"PULocationID": 1, "trip_distance": 2}, "ride_id": 1}', "invalid_location_id"),
    (
        b'{"ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": -1}, "ride_id": 2}',
        "invalid_trip_distance",
    ),
    (b"\xff\xfe", "invalid_utf8"),
    (b"[]", "not_an_object"),
    (
        b'{"ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": 1}, "ride_id": ""}',
        "invalid_ride_id",
    ),
]


def put_rides(kinesis, stream, trips, bad=()):
    """The trips' ride events (keyed by ride id), then the ``bad`` payloads; the events."""
    events = tlc.ride_events(trips)
    payloads = [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]
    payloads += [(data, f"bad-{i}") for i, (data, _) in enumerate(bad)]
    put(kinesis, stream, [d for d, _ in payloads], keys=[k for _, k in payloads])
    return events


def make_service(model, streams, endpoint, **settings):
    config = Settings(
        predictions_stream=streams["predictions"],
        dead_letter_stream=streams["dead_letters"],
        kinesis_endpoint_url=endpoint,
        **settings,
    )
    return RideDurationService(model, config)


def test_predictions_land_once_each_and_bad_records_in_dead_letters(
    shipped_model, holdout_trips, kinesis, streams, moto_endpoint
):
    trips = holdout_trips.sample(n=400, random_state=11).reset_index(drop=True)
    events = put_rides(kinesis, streams["input"], trips, BAD)
    svc = make_service(shipped_model, streams, moto_endpoint)
    stats = run_to_idle(kinesis, streams["input"], svc.handle, batch_size=100).stats
    assert stats.partial_failures == stats.function_errors == stats.discarded_records == 0

    outputs = read_json(kinesis, streams["predictions"])
    ids = Counter(o["prediction"]["ride_id"] for _, o in outputs)
    assert len(outputs) == len(events) and set(ids.values()) == {1}  # once each
    assert set(ids) == {e["ride_id"] for e in events}
    assert {shard for shard, _ in outputs} == {"shardId-000000000000", "shardId-000000000001"}
    for _, o in outputs:
        assert_valid("prediction_event", o)
    # what landed is what the model says for those rides (computed independently)
    expected = shipped_model.predictor.predict(tlc.features_of(trips))
    got = {o["prediction"]["ride_id"]: o["prediction"]["ride_duration"] for _, o in outputs}
    np.testing.assert_array_equal([got[i] for i in range(len(trips))], expected)

    letters = [d for _, d in read_json(kinesis, streams["dead_letters"])]
    assert sorted(d["reason"] for d in letters) == sorted(r for _, r in BAD)
    for d in letters:
        assert_valid("dead_letter", d)
        assert d["source"]["eventID"].split(":")[0].startswith("shardId-")
    originals = {data for data, _ in BAD}
    import base64

    assert {base64.b64decode(d["data"]) for d in letters} == originals


def test_throttled_entries_are_retried_and_land_exactly_once(
    shipped_model, holdout_trips, kinesis, streams, moto_endpoint
):
    trips = holdout_trips.sample(n=600, random_state=12).reset_index(drop=True)
    events = put_rides(kinesis, streams["input"], trips)
    with FaultProxy(moto_endpoint, seed=3) as proxy:
        proxy.throttle_share = 0.3
        svc = make_service(shipped_model, streams, proxy.url, publish_max_attempts=20)
        stats = run_to_idle(kinesis, streams["input"], svc.handle, batch_size=200).stats
    assert proxy.entries_throttled > 100  # the fault really happened
    assert stats.discarded_records == 0
    outputs = read_json(kinesis, streams["predictions"])
    ids = Counter(o["prediction"]["ride_id"] for _, o in outputs)
    assert set(ids) == {e["ride_id"] for e in events}
    # only failed entries are re-sent: no prediction was written twice
    assert set(ids.values()) == {1}


def test_a_publish_that_keeps_failing_is_reported_and_nothing_is_lost(
    shipped_model, holdout_trips, kinesis, streams, moto_endpoint
):
    trips = holdout_trips.sample(n=150, random_state=13).reset_index(drop=True)
    events = put_rides(kinesis, streams["input"], trips, BAD[:2])
    responses = []
    with FaultProxy(moto_endpoint) as proxy:
        proxy.throttle_share = 1.0  # every entry throttled, every time
        failing = make_service(shipped_model, streams, proxy.url, publish_max_attempts=3)

        def once(event, context):
            responses.append((event, failing.handle(event, context)))
            return {"batchItemFailures": []}  # look at one invocation per batch

        run_to_idle(kinesis, streams["input"], once, batch_size=1000)
    assert proxy.put_calls >= 3
    for event, response in responses:
        reported = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        all_seqs = {r["kinesis"]["sequenceNumber"] for r in event["Records"]}
        assert reported == all_seqs  # every record reported: predictions and dead letters
    assert read_json(kinesis, streams["predictions"]) == []

    # Lambda retries from the lowest reported sequence number; the output recovers.
    healthy = make_service(shipped_model, streams, moto_endpoint)
    for event, response in responses:
        lowest = min(int(f["itemIdentifier"]) for f in response["batchItemFailures"])
        retry = {
            "Records": [
                r for r in event["Records"] if int(r["kinesis"]["sequenceNumber"]) >= lowest
            ]
        }
        assert healthy.handle(retry)["batchItemFailures"] == []
    ids = Counter(o["prediction"]["ride_id"] for _, o in read_json(kinesis, streams["predictions"]))
    assert set(ids) == {e["ride_id"] for e in events} and set(ids.values()) == {1}
    assert len(read_json(kinesis, streams["dead_letters"])) == 2


def first_responses(kinesis, stream, svc, **config):
    """Each batch's first response (the runner itself sees success: no re-delivery)."""
    responses = []

    def once(event, context):
        responses.append(svc.handle(event, context))
        return {"batchItemFailures": []}

    run_to_idle(kinesis, stream, once, **config)
    return responses


def test_missing_output_stream_fails_fast_and_reports(
    shipped_model, holdout_trips, kinesis, streams, moto_endpoint
):
    put_rides(kinesis, streams["input"], holdout_trips.head(50))
    svc = make_service(shipped_model, dict(streams, predictions="no-such-stream"), moto_endpoint)
    responses = first_responses(kinesis, streams["input"], svc, batch_size=100)
    assert sum(len(r["batchItemFailures"]) for r in responses) == 50


def test_unreachable_endpoint_is_retried_within_the_deadline(
    shipped_model, holdout_trips, kinesis, streams, moto_endpoint
):
    put_rides(kinesis, streams["input"], holdout_trips.head(20))
    with FaultProxy(moto_endpoint) as proxy:
        proxy.refuse = True  # connections die: an output outage
        svc = make_service(shipped_model, streams, proxy.url, publish_max_attempts=4)
        responses = first_responses(kinesis, streams["input"], svc, timeout_s=20.0)
    assert sum(len(r["batchItemFailures"]) for r in responses) == 20


def test_http_500_calls_are_retried(shipped_model, holdout_trips, kinesis, streams, moto_endpoint):
    events = put_rides(kinesis, streams["input"], holdout_trips.head(300))
    with FaultProxy(moto_endpoint, seed=5) as proxy:
        proxy.error_500_share = 0.5
        proxy.error_500_next = 2  # whatever the seed draws, two calls fail
        svc = make_service(shipped_model, streams, proxy.url, publish_max_attempts=20)
        stats = run_to_idle(kinesis, streams["input"], svc.handle, batch_size=100).stats
    assert proxy.calls_failed_500 > 0 and stats.discarded_records == 0
    ids = Counter(o["prediction"]["ride_id"] for _, o in read_json(kinesis, streams["predictions"]))
    assert set(ids) == {e["ride_id"] for e in events} and set(ids.values()) == {1}


@pytest.mark.parametrize("course_var", [True, False])
def test_endpoint_variables(
    shipped_model, kinesis, streams, moto_endpoint, monkeypatch, course_var
):
    """KINESIS_ENDPOINT_URL (the course's name) wins; else boto3's own variable applies."""
    if course_var:
        monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:9")  # nothing there
        monkeypatch.setenv("KINESIS_ENDPOINT_URL", moto_endpoint)
    else:
        monkeypatch.delenv("KINESIS_ENDPOINT_URL", raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", moto_endpoint)
    monkeypatch.setenv("PREDICTIONS_STREAM_NAME", streams["predictions"])
    svc = RideDurationService(shipped_model, Settings.from_env())
    from tests.conftest import COURSE_RIDE, make_record

    assert svc.handle({"Records": [make_record(COURSE_RIDE)]})["batchItemFailures"] == []
    [(_, out)] = read_json(kinesis, streams["predictions"])
    assert out["prediction"]["ride_id"] == 256


def test_kpl_aggregated_records_are_predicted_one_by_one(
    shipped_model, holdout_trips, kinesis, streams, moto_endpoint
):
    from aws_kinesis_agg.aggregator import RecordAggregator

    events = tlc.ride_events(holdout_trips.head(250))
    aggregator = RecordAggregator()
    parents = 0

    def flush(agg_record):
        nonlocal parents
        key, hash_key, data = agg_record.get_contents()
        extra = {"ExplicitHashKey": hash_key} if hash_key else {}
        kinesis.put_record(StreamName=streams["input"], Data=data, PartitionKey=key, **extra)
        parents += 1

    for e in events:  # as a KPL producer does: pack until a record is full
        full = aggregator.add_user_record(str(e["ride_id"]), json.dumps(e).encode())
        if full is not None:
            flush(full)
        if aggregator.get_num_user_records() == 40:
            flush(aggregator.clear_and_get())
    if aggregator.get_num_user_records():
        flush(aggregator.clear_and_get())
    assert parents < len(events)
    svc = make_service(shipped_model, streams, moto_endpoint)
    run_to_idle(kinesis, streams["input"], svc.handle, batch_size=3)
    outputs = [o for _, o in read_json(kinesis, streams["predictions"])]
    assert sorted(o["prediction"]["ride_id"] for o in outputs) == [e["ride_id"] for e in events]
    sources = {(o["source"]["eventID"], o["source"]["subSequenceNumber"]) for o in outputs}
    assert len(sources) == len(events)  # each user record has its own source key
    assert len({eid for eid, _ in sources}) == parents
