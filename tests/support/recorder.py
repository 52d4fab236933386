"""A handler for the local mapping's tests: it records what it is given, answers by a rule."""

from __future__ import annotations

import base64


class Recorder:
    """A handler that records events and answers by a rule."""

    def __init__(self, rule=None):
        self.events: list[dict] = []
        self.contexts = []
        self.rule = rule or (lambda event, call: None)

    def __call__(self, event, context):
        self.events.append(event)
        self.contexts.append(context)
        return self.rule(event, len(self.events) - 1)

    def data(self, event=None):
        events = [event] if event else self.events
        return [
            base64.b64decode(r["kinesis"]["data"]).decode() for e in events for r in e["Records"]
        ]


def fails_on(poison: str):
    """A rule that raises for any batch holding the record whose data is ``poison``."""

    def rule(event, call):
        if poison in [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]:
            raise RuntimeError("poison")

    return rule
