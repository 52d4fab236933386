"""The local event source mapping: poll every shard, invoke the handler, as Lambda does.

Behaviour, with the Lambda documentation it follows (*Using Lambda with
Kinesis*, *Retain discarded batch records*, *partial batch response*,
*Filtering*, *Tumbling windows*; the table is ``docs/esm-parity.md``):

* "Lambda polls each shard in your Kinesis stream for records at a base rate
  of once per second. When more records are available, Lambda keeps
  processing batches until the function catches up with the stream": an idle
  shard is read every ``poll_interval_s``; a read that returned records is
  followed by another at once.
* "Each batch contains records from a single shard/data stream", in order; at
  most ``batch_size`` records and Lambda's 6 MB invocation payload.
* "MaximumBatchingWindowInSeconds": records are gathered until the batch is
  full, the payload reaches 6 MB, or the window has passed since the first one.
* ParallelizationFactor: up to 10 batches of a shard at once, in-order per
  partition key (``lanes.py``); the checkpoint is the last record before the
  first unfinished one.
* FilterCriteria: records that match no filter are dropped and checkpointed
  past, never invoked (``filtering.py``).
* "If the function ... returns an error, Lambda retries until the records
  expire, exceed the maximum age, or reach the configured retry quota"; then
  it "discards the records and continues processing batches from the stream",
  sending the batch's metadata to the on-failure destination. An error
  *before* invocation (here: a throttle past the reserved concurrency) is
  retried whatever the quota says, until the records exceed the maximum age.
* "BisectBatchOnFunctionError splits a failed batch into two smaller batches
  ... Splitting batches doesn't consume the retry quota."
* With ReportBatchItemFailures, "Lambda retries the batch starting from the
  lowest sequence number reported" (see ``outcome.py``).
* Records older than MaximumRecordAgeInSeconds are discarded.

Invocations go through an ``Invoker`` (``invoker.py``): in this thread, one at
a time, or in worker processes, one execution environment each. Per-shard
checkpoints are persisted, so a restarted runner resumes after the last
finished record; they belong to one stream, named by its ARN and creation time
(``checkpoints.py``). What happens is told to an ``observer`` as it happens
(``events.py``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streaming.esm.checkpoints import CheckpointStore, creation_key
from streaming.esm.config import MAX_BATCH_SIZE, MappingConfig
from streaming.esm.destinations import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    Destination,
    Failure,
    describe,
)
from streaming.esm.events import (
    Discarded,
    FilteredOut,
    Invoked,
    ReadFailed,
    ReadRecovered,
    RunEvent,
    ShardFinished,
    ShardStarted,
    Throttled,
)
from streaming.esm.handlers import Handler, HandlerError, load_handler, parse_handler
from streaming.esm.invoker import ContextSpec, InlineInvoker, Invocation, Invoker
from streaming.esm.lambda_event import lambda_record
from streaming.esm.lanes import Batch, Lane, Progress, lane_of
from streaming.esm.outcome import BatchFailure, PartialFailure, Success, classify
from streaming.esm.reader import ShardReader, StartingPosition, list_shards, ready_shards
from streaming.esm.stats import RunStats
from streaming.esm.windows import WindowTracker

__all__ = [
    "MAX_BATCH_SIZE",
    "EventSourceMapping",
    "Handler",
    "HandlerError",
    "MappingConfig",
    "RunStats",
    "load_handler",
    "parse_handler",
]

LOG = logging.getLogger(__name__)

#: Synchronous invocation payload limit (Lambda quotas: 6 MB request).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: Bytes a record adds to the event beyond its base64 data (field names, ids).
RECORD_OVERHEAD_BYTES = 512

Observer = Callable[[RunEvent], None]
OUTCOME_NAMES = {Success: "ok", PartialFailure: "partial", BatchFailure: "failed"}


def event_bytes(record: dict[str, Any]) -> int:
    """What one record adds to the invocation payload (its data goes as base64)."""
    return len(record["Data"]) * 4 // 3 + RECORD_OVERHEAD_BYTES


@dataclass
class InFlight:
    """A lane's batch being invoked."""

    batch: Batch
    future: concurrent.futures.Future[Invocation]
    iterator_age_ms: float


