"""The local event source mapping: poll every shard, invoke the handler, as Lambda does.

Behaviour, with the Lambda documentation it follows (*Using Lambda with
Kinesis*, *Retain discarded batch records*, *partial batch response*):

* "Lambda polls each shard in your Kinesis stream for records at a base rate
  of once per second. When more records are available, Lambda keeps
  processing batches until the function catches up with the stream": an idle
  shard is read every ``poll_interval_s``; a read that returned records is
  followed by another at once.
* "Each batch contains records from a single shard/data stream", in order; at
  most ``batch_size`` records and Lambda's 6 MB invocation payload.
* "MaximumBatchingWindowInSeconds: the maximum amount of time to gather records
  before invoking the function": with a window, records are gathered until the
  batch is full or the window has passed since the first one.
* "If the function ... returns an error, Lambda retries until the records
  expire, exceed the maximum age, or reach the configured retry quota"; then
  it "discards the records and continues processing batches from the stream",
  sending the batch's metadata to the on-failure destination.
* "BisectBatchOnFunctionError splits a failed batch into two smaller batches
  ... Splitting batches doesn't consume the retry quota."
* With ReportBatchItemFailures, "Lambda retries the batch starting from the
  lowest sequence number reported" (see ``outcome.py``).
* Records older than MaximumRecordAgeInSeconds are discarded ("Discard
  records older than the specified age").

One invocation at a time, in this process (the handler is imported here, as
Lambda imports it in its sandbox). Per-shard checkpoints are persisted, so a
restarted runner resumes after the last finished batch; they belong to one
stream, named by its ARN and creation time (``checkpoints.py``). What happens
is told to an ``observer`` as it happens (``events.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streaming.consumer.lambda_context import LocalContext
from streaming.esm.checkpoints import CheckpointStore, creation_key
from streaming.esm.destinations import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    Destination,
    Failure,
    describe,
)
from streaming.esm.events import (
    Discarded,
    Invoked,
    ReadFailed,
    ReadRecovered,
    RunEvent,
    ShardFinished,
    ShardStarted,
)
from streaming.esm.lambda_event import lambda_record
from streaming.esm.outcome import BatchFailure, PartialFailure, Success, classify
from streaming.esm.reader import ShardReader, StartingPosition, list_shards, ready_shards

LOG = logging.getLogger(__name__)

#: Synchronous invocation payload limit (Lambda quotas: 6 MB request).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: Bytes a record adds to the event beyond its base64 data (field names, ids).
RECORD_OVERHEAD_BYTES = 512
MAX_BATCH_SIZE = 10_000

Handler = Callable[[dict[str, Any], Any], Any]
Observer = Callable[[RunEvent], None]
OUTCOME_NAMES = {Success: "ok", PartialFailure: "partial", BatchFailure: "failed"}


@dataclass(frozen=True)
class MappingConfig:
    """The event source mapping's settings (names as in CreateEventSourceMapping)."""

    batch_size: int = 100
    batching_window_s: float = 0.0
    starting_position: StartingPosition = field(default_factory=StartingPosition)
    max_retries: int = -1  # -1: until the record expires (AWS default)
    max_record_age_s: float = -1  # -1: no limit (AWS default)
    bisect_on_error: bool = False
    #: AWS default is off; on here because this project's handler relies on it.
    report_batch_item_failures: bool = True
    timeout_s: float = 60.0
    function_name: str = "ride-duration-prediction-local"
    region: str = "us-east-1"
    poll_interval_s: float = 1.0
    retry_base_delay_s: float = 0.5
    retry_max_delay_s: float = 8.0
    #: how often to look for new (child) shards
    shard_refresh_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be 1-{MAX_BATCH_SIZE}, got {self.batch_size}")
        if not 0 <= self.batching_window_s <= 300:
            raise ValueError("batching window must be 0-300 s")
        if self.max_retries < -1 or self.max_retries > 10_000:
            raise ValueError("max retries must be -1 (infinite) or 0-10000")
        if self.max_record_age_s != -1 and not 0 < self.max_record_age_s <= 604_800:
            raise ValueError("max record age must be -1 (infinite) or up to 604800 s")
        if self.timeout_s <= 0:
            raise ValueError("timeout must be positive")
        if self.poll_interval_s <= 0:
            raise ValueError("poll interval must be positive")

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:000000000000:function:{self.function_name}"


@dataclass
class Batch:
    records: list[dict[str, Any]]
    retries: int = 0
    invokes: int = 0
    not_before: float = 0.0


