"""Follow every shard of a stream (the ``tail`` side): new shards are picked up as they appear.

A child shard is started once its parents are closed and read to the end, so a
reader sees each partition key's records in order across a reshard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from streaming.esm.reader import ShardReader, StartingPosition, list_shards, ready_shards

LOG = logging.getLogger(__name__)


class Follower:
    def __init__(
        self,
        client: Any,
        stream: str,
        start: StartingPosition | None = None,
        *,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream = stream
        self.start = start or StartingPosition()
        self.refresh_s = refresh_s
        self.clock = clock
        self.readers: dict[str, ShardReader] = {}
        self.finished: set[str] = set()
        self.read_errors = 0
        self._next_refresh = 0.0

    def _refresh(self) -> None:
        shards = list_shards(self.client, self.stream)
        for sid, is_child in ready_shards(shards, self.finished.__contains__):
            if sid in self.readers:
                continue
            start = StartingPosition() if is_child else self.start
            self.readers[sid] = ShardReader(self.client, self.stream, sid, start)
        self._next_refresh = self.clock() + self.refresh_s

    def poll(self, limit: int = 10_000) -> list[tuple[str, dict[str, Any]]]:
        """One GetRecords per open shard; returns (shard id, record) pairs in shard order."""
        if self.clock() >= self._next_refresh:
            try:
                self._refresh()
            except Exception as exc:  # keep following the shards we know; list again later
                self.read_errors += 1
                self._next_refresh = self.clock() + self.refresh_s
                LOG.warning("%s: ListShards failed (%s); retrying", self.stream, exc)
        out: list[tuple[str, dict[str, Any]]] = []
        for sid, reader in list(self.readers.items()):
            try:
                result = reader.read(limit=limit)
            except Exception as exc:  # throttled, a 500, unreachable: read again next poll
                self.read_errors += 1
                LOG.warning("%s/%s: GetRecords failed (%s); retrying", self.stream, sid, exc)
                continue
            out.extend((sid, r) for r in result.records)
            if result.closed:
                self.finished.add(sid)
                del self.readers[sid]
                self._next_refresh = 0.0
        return out
