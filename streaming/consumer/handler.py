"""One Kinesis batch, end to end: decode -> validate -> features -> predict -> publish -> respond.

``RideDurationService`` is built once per container (the cold start) with the
model and settings injected, like the course's ``ModelService``, so tests
drive it without AWS. Kinesis is reached only through the ``publish.Sender`` port
(``kinesis_sender`` in production); S3 only at init, for a model given as ``s3://``.

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
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from streaming.consumer.batch_result import BatchResult, ShadowResult
from streaming.consumer.config import Settings
from streaming.consumer.deadletter import dead_letter_event
from streaming.consumer.deadletter import partition_key as dead_letter_key
from streaming.consumer.decode import decode_records
from streaming.consumer.encoding import PredictionEncoder, compact_json
from streaming.consumer.kinesis_client import make_kinesis_client
from streaming.consumer.kinesis_sender import kinesis_sender
from streaming.consumer.observability import record_batch
from streaming.consumer.predict import batch_monitoring, predict_rides
from streaming.consumer.publish import (
    ChunkRunner,
    ConcurrentChunks,
    Entry,
    PublishOutcome,
    RetryPolicy,
    Sender,
    one_at_a_time,
    publish,
)
from streaming.consumer.records import RecordRef, Ride
from streaming.consumer.scored_batch import ScoredBatch
from streaming.consumer.shadow import Shadow, ShadowDisabled, load_shadow
from streaming.model import LoadedModel, load_model

#: Records decoded, validated and predicted per slice of a batch. The champion's
#: PutRecords calls for a slice are in flight while the next slices are scored, so
#: the network's wait overlaps the batch's compute (bench/PUBLISH.md); 2,000 rides
#: fill four calls, and the vectorised predict costs little more per slice.
SCORE_SLICE_RECORDS = 2_000


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
        clock: Callable[[], float] = time.time,
        shadow: Shadow | ShadowDisabled | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.version = settings.model_version_override or model.version
        self.model_name = model.name
        self._encode = PredictionEncoder(self.model_name, self.version)
        self._sender = sender
        self._logger = logger
        self._metrics = metrics
        self._sleep = sleep
        self._clock = clock  # the invocation time, for rides whose event has no time
        self._shadow = shadow
        self._policy = RetryPolicy(max_attempts=settings.publish_max_attempts)
        #: how a batch's PutRecords calls are sent: made once, as the client is
        self._run_all: ChunkRunner = (
            ConcurrentChunks(settings.publish_concurrency)
            if settings.publish_concurrency > 1 and not settings.test_run
            else one_at_a_time
        )

    # -- the one-call facade -------------------------------------------------

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Lambda's entry: returns the partial-batch response."""
        result = self.process(event, context)
        record_batch(
            result,
            logger=self._logger,
            metrics=self._metrics,
            model_version=self.version,
            publish_time_reserve_s=self.settings.publish_time_reserve_s,
        )
        return result.response()

    def process(self, event: Any, context: Any = None) -> BatchResult:
        """Do the batch; return the typed result (``handle`` adds logs and metrics)."""
        with _cyclic_gc_paused():
            return self._process(event, context)

    def _process(self, event: Any, context: Any) -> BatchResult:
        started = time.perf_counter()
        scored = ScoredBatch()
        slices = self._score(_records(event), scored)
        if self.settings.test_run:
            for _ in slices:
                pass
        else:
            time_left = _time_left(context, self.settings.publish_time_reserve_s)
            no_time_to_publish = not time_left() >= self._policy.min_time_for_attempt_s
            # the champion's records go out slice by slice, while later slices are scored
            champion = self._put(
                self.settings.predictions_stream,
                (e for rides, events in slices for e in self._prediction_entries(events, rides)),
                time_left,
            )
        x, minutes = scored.features_and_minutes(self.model.predictor)
        result = BatchResult(scored.predictions, scored.rejections(), [], self.settings.test_run)
        result.monitoring = batch_monitoring(self.model.predictor, x, minutes)
        # TEST_RUN publishes nothing and answers with the champion's predictions only:
        # scoring the shadow there would be a second predict nobody sees
        if not self.settings.test_run:
            result.no_time_to_publish = no_time_to_publish
            shadow_events, shadow_rides = self._score_shadow(result, scored.rides, x)
            self._publish(result, scored.rides, champion, time_left)
            if shadow_events:
                self._publish_shadow(result, shadow_events, shadow_rides, time_left)
        result.duration_ms = (time.perf_counter() - started) * 1000.0
        return result

    def _score(
        self, records: list[Any], scored: ScoredBatch
    ) -> Iterator[tuple[list[Ride], list[dict[str, Any]]]]:
        """Decode, validate and predict the batch a slice at a time, into ``scored``;
        yield each slice's rides and prediction events as they are made."""
        invocation_time = self._clock()
        for start in range(0, len(records), SCORE_SLICE_RECORDS):
            part = records[start : start + SCORE_SLICE_RECORDS]
            rides: list[Ride] = []
            for item in decode_records(part, invocation_time, start=start):
                if isinstance(item, Ride):
                    rides.append(item)
                else:
                    scored.invalid.append(item)
            rides, x, minutes, unanswered = predict_rides(self.model.predictor, rides)
            events = self._prediction_events(rides, minutes.tolist())
            scored.add(rides, events, x, minutes, unanswered)
            yield rides, events

    def _prediction_events(self, rides: list[Ride], minutes: list[float]) -> list[dict[str, Any]]:
        name, version = self.model_name, self.version
        events = [
            {
                "model": name,
                "version": version,
                "prediction": {"ride_duration": duration, "ride_id": ride.ride_id},
                "source": ride.ref.source(),
            }
            for ride, duration in zip(rides, minutes, strict=True)
        ]
        for ride, event in zip(rides, events, strict=True):
            if ride.pickup_datetime is None and ride.ref.uses_invocation_time:
                # neither pickup_datetime nor an arrival time: say which time was used
                event["pickupTime"] = {"source": "invocation", "epoch": ride.ref.invocation_time}
        return events

    # -- the shadow model ----------------------------------------------------------

    def _score_shadow(
        self, result: BatchResult, rides: list[Ride], x: Any
    ) -> tuple[list[dict[str, Any]], list[Ride]]:
        """The shadow's events for this batch; its failure is counted, never raised."""
        if self._shadow is None:
            return [], []
        if isinstance(self._shadow, ShadowDisabled):
            result.shadow = ShadowResult(disabled=self._shadow.reason)
            return [], []
        result.shadow = ShadowResult()
        try:
            events, scored = self._shadow.score(rides, x)
        except Exception as exc:  # the champion's batch goes on as if there were no shadow
            result.shadow.error = f"{type(exc).__name__}: {exc}"[:500]
            return [], []
        result.shadow.scored = len(events)
        return events, scored

    def _publish_shadow(
        self,
        result: BatchResult,
        events: list[dict[str, Any]],
        rides: list[Ride],
        time_left: Callable[[], float],
    ) -> None:
        """After the champion, with the time left; what fails is counted, not reported."""
        assert isinstance(self._shadow, Shadow) and result.shadow is not None
        encode = PredictionEncoder(self._shadow.model.name, self._shadow.version)
        entries = [
            Entry(encode(e), ride.partition_key, i)
            for i, (e, ride) in enumerate(zip(events, rides, strict=True))
        ]
        try:
            outcome = self._put(self._shadow.stream, entries, time_left)
        except Exception as exc:  # a sender bug must not touch the champion's answer
            result.shadow.error = f"{type(exc).__name__}: {exc}"[:500]
            result.shadow.unpublished = len(entries)
            return
        result.shadow.outcome = outcome
        result.shadow.published = outcome.published
        result.shadow.unpublished = len(outcome.failed)

    # -- publishing ------------------------------------------------------------

    def _publish(
        self,
        result: BatchResult,
        rides: list[Ride],
        champion: PublishOutcome,
        time_left: Callable[[], float],
    ) -> None:
        """Record the champion's outcome, publish the dead letters, and list what failed."""
        refs: dict[int, RecordRef] = {r.ref.index: r.ref for r in rides}
        failed: set[int] = set()
        if result.predictions:
            result.publish_outcomes["predictions"] = champion
            failed.update(champion.failed)
        if result.rejections:
            if self.settings.dead_letter_stream:
                dl_entries = []
                for rej in result.rejections:
                    refs[rej.ref.index] = rej.ref
                    letter = dead_letter_event(rej, version=self.version)
                    dl_entries.append(
                        Entry(compact_json(letter), dead_letter_key(rej), rej.ref.index)
                    )
                outcome = self._put(self.settings.dead_letter_stream, dl_entries, time_left)
                result.publish_outcomes["dead_letters"] = outcome
                failed.update(outcome.failed)
            else:
                # No dead-letter stream: log loudly and count, but never block the shard.
                result.not_dead_lettered = len(result.rejections)
        result.failed_refs = [refs[i] for i in sorted(failed)]
        result.unreportable = sum(1 for r in result.failed_refs if r.sequence_number is None)

    def _prediction_entries(
        self, predictions: list[dict[str, Any]], rides: list[Ride]
    ) -> list[Entry]:
        """The champion's records. An event of the shape ``_prediction_events`` makes is
        encoded from its three values (``PredictionEncoder.prediction``); one with more
        keys (``pickupTime``) whole."""
        encode = self._encode
        prediction = encode.prediction
        entries = []
        for event, ride in zip(predictions, rides, strict=True):
            if len(event) == 4:
                inner = event["prediction"]
                data = prediction(inner["ride_duration"], inner["ride_id"], event["source"])
            else:
                data = encode(event)
            entries.append(Entry(data, ride.partition_key, ride.ref.index))
        return entries

    def _put(
        self, stream: str, entries: Iterable[Entry], time_left: Callable[[], float]
    ) -> PublishOutcome:
        if self._sender is None:
            self._sender = kinesis_sender(_client(self.settings))
        return publish(
            self._sender,
            stream,
            entries,
            policy=self._policy,
            time_left=time_left,
            sleep=self._sleep,
            run_all=self._run_all,
        )


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


