"""A scripted ``publish.Sender`` (our one-call interface, not boto3) for unit tests."""

from __future__ import annotations

import json
from collections import defaultdict


class ScriptedSender:
    """Records what each stream received; fails entries by a rule."""

    def __init__(self, fail=None, raise_on=()):
        self.fail = fail or (lambda stream, call, entry: None)
        self.raise_on = dict(raise_on)
        self.calls: list[tuple[str, list[int]]] = []
        self.written: dict[str, list[dict]] = defaultdict(list)
        self.keys: dict[str, list[str]] = defaultdict(list)

    def __call__(self, stream, batch):
        call = len(self.calls)
        self.calls.append((stream, [e.ref for e in batch]))
        if call in self.raise_on:
            raise self.raise_on[call]
        codes = [self.fail(stream, call, e) for e in batch]
        for entry, code in zip(batch, codes, strict=False):
            if code is None:
                self.written[stream].append(json.loads(entry.data))
                self.keys[stream].append(entry.partition_key)
        return codes


class KinesisRulesSender(ScriptedSender):
    """A ``ScriptedSender`` that refuses what Kinesis refuses: a request with an
    invalid partition key or an entry over 1 MiB fails as a whole, as the real
    service answers ``ValidationException`` (so a bad key would block a shard).
    Bodies that are not strict JSON (NaN, Infinity) are listed in ``not_json``."""

    def __init__(self, fail=None, raise_on=()):
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
