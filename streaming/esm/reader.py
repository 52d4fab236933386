"""Reading one Kinesis shard the way a long-running consumer must.

Shard iterators expire five minutes after they are issued ("A shard iterator
expires 5 minutes after it is returned to the requester", Kinesis API
reference, *GetShardIterator*); an ``ExpiredIteratorException`` is answered
by asking for a new iterator just after the last record read. A closed
shard (after a split or merge) ends when ``GetRecords`` returns no
``NextShardIterator`` ("If set to null, the shard has been closed and the
requested iterator does not return any more data", *GetRecords*); its child
shards are read only once it is finished, which keeps per-key order across a
reshard (Kinesis developer guide, *Resharding, scaling and parallel processing*).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: GetRecords returns at most 10,000 records (Kinesis API reference, *GetRecords*).
MAX_GET_RECORDS = 10_000


@dataclass(frozen=True)
class StartingPosition:
    """Where a shard without a checkpoint starts: TRIM_HORIZON, LATEST or AT_TIMESTAMP."""

    kind: str = "TRIM_HORIZON"
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
            raise ValueError(f"unknown starting position {self.kind!r}")
        if (self.kind == "AT_TIMESTAMP") != (self.timestamp is not None):
            raise ValueError("AT_TIMESTAMP needs a timestamp, and only it takes one")

    def iterator_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"ShardIteratorType": self.kind}
        if self.timestamp is not None:
            args["Timestamp"] = self.timestamp
        return args


@dataclass
class ReadResult:
    records: list[dict[str, Any]]
    closed: bool  # the shard is closed and every record of it has been returned
    millis_behind: int


@dataclass
class ShardReader:
    """GetRecords on one shard, from a checkpoint or a starting position."""

    client: Any
    stream: str
    shard_id: str
    start: StartingPosition = field(default_factory=StartingPosition)
    #: last sequence number handed out (a checkpoint, when resuming)
    after_sequence: str | None = None
    iterator: str | None = None
    closed: bool = False
    renewed_iterators: int = 0

    def _new_iterator(self) -> str:
        if self.after_sequence is not None:
            args: dict[str, Any] = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": self.after_sequence,
            }
        else:
            args = self.start.iterator_args()
        response = self.client.get_shard_iterator(
            StreamName=self.stream, ShardId=self.shard_id, **args
        )
        return response["ShardIterator"]

    def read(self, limit: int = MAX_GET_RECORDS, *, renewals: int = 2) -> ReadResult:
        """One GetRecords call; an expired iterator is renewed (up to ``renewals`` times)."""
        if self.closed:
            return ReadResult([], True, 0)
        for attempt in range(renewals + 1):
            if self.iterator is None:
                self.iterator = self._new_iterator()
            try:
                page = self.client.get_records(ShardIterator=self.iterator, Limit=limit)
                break
            except self.client.exceptions.ExpiredIteratorException:
                self.renewed_iterators += 1
                self.iterator = None  # a new one, just after the last record read
                if attempt == renewals:
                    raise
        records = page.get("Records", [])
        if records:
            self.after_sequence = records[-1]["SequenceNumber"]
        self.iterator = page.get("NextShardIterator")
        if self.iterator is None:
            self.closed = True
        return ReadResult(records, self.closed, int(page.get("MillisBehindLatest", 0) or 0))


def list_shards(client: Any, stream: str) -> list[dict[str, Any]]:
    """All shards of ``stream`` (open and closed), following NextToken."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        page = client.list_shards(**kwargs)
        shards.extend(page["Shards"])
        token = page.get("NextToken")
        if not token:
            return shards
        kwargs = {"NextToken": token}


def parents(shard: dict[str, Any]) -> list[str]:
    """The shard's parents: one after a split, two after a merge, none at creation."""
    return [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]


def ready_shards(
    shards: list[dict[str, Any]], finished: Callable[[str], bool]
) -> Iterator[tuple[str, bool]]:
    """Shards that may be read now: not finished, and every parent still in the stream
    finished. Yields (shard id, whether it has such a parent) - a child reads from its
    start (TRIM_HORIZON); a shard without one uses the configured starting position."""
    known = {s["ShardId"] for s in shards}
    for shard in shards:
        shard_id = shard["ShardId"]
        if finished(shard_id):
            continue
        present = [p for p in parents(shard) if p in known]
        if any(not finished(p) for p in present):
            continue
        yield shard_id, bool(present)
