"""The monitoring function on a real database (SQLite and PostgreSQL): windows,
the predictions/actuals join, redeliveries, expiry, metrics."""

from __future__ import annotations

import json
import math

import pytest

from streaming.monitoring import read, store
from streaming.monitoring.drift import Histogram
from streaming.monitoring.service import MonitoringService, NotAWindowedEvent
from streaming.monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import (
    DEAD_LETTER_ARN,
    FINISHED_ARN,
    RIDES_ARN,
    SHADOW_ARN,
    T0,
    finished,
    prediction,
    started,
    window_event,
)


def service(db_url, lines=None, **settings) -> MonitoringService:
    engine = store.open_store(db_url)
    settings = MonitoringSettings(
        db_url=db_url, shadow_stream="ride_shadow_predictions", **settings
    )
    emit = lines.append if lines is not None else (lambda line: None)
    return MonitoringService(engine, settings, emit=emit)


def run_window(svc, items, final_twice=False, **kw):
    """Two batches and the final invocation of one window; returns the final response."""
    half = len(items) // 2
    state = svc.handle(window_event(items[:half], **kw))["state"]
    state = svc.handle(window_event(items[half:], state=state, **kw))["state"]
    final = window_event([], state=state, final=True, **kw)
    response = svc.handle(final)
    if final_twice:  # Lambda retries a final invocation whose answer it did not get
        svc.handle(final)
    return response


def test_a_window_is_counted_once_whatever_the_redeliveries(db_url):
    svc = service(db_url)
    items = [prediction(i, 5.0 + i % 30) for i in range(100)]
    response = run_window(svc, items, final_twice=True)
    assert response == {"state": {}}
    with svc.engine.connect() as conn:
        rows = read.windows(conn)
    assert [(r.window_start, r.model_version, r.role, r.records) for r in rows] == [
        (T0, "v1", "champion", 100)
    ]
    assert rows[0].histogram == Histogram.of(5.0 + i % 30 for i in range(100))
    assert rows[0].mean_minutes == pytest.approx(sum(5.0 + i % 30 for i in range(100)) / 100)


def test_shards_close_their_own_windows_and_are_merged_when_read(db_url):
    svc = service(db_url)
    run_window(svc, [prediction(i, 10.0) for i in range(30)], shard="shardId-000000000000")
    run_window(svc, [prediction(i, 20.0) for i in range(30, 50)], shard="shardId-000000000001")
    with svc.engine.connect() as conn:
        (row,) = read.windows(conn)
    assert (row.records, row.shards) == (50, 2)
    assert row.mean_minutes == pytest.approx((30 * 10 + 20 * 20) / 50)


def test_shadow_and_dead_letters_are_their_own_figures(db_url):
    svc = service(db_url)
    run_window(svc, [prediction(i, 10.0, version="v2") for i in range(4)], arn=SHADOW_ARN)
    letters = [{"schema": "ride-dead-letter/v1", "reason": r} for r in ("invalid_json",) * 3]
    run_window(svc, [*letters, {"schema": "ride-dead-letter/v1", "reason": "invalid_ride"}],
               arn=DEAD_LETTER_ARN)  # fmt: skip
    with svc.engine.connect() as conn:
        (row,) = read.windows(conn)
        assert (row.role, row.model_version, row.records) == ("shadow", "v2", 4)
        assert read.dead_letters(conn) == {T0: {"invalid_json": 3, "invalid_ride": 1}}


@pytest.mark.parametrize("finished_first", [False, True])
def test_predictions_and_finished_rides_join_in_either_order(db_url, finished_first):
    svc = service(db_url)
    preds = [prediction(i, 10.0 + i) for i in range(10)]
    done = [finished(i, 12.0) for i in range(10)]
    first, second = (done, preds) if finished_first else (preds, done)
    arns = (FINISHED_ARN, None) if finished_first else (None, FINISHED_ARN)
    run_window(svc, first, **({"arn": arns[0]} if arns[0] else {}))
    run_window(svc, second, start=T0 + 60, **({"arn": arns[1]} if arns[1] else {}))
    errors = [10.0 + i - 12.0 for i in range(10)]
    with svc.engine.connect() as conn:
        (row,) = read.quality(conn)
    finished_window = T0 if finished_first else T0 + 60
    assert (row.window_start, row.role, row.model_version, row.rides) == (
        finished_window,
        "champion",
        "v1",
        10,
    )
    assert row.rmse == pytest.approx(math.sqrt(sum(e * e for e in errors) / 10), abs=1e-9)
    assert row.mae == pytest.approx(sum(abs(e) for e in errors) / 10, abs=1e-9)


def test_redelivered_batches_and_duplicate_events_count_once(db_url):
    svc = service(db_url)
    preds = [prediction(i, 10.0) for i in range(20)]
    event = window_event(preds)
    svc.handle(event)
    svc.handle(event)  # the same batch again: a retry after a timeout
    svc.handle(window_event([prediction(3, 99.0)], start=T0 + 60))  # a replayed ride
    done = [finished(i, 11.0) for i in range(20)]
    svc.handle(window_event(done + done[:5], arn=FINISHED_ARN, start=T0 + 120))
    with svc.engine.connect() as conn:
        (row,) = read.quality(conn)
    assert (row.rides, row.rmse) == (20, pytest.approx(1.0))


