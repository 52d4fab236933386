"""Per-shard checkpoints in a local JSON file, so a restarted runner resumes where it stopped.

The event source mapping keeps its position per shard on the service side; a
local runner keeps it here: the last sequence number whose batch was finished
(processed, or discarded to the on-failure destination) and whether the shard
is finished (closed and fully processed: its children may start). Writes go
to a temporary file that replaces the old one, so a crash leaves either the
old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ShardCheckpoint:
    sequence_number: str | None = None
    finished: bool = False


@dataclass
class CheckpointStore:
    """Checkpoints of one stream (keyed by stream ARN), persisted in ``path`` if given."""

    path: Path | None
    stream_arn: str
    shards: dict[str, ShardCheckpoint] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path | None, stream_arn: str) -> CheckpointStore:
        store = cls(path, stream_arn)
        if path is not None and path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            for shard_id, cp in data.get("streams", {}).get(stream_arn, {}).items():
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
        existing: dict[str, Any] = {}
        if self.path.is_file():
            existing = json.loads(self.path.read_text(encoding="utf-8"))
        streams = existing.setdefault("streams", {})
        streams[self.stream_arn] = {
            shard: {"sequenceNumber": cp.sequence_number, "finished": cp.finished}
            for shard, cp in sorted(self.shards.items())
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(existing, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
