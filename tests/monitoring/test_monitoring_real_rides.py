"""The monitoring function on real rides (February 2023) and the shipped model:
its RMSE per window is ``streaming evaluate``'s on the same rides, and its drift
alarm passes the threshold on an engineered shift while the real month stays under."""

from __future__ import annotations

import json

import pytest

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.monitoring import read, store
from streaming.monitoring.build import load_models
from streaming.monitoring.service import MonitoringService
from streaming.monitoring.settings import MonitoringSettings
from streaming.tools import evaluate, finished, produce
from streaming.training import tlc
from tests.conftest import DATA, MODELS, make_record
from tests.monitoring.conftest import FINISHED_ARN, window_event

#: the alarm's threshold (template.yaml): PSI above 0.2 is a shift worth acting on
PSI_THRESHOLD = 0.2
RIDES = 3000


@pytest.fixture(scope="module")
def february():
    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2023-02"))
    return produce.sample_trips(trips, RIDES, seed=7)


def predict(model, events) -> list[dict]:
    """The prediction function's output events for ``events`` (TEST_RUN: nothing sent)."""
    service = RideDurationService(model, Settings(predictions_stream="p", test_run=True))
    records = [make_record(e, seq=i + 1) for i, e in enumerate(events)]
    out: list[dict] = []
    for i in range(0, len(records), 1000):
        out.extend(service.handle({"Records": records[i : i + 1000]})["predictions"])
    return out


def monitor(db_url, lines=None) -> MonitoringService:
    references, _zones = load_models(((str(MODELS), None, "champion"),))
    engine = store.open_store(db_url)
    with engine.begin() as conn:
        for version, histogram in references.items():
            store.write_reference(conn, version, histogram.counts)
    emit = lines.append if lines is not None else (lambda _line: None)
    return MonitoringService(engine, MonitoringSettings(db_url=db_url), emit=emit)


def one_window(svc, items, **kw) -> None:
    state: dict = {}
    for i in range(0, len(items), 500):
        state = svc.handle(window_event(items[i : i + 500], state=state, **kw))["state"]
    svc.handle(window_event([], state=state, final=True, **kw))


def test_rmse_per_window_is_what_streaming_evaluate_says(db_url, shipped_model, february):
    predictions = predict(shipped_model, tlc.ride_events(february))
    svc = monitor(db_url)
    one_window(svc, predictions)
    one_window(svc, finished.finished_events(february), arn=FINISHED_ARN)
    with svc.engine.connect() as conn:
        (row,) = read.quality(conn)
    report = evaluate.evaluate(predictions, february)
    assert row.rides == report["rides"] == RIDES
    assert row.rmse == pytest.approx(report["rmse"], abs=1e-6)


def _psi_line(lines: list[str]) -> float:
    (document,) = [d for d in map(json.loads, lines) if "DriftPSI" in d]
    return document["DriftPSI"]


def test_drift_passes_the_threshold_on_a_shift_and_not_on_the_real_month(
    tmp_path, shipped_model, february
):
    events = tlc.ride_events(february)
    stable: list[str] = []
    one_window(monitor(f"sqlite:///{tmp_path / 'a.db'}", stable), predict(shipped_model, events))
    for event in events:
        event["ride"]["trip_distance"] *= 2  # an engineered shift: every ride twice as long
    shifted: list[str] = []
    svc = monitor(f"sqlite:///{tmp_path / 'b.db'}", shifted)
    one_window(svc, predict(shipped_model, events))
    print(f"PSI: real month {_psi_line(stable):.4f}, distances x2 {_psi_line(shifted):.4f}")
    assert _psi_line(stable) < PSI_THRESHOLD < _psi_line(shifted)
