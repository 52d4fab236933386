"""Tumbling windows: state carried across a shard's invocations, one window at a time.

*Using tumbling windows with Kinesis* (Lambda docs), the rules kept here:

* "Lambda determines tumbling window boundaries based on the time when records
  were inserted into the stream": a record's window is its
  ``ApproximateArrivalTimestamp`` rounded down to a multiple of
  TumblingWindowInSeconds (windows are aligned on the epoch, as the doc's
  example ``07:04:00``-``07:06:00`` is), and a batch never spans two windows.
* Each invocation gets ``window``, ``state``, ``shardId``, ``eventSourceARN``,
  ``isFinalInvokeForWindow`` and ``isWindowTerminatedEarly``; "the Lambda
  function response must contain a state property. If the response does not
  contain a state property, Lambda considers this a failed invocation."
* "At the end of the window, the flag isFinalInvokeForWindow is set to true
  ... After processing, the window completes and your final invocation
  completes, and then the state is dropped." The final invocation is made
  once the window's end has passed and a read after that end found no more of
  its records; it has no records. "If invocation is unsuccessful, your Lambda
  function suspends further processing until a successful invocation": it is
  retried whatever MaximumRetryAttempts says.
* "Your state can be a maximum of 1 MB per shard. If it exceeds that size,
  Lambda terminates the window early": a final invocation with
  ``isWindowTerminatedEarly`` follows, and the window's later records start
  again with a fresh state.
* A shard that ends closes its window (its children start their own).

The state is one per shard, so a windowed mapping processes one batch of a
shard at a time (see ``config.py``: with windows, ParallelizationFactor is 1).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from streaming.esm.lanes import Batch
from streaming.esm.outcome import BatchFailure, Outcome

#: "Your state can be a maximum of 1 MB per shard."
MAX_STATE_BYTES = 1024 * 1024


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).timestamp()
    return float(moment)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WindowTracker:
    """One shard's tumbling windows: which is open, its state, when it must close."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        #: start of the open window (the one whose state is kept); ``None``: none open
        self.current: float | None = None
        self.state: Any = {}
        #: the open window's state passed 1 MB: its final invocation is due now
        self.terminated_early = False
        #: wall time of the last successful read (a read after a window's end means
        #: every record of that window has been read)
        self.last_read: float = -math.inf
        #: the shard ended: the open window closes
        self.shard_ended = False
        self._final_queued = False

    def window_of(self, record: dict[str, Any]) -> float:
        arrival = _epoch(record["ApproximateArrivalTimestamp"])
        return math.floor(arrival / self.window_s) * self.window_s

    def read_at(self, wall: float, *, closed: bool) -> None:
        self.last_read = wall
        self.shard_ended = self.shard_ended or closed

    def same_window_prefix(self, buffer: list[dict[str, Any]]) -> int:
        """How many leading records share the first one's window (a batch stops there)."""
        if not buffer:
            return 0
        first = self.window_of(buffer[0])
        for i, record in enumerate(buffer):
            if self.window_of(record) != first:
                return i
        return len(buffer)

    def must_cut(self, buffer: list[dict[str, Any]], wall: float) -> bool:
        """Invoke now: the buffer already holds a later window, or its window has ended."""
        if not buffer:
            return False
        first = self.window_of(buffer[0])
        return self.window_of(buffer[-1]) != first or wall >= first + self.window_s

    def before(self, batch: Batch) -> Batch | None:
        """The open window's final invocation, due before ``batch``: the window ended
        early (its state passed 1 MB), or ``batch`` belongs to a later window."""
        if batch.final or not batch.records or self.current is None or self._final_queued:
            return None
        if self.terminated_early:
            return self._final(early=True)
        if self.window_of(batch.records[0]) == self.current:
            return None
        return self._final(early=False)

    def final_batch(self, wall: float) -> Batch | None:
        """The open window's final invocation, if it is due (its end has passed and a
        read since found nothing more of it, or it ended early, or the shard ended)."""
        if self.current is None or self._final_queued:
            return None
        end = self.current + self.window_s
        if self.terminated_early or self.shard_ended or (wall >= end and self.last_read >= end):
            return self._final(early=self.terminated_early)
        return None

    def _final(self, *, early: bool) -> Batch:
        self._final_queued = True
        return Batch([], window_start=self.current, final=True, early=early)

    def pending(self) -> bool:
        """A window is open: its final invocation is still to come."""
        return self.current is not None

    def wakeups(self, wall: float, mono: float) -> list[float]:
        """When (on the monotonic clock) the open window's end is reached."""
        if self.current is None:
            return []
        return [mono + max(0.0, self.current + self.window_s - wall)]

    def event_fields(self, batch: Batch, shard_id: str, stream_arn: str) -> dict[str, Any]:
        """The window part of the event (the open window's state, or a fresh one)."""
        start = batch.window_start if batch.final else self.window_of(batch.records[0])
        assert start is not None
        if self.current is None:
            self.current, self.state = start, {}
        return {
            "window": {"start": _iso(start), "end": _iso(start + self.window_s)},
            "state": json.loads(json.dumps(self.state)),  # a copy, as Lambda's JSON is
            "shardId": shard_id,
            "eventSourceARN": stream_arn,
            "isFinalInvokeForWindow": batch.final,
            "isWindowTerminatedEarly": batch.early,
        }

    def settle(self, batch: Batch, response: Any, outcome: Outcome) -> Outcome:
        """Keep the returned state; an invocation without one failed."""
        if isinstance(outcome, BatchFailure):
            return outcome
        if not isinstance(response, dict) or "state" not in response:
            return BatchFailure(
                "a tumbling-window invocation must return a state (TimeWindowEventResponse: "
                '{"state": {...}, "batchItemFailures": [...]}); the response had none',
                function_error=None,
            )
        if batch.final:
            self._close()
            return outcome
        self.state = response["state"]
        if _size(self.state) > MAX_STATE_BYTES:
            self.terminated_early = True
        return outcome

    def _close(self) -> None:
        """The final invocation succeeded: the state is dropped."""
        self.current, self.state = None, {}
        self.terminated_early = False
        self._final_queued = False


def _size(state: Any) -> int:
    try:
        return len(json.dumps(state).encode("utf-8"))
    except (TypeError, ValueError):  # not JSON: it could not have come back from Lambda
        return MAX_STATE_BYTES + 1