@dataclass
class ShardState:
    shard_id: str
    reader: ShardReader
    buffer: list[dict[str, Any]] = field(default_factory=list)
    buffer_since: float | None = None
    work: deque[Batch] = field(default_factory=deque)
    next_poll: float = 0.0
    millis_behind: int = 0
    #: why the last GetRecords failed (``None``: it did not)
    read_error: str | None = None


@dataclass
class RunStats:
    invocations: int = 0
    records_invoked: int = 0  # records delivered, re-deliveries included
    records_done: int = 0  # records whose batch finished successfully
    partial_failures: int = 0
    function_errors: int = 0
    bisections: int = 0
    discarded_records: int = 0
    discarded_batches: int = 0
    #: discarded records by condition (RetryAttemptsExhausted, RecordAgeExceeded)
    discarded_by_condition: dict[str, int] = field(default_factory=dict)
    get_records_calls: int = 0
    read_errors: int = 0
    shards_finished: int = 0


class EventSourceMapping:
    """Polls one stream's shards and invokes ``handler`` with Lambda-shaped events."""

    def __init__(
        self,
        client: Any,
        stream: str,
        handler: Handler,
        config: MappingConfig | None = None,
        *,
        checkpoints: CheckpointStore | None = None,
        destination: Destination | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.handler = handler
        self.config = config or MappingConfig()
        summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        self.stream_arn: str = summary["StreamARN"]
        self.stream_created = creation_key(summary.get("StreamCreationTimestamp"))
        self.checkpoints = checkpoints or CheckpointStore(
            None, self.stream_arn, created=self.stream_created
        )
        _check_owner(self.checkpoints, self.stream_arn, self.stream_created)
        self.destination = destination
        self.clock = clock
        self.wall_clock = wall_clock
        self.observer = observer
        self.stats = RunStats()
        self.shards: dict[str, ShardState] = {}
        self._next_refresh = 0.0
        #: why the last ListShards failed (``None``: it did not)
        self.list_error: str | None = None
        self._announced: set[str] = set()

    # -- shards ----------------------------------------------------------------

    def refresh_shards(self) -> None:
        """Start every shard whose parents are finished (children wait for parents)."""
        shards = list_shards(self.client, self.stream)
        for shard in shards:  # finished by an earlier run: said once, not read again
            shard_id = shard["ShardId"]
            if shard_id not in self._announced and self.checkpoints.get(shard_id).finished:
                self._announced.add(shard_id)
                LOG.info("%s was finished by an earlier run", shard_id)
                self._tell(ShardFinished(shard_id, earlier=True))
        for shard_id, is_child in ready_shards(
            shards, lambda sid: self.checkpoints.get(sid).finished
        ):
            if shard_id not in self.shards:
                self._start_shard(shard_id, is_child)
        self._next_refresh = self.clock() + self.config.shard_refresh_s

    def _start_shard(self, shard_id: str, is_child: bool) -> None:
        start = StartingPosition() if is_child else self.config.starting_position
        checkpoint = self.checkpoints.get(shard_id).sequence_number
        reader = ShardReader(self.client, self.stream, shard_id, start, checkpoint)
        self.shards[shard_id] = ShardState(shard_id, reader)
        self._announced.add(shard_id)
        position = start.kind
        if start.timestamp is not None:
            position += f" {start.timestamp.isoformat()}"
        LOG.info("reading %s from %s", shard_id, f"after {checkpoint}" if checkpoint else position)
        self._tell(ShardStarted(shard_id, checkpoint, position, is_child))

    def _tell(self, event: RunEvent) -> None:
        if self.observer is not None:
            self.observer(event)

    def failing_reads(self) -> dict[str | None, str]:
        """Reads whose last attempt failed: shard id (``None``: ListShards) -> why."""
        failing: dict[str | None, str] = {
            s.shard_id: s.read_error for s in self.shards.values() if s.read_error
        }
        if self.list_error:
            failing[None] = self.list_error
        return failing

    # -- the loop --------------------------------------------------------------

    def run(
        self, stop: threading.Event | None = None, stop_when_idle_s: float | None = None
    ) -> RunStats:
        """Run until ``stop`` is set (or every shard has been idle ``stop_when_idle_s``)."""
        stop = stop or threading.Event()
        idle_since: float | None = None
        while not stop.is_set():
            busy = self.step()
            now = self.clock()
            if busy or self.pending():
                idle_since = None
                if not busy:
                    stop.wait(max(0.0, min(self._next_wakeup() - now, 0.25)))
                continue
            idle_since = idle_since if idle_since is not None else now
            if stop_when_idle_s is not None and now - idle_since >= stop_when_idle_s:
                break
            stop.wait(max(0.0, min(self._next_wakeup() - now, 0.25)))
        return self.stats

    def pending(self) -> bool:
        """Records read but not yet finished (buffered, or a batch awaiting a retry)."""
        return any(s.work or s.buffer for s in self.shards.values())

    def step(self) -> bool:
        """Do whatever is due on each shard; True if anything happened."""
        if self.clock() >= self._next_refresh:
            self._refresh_safely()
        busy = False
        for state in list(self.shards.values()):
            busy |= self._step_shard(state)
        return busy

    def _refresh_safely(self) -> None:
        try:
            self.refresh_shards()
        except Exception as exc:  # keep polling the shards we know; list again later
            self.stats.read_errors += 1
            self._next_refresh = self.clock() + self.config.poll_interval_s
            self.list_error = f"{type(exc).__name__}: {exc}"
            LOG.warning("ListShards failed (%s); retrying", exc)
            self._tell(ReadFailed(None, self.list_error, self.config.poll_interval_s))
            return
        if self.list_error is not None:
            self.list_error = None
            self._tell(ReadRecovered(None))

    def _next_wakeup(self) -> float:
        times = [self._next_refresh]
        for s in self.shards.values():
            if s.work:
                times.append(s.work[0].not_before)
            elif s.buffer and s.buffer_since is not None:
                times.append(s.buffer_since + self.config.batching_window_s)
            else:
                times.append(s.next_poll)
        return min(times)

    def _step_shard(self, state: ShardState) -> bool:
        now = self.clock()
        if state.work:
            if now < state.work[0].not_before:
                return False
            self._process(state, state.work[0])
            return True
        if state.buffer and self._batch_ready(state, now):
            state.work.append(Batch(self._cut_batch(state)))
            return True
        if state.reader.closed:
            if not state.buffer:
                self._finish(state)
            return False
        if now < state.next_poll:
            return False
        return self._read(state, now)

    def _read(self, state: ShardState, now: float) -> bool:
        """One GetRecords into the shard's buffer; True if it returned records."""
        want = self.config.batch_size - len(state.buffer)
        self.stats.get_records_calls += 1
        try:
            result = state.reader.read(limit=max(1, want))
        except Exception as exc:  # throttled, expired again, unreachable: try later
            self.stats.read_errors += 1
            retry_in = self.config.poll_interval_s
            LOG.warning(
                "%s: GetRecords failed (%s); retrying in %.1f s", state.shard_id, exc, retry_in
            )
            state.read_error = f"{type(exc).__name__}: {exc}"
            state.next_poll = now + retry_in
            self._tell(ReadFailed(state.shard_id, state.read_error, retry_in))
            return False
        if state.read_error is not None:
            state.read_error = None
            self._tell(ReadRecovered(state.shard_id))
        state.millis_behind = result.millis_behind
        if result.records:
            if not state.buffer:
                state.buffer_since = now
            state.buffer.extend(result.records)
            state.next_poll = now  # more may be waiting: read again at once
        else:
            state.next_poll = now + self.config.poll_interval_s
        return bool(result.records)

    def _batch_ready(self, state: ShardState, now: float) -> bool:
        if len(state.buffer) >= self.config.batch_size or state.reader.closed:
            return True
        if self.config.batching_window_s <= 0:
            return True  # no window: invoke as soon as records are available
        since = state.buffer_since if state.buffer_since is not None else now
        return now - since >= self.config.batching_window_s

    def _cut_batch(self, state: ShardState) -> list[dict[str, Any]]:
        size = 0
        count = 0
        for record in state.buffer[: self.config.batch_size]:
            record_size = len(record["Data"]) * 4 // 3 + RECORD_OVERHEAD_BYTES
            if count and size + record_size > MAX_PAYLOAD_BYTES:
                break
            size += record_size
            count += 1
        batch, state.buffer = state.buffer[:count], state.buffer[count:]
        state.buffer_since = self.clock() if state.buffer else None
        return batch

    def _finish(self, state: ShardState) -> None:
        self.checkpoints.finish(state.shard_id)
        self.stats.shards_finished += 1
        del self.shards[state.shard_id]
        LOG.info("%s is closed and fully processed; its children may start", state.shard_id)
        self._tell(ShardFinished(state.shard_id))
        self._next_refresh = 0.0  # look for the children now

    # -- one batch ---------------------------------------------------------------

    def _process(self, state: ShardState, batch: Batch) -> None:
        if self._discard_expired(state, batch):
            return
        response, error, duration_s = self._invoke(state, batch)
        outcome = classify(
            response,
            error,
            [r["SequenceNumber"] for r in batch.records],
            report_batch_item_failures=self.config.report_batch_item_failures,
        )
        self._tell(self._invoked(state, batch, outcome, response, duration_s))
        if isinstance(outcome, Success):
            self._done(state, batch.records)
            state.work.popleft()
        elif isinstance(outcome, PartialFailure):
            self.stats.partial_failures += 1
            self._done(state, batch.records[: outcome.first_failed])
            batch.records = batch.records[outcome.first_failed :]
            self._retry_or_discard(state, batch, None, "partial batch failure")
        else:
            self._failed(state, batch, outcome)

    def _discard_expired(self, state: ShardState, batch: Batch) -> bool:
        """Discard the batch's records older than the maximum record age; True if none is left."""
        if self.config.max_record_age_s == -1:
            return False
        expired = self._expired_prefix(batch.records)
        if not expired:
            return False
        self._discard(
            state,
            batch,
            batch.records[:expired],
            RECORD_AGE_EXCEEDED,
            None,
            "record older than MaximumRecordAgeInSeconds",
        )
        batch.records = batch.records[expired:]
        if batch.records:
            return False
        state.work.popleft()
        return True

    def _invoke(self, state: ShardState, batch: Batch) -> tuple[Any, BaseException | None, float]:
        """Call the handler with the batch as Lambda would: (response, error, seconds)."""
        cfg = self.config
        event = {
            "Records": [
                lambda_record(
                    r, shard_id=state.shard_id, stream_arn=self.stream_arn, region=cfg.region
                )
                for r in batch.records
            ]
        }
        context = LocalContext(
            function_name=cfg.function_name, timeout_s=cfg.timeout_s, region=cfg.region
        )
        started = self.clock()
        response, error = None, None
        try:
            response = self.handler(event, context)
        except Exception as exc:  # the function's error, as Lambda sees it
            error = exc
        elapsed = self.clock() - started
        if error is None and elapsed > cfg.timeout_s:
            error = TimeoutError(f"Task timed out after {cfg.timeout_s:.2f} seconds")
        batch.invokes += 1
        self.stats.invocations += 1
        self.stats.records_invoked += len(batch.records)
        return response, error, elapsed

    def _failed(self, state: ShardState, batch: Batch, outcome: Any) -> None:
        assert isinstance(outcome, BatchFailure)
        self.stats.function_errors += 1
        LOG.warning(
            "%s: batch of %d failed: %s", state.shard_id, len(batch.records), outcome.message
        )
        if self._splits(batch, outcome):
            half = len(batch.records) // 2
            state.work.popleft()
            # Splitting doesn't consume the retry quota: both halves keep the count.
            state.work.appendleft(Batch(batch.records[half:], batch.retries, batch.invokes))
            state.work.appendleft(Batch(batch.records[:half], batch.retries, batch.invokes))
            self.stats.bisections += 1
        else:
            self._retry_or_discard(state, batch, outcome.function_error, outcome.message)

    def _splits(self, batch: Batch, outcome: BatchFailure) -> bool:
        return bool(
            self.config.bisect_on_error and len(batch.records) > 1 and outcome.function_error
        )

    def _invoked(
        self, state: ShardState, batch: Batch, outcome: Any, response: Any, duration_s: float
    ) -> Invoked:
        """The observer's account of one invocation (before its outcome is applied)."""
        records = batch.records
        done, error, split, retry_in = len(records), None, False, None
        if isinstance(outcome, PartialFailure):
            done, retry_in = outcome.first_failed, self._retry_delay(batch.retries + 1)
        elif isinstance(outcome, BatchFailure):
            done, error, split = 0, outcome.message, self._splits(batch, outcome)
            retry_in = None if split else self._retry_delay(batch.retries + 1)
        return Invoked(
            shard_id=state.shard_id,
            records=len(records),
            first_sequence=records[0]["SequenceNumber"],
            last_sequence=records[-1]["SequenceNumber"],
            attempt=batch.invokes,
            duration_ms=duration_s * 1000.0,
            outcome=OUTCOME_NAMES[type(outcome)],
            response=response,
            error=error,
            done=done,
            retry_in_s=retry_in,
            split=split,
        )

    def _retry_delay(self, retries: int) -> float | None:
        """The wait before retry number ``retries``; ``None``: the quota is exhausted."""
        if self.config.max_retries != -1 and retries > self.config.max_retries:
            return None
        return min(
            self.config.retry_max_delay_s, self.config.retry_base_delay_s * 2 ** (retries - 1)
        )

    def _retry_or_discard(
        self, state: ShardState, batch: Batch, function_error: str | None, message: str
    ) -> None:
        batch.retries += 1
        delay = self._retry_delay(batch.retries)
        if delay is None:
            self._discard(
                state, batch, batch.records, RETRY_ATTEMPTS_EXHAUSTED, function_error, message
            )
            state.work.popleft()
            return
        batch.not_before = self.clock() + delay

    def _done(self, state: ShardState, records: list[dict[str, Any]]) -> None:
        if records:
            self.checkpoints.advance(state.shard_id, records[-1]["SequenceNumber"])
            self.stats.records_done += len(records)

    def _discard(
        self,
        state: ShardState,
        batch: Batch,
        records: list[dict[str, Any]],
        condition: str,
        function_error: str | None,
        message: str,
    ) -> None:
        failure = Failure(
            condition,
            state.shard_id,
            self.stream_arn,
            records,
            batch.invokes,
            self.config.function_arn,
            function_error,
            message,
        )
        LOG.error(
            "%s: discarding %d records (%s..%s): %s",
            state.shard_id,
            len(records),
            records[0]["SequenceNumber"],
            records[-1]["SequenceNumber"],
            condition,
        )
        if self.destination is not None:
            self.destination.send(failure)
        self.checkpoints.advance(state.shard_id, records[-1]["SequenceNumber"])
        self.stats.discarded_records += len(records)
        self.stats.discarded_batches += 1
        by_condition = self.stats.discarded_by_condition
        by_condition[condition] = by_condition.get(condition, 0) + len(records)
        self._tell(
            Discarded(
                state.shard_id,
                len(records),
                records[0]["SequenceNumber"],
                records[-1]["SequenceNumber"],
                condition,
                message,
                describe(self.destination) if self.destination is not None else None,
            )
        )

    def _expired_prefix(self, records: list[dict[str, Any]]) -> int:
        limit = self.wall_clock() - self.config.max_record_age_s
        count = 0
        for record in records:
            arrival = record["ApproximateArrivalTimestamp"]
            if isinstance(arrival, datetime):
                arrival = arrival.astimezone(UTC).timestamp()
            if arrival >= limit:
                break
            count += 1
        return count


def _check_owner(checkpoints: CheckpointStore, stream_arn: str, created: str | None) -> None:
    """Refuse another stream's checkpoints (or an earlier stream's of the same name)."""
    if checkpoints.stream_arn != stream_arn:
        raise ValueError(f"the checkpoints are of {checkpoints.stream_arn}, not of {stream_arn}")
    if checkpoints.created and created and checkpoints.created != created:
        raise ValueError(
            f"the checkpoints are of a stream created {checkpoints.created}; "
            f"{stream_arn} was created {created}"
        )


class HandlerError(Exception):
    """The handler cannot be loaded. ``kind``: "spec" (not module:function),
    "missing" (no such module, or no such function in it) or "init" (importing
    its module raised: the function's init failed)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_handler(spec: str) -> tuple[str, str]:
    """``module:function`` or Lambda's ``module.function`` -> (module, function)."""
    module_name, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module_name or not attr or not attr.isidentifier():
        raise HandlerError(
            f"handler must be module:function or module.function, got {spec!r}", "spec"
        )
    return module_name, attr


def load_handler(spec: str) -> Handler:
    """Import the handler's module (the function's init, as Lambda does it) and return
    the function; ``HandlerError`` says which of the three ways it failed."""
    import importlib

    module_name, attr = parse_handler(spec)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise HandlerError(f"no module named {module_name!r}", "missing") from exc
        raise HandlerError(f"importing {module_name} failed: {exc}", "init") from exc
    except Exception as exc:  # the module's own init raised
        raise HandlerError(
            f"its init (importing {module_name}) failed: {type(exc).__name__}: {exc}",
            "init",
        ) from exc
    handler = getattr(module, attr, None)
    if handler is None:
        where = getattr(module, "__file__", None) or module_name
        raise HandlerError(f"{module_name} ({where}) has no function {attr!r}", "missing")
    if not callable(handler):
        raise HandlerError(f"{spec} is not callable", "missing")
    return handler