@dataclass
class ShardState:
    shard_id: str
    reader: ShardReader
    lanes: list[Lane]
    progress: Progress = field(default_factory=Progress)
    next_poll: float = 0.0
    millis_behind: int = 0
    #: why the last GetRecords failed (``None``: it did not)
    read_error: str | None = None
    windows: WindowTracker | None = None
    #: with tumbling windows: the checkpoint reached inside the open window, persisted
    #: only when its final invocation succeeds (see ``_advance``)
    held_checkpoint: str | None = None

    @property
    def buffer(self) -> list[dict[str, Any]]:
        """Records read but not yet cut into a batch, over every lane."""
        return [r for lane in self.lanes for r in lane.buffer]

    def busy(self) -> bool:
        return any(lane.busy() for lane in self.lanes) or bool(
            self.windows and self.windows.pending()
        )


class EventSourceMapping:
    """Polls one stream's shards and invokes the function with Lambda-shaped events.

    ``handler`` is called in this thread (``InlineInvoker``) unless an ``invoker``
    is given (``ProcessInvoker``: concurrent lanes in worker processes)."""

    def __init__(
        self,
        client: Any,
        stream: str,
        handler: Handler | None = None,
        config: MappingConfig | None = None,
        *,
        invoker: Invoker | None = None,
        checkpoints: CheckpointStore | None = None,
        destination: Destination | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        if invoker is None and handler is None:
            raise ValueError("give a handler or an invoker")
        self.client = client
        self.stream = stream
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
        self.invoker: Invoker = invoker or InlineInvoker(handler, clock)  # type: ignore[arg-type]
        self.observer = observer
        self.stats = RunStats()
        self.shards: dict[str, ShardState] = {}
        self._next_refresh = 0.0
        #: why the last ListShards failed (``None``: it did not)
        self.list_error: str | None = None
        self._announced: set[str] = set()
        self._context = ContextSpec(
            self.config.function_name, self.config.timeout_s, self.config.region
        )

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
        lanes = [Lane(i) for i in range(self.config.parallelization_factor)]
        windows = (
            WindowTracker(self.config.tumbling_window_s) if self.config.tumbling_window_s else None
        )
        self.shards[shard_id] = ShardState(shard_id, reader, lanes, windows=windows)
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
        """Run until ``stop`` is set (or every shard has been idle ``stop_when_idle_s``).
        Invocations in flight when it stops are waited for and their outcome kept."""
        stop = stop or threading.Event()
        idle_since: float | None = None
        while not stop.is_set():
            busy = self.step()
            now = self.clock()
            if busy or self.pending():
                idle_since = None
                if not busy:
                    self._wait(stop, now)
                continue
            idle_since = idle_since if idle_since is not None else now
            if stop_when_idle_s is not None and now - idle_since >= stop_when_idle_s:
                break
            self._wait(stop, now)
        self.drain()
        return self.stats

    def _wait(self, stop: threading.Event, now: float) -> None:
        timeout = max(0.0, min(self._next_wakeup() - now, 0.25))
        flights = [f.future for f in self._flights()]
        if flights:
            concurrent.futures.wait(
                flights, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
            )
        else:
            stop.wait(timeout)

    def drain(self) -> None:
        """Wait for every invocation in flight and apply its outcome (on stop)."""
        for state in list(self.shards.values()):
            for lane in state.lanes:
                if lane.in_flight is not None:
                    lane.in_flight.future.result()
                    self._complete(state, lane)

    def close(self) -> None:
        """Stop the invoker's workers (after ``run``)."""
        self.invoker.close()

    def _flights(self) -> list[InFlight]:
        return [
            lane.in_flight
            for state in self.shards.values()
            for lane in state.lanes
            if lane.in_flight is not None
        ]

    def pending(self) -> bool:
        """Records read but not yet finished (buffered, queued, being invoked)."""
        return any(s.busy() for s in self.shards.values())

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
            for lane in s.lanes:
                if lane.in_flight is not None:
                    continue
                if lane.work:
                    times.append(lane.work[0].not_before)
                elif lane.buffer and lane.buffer_since is not None:
                    times.append(lane.buffer_since + self.config.batching_window_s)
            if s.windows is not None:
                times.extend(s.windows.wakeups(self.wall_clock(), self.clock()))
            if self._wants_records(s):
                times.append(s.next_poll)
        return min(times)

    def _step_shard(self, state: ShardState) -> bool:
        busy = False
        for lane in state.lanes:
            busy |= self._step_lane(state, lane)
        if state.windows is not None:
            busy |= self._step_windows(state)
        if self._wants_records(state):
            if self.clock() >= state.next_poll:
                busy |= self._read(state, self.clock())
        elif state.reader.closed and not state.busy():
            self._finish(state)
        return busy

    def _wants_records(self, state: ShardState) -> bool:
        """Read more while the lanes hold less than a batch each (memory stays bounded)."""
        if state.reader.closed:
            return False
        buffered = sum(len(lane.buffer) for lane in state.lanes)
        return buffered < self.config.batch_size * len(state.lanes)

    def _step_lane(self, state: ShardState, lane: Lane) -> bool:
        now = self.clock()
        if lane.in_flight is not None:
            if not lane.in_flight.future.done():
                return False
            self._complete(state, lane)
            return True
        if lane.work:
            if now < lane.work[0].not_before:
                return False
            self._start(state, lane, lane.work[0])
            return True
        if lane.buffer and self._batch_ready(state, lane, now):
            lane.work.append(Batch(self._cut_batch(state, lane)))
            return True
        return False

    def _read(self, state: ShardState, now: float) -> bool:
        """One GetRecords into the shard's lanes; True if it returned records."""
        want = self.config.batch_size * len(state.lanes) - len(state.buffer)
        self.stats.get_records_calls += 1
        try:
            result = state.reader.read(limit=max(1, min(want, 10_000)))
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
        if state.windows is not None:
            state.windows.read_at(self.wall_clock(), closed=result.closed)
        state.next_poll = now if result.records else now + self.config.poll_interval_s
        self._take(state, result.records, now)
        return bool(result.records)

    def _take(self, state: ShardState, records: list[dict[str, Any]], now: float) -> None:
        """Records read: filtered (dropped ones finish at once), then spread over the lanes."""
        if not records:
            return
        self.stats.polled_events += len(records)
        state.progress.read(records)
        kept = self._filter(state, records)
        for record in kept:
            lane = state.lanes[lane_of(record["PartitionKey"], len(state.lanes))]
            if not lane.buffer:
                lane.buffer_since = now
            lane.buffer.append(record)
            lane.buffer_bytes += event_bytes(record)

    def _filter(self, state: ShardState, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        criteria = self.config.filter_criteria
        if criteria is None:
            return records
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for record in records:
            (kept if criteria.matches(record) else dropped).append(record)
        if dropped:  # never invoked, never dead-lettered: checkpointed past
            self.stats.filtered_out_events += len(dropped)
            state.progress.finish(dropped)
            self._advance(state)
            self._tell(FilteredOut(state.shard_id, len(dropped), len(records)))
        return kept

    def _batch_ready(self, state: ShardState, lane: Lane, now: float) -> bool:
        cfg = self.config
        if len(lane.buffer) >= cfg.batch_size or lane.buffer_bytes >= MAX_PAYLOAD_BYTES:
            return True  # full: by count, or by Lambda's 6 MB payload
        if state.reader.closed or cfg.batching_window_s <= 0:
            return True  # no window: invoke as soon as records are available
        if state.windows is not None and state.windows.must_cut(lane.buffer, self.wall_clock()):
            return True
        since = lane.buffer_since if lane.buffer_since is not None else now
        return now - since >= cfg.batching_window_s

    def _cut_batch(self, state: ShardState, lane: Lane) -> list[dict[str, Any]]:
        size = 0
        count = 0
        limit = self.config.batch_size
        if state.windows is not None:  # a batch never spans two tumbling windows
            limit = min(limit, state.windows.same_window_prefix(lane.buffer))
        for record in lane.buffer[:limit]:
            record_size = event_bytes(record)
            if count and size + record_size > MAX_PAYLOAD_BYTES:
                break
            size += record_size
            count += 1
        batch, lane.buffer = lane.buffer[:count], lane.buffer[count:]
        lane.buffer_bytes -= size
        lane.buffer_since = self.clock() if lane.buffer else None
        return batch

    def _finish(self, state: ShardState) -> None:
        self.checkpoints.finish(state.shard_id)
        self.stats.shards_finished += 1
        del self.shards[state.shard_id]
        LOG.info("%s is closed and fully processed; its children may start", state.shard_id)
        self._tell(ShardFinished(state.shard_id))
        self._next_refresh = 0.0  # look for the children now

    # -- one batch ---------------------------------------------------------------

    def _start(self, state: ShardState, lane: Lane, batch: Batch) -> None:
        """Invoke the lane's next batch - unless its records are too old, or the
        function is throttled (an error before invocation)."""
        final = state.windows.before(batch) if state.windows is not None else None
        if final is not None:  # the open window closes before a later one starts
            lane.work.appendleft(final)
            batch = final
        if self._discard_expired(state, lane, batch):
            return
        if self._throttled(state, lane, batch):
            return
        event = self._event(state, batch)
        age_ms = 0.0
        if batch.records:
            last_arrival = _epoch(batch.records[-1]["ApproximateArrivalTimestamp"])
            age_ms = max(0.0, (self.wall_clock() - last_arrival) * 1000.0)
            self.stats.observe_iterator_age(age_ms)
        lane.in_flight = InFlight(batch, self.invoker.submit(event, self._context), age_ms)
        if lane.in_flight.future.done():
            self._complete(state, lane)

    def _event(self, state: ShardState, batch: Batch) -> dict[str, Any]:
        cfg = self.config
        event: dict[str, Any] = {
            "Records": [
                lambda_record(
                    r, shard_id=state.shard_id, stream_arn=self.stream_arn, region=cfg.region
                )
                for r in batch.records
            ]
        }
        if state.windows is not None:
            event.update(state.windows.event_fields(batch, state.shard_id, self.stream_arn))
        return event

    def _throttled(self, state: ShardState, lane: Lane, batch: Batch) -> bool:
        """Past the reserved concurrency: not invoked, retried later without using the
        retry quota (errors before invocation are retried until the records expire)."""
        reserved = self.config.reserved_concurrency
        if reserved is None or len(self._flights()) < reserved:
            return False
        batch.throttles += 1
        delay = self._backoff(batch.throttles)
        batch.not_before = self.clock() + delay
        self.stats.count_throttle(len(batch.records))
        self._tell(Throttled(state.shard_id, len(batch.records), reserved, delay, lane.index))
        return True

    def _complete(self, state: ShardState, lane: Lane) -> None:
        """Apply a finished invocation's outcome to its lane."""
        flight, lane.in_flight = lane.in_flight, None
        assert flight is not None
        batch, result = flight.batch, flight.future.result()
        error = result.error
        if error is None and result.duration_s > self.config.timeout_s:
            error = f"TimeoutError: Task timed out after {self.config.timeout_s:.2f} seconds"
        batch.invokes += 1
        outcome = classify(
            result.response,
            error,
            [r["SequenceNumber"] for r in batch.records],
            report_batch_item_failures=self.config.report_batch_item_failures,
        )
        if state.windows is not None:
            outcome = state.windows.settle(batch, result.response, outcome)
        self.stats.count_invocation(len(batch.records), failed=not isinstance(outcome, Success))
        self._tell(self._invoked(state, lane, flight, outcome, result))
        if isinstance(outcome, Success):
            self._done(state, batch.records)
            if batch.final:
                self._release_held(state)
            lane.work.popleft()
        elif isinstance(outcome, PartialFailure):
            self.stats.partial_failures += 1
            self._done(state, batch.records[: outcome.first_failed])
            batch.records = batch.records[outcome.first_failed :]
            self._retry_or_discard(state, lane, batch, None, "partial batch failure")
        else:
            self._failed(state, lane, batch, outcome)

    def _discard_expired(self, state: ShardState, lane: Lane, batch: Batch) -> bool:
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
        lane.work.popleft()
        return True

    def _failed(self, state: ShardState, lane: Lane, batch: Batch, outcome: Any) -> None:
        assert isinstance(outcome, BatchFailure)
        self.stats.function_errors += 1
        LOG.warning(
            "%s: batch of %d failed: %s", state.shard_id, len(batch.records), outcome.message
        )
        if self._splits(batch, outcome):
            half = len(batch.records) // 2
            lane.work.popleft()
            # Splitting doesn't consume the retry quota: both halves keep the count.
            lane.work.appendleft(Batch(batch.records[half:], batch.retries, batch.invokes))
            lane.work.appendleft(Batch(batch.records[:half], batch.retries, batch.invokes))
            self.stats.bisections += 1
        else:
            self._retry_or_discard(state, lane, batch, outcome.function_error, outcome.message)

    def _splits(self, batch: Batch, outcome: BatchFailure) -> bool:
        return bool(
            self.config.bisect_on_error and len(batch.records) > 1 and outcome.function_error
        )

    def _invoked(
        self, state: ShardState, lane: Lane, flight: InFlight, outcome: Any, result: Invocation
    ) -> Invoked:
        """The observer's account of one invocation (before its outcome is applied)."""
        batch = flight.batch
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
            first_sequence=records[0]["SequenceNumber"] if records else "",
            last_sequence=records[-1]["SequenceNumber"] if records else "",
            attempt=batch.invokes,
            duration_ms=result.duration_s * 1000.0,
            outcome=OUTCOME_NAMES[type(outcome)],
            response=result.response,
            error=error,
            done=done,
            retry_in_s=retry_in,
            split=split,
            lane=lane.index,
            iterator_age_ms=flight.iterator_age_ms,
        )

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        return min(cfg.retry_max_delay_s, cfg.retry_base_delay_s * 2 ** (attempt - 1))

    def _retry_delay(self, retries: int) -> float | None:
        """The wait before retry number ``retries``; ``None``: the quota is exhausted."""
        if self.config.max_retries != -1 and retries > self.config.max_retries:
            return None
        return self._backoff(retries)

    def _retry_or_discard(
        self, state: ShardState, lane: Lane, batch: Batch, function_error: str | None, message: str
    ) -> None:
        batch.retries += 1
        delay = self._retry_delay(batch.retries)
        if batch.final:  # a window's final invocation holds the shard until it succeeds
            delay = self._backoff(batch.retries)
        if delay is None:
            self._discard(
                state, batch, batch.records, RETRY_ATTEMPTS_EXHAUSTED, function_error, message
            )
            lane.work.popleft()
            return
        batch.not_before = self.clock() + delay

    def _done(self, state: ShardState, records: list[dict[str, Any]]) -> None:
        if records:
            state.progress.finish(records)
            self._advance(state)
            self.stats.records_done += len(records)

    def _advance(self, state: ShardState) -> None:
        """Persist the shard's checkpoint - except inside an open tumbling window.

        Lambda keeps a window's state itself until the final invocation; this
        runner keeps it in memory, so a runner killed mid-window loses it. Holding
        the persisted checkpoint at the window's start until its final invocation
        succeeds makes a restarted runner read the whole window again with a fresh
        state: the window is neither lost nor counted twice (its records are
        delivered twice, which at-least-once delivery allows)."""
        checkpoint = state.progress.checkpoint()
        if checkpoint is None:
            return
        if state.windows is not None and state.windows.pending():
            state.held_checkpoint = checkpoint
            return
        self.checkpoints.advance(state.shard_id, checkpoint)

    def _release_held(self, state: ShardState) -> None:
        """The window's final invocation succeeded: its checkpoint may be persisted."""
        if state.held_checkpoint is not None:
            self.checkpoints.advance(state.shard_id, state.held_checkpoint)
            state.held_checkpoint = None

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
            self._deliver(failure, len(records))
        state.progress.finish(records)
        self._advance(state)
        self.stats.count_discard(condition, len(records))
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

    def _deliver(self, failure: Failure, records: int) -> None:
        """Send a discarded batch's metadata; a delivery that fails is counted and
        logged, and the records stay discarded (Lambda: DestinationDeliveryFailures,
        and they count as dropped)."""
        assert self.destination is not None
        try:
            self.destination.send(failure)
        except Exception as exc:  # the destination is down, gone, or refuses it
            self.stats.destination_delivery_failures += 1
            LOG.error(
                "%s: the on-failure destination %s refused %d records' metadata: %s",
                failure.shard_id,
                describe(self.destination),
                records,
                exc,
            )
            return
        self.stats.on_failure_delivered_events += records

    def _expired_prefix(self, records: list[dict[str, Any]]) -> int:
        limit = self.wall_clock() - self.config.max_record_age_s
        count = 0
        for record in records:
            if _epoch(record["ApproximateArrivalTimestamp"]) >= limit:
                break
            count += 1
        return count

    # -- tumbling windows ----------------------------------------------------------

    def _step_windows(self, state: ShardState) -> bool:
        """Close a window whose time has passed: its final invocation, once its records
        are done (Lambda invokes with ``isFinalInvokeForWindow`` at the window's end)."""
        assert state.windows is not None
        lane = state.lanes[0]  # with windows there is one lane (config.py)
        if lane.busy():
            return False
        final = state.windows.final_batch(self.wall_clock())
        if final is None:
            return False
        lane.work.append(final)
        return True


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).timestamp()
    return float(moment)


def _check_owner(checkpoints: CheckpointStore, stream_arn: str, created: str | None) -> None:
    """Refuse another stream's checkpoints (or an earlier stream's of the same name)."""
    if checkpoints.stream_arn != stream_arn:
        raise ValueError(f"the checkpoints are of {checkpoints.stream_arn}, not of {stream_arn}")
    if checkpoints.created and created and checkpoints.created != created:
        raise ValueError(
            f"the checkpoints are of a stream created {checkpoints.created}; "
            f"{stream_arn} was created {created}"
        )
