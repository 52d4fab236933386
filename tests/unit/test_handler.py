"""The batch handler without AWS: model and outputs injected, as in the course's ModelService."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streaming.consumer.config import Settings
from streaming.consumer.decode import decode_records
from streaming.consumer.encoding import compact_json
from streaming.consumer.features import feature_matrix
from streaming.consumer.handler import SCORE_SLICE_RECORDS, RideDurationService
from streaming.consumer.lambda_context import LocalContext
from streaming.consumer.records import Ride
from tests.conftest import COURSE_RIDE, decode_one, make_record
from tests.schemas import assert_valid
from tests.support import rides
from tests.support.senders import ScriptedSender


class RecordingMetrics:
    def __init__(self):
        self.values: dict[str, float] = {}

    def add_metric(self, name, unit, value):
        self.values[name] = self.values.get(name, 0) + value


def service(model, sender=None, metrics=None, **settings):
    defaults = {"predictions_stream": "preds", "dead_letter_stream": "dlq"}
    return RideDurationService(
        model,
        Settings(**(defaults | settings)),
        sender=sender,
        metrics=metrics,
        sleep=lambda s: None,
    )


def expected_minutes(model, records):
    rides = [decode_one(r, i) for i, r in enumerate(records)]
    assert all(isinstance(r, Ride) for r in rides)
    return model.predictor.predict(feature_matrix(rides)).tolist()


def ride_event(i, **ride):
    """Ride ``i``, its zones and distance varying with ``i``."""
    return rides.ride_event(i, 74 + i % 5, 75 + i % 7, 0.5 + i % 13, **ride)


def test_course_ride_256_in_test_run(shipped_model):
    record = make_record(COURSE_RIDE)
    response = service(shipped_model, test_run=True).handle({"Records": [record]})
    assert response["batchItemFailures"] == [] and response["rejected"] == []
    [prediction] = response["predictions"]
    assert prediction["model"] == "ride_duration_prediction_model"
    assert prediction["version"] == shipped_model.version
    assert prediction["prediction"]["ride_id"] == 256
    assert prediction["prediction"]["ride_duration"] == expected_minutes(shipped_model, [record])[0]
    assert 1.0 < prediction["prediction"]["ride_duration"] < 60.0
    assert prediction["source"] == {"eventID": record["eventID"]}
    assert_valid("prediction_event", prediction)
    assert_valid("ride_event", COURSE_RIDE)


def test_test_run_publishes_nothing_and_lists_rejections(shipped_model):
    sender = ScriptedSender()
    records = [make_record(COURSE_RIDE, 1), make_record(b"oops", 2, raw=True)]
    response = service(shipped_model, sender, test_run=True).handle({"Records": records})
    assert sender.calls == []
    assert [r["reason"] for r in response["rejected"]] == ["invalid_json"]
    assert response["rejected"][0]["source"] == {"eventID": records[1]["eventID"]}


def test_mixed_batch_publishes_predictions_and_dead_letters(shipped_model):
    sender = ScriptedSender()
    metrics = RecordingMetrics()
    records = [make_record(ride_event(i), seq=i + 1) for i in range(6)]
    records.insert(2, make_record(b"\xff", seq=100, raw=True))
    records.append(make_record({"ride": None, "ride_id": "x"}, seq=101))
    svc = service(shipped_model, sender, metrics)
    response = svc.handle({"Records": records}, LocalContext())
    assert response["batchItemFailures"] == []
    written = sender.written["preds"]
    assert [p["prediction"]["ride_id"] for p in written] == list(range(6))
    assert sender.keys["preds"] == [str(i) for i in range(6)]
    good = [r for i, r in enumerate(records) if i not in (2, 7)]
    assert [p["prediction"]["ride_duration"] for p in written] == expected_minutes(
        shipped_model, good
    )
    assert written == response["predictions"]
    for p in written:
        assert_valid("prediction_event", p)
    letters = sender.written["dlq"]
    assert [d["reason"] for d in letters] == ["invalid_utf8", "invalid_ride"]
    assert [d["sequenceNumber"] for d in letters] == [f"{100:056d}", f"{101:056d}"]
    for d in letters:
        assert_valid("dead_letter", d)
    counts = {
        k: v
        for k, v in metrics.values.items()
        if not k.startswith(("PredictedMinutes", "UnknownZone"))
    }
    assert counts | {"BatchLatency": 0} == {
        "RecordsIn": 8,
        "Predicted": 6,
        "Rejected": 2,
        "DeadLettered": 2,
        "RejectedNotDeadLettered": 0,
        "PublishRetries": 0,
        "Unpublished": 0,
        "BatchLatency": 0,
    }


def test_unpublished_predictions_are_reported_bad_records_never(shipped_model):
    # entries of rides 3 and 5 keep failing; the bad record's dead letter is written
    sender = ScriptedSender(
        fail=lambda stream, call, e: (
            "InternalFailure" if stream == "preds" and e.ref in (3, 5) else None
        )
    )
    records = [make_record(ride_event(i), seq=i + 1) for i in range(6)]
    records[1] = make_record(b"[]", seq=2, raw=True)
    metrics = RecordingMetrics()
    response = service(shipped_model, sender, metrics).handle({"Records": records})
    assert response["batchItemFailures"] == [
        {"itemIdentifier": records[3]["kinesis"]["sequenceNumber"]},
        {"itemIdentifier": records[5]["kinesis"]["sequenceNumber"]},
    ]
    assert metrics.values["Unpublished"] == 2
    assert metrics.values["PublishRetries"] > 0
    # nothing lost: every record is published, dead-lettered or reported
    published = {p["source"]["eventID"] for p in sender.written["preds"]}
    dead = {d["source"]["eventID"] for d in sender.written["dlq"]}
    reported = {
        f"shardId-000000000000:{f['itemIdentifier']}" for f in response["batchItemFailures"]
    }
    assert published | dead | reported == {r["eventID"] for r in records}


def test_a_batch_of_several_slices_answers_as_one_pass_would(shipped_model):
    """Scored slice by slice, a batch keeps its order, its records' indices (so each
    failure reports its own sequence number), its dead letters and its predictions."""
    n = 2 * SCORE_SLICE_RECORDS + 500  # three slices, the last one short
    records = [make_record(ride_event(i), seq=i + 1) for i in range(n)]
    bad = [7, SCORE_SLICE_RECORDS + 1, n - 3]  # one in each slice
    for i in bad:
        records[i] = make_record(b"[]", seq=i + 1, raw=True)
    failing = {5, SCORE_SLICE_RECORDS + 9, n - 1}  # ride ids whose entries always fail
    sender = ScriptedSender(
        fail=lambda stream, call, e: "InternalFailure" if e.ref in failing else None
    )
    response = service(shipped_model, sender).handle({"Records": records})
    good = [r for i, r in enumerate(records) if i not in bad]
    assert [p["prediction"]["ride_id"] for p in response["predictions"]] == [
        i for i in range(n) if i not in bad
    ]
    assert [p["prediction"]["ride_duration"] for p in response["predictions"]] == (
        expected_minutes(shipped_model, good)
    )
    assert sorted(p["prediction"]["ride_id"] for p in sender.written["preds"]) == sorted(
        i for i in range(n) if i not in bad and i not in failing
    )
    assert [d["sequenceNumber"] for d in sender.written["dlq"]] == [f"{i + 1:056d}" for i in bad]
    assert response["batchItemFailures"] == [
        {"itemIdentifier": records[i]["kinesis"]["sequenceNumber"]} for i in sorted(failing)
    ]


def test_a_dead_letter_that_cannot_be_written_is_reported(shipped_model):
    sender = ScriptedSender(
        fail=lambda stream, call, e: "InternalFailure" if stream == "dlq" else None
    )
    records = [make_record(ride_event(0), seq=1), make_record(b"{", seq=2, raw=True)]
    response = service(shipped_model, sender).handle({"Records": records})
    assert response["batchItemFailures"] == [{"itemIdentifier": f"{2:056d}"}]


def test_without_dead_letter_stream_rejections_are_counted_not_reported(shipped_model):
    sender = ScriptedSender()
    metrics = RecordingMetrics()
    records = [make_record(b"{", seq=1, raw=True), make_record(ride_event(1), seq=2)]
    svc = service(shipped_model, sender, metrics, dead_letter_stream=None)
    response = svc.handle({"Records": records})
    assert response["batchItemFailures"] == []
    assert metrics.values["RejectedNotDeadLettered"] == 1
    assert [s for s, _ in sender.calls] == ["preds"]


def test_publishing_stops_at_the_invocation_deadline(shipped_model):
    sender = ScriptedSender(fail=lambda stream, call, e: "ProvisionedThroughputExceededException")
    records = [make_record(ride_event(i), seq=i + 1) for i in range(3)]
    svc = RideDurationService(
        shipped_model, Settings(publish_max_attempts=50), sender=sender
    )  # real sleep: the deadline must end it
    response = svc.handle({"Records": records}, LocalContext(timeout_s=3.0))
    assert len(response["batchItemFailures"]) == 3
    assert 1 < len(sender.calls) < 50


def test_version_precedence(shipped_model):
    record = make_record(COURSE_RIDE)
    run_id = service(shipped_model, test_run=True, model_version_override="run-123")
    assert run_id.handle({"Records": [record]})["predictions"][0]["version"] == "run-123"
    assert Settings.from_env({"RUN_ID": "r1"}).model_version_override == "r1"
    assert Settings.from_env({"RUN_ID": "r1", "MODEL_VERSION": "m2"}).model_version_override == "m2"


def test_ten_thousand_records_in_one_vectorised_call_per_slice(shipped_model):
    """Never a call per ride: one call per slice of SCORE_SLICE_RECORDS (the slices
    let a slice's PutRecords calls wait on the network while the next is scored)."""
    records = [
        make_record(
            ride_event(i, pickup_datetime=f"2023-02-{1 + i % 28:02d}T{i % 24:02d}:00:00"), seq=i + 1
        )
        for i in range(10_000)
    ]
    calls = []
    real_predict = shipped_model.predictor.predict

    class Spy:
        def predict(self, x):
            calls.append(len(x))
            return real_predict(x)

    svc = service(shipped_model, test_run=True)
    svc.model = type(shipped_model)(Spy(), shipped_model.metadata, "spy")
    response = svc.handle({"Records": records})
    assert calls == [SCORE_SLICE_RECORDS] * (10_000 // SCORE_SLICE_RECORDS)
    assert len(response["predictions"]) == 10_000
    assert len(json.dumps(response)) < 6_000_000  # Lambda's response limit
    got = np.array([p["prediction"]["ride_duration"] for p in response["predictions"]])
    assert np.array_equal(got, np.array(expected_minutes(shipped_model, records)))


@pytest.mark.parametrize("event", [None, [], {}, {"Records": "x"}])
def test_not_a_kinesis_event(shipped_model, event):
    with pytest.raises(ValueError, match="Kinesis event"):
        service(shipped_model, test_run=True).handle(event)


def test_empty_batch(shipped_model):
    sender = ScriptedSender()
    assert service(shipped_model, sender).handle({"Records": []}) == {
        "batchItemFailures": [],
        "predictions": [],
    }
    assert sender.calls == []


def test_rejections_without_dead_letter_stream_are_logged_as_errors(shipped_model):
    import io
    import logging

    from aws_lambda_powertools import Logger

    buffer = io.StringIO()
    logger = Logger(service="test-handler", logger_handler=logging.StreamHandler(buffer))
    svc = RideDurationService(
        shipped_model, Settings(dead_letter_stream=None), sender=ScriptedSender(), logger=logger
    )
    svc.handle({"Records": [make_record(b"{", seq=9, raw=True), make_record(COURSE_RIDE, 10)]})
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["reason"] == "invalid_json"
    assert errors[0]["sequenceNumber"] == f"{9:056d}"
    summary = [line for line in lines if line["message"] == "batch processed"]
    assert summary[0]["rejected"] == 1 and summary[0]["predicted"] == 1


def test_cyclic_gc_is_paused_for_the_batch_and_restored(shipped_model):
    import gc

    seen = []

    class Probe:
        def predict(self, x):
            seen.append(gc.isenabled())
            return shipped_model.predictor.predict(x)

    svc = service(shipped_model, test_run=True)
    svc.model = type(shipped_model)(Probe(), shipped_model.metadata, "probe")
    assert gc.isenabled()
    svc.handle({"Records": [make_record(COURSE_RIDE)]})
    assert seen == [False] and gc.isenabled()

    with pytest.raises(ValueError, match="Records"):
        svc.handle({"not": "a Kinesis event"})
    assert gc.isenabled()  # restored even when the invocation fails


def test_model_monitoring_metrics(shipped_model):
    metrics = RecordingMetrics()
    known = [make_record(ride_event(i), seq=i + 1) for i in range(3)]
    unknown = [
        make_record(
            {
                "ride": {"PULocationID": 9999, "DOLocationID": 75, "trip_distance": 2.0},
                "ride_id": 9,
            },
            seq=10,
        )
    ]
    service(shipped_model, metrics=metrics, test_run=True).handle({"Records": known + unknown})
    assert metrics.values["UnknownZoneShare"] == 25.0
    minutes = np.array(expected_minutes(shipped_model, known + unknown))
    assert metrics.values["PredictedMinutesMean"] == pytest.approx(minutes.mean())
    assert metrics.values["PredictedMinutesMax"] == pytest.approx(minutes.max())
    assert metrics.values["PredictedMinutesP50"] <= metrics.values["PredictedMinutesP90"]


# -- poison records: each is dead-lettered, the rest of the batch goes on --

POISON = {
    "PU 400 digits": {"PULocationID": 10**400},
    "DO minus 400 digits": {"DOLocationID": -(10**400)},
    "PU negative": {"PULocationID": -5},
    "pickup year 1 UTC": {"pickup_datetime": "0001-01-01T00:00:00+00:00"},
    "pickup year 1 +14:00": {"pickup_datetime": "0001-01-01T00:00:00+14:00"},
    "pickup 9999 -01:00": {"pickup_datetime": "9999-12-31T23:59:59-01:00"},
    "pickup 9999 New York": {"pickup_datetime": "9999-12-31T20:00:00-05:00"},
}


@pytest.mark.parametrize("case", sorted(POISON))
def test_a_poison_record_is_dead_lettered_and_the_batch_goes_on(shipped_model, case):
    records = [
        make_record(ride_event(1), seq=1),
        make_record(ride_event(2, **POISON[case]), seq=2),
        make_record(ride_event(3), seq=3),
    ]
    sender = ScriptedSender()
    response = service(shipped_model, sender).handle({"Records": records})
    assert response["batchItemFailures"] == []
    assert [p["prediction"]["ride_id"] for p in sender.written["preds"]] == [1, 3]
    [letter] = sender.written["dlq"]
    assert letter["source"] == {"eventID": records[1]["eventID"]}
    assert letter["reason"] in {"invalid_location_id", "invalid_pickup_datetime"}
    assert_valid("dead_letter", letter)


class _Answers:
    """A predictor that answers given values (a broken model, not a mock of AWS)."""

    def __init__(self, values, fail_rows=()):
        self.values = values
        self.fail_rows = set(fail_rows)

    def predict(self, x):
        rows = x[:, 2].astype(int).tolist()  # trip_distance = row number here
        if any(r in self.fail_rows for r in rows):
            raise FloatingPointError("model bug")
        return np.array([self.values[r] for r in rows])


def _numbered_records(n):
    return [make_record(ride_event(i, trip_distance=float(i)), seq=i + 1) for i in range(n)]


def test_a_non_finite_prediction_is_never_published(shipped_model):
    svc = service(shipped_model, ScriptedSender())
    svc.model = type(shipped_model)(
        _Answers([5.0, float("nan"), float("inf"), 7.0]), shipped_model.metadata, "bad"
    )
    response = svc.handle({"Records": _numbered_records(4)})
    sender = svc._sender
    assert response["batchItemFailures"] == []
    assert [p["prediction"]["ride_duration"] for p in sender.written["preds"]] == [5.0, 7.0]
    letters = sender.written["dlq"]
    assert [letter["reason"] for letter in letters] == ["prediction_not_finite"] * 2
    assert [letter["sequenceNumber"] for letter in letters] == [f"{i:056d}" for i in (2, 3)]
    json.dumps(response, allow_nan=False)  # the response is JSON too


def test_a_model_that_raises_for_one_ride_costs_only_that_ride(shipped_model):
    svc = service(shipped_model, ScriptedSender())
    svc.model = type(shipped_model)(
        _Answers([5.0, 6.0, 7.0], fail_rows={1}), shipped_model.metadata, "bad"
    )
    response = svc.handle({"Records": _numbered_records(3)})
    assert response["batchItemFailures"] == []
    assert [p["prediction"]["ride_id"] for p in svc._sender.written["preds"]] == [0, 2]
    [letter] = svc._sender.written["dlq"]
    assert letter["reason"] == "prediction_failed" and "FloatingPointError" in letter["detail"]
    assert_valid("dead_letter", letter)


def test_a_reserve_that_leaves_no_time_to_publish_is_logged(shipped_model):
    import io
    import logging

    from aws_lambda_powertools import Logger

    buffer = io.StringIO()
    logger = Logger(service="test-handler-reserve", logger_handler=logging.StreamHandler(buffer))
    sender = ScriptedSender()
    svc = RideDurationService(
        shipped_model,
        Settings(predictions_stream="preds", publish_time_reserve_s=5.0),
        sender=sender,
        logger=logger,
    )
    record = make_record(COURSE_RIDE, seq=3)
    response = svc.handle({"Records": [record]}, LocalContext(timeout_s=5.2))
    assert sender.calls == []  # no call could finish before the reserve
    assert response["batchItemFailures"] == [{"itemIdentifier": f"{3:056d}"}]
    errors = [json.loads(x) for x in buffer.getvalue().splitlines() if '"ERROR"' in x]
    assert any("PUBLISH_TIME_RESERVE_MS" in e["message"] for e in errors)


def test_the_course_unit_test_event_is_predicted_at_the_invocation_time(shipped_model):
    """MLOps Zoomcamp's own unit test: {"Records": [{"kinesis": {"data": ...}}]}, with no
    arrival time and no sequence number. One rule in every mode: no pickup_datetime and
    no arrival time -> the invocation time, said in the output."""
    import base64
    from datetime import datetime

    from streaming.consumer.features import NEW_YORK

    data = base64.b64encode(json.dumps(COURSE_RIDE).encode()).decode()
    event = {"Records": [{"kinesis": {"data": data}}]}
    invoked = 1_675_257_300.0  # 2023-02-01T13:15Z = 08:15 in New York
    svc = RideDurationService(shipped_model, Settings(test_run=True), clock=lambda: invoked)
    response = svc.handle(event)
    assert response["batchItemFailures"] == [] and response["rejected"] == []
    [prediction] = response["predictions"]
    assert prediction["pickupTime"] == {"source": "invocation", "epoch": invoked}
    assert_valid("prediction_event", prediction)
    local = datetime.fromtimestamp(invoked, NEW_YORK).replace(tzinfo=None).isoformat()
    same_ride = make_record(
        {"ride": dict(COURSE_RIDE["ride"], pickup_datetime=local), "ride_id": 256}
    )
    assert (
        prediction["prediction"]["ride_duration"] == expected_minutes(shipped_model, [same_ride])[0]
    )


def test_an_arrival_time_is_used_before_the_invocation_time(shipped_model):
    svc = RideDurationService(shipped_model, Settings(test_run=True), clock=lambda: 0.0)
    record = make_record(COURSE_RIDE)  # has approximateArrivalTimestamp
    [prediction] = svc.handle({"Records": [record]})["predictions"]
    assert "pickupTime" not in prediction
    assert prediction["prediction"]["ride_duration"] == expected_minutes(shipped_model, [record])[0]


def test_the_handlers_events_take_the_encoders_template(shipped_model, monkeypatch):
    """The template encoder (``PredictionEncoder``) only pays off if the handler's
    usual events match it; one that did not would be encoded twice over."""
    from streaming.consumer import encoding

    def no_fallback(value):
        raise AssertionError(f"fell back to compact_json for {value!r}")

    sender = ScriptedSender()
    records = [make_record(ride_event(i), seq=i + 1) for i in range(3)]
    svc = service(shipped_model, sender)
    monkeypatch.setattr(encoding, "compact_json", no_fallback)
    response = svc.handle({"Records": records}, LocalContext())
    assert all(svc._encode(p) for p in response["predictions"])  # the dict path too
    monkeypatch.undo()
    assert response["predictions"] == sender.written["preds"]
    # the handler's own path (three values, no dict checks) writes the same bytes
    rides = [r for r in decode_records(records) if isinstance(r, Ride)]
    entries = svc._prediction_entries(response["predictions"], rides)
    assert [e.data for e in entries] == [compact_json(p) for p in response["predictions"]]
