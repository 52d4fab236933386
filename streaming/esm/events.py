"""What the local event source mapping tells its observer, as it happens.

``EventSourceMapping(observer=...)`` calls the observer with one of these for
every shard it starts, every invocation, every discarded batch, every read
that fails, and records filtered out or throttled, so a front end
(``streaming run``) can show the run as it goes without parsing logs. The
observer runs on the mapping's thread: it must be quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ShardStarted:
    """A shard is being read: after its checkpoint, or from ``position`` (no checkpoint)."""

    shard_id: str
    #: the checkpoint it resumes after; ``None``: it starts from ``position``
    resume_after: str | None
    #: TRIM_HORIZON, LATEST, AT_TIMESTAMP <time>; a child shard reads from its start
    position: str
    is_child: bool = False


@dataclass(frozen=True)
class ShardFinished:
    """A closed shard has been read to its end (``earlier``: by a previous run)."""

    shard_id: str
    earlier: bool = False


@dataclass(frozen=True)
class Invoked:
    """One invocation of the handler with one batch of one shard."""

    shard_id: str
    records: int
    first_sequence: str
    last_sequence: str
    #: 1 for the first invocation of these records, 2 for the first retry, ...
    attempt: int
    duration_ms: float
    #: "ok" (the batch is done), "partial" (retried from the lowest reported
    #: failure), "failed" (an error, a timeout or an invalid response)
    outcome: str
    response: Any = None
    #: the function's error or why the response was invalid ("failed" only)
    error: str | None = None
    #: records done by this invocation (all for "ok", those before the lowest
    #: reported failure for "partial", none for "failed")
    done: int = 0
    #: when the rest is tried again (seconds); ``None``: not retried (done,
    #: split in two, or discarded: a ``Discarded`` follows)
    retry_in_s: float | None = None
    #: the failed batch is split in two, each half tried (BisectBatchOnFunctionError)
    split: bool = False
    #: the shard's lane (ParallelizationFactor > 1: which of its concurrent batches)
    lane: int = 0
    #: IteratorAge as Lambda reports it: the age of the batch's last record when the
    #: batch was sent to the function (milliseconds)
    iterator_age_ms: float = 0.0


@dataclass(frozen=True)
class Discarded:
    """Records given up on (retries exhausted, or older than the maximum record age)."""

    shard_id: str
    records: int
    first_sequence: str
    last_sequence: str
    condition: str  # RetryAttemptsExhausted or RecordAgeExceeded
    message: str
    #: where the batch's metadata went (``None``: no on-failure destination)
    destination: str | None


@dataclass(frozen=True)
class FilteredOut:
    """Records of one read that matched no filter: dropped and checkpointed past."""

    shard_id: str
    records: int
    #: how many records the read returned
    polled: int


@dataclass(frozen=True)
class Throttled:
    """A batch not invoked: the function's reserved concurrency was in use (an error
    before invocation: retried whatever MaximumRetryAttempts says)."""

    shard_id: str
    records: int
    reserved_concurrency: int
    retry_in_s: float
    lane: int = 0


@dataclass(frozen=True)
class ReadFailed:
    """ListShards (``shard_id`` None) or a shard's GetRecords failed; tried again later."""

    shard_id: str | None
    message: str
    retry_in_s: float


@dataclass(frozen=True)
class ReadRecovered:
    """Reading works again after a ``ReadFailed``."""

    shard_id: str | None


RunEvent = (
    ShardStarted
    | ShardFinished
    | Invoked
    | Discarded
    | FilteredOut
    | Throttled
    | ReadFailed
    | ReadRecovered
)
