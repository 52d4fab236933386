"""Replay transforms used by the tests (``--transform tests.support.fixes:...``)."""

from __future__ import annotations

import json


def distance_as_number(data: bytes, letter: dict) -> bytes | None:
    """The producer sent trip_distance as a string: send it as a number; drop padding."""
    try:
        event = json.loads(data)
        event["ride"]["trip_distance"] = float(event["ride"]["trip_distance"])
    except (ValueError, KeyError, TypeError):
        return None  # not this kind of problem: leave it in the dead-letter stream
    event.pop("padding", None)
    return json.dumps(event).encode()
