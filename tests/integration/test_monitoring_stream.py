"""The monitoring function behind the local event source mapping, on the emulator's
streams: tumbling windows over real Kinesis records, and the runner killed mid-window
and restarted (its checkpoint held at the window's start): nothing lost, nothing
counted twice."""

from __future__ import annotations

import json
import threading
import time

import pytest

from streaming.esm.checkpoints import CheckpointStore
from streaming.esm.runner import EventSourceMapping, MappingConfig
from streaming.monitoring import read, store
from streaming.monitoring.service import MonitoringService
from streaming.monitoring.settings import MonitoringSettings
from tests.monitoring.conftest import finished, prediction
from tests.support.streams import put, run_to_idle

pytestmark = [pytest.mark.integration]

WINDOW_S = 4


def _to_next_window() -> float:
    return WINDOW_S - (time.time() % WINDOW_S) + 0.05


def test_a_runner_killed_mid_window_counts_the_window_once(kinesis, new_stream, tmp_path):
    predictions, done = new_stream(shards=1), new_stream(shards=1)
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    svc = MonitoringService(
        store.open_store(url), MonitoringSettings(db_url=url), emit=lambda _line: None
    )
    time.sleep(_to_next_window())  # every record in one window
    put(kinesis, predictions, [json.dumps(prediction(i, 10.0)).encode() for i in range(40)])
    summary = kinesis.describe_stream_summary(StreamName=predictions)["StreamDescriptionSummary"]
    arn, created = summary["StreamARN"], summary["StreamCreationTimestamp"]
    path = tmp_path / "checkpoints.json"
    config = MappingConfig(tumbling_window_s=WINDOW_S, batch_size=10, poll_interval_s=0.05)

    stop = threading.Event()
    calls = []

    def dies_after_two_batches(event, context):
        calls.append(len(event["Records"]))
        if len(calls) == 2:
            stop.set()  # the runner is killed: its window state is gone
        return svc.handle(event, context)

    first = EventSourceMapping(
        kinesis, predictions, dies_after_two_batches, config,
        checkpoints=CheckpointStore.load(path, arn, created),
    )  # fmt: skip
    first.run(stop)
    assert calls == [10, 10]
    with svc.engine.connect() as conn:
        assert read.windows(conn) == []  # the window never closed

    run_to_idle(
        kinesis, predictions, svc.handle, tumbling_window_s=WINDOW_S, batch_size=10,
        idle_s=WINDOW_S + 1.0, checkpoints=CheckpointStore.load(path, arn, created),
    )  # fmt: skip
    put(kinesis, done, [json.dumps(finished(i, 12.0)).encode() for i in range(40)])
    run_to_idle(kinesis, done, svc.handle, tumbling_window_s=WINDOW_S, idle_s=WINDOW_S + 1.0)
    with svc.engine.connect() as conn:
        (window,) = read.windows(conn)
        (quality,) = read.quality(conn)
    assert window.records == 40  # the whole window once: not 20 (lost), not 60 (doubled)
    assert (quality.rides, quality.rmse) == (40, pytest.approx(2.0))