def _time_left(context: Any, reserve_s: float) -> Callable[[], float]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return lambda: float("inf")
    return lambda: remaining() / 1000.0 - reserve_s


def build_service(settings: Settings | None = None, **kwargs: Any) -> RideDurationService:
    """Read settings, load the model, create the Kinesis client: Lambda's init, once per
    container. The client is made here, not on the first batch, as AWS advises
    (initialise SDK clients outside the handler): init runs before the first event
    is waiting. TEST_RUN publishes nothing, so it skips boto3 altogether."""
    settings = settings or Settings.from_env()
    model = load_model(settings.model_location)
    if "sender" not in kwargs and not settings.test_run:
        kwargs["sender"] = kinesis_sender(_client(settings))
    if "shadow" not in kwargs:
        kwargs["shadow"] = load_shadow(settings.shadow)
        if isinstance(kwargs["shadow"], ShadowDisabled) and kwargs.get("logger") is not None:
            kwargs["logger"].error(
                "shadow model disabled; the champion runs alone",
                extra={"reason": kwargs["shadow"].reason},
            )
    return RideDurationService(model, settings, **kwargs)


def _client(settings: Settings) -> Any:
    return make_kinesis_client(
        settings.kinesis_endpoint_url, calls_in_flight=settings.publish_concurrency
    )
