"""One Kinesis batch, end to end: decode -> validate -> features -> predict -> publish -> respond.

``RideDurationService`` is built once per container (the cold start) with the
model and settings injected, like the course's ``ModelService``, so tests
drive it without AWS. Kinesis is reached only through ``publish``.

Partial batch responses (Lambda docs, *Configuring partial batch response
with Kinesis*): the function returns the sequence numbers of records it could
not finish in ``batchItemFailures``, and Lambda retries from the lowest of
them. A record is reported only when its output (prediction or dead letter)
was not written - a transient failure. Bad input is never reported (it would
fail again on every retry and block the shard); it is dead-lettered instead.
Lambda re-sends everything after the lowest reported record, so a consumer
may see a prediction twice: every output carries its ``source`` (eventID =
shard + sequence number) to drop duplicates by. Within one invocation no
output is sent twice unless a PutRecords call's outcome was unknown (timeout).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaming.config import MODEL_NAME, Settings
from streaming.deadletter import dead_letter_event
from streaming.deadletter import encode as encode_dead_letter
from streaming.deadletter import partition_key as dead_letter_key
from streaming.events import Reason, RecordRef, Rejection, Ride, decode_records
from streaming.features import FEATURES, feature_matrix
from streaming.model import LoadedModel, load_model
from streaming.publish import Entry, PublishOutcome, RetryPolicy, Sender, kinesis_sender, publish

#: Lambda's synchronous response payload limit is 6 MB; the ``predictions``
#: list is dropped from the response (not from the stream) above this.
MAX_RESPONSE_BYTES = 5_500_000


@dataclass
class BatchResult:
    """What one invocation did; ``response()`` is what Lambda gets back."""

    predictions: list[dict[str, Any]]
    rejections: list[Rejection]
    failed_refs: list[RecordRef]
    test_run: bool
    publish_outcomes: dict[str, PublishOutcome] = field(default_factory=dict)
    not_dead_lettered: int = 0
    unreportable: int = 0
    #: the invocation began with less time than one PutRecords call needs
    #: (PUBLISH_TIME_RESERVE_MS too close to the function's timeout)
    no_time_to_publish: bool = False
    duration_ms: float = 0.0
    #: model monitoring figures of the batch (metric name -> value)
    monitoring: dict[str, float] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "batchItemFailures": [
                {"itemIdentifier": ref.sequence_number}
                for ref in self.failed_refs
                if ref.sequence_number is not None
            ],
        }
        if _estimated_size(self.predictions) <= MAX_RESPONSE_BYTES:
            out["predictions"] = self.predictions
        else:
            out["predictions"] = []
            out["predictionsOmitted"] = len(self.predictions)
        if self.test_run:
            out["rejected"] = [
                {"source": r.ref.source(), "reason": r.reason.value, "detail": r.detail}
                for r in self.rejections
            ]
        return out


def _estimated_size(predictions: list[dict[str, Any]]) -> int:
    """Upper-bound the JSON size cheaply (no encoding on the hot path)."""
    total = 0
    for p in predictions:
        total += 200 + len(str(p["prediction"]["ride_id"])) + len(p["source"]["eventID"] or "")
    return total


class RideDurationService:
    """The stream consumer: model and outputs injected, AWS only behind ``Sender``."""

    def __init__(
        self,
        model: LoadedModel,
        settings: Settings,
        *,
        sender: Sender | None = None,
        logger: Any = None,
        metrics: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.settings = settings
        self.version = settings.model_version_override or model.version
        self.model_name = model.name or MODEL_NAME
        self._sender = sender
        self._logger = logger
        self._metrics = metrics
        self._sleep = sleep
        self._policy = RetryPolicy(max_attempts=settings.publish_max_attempts)

    # -- the one-call facade -------------------------------------------------

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Lambda's entry: returns the partial-batch response."""
        result = self.process(event, context)
        self._observe(result)
        return result.response()

    def process(self, event: Any, context: Any = None) -> BatchResult:
        """Do the batch; return the typed result (``handle`` adds logs and metrics)."""
        with _cyclic_gc_paused():
            return self._process(event, context)

    def _process(self, event: Any, context: Any) -> BatchResult:
        started = time.perf_counter()
        records = _records(event)
        rides: list[Ride] = []
        rejections: list[Rejection] = []
        for item in decode_records(records):
            if isinstance(item, Ride):
                rides.append(item)
            else:
                rejections.append(item)

        rides, x, minutes, unanswered = predict_rides(self.model.predictor, rides)
        rejections.extend(unanswered)
        predictions = self._prediction_events(rides, minutes.tolist())
        result = BatchResult(predictions, rejections, [], self.settings.test_run)
        result.monitoring = batch_monitoring(self.model.predictor, x, minutes)
        if not self.settings.test_run:
            self._publish(result, rides, _time_left(context, self.settings.publish_time_reserve_s))
        result.duration_ms = (time.perf_counter() - started) * 1000.0
        return result

    def _prediction_events(self, rides: list[Ride], minutes: list[float]) -> list[dict[str, Any]]:
        name, version = self.model_name, self.version
        return [
            {
                "model": name,
                "version": version,
                "prediction": {"ride_duration": duration, "ride_id": ride.ride_id},
                "source": ride.ref.source(),
            }
            for ride, duration in zip(rides, minutes, strict=True)
        ]

    # -- publishing ------------------------------------------------------------

    def _publish(
        self, result: BatchResult, rides: list[Ride], time_left: Callable[[], float]
    ) -> None:
        result.no_time_to_publish = not time_left() >= self._policy.min_time_for_attempt_s
        refs: dict[int, RecordRef] = {r.ref.index: r.ref for r in rides}
        entries = [
            Entry(_encode(p), ride.partition_key, ride.ref.index)
            for p, ride in zip(result.predictions, rides, strict=True)
        ]
        failed: set[int] = set()
        if entries:
            outcome = self._put(self.settings.predictions_stream, entries, time_left)
            result.publish_outcomes["predictions"] = outcome
            failed.update(outcome.failed)
        if result.rejections:
            if self.settings.dead_letter_stream:
                dl_entries = []
                for rej in result.rejections:
                    refs[rej.ref.index] = rej.ref
                    letter = dead_letter_event(rej, version=self.version)
                    dl_entries.append(
                        Entry(encode_dead_letter(letter), dead_letter_key(rej), rej.ref.index)
                    )
                outcome = self._put(self.settings.dead_letter_stream, dl_entries, time_left)
                result.publish_outcomes["dead_letters"] = outcome
                failed.update(outcome.failed)
            else:
                # No dead-letter stream: log loudly and count, but never block the shard.
                result.not_dead_lettered = len(result.rejections)
        result.failed_refs = [refs[i] for i in sorted(failed)]
        result.unreportable = sum(1 for r in result.failed_refs if r.sequence_number is None)

    def _put(
        self, stream: str, entries: list[Entry], time_left: Callable[[], float]
    ) -> PublishOutcome:
        if self._sender is None:
            self._sender = kinesis_sender(make_kinesis_client(self.settings.kinesis_endpoint_url))
        return publish(
            self._sender,
            stream,
            entries,
            policy=self._policy,
            time_left=time_left,
            sleep=self._sleep,
        )

    # -- logs and metrics ------------------------------------------------------

    def _observe(self, result: BatchResult) -> None:
        from streaming.observability import COUNT, MILLISECONDS, NO_UNIT, PERCENT

        log, metrics = self._logger, self._metrics
        outcomes = result.publish_outcomes
        retries = sum(o.retried_entries for o in outcomes.values())
        dead_lettered = 0
        if "dead_letters" in outcomes:
            dead_lettered = outcomes["dead_letters"].published
        if metrics is not None:
            for name, value in (
                ("RecordsIn", len(result.predictions) + len(result.rejections)),
                ("Predicted", len(result.predictions)),
                ("Rejected", len(result.rejections)),
                ("DeadLettered", dead_lettered),
                ("RejectedNotDeadLettered", result.not_dead_lettered),
                ("PublishRetries", retries),
                ("Unpublished", len(result.failed_refs)),
            ):
                metrics.add_metric(name=name, unit=COUNT, value=value)
            metrics.add_metric(name="BatchLatency", unit=MILLISECONDS, value=result.duration_ms)
            for name, value in result.monitoring.items():
                unit = PERCENT if name == "UnknownZoneShare" else NO_UNIT
                metrics.add_metric(name=name, unit=unit, value=value)
        if log is None:
            return
        for rej in result.rejections:
            fields = {
                "reason": rej.reason.value,
                "detail": rej.detail,
                "source": rej.ref.source(),
                "sequenceNumber": rej.ref.sequence_number,
            }
            if result.not_dead_lettered and not result.test_run:
                log.error(
                    "rejected record not dead-lettered (DEAD_LETTER_STREAM_NAME unset)",
                    extra=fields,
                )
            else:
                log.warning("record rejected", extra=fields)
        for stream, outcome in outcomes.items():
            if outcome.failed:
                log.error(
                    "records not published; reported in batchItemFailures for Lambda to retry",
                    extra={
                        "output": stream,
                        "unpublished": len(outcome.failed),
                        "errors": dict(outcome.errors),
                        "gave_up": outcome.gave_up_reason,
                    },
                )
        if result.no_time_to_publish:
            log.error(
                "no time to publish: the invocation started with less time left than "
                "PUBLISH_TIME_RESERVE_MS plus one call; raise the function timeout or "
                "lower PUBLISH_TIME_RESERVE_MS",
                extra={"reserve_s": self.settings.publish_time_reserve_s},
            )
        if result.unreportable:
            log.error(
                "failed records without a sequence number cannot be reported",
                extra={"count": result.unreportable},
            )
        log.info(
            "batch processed",
            extra={
                "records": len(result.predictions) + len(result.rejections),
                "predicted": len(result.predictions),
                "rejected": len(result.rejections),
                "dead_lettered": dead_lettered,
                "unpublished": len(result.failed_refs),
                "publish_retries": retries,
                "duration_ms": round(result.duration_ms, 2),
                "test_run": result.test_run,
                "model_version": self.version,
            },
        )


