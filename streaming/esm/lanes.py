"""A shard's concurrent lanes and its checkpoint: pure bookkeeping, no I/O.

CreateEventSourceMapping, ParallelizationFactor: "The number of batches to
process from each shard concurrently" (1-10), and
*Using Lambda with Kinesis*: "Lambda can process up to 10 batches in each
shard simultaneously. If you increase the number of concurrent batches per
shard, Lambda still ensures in-order processing at the partition-key level."

Modelled as AWS describes it: a shard's records are spread over up to N
*lanes* by a hash of the Kinesis record's own partition key (the mapping does
not de-aggregate KPL records, so an aggregate travels whole on its parent's
key); each lane is read in sequence order, one batch at a time; lanes run
concurrently. A record is finished once its batch succeeded or it was
discarded; the shard's checkpoint is the last record before the first
unfinished one (``Progress``), so a restart re-delivers only unfinished work
- and with N > 1 possibly some finished records of other lanes after it,
which at-least-once delivery allows.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: ParallelizationFactor's range (CreateEventSourceMapping API reference).
MAX_PARALLELIZATION = 10


def lane_of(partition_key: str, lanes: int) -> int:
    """The lane of a record: MD5 of its partition key, as Kinesis maps keys to shards
    (one key always lands in one lane, so its records stay in order)."""
    if lanes == 1:
        return 0
    digest = hashlib.md5(partition_key.encode("utf-8", "surrogatepass"), usedforsecurity=False)
    return int.from_bytes(digest.digest(), "big") % lanes


@dataclass
class Batch:
    """Records of one lane, invoked together (and retried or split together)."""

    records: list[dict[str, Any]]
    retries: int = 0
    invokes: int = 0
    not_before: float = 0.0
    #: throttled (not invoked) attempts: these never count as retries
    throttles: int = 0
    #: tumbling windows: the window of a final invocation (it has no records)
    window_start: float | None = None
    #: the window's final invocation (``isFinalInvokeForWindow``)
    final: bool = False
    #: ... because its state passed 1 MB (``isWindowTerminatedEarly``)
    early: bool = False


@dataclass
class Lane:
    """One concurrent batch stream of a shard: its own buffer, queue and batch in flight."""

    index: int
    buffer: list[dict[str, Any]] = field(default_factory=list)
    buffer_bytes: int = 0
    buffer_since: float | None = None
    work: deque[Batch] = field(default_factory=deque)
    in_flight: Any = None  # the runner's InFlight while an invocation runs

    def busy(self) -> bool:
        """Records read but not finished: buffered, queued, or being invoked."""
        return bool(self.buffer or self.work or self.in_flight is not None)


class Progress:
    """Which records of a shard are finished, and so how far its checkpoint may go.

    Records are registered in read (sequence) order; they finish in any order
    across lanes. ``checkpoint()`` is the sequence number of the last record
    before the first unfinished one (``None``: nothing new is finished)."""

    def __init__(self) -> None:
        self._pending: deque[str] = deque()
        self._finished: set[str] = set()
        self._last: str | None = None

    def read(self, records: list[dict[str, Any]]) -> None:
        self._pending.extend(r["SequenceNumber"] for r in records)

    def finish(self, records: list[dict[str, Any]]) -> None:
        self._finished.update(r["SequenceNumber"] for r in records)

    def checkpoint(self) -> str | None:
        """Advance over finished records; the new checkpoint, or ``None`` if it did not move."""
        moved = None
        while self._pending and self._pending[0] in self._finished:
            moved = self._pending.popleft()
            self._finished.discard(moved)
        if moved is not None:
            self._last = moved
        return moved

    def unfinished(self) -> int:
        return len(self._pending)
