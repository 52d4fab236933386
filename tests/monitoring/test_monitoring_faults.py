"""Faults under the monitoring function: the database down and restarted mid-window, a
lock held past the lock timeout. The batch raises (the mapping retries it with the
same state), nothing is half written, and the window and the join count exactly."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from streaming.monitoring import read, store
from streaming.monitoring.service import MonitoringService
from streaming.monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import FINISHED_ARN, finished, prediction, window_event
from tests.support.postgres import fresh_database, postgres_server


def _service(url: str, lock_timeout_s: float = 5) -> MonitoringService:
    engine = store.open_store(url, lock_timeout_s=lock_timeout_s)
    return MonitoringService(engine, MonitoringSettings(db_url=url))


def _retry_until_it_passes(svc: MonitoringService, event: dict, attempts: int = 20) -> dict:
    """What the mapping does with a failed batch: the same event again."""
    for _ in range(attempts - 1):
        try:
            return svc.handle(event)
        except OperationalError:
            continue
    return svc.handle(event)


def test_the_database_restarted_mid_window_loses_and_doubles_nothing():
    with postgres_server() as server:
        url = fresh_database(server.url)
        svc = _service(url)
        batches = [[prediction(i, 10.0) for i in range(k, k + 10)] for k in (0, 10, 20)]
        state = svc.handle(window_event(batches[0]))["state"]
        server.stop()
        second = window_event(batches[1], state=state)
        with pytest.raises(OperationalError):
            svc.handle(second)  # down: the batch fails, the state stays the old one
        server.start()
        state = _retry_until_it_passes(svc, second)["state"]
        server.stop("immediate")  # a crash, not a clean shutdown
        server.start()
        state = _retry_until_it_passes(svc, window_event(batches[2], state=state))["state"]
        _retry_until_it_passes(svc, window_event([], state=state, final=True))
        done = [finished(i, 12.0) for i in range(30)]
        state = _retry_until_it_passes(svc, window_event(done, arn=FINISHED_ARN))["state"]
        _retry_until_it_passes(svc, window_event([], state=state, final=True, arn=FINISHED_ARN))
        with svc.engine.connect() as conn:
            (row,) = read.windows(conn)
            (quality,) = read.quality(conn)
        assert row.records == 30
        assert (quality.rides, quality.rmse) == (30, pytest.approx(2.0))


def _hold_lock_postgres(url: str, held: threading.Event, release: threading.Event) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE pending_predictions IN ACCESS EXCLUSIVE MODE")
        held.set()
        release.wait(30)


def _hold_lock_sqlite(path: str, held: threading.Event, release: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    held.set()
    release.wait(30)
    conn.execute("ROLLBACK")
    conn.close()


def test_a_lock_held_past_the_timeout_fails_the_batch_and_the_retry_counts_once(db_url):
    svc = _service(db_url, lock_timeout_s=0.5)
    held, release = threading.Event(), threading.Event()
    if db_url.startswith("sqlite"):
        target, arg = _hold_lock_sqlite, db_url.removeprefix("sqlite:///")
    else:
        target, arg = _hold_lock_postgres, db_url
    holder = threading.Thread(target=target, args=(arg, held, release))
    holder.start()
    try:
        assert held.wait(10)
        event = window_event([prediction(i, 10.0) for i in range(10)])
        with pytest.raises(OperationalError):
            svc.handle(event)
    finally:
        release.set()
        holder.join(30)
    state = svc.handle(event)["state"]
    assert state["versions"]["v1"]["records"] == 10
    svc.handle(window_event([finished(i, 11.0) for i in range(10)], arn=FINISHED_ARN))
    with svc.engine.connect() as conn:
        (quality,) = read.quality(conn)
    assert quality.rides == 10