def predict_rides(
    predictor: Any, rides: list[Ride]
) -> tuple[list[Ride], np.ndarray, np.ndarray, list[Rejection]]:
    """Features and minutes for the valid rides: (rides answered, their feature rows,
    their minutes, rejections for the rest).

    Validation bounds every value, so features and the model are total on valid
    rides (the property tests search for counter-examples). Still, one ride must
    never take its batch down: if the vectorised step raises, each ride is tried
    alone and only those that raise are rejected (``prediction_failed``); a
    non-finite answer (NaN is not JSON) is rejected as ``prediction_not_finite``.
    Such a ride's dead letter carries its Kinesis record's data: for a KPL user
    record that is the whole aggregate, whose replay repeats its other rides.
    """
    if not rides:
        return rides, np.empty((0, len(FEATURES))), np.empty(0), []
    unanswered: list[Rejection] = []
    try:
        x = feature_matrix(rides)
        minutes = _minutes(predictor, x)
    except Exception:
        rides, x, minutes, unanswered = _predict_one_by_one(predictor, rides)
    finite = np.isfinite(minutes)
    if not finite.all():
        for ride, value in zip(rides, minutes, strict=True):
            if not math.isfinite(value):
                detail = f"the model answered {value} for this ride; only finite minutes are sent"
                unanswered.append(_unanswered(Reason.PREDICTION_NOT_FINITE, detail, ride))
        rides = [ride for ride, ok in zip(rides, finite, strict=True) if ok]
        x, minutes = x[finite], minutes[finite]
    return rides, x, minutes, unanswered


