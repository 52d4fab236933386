"""What ``streaming run`` prints: one line per batch, a summary, and metrics as EMF.

The batch lines and the summary are for a person at a terminal; with
``--emf`` the same figures go to the log file as CloudWatch embedded metric
format lines, named as Lambda names them (``IteratorAge`` per batch, and the
event source mapping's ``EventCount`` metrics), so a local run can be looked
at with the tools that read a deployed function's metrics.
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

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
from streaming.esm.stats import RunStats


def say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


def summary_line(stats: RunStats, seconds: float) -> str:
    counts = ", ".join(f"{name} {n}" for name, n in stats.event_counts().items())
    return (
        f"done in {seconds:.1f} s: {stats.invocations} invocations, "
        f"{stats.records_done} records processed, {stats.discarded_records} discarded, "
        f"{stats.function_errors} failed invocations, {stats.partial_failures} partial "
        f"failures, {stats.throttles} throttled, {stats.read_errors} read errors; "
        f"IteratorAge max {stats.iterator_age_ms_max:.0f} ms; {counts}"
    )


class BatchLines:
    """The mapping's observer: one readable line per shard start, batch and problem."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._others: list[Any] = []

    def also(self, observer: Any) -> BatchLines:
        """Tell ``observer`` every event too (after the line is printed)."""
        self._others.append(observer)
        return self

    def __call__(self, event: RunEvent) -> None:
        line = self.format(event)
        if line:
            say(self.out, line)
        for other in self._others:
            other(event)

    @staticmethod
    def format(event: RunEvent) -> str:
        line = _LINES.get(type(event))
        return line(event) if line is not None else ""


def _started_line(event: ShardStarted) -> str:
    if event.resume_after is not None:
        return f"{event.shard_id}: resumes after checkpoint {event.resume_after}"
    if event.is_child:
        return f"{event.shard_id}: a child shard, read from its start (parents finished)"
    return f"{event.shard_id}: no checkpoint, starts from {event.position}"


def _finished_line(event: ShardFinished) -> str:
    if event.earlier:
        return f"{event.shard_id}: closed and finished by an earlier run, skipped"
    return f"{event.shard_id}: closed and read to its end"


def _discarded_line(event: Discarded) -> str:
    kept = event.destination or "no --on-failure destination"
    return (
        f"{event.shard_id}  {event.records} records DISCARDED ({event.condition}: "
        f"{event.message}) -> {kept}"
    )


def _read_failed_line(event: ReadFailed) -> str:
    what = f"{event.shard_id}: GetRecords" if event.shard_id else "ListShards"
    return f"{what} failed ({event.message}); retrying in {event.retry_in_s:g} s"


def _recovered_line(event: ReadRecovered) -> str:
    return f"{event.shard_id or 'ListShards'}: reading works again"


def _filtered_line(event: FilteredOut) -> str:
    return (
        f"{event.shard_id}  {event.records} of {event.polled} records read matched no "
        "filter: dropped (not invoked, not dead-lettered)"
    )


def _throttled_line(event: Throttled) -> str:
    return (
        f"{event.shard_id}  {event.records} records THROTTLED (reserved concurrency "
        f"{event.reserved_concurrency} in use; not a retry); again in {event.retry_in_s:g} s"
    )


def _invoked_line(event: Invoked) -> str:
    head = f"{event.shard_id}  {event.records} records"
    if event.lane:
        head = f"{event.shard_id}/lane {event.lane}  {event.records} records"
    if event.attempt > 1:
        head += f" (attempt {event.attempt})"
    counts = _counts(event)
    if event.outcome == "failed":
        then = (
            "split in two"
            if event.split
            else f"retry in {event.retry_in_s:g} s"
            if event.retry_in_s is not None
            else "retries exhausted"
        )
        return f"{head}  FAILED: {event.error}; {then}  {event.duration_ms:.1f} ms"
    line = f"{head}  {counts}  {event.duration_ms:.1f} ms"
    if event.outcome == "partial":
        rest = event.records - event.done
        then = f"retry in {event.retry_in_s:g} s" if event.retry_in_s is not None else "no retry"
        line += f"  ({rest} from the first failed record not done; {then})"
    return line


def _counts(event: Invoked) -> str:
    """predicted/rejected/failed from the project's handler's response; any other
    response: how many records it reported failed."""
    response = event.response if isinstance(event.response, dict) else {}
    failures = response.get("batchItemFailures")
    failed = len(failures) if isinstance(failures, list) else 0
    predictions = response.get("predictions")
    if not isinstance(predictions, list):
        return f"{event.records - failed} ok, {failed} failed"
    predicted = len(predictions) + int(response.get("predictionsOmitted") or 0)
    rejected = response.get("rejected")
    n_rejected = len(rejected) if isinstance(rejected, list) else max(0, event.records - predicted)
    return f"{predicted} predicted, {n_rejected} rejected, {failed} failed"


_LINES: dict[type, Any] = {
    Invoked: _invoked_line,
    ShardStarted: _started_line,
    ShardFinished: _finished_line,
    Discarded: _discarded_line,
    ReadFailed: _read_failed_line,
    ReadRecovered: _recovered_line,
    FilteredOut: _filtered_line,
    Throttled: _throttled_line,
}


class MetricLines:
    """``--emf``: the mapping's metrics as CloudWatch embedded metric format lines on
    stdout (the run's log file), namespace ``AWS/Lambda`` as Lambda publishes them,
    dimension ``FunctionName``. One line per invocation (IteratorAge), one with the
    EventCount totals at the end (each count once: summed, they are the run's)."""

    NAMESPACE = "AWS/Lambda"

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, Invoked) and event.records:
            self._emit({"IteratorAge": (event.iterator_age_ms, "Milliseconds")})

    def totals(self, stats: RunStats) -> None:
        self._emit({name: (n, "Count") for name, n in stats.event_counts().items()})

    def _emit(self, values: dict[str, tuple[float, str]]) -> None:
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.NAMESPACE,
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [{"Name": n, "Unit": u} for n, (_, u) in values.items()],
                    }
                ],
            },
            "FunctionName": self.function_name,
        }
        line.update({name: value for name, (value, _) in values.items()})
        print(json.dumps(line), flush=True)
