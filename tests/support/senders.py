"""A scripted ``publish.Sender`` (our one-call interface, not boto3) for unit tests."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

#: ``fail(stream, call, entry)``: the entry's error code in that call (None: written)
FailRule = Callable[[str, int, Any], "str | None"]


class ScriptedSender:
    """Fails entries by a rule; records every call and, per stream, what was written.

    ``fail(stream, call, entry)`` answers each entry's error code (None: written),
    ``call`` counting every call from 0; ``raise_on`` maps a call's index to the
    exception that call raises instead of answering.

    * ``calls``: ``(stream, [entry refs])`` of every call, in order;
    * ``refs``, ``keys``, ``written``: per stream, the ref, partition key and decoded
      JSON body of each written entry (a body that is not JSON fails the call, as a
      sender bug would).
    """

    def __init__(
        self, fail: FailRule | None = None, raise_on: Mapping[int, BaseException] = ()
    ) -> None:
        self.fail = fail or (lambda stream, call, entry: None)
        self.raise_on = dict(raise_on)
        self.calls: list[tuple[str, list[int]]] = []
        self.refs: dict[str, list[int]] = defaultdict(list)
        self.keys: dict[str, list[str]] = defaultdict(list)
        self.written: dict[str, list[Any]] = defaultdict(list)

    def __call__(self, stream, batch):
        call = len(self.calls)
        self.calls.append((stream, [e.ref for e in batch]))
        if call in self.raise_on:
            raise self.raise_on[call]
        codes = [self.fail(stream, call, e) for e in batch]
        for entry, code in zip(batch, codes, strict=False):
            if code is None:
                self.written[stream].append(json.loads(entry.data))
                self.refs[stream].append(entry.ref)
                self.keys[stream].append(entry.partition_key)
        return codes


class KinesisRulesSender(ScriptedSender):
    """A ``ScriptedSender`` that refuses what Kinesis refuses: a request with an
    invalid partition key or an entry over 1 MiB fails as a whole, as the real
    service answers ``ValidationException`` (so a bad key would block a shard).
    Bodies that are not strict JSON (NaN, Infinity) are listed in ``not_json``."""

    def __init__(
        self, fail: FailRule | None = None, raise_on: Mapping[int, BaseException] = ()
    ) -> None:
        super().__init__(fail, raise_on)
        self.not_json: list[bytes] = []

    def __call__(self, stream, batch):
        from streaming.consumer.kinesis_limits import MAX_BYTES_PER_RECORD, is_valid_partition_key
        from streaming.consumer.publish import SendError

        for entry in batch:
            size = len(entry.data) + len(entry.partition_key.encode("utf-8", "surrogatepass"))
            if not is_valid_partition_key(entry.partition_key) or size > MAX_BYTES_PER_RECORD:
                self.calls.append((stream, [e.ref for e in batch]))
                raise SendError("ValidationException", "invalid entry", retryable=False)
            try:
                json.loads(entry.data, parse_constant=_not_json)
            except ValueError:
                self.not_json.append(entry.data)
        return super().__call__(stream, batch)


def _not_json(name):
    raise ValueError(f"{name} is not JSON")