def _minutes(predictor: Any, x: np.ndarray) -> np.ndarray:
    minutes = np.asarray(predictor.predict(x), dtype=np.float64)
    if minutes.shape != (len(x),):
        raise ValueError(f"the model gave shape {minutes.shape} for {len(x)} rows")
    return minutes


def _predict_one_by_one(
    predictor: Any, rides: list[Ride]
) -> tuple[list[Ride], np.ndarray, np.ndarray, list[Rejection]]:
    answered: list[Ride] = []
    rows: list[np.ndarray] = []
    values: list[float] = []
    unanswered: list[Rejection] = []
    for ride in rides:
        try:
            row = feature_matrix([ride])
            value = float(_minutes(predictor, row)[0])
        except Exception as exc:
            detail = f"the model raised {type(exc).__name__} for this ride: {exc}"[:500]
            unanswered.append(_unanswered(Reason.PREDICTION_FAILED, detail, ride))
            continue
        answered.append(ride)
        rows.append(row)
        values.append(value)
    x = np.concatenate(rows) if rows else np.empty((0, len(FEATURES)))
    return answered, x, np.asarray(values, dtype=np.float64), unanswered


def _unanswered(reason: Reason, detail: str, ride: Ride) -> Rejection:
    return Rejection(reason, detail, ride.ref, ride.ref.record_data)


