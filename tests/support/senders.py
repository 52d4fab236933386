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