def test_what_waits_too_long_is_counted_not_dropped_silently(db_url):
    svc = service(db_url, pending_ttl_s=600)
    run_window(svc, [prediction(i, 10.0) for i in range(5)])  # rides 0-4, never finished
    run_window(svc, [finished(100, 7.0)], arn=FINISHED_ARN)  # never predicted
    run_window(svc, [prediction(200, 5.0)], start=T0 + 900)  # recent: still waiting
    run_window(svc, [], start=T0 + 1200)  # a later window's end expires the old ones
    with svc.engine.connect() as conn:
        counts = read.join_counts(conn)
        pending = conn.execute(store.pending_predictions.select()).all()
    assert counts == {T0: {"never_finished": 5, "never_predicted": 1}}
    assert [p.ride_key for p in pending] == ["200"]


def test_the_pending_table_is_bounded(db_url):
    svc = service(db_url, pending_max=10)
    run_window(svc, [prediction(i, 10.0) for i in range(25)])
    with svc.engine.connect() as conn:
        left = conn.execute(store.pending_predictions.select()).all()
        counts = read.join_counts(conn)
    assert len(left) <= 10
    assert counts[T0]["evicted"] + len(left) == 25


def test_the_final_invocation_prints_metrics_for_the_alarms(db_url):
    lines: list[str] = []
    svc = service(db_url, lines, min_drift_records=10)
    svc._references["v1"] = Histogram.of([10.0] * 50 + [20.0] * 50)
    run_window(svc, [prediction(i, 10.0 if i % 2 else 20.0) for i in range(40)])
    run_window(svc, [finished(i, 12.0) for i in range(40)], arn=FINISHED_ARN)
    documents = [json.loads(line) for line in lines]
    champion = next(d for d in documents if "Predictions" in d)
    assert champion["Role"] == "champion" and champion["Predictions"] == 40
    assert champion["DriftPSI"] == pytest.approx(0.0, abs=1e-9)
    names = [m["Name"] for m in champion["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["Predictions", "DriftPSI", "DriftKS"]
    quality = next(d for d in documents if "RMSE" in d)
    assert quality["FinishedRides"] == 40 and quality["RMSE"] == pytest.approx(math.sqrt(34))


def test_without_a_tumbling_window_the_function_says_how_to_configure_it(db_url):
    svc = service(db_url)
    event = window_event([prediction(1, 5.0)])
    del event["window"]
    with pytest.raises(NotAWindowedEvent, match="TumblingWindowInSeconds"):
        svc.handle(event)


def test_unusable_records_are_counted_in_the_window_never_raised(db_url):
    svc = service(db_url)
    items = [
        b"\xff\xfe",
        b"[1, 2]",
        {"prediction": {"ride_id": True, "ride_duration": 1}},
        {"event": "ride_finished", "ride_id": 1},
        {"hello": 1},
        prediction(1, 5.0),
    ]
    state = svc.handle(window_event(items))["state"]
    assert state["skipped"] == {
        "not_json": 1,
        "not_an_object": 1,
        "bad_ride_id": 1,
        "finished_no_duration": 1,
        "unknown_event": 1,
    }
    assert state["versions"]["v1"]["records"] == 1


def test_rides_in_zones_the_model_does_not_know_are_counted_per_window(db_url):
    lines: list[str] = []
    svc = service(db_url, lines)
    svc.known_zones = (frozenset({130, 74}), frozenset({205, 75}))
    rides = [started(1), started(2, pu=999), started(3, do=1), started(4, 999, 1), started(5)]
    rides += [{"ride": {"PULocationID": "130", "DOLocationID": 205}, "ride_id": 6}]
    state = run_window(svc, rides, arn=RIDES_ARN)
    assert state == {"state": {}}
    with svc.engine.connect() as conn:
        assert read.rides(conn) == {T0: {"rides": 5, "unknown_zone_rides": 3}}
    (document,) = [json.loads(line) for line in lines if "RidesStarted" in line]
    assert document["UnknownZoneShare"] == pytest.approx(60.0)


def test_without_the_models_zones_rides_are_counted_and_the_share_is_unknown(db_url):
    svc = service(db_url)
    run_window(svc, [started(1), started(2, pu=999)], arn=RIDES_ARN)
    with svc.engine.connect() as conn:
        assert read.rides(conn) == {T0: {"rides": 2, "unknown_zone_rides": None}}


def test_the_schema_is_migrated_step_by_step_and_recorded(db_url):
    """A database at version 1 (before ride_windows) is brought to the latest, each
    step recorded; opening it again changes nothing; a newer one is refused."""
    from sqlalchemy import select

    from streaming.database.history import LATEST, MIGRATIONS, schema_version

    engine = store.make_engine(db_url)
    with engine.begin() as conn:  # what the first release made
        schema_version.create(conn)
        MIGRATIONS[0].apply(conn)
        conn.execute(schema_version.insert().values(version=1, description="v1", applied_at="x"))
    assert store.migrate(engine) == LATEST >= 2
    assert store.migrate(engine) == LATEST
    with engine.connect() as conn:
        versions = conn.execute(select(schema_version.c.version)).scalars().all()
    assert sorted(versions) == list(range(1, LATEST + 1))
    with engine.begin() as conn:
        conn.execute(
            schema_version.insert().values(version=LATEST + 1, description="future", applied_at="x")
        )
    with pytest.raises(store.StoreError, match="newer than this code"):
        store.migrate(engine)