def batch_monitoring(predictor: Any, x: np.ndarray, minutes: np.ndarray) -> dict[str, float]:
    """Per-batch figures that show drift before users notice it: the prediction
    distribution, and the share of rides whose zones the model has never seen
    (a new zone, or a producer sending wrong ids, moves it long before RMSE).

    Monitoring never fails a batch: a problem here costs the figures, not the rides."""
    if len(minutes) == 0:
        return {}
    try:
        return _monitoring(predictor, x, minutes)
    except Exception:
        return {}


def _monitoring(predictor: Any, x: np.ndarray, minutes: np.ndarray) -> dict[str, float]:
    p50, p90 = np.percentile(minutes, [50, 90])
    out = {
        "PredictedMinutesMean": float(minutes.mean()),
        "PredictedMinutesP50": float(p50),
        "PredictedMinutesP90": float(p90),
        "PredictedMinutesMax": float(minutes.max()),
    }
    unknown = getattr(predictor, "unknown_zones", None)
    if unknown is not None:
        out["UnknownZoneShare"] = float(unknown(x).mean() * 100.0)
    return out


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one batch.

    A batch allocates tens of thousands of small objects (records, rides,
    prediction dicts) without reference cycles: reference counting frees them
    all. Left on, the collector walks every live object each time its
    thresholds trip - about half of a 10,000-record batch's time was such a
    full collection (bench/RESULTS.md). Whatever cycles a library makes are
    collected after the batch, when the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _records(event: Any) -> list[Any]:
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        raise ValueError("expected a Kinesis event: an object with a 'Records' list")
    return event["Records"]


def _encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def _time_left(context: Any, reserve_s: float) -> Callable[[], float]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return lambda: float("inf")
    return lambda: remaining() / 1000.0 - reserve_s


def make_kinesis_client(endpoint_url: str | None = None) -> Any:
    """A Kinesis client whose retries are ours: botocore retries are off so the
    publisher's deadline-aware backoff is the only retry layer. Its timeouts do
    not bound a call (they are per connect and per socket read); the publisher's
    ``bounded_call`` does. They decide how soon a dead connection is noticed
    while time remains, and how long an abandoned call's thread lingers."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    return boto3.client("kinesis", endpoint_url=endpoint_url, config=config)


def build_service(settings: Settings | None = None, **kwargs: Any) -> RideDurationService:
    """Read settings, load the model, create the Kinesis client: Lambda's init, once per
    container. The client is made here, not on the first batch, as AWS advises
    (initialise SDK clients outside the handler): init runs before the first event
    is waiting. TEST_RUN publishes nothing, so it skips boto3 altogether."""
    settings = settings or Settings.from_env()
    model = load_model(settings.model_location)
    if "sender" not in kwargs and not settings.test_run:
        kwargs["sender"] = kinesis_sender(make_kinesis_client(settings.kinesis_endpoint_url))
    return RideDurationService(model, settings, **kwargs)
