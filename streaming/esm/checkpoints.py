"""Per-shard checkpoints in a local JSON file, so a restarted runner resumes where it stopped.

The event source mapping keeps its position per shard on the service side; a
local runner keeps it here: the last sequence number whose batch was finished
(processed, or discarded to the on-failure destination) and whether the shard
is finished (closed and fully processed: its children may start). Writes go
to a temporary file that replaces the old one, so a crash leaves either the
old or the new checkpoint, never half of one.

A stream's checkpoints are kept under its ARN *and its creation time*
(``StreamCreationTimestamp`` of DescribeStreamSummary). A stream deleted and
created again with the same name has the same ARN, but not the same creation
time, and its sequence numbers start again (an emulator restarted, a test
stack rebuilt): the old positions mean nothing in it. The file::

    {"version": 2,
     "streams": {"<stream ARN>": {"created": "<ISO 8601, UTC>",
                                  "shards": {"<shard id>": {"sequenceNumber": "...",
                                                            "finished": false}}}}}

Rules for what is found in the file, none of them silent (``ignored`` says why):

* the stream's entry, same creation time: its shards resume after their checkpoint;
* the entry of an earlier stream with the same ARN (another creation time):
  ignored, every shard starts from the starting position; the entry is replaced
  at the first checkpoint;
* an entry of the first format (version 1: shards keyed by the ARN alone, no
  creation time), which cannot tell two streams of the same name apart:
  ignored the same way, never guessed to be this stream's;
* a file that is not such JSON: an error (``CheckpointError``), nothing is overwritten.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = 2


class CheckpointError(ValueError):
    """The checkpoint file cannot be read as checkpoints."""


@dataclass
class ShardCheckpoint:
    sequence_number: str | None = None
    finished: bool = False


def creation_key(created: datetime | str | None) -> str | None:
    """A stream's creation time as it is stored: ISO 8601 in UTC (a string is kept)."""
    if created is None or isinstance(created, str):
        return created
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).isoformat()


@dataclass
class CheckpointStore:
    """Checkpoints of one stream (its ARN and creation time), persisted in ``path`` if given."""

    path: Path | None
    stream_arn: str
    shards: dict[str, ShardCheckpoint] = field(default_factory=dict)
    #: the stream's creation time (``creation_key``); ``None`` only in memory
    created: str | None = None
    #: why checkpoints found in the file were not used (``None``: none were ignored)
    ignored: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls, path: Path | None, stream_arn: str, created: datetime | str | None
    ) -> CheckpointStore:
        """The checkpoints of the stream ``stream_arn`` created at ``created``
        (DescribeStreamSummary's ``StreamCreationTimestamp``)."""
        store = cls(path, stream_arn, created=creation_key(created))
        if path is None or not path.is_file():
            return store
        entry = _read(path).get("streams", {}).get(stream_arn)
        if entry is None:
            return store
        if not _is_current(entry):
            store.ignored = (
                f"{path} holds checkpoints for this stream in the first format (keyed "
                "by the stream's ARN alone, which a stream created again with the same "
                "name shares): ignored, not guessed to be this stream's"
            )
            return store
        if store.created is None or entry["created"] != store.created:
            store.ignored = (
                f"{path} holds checkpoints of an earlier stream with this name (created "
                f"{entry['created']}; this one was created {store.created}): ignored"
            )
            return store
        for shard_id, cp in entry["shards"].items():
            store.shards[shard_id] = ShardCheckpoint(
                cp.get("sequenceNumber"), bool(cp.get("finished"))
            )
        return store

    def get(self, shard_id: str) -> ShardCheckpoint:
        return self.shards.get(shard_id, ShardCheckpoint())

    def advance(self, shard_id: str, sequence_number: str) -> None:
        """Everything up to and including ``sequence_number`` is done."""
        with self._lock:
            cp = self.shards.setdefault(shard_id, ShardCheckpoint())
            cp.sequence_number = sequence_number
            self._save()

    def finish(self, shard_id: str) -> None:
        with self._lock:
            self.shards.setdefault(shard_id, ShardCheckpoint()).finished = True
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        existing: dict[str, Any] = _read(self.path) if self.path.is_file() else {}
        existing["version"] = VERSION
        streams = existing.setdefault("streams", {})
        streams[self.stream_arn] = {
            "created": self.created,
            "shards": {
                shard: {"sequenceNumber": cp.sequence_number, "finished": cp.finished}
                for shard, cp in sorted(self.shards.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(existing, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _is_current(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("created"), str)
        and isinstance(entry.get("shards"), dict)
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read the checkpoint file {path} ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("streams", {}), dict):
        raise CheckpointError(f"{path} is not a checkpoint file (no 'streams' object in it)")
    return data
