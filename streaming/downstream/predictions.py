"""Prediction events as the services downstream of our streams read them.

A reader of the predictions stream (``streaming evaluate --compare``, the
monitoring function) cannot trust what it reads more than the consumer trusts
its input: a record may be replayed, hand-written or off the schema. These are
the tolerant, bounded parsers they share: a value is used only within the
bounds below, and what is not a usable prediction is a reason (a string), never
an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

#: A prediction further than this from 0 (minutes; about 69 days) is not one: its
#: square could overflow a sum, and no model of a ride predicts it.
MAX_PREDICTION_MIN = 100_000.0


#: an actual duration beyond a day (or below 0) is not a ride's (ride_finished.v1.json)
MAX_DURATION_MIN = 1440.0


#: ride ids as the stream allows them: an integer that fits 64 bits, or 1-256 characters
MAX_RIDE_ID_CHARS = 256


INT64 = 2**63


#: a ``source`` eventID is ``shardId-<n>:<sequence number>``; longer is not one
MAX_EVENT_ID_CHARS = 512


MAX_VERSION_CHARS = 128


class NotJson:
    """Stands for a line or record that is not JSON: counted, never parsed."""

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON = NotJson()


@dataclass(frozen=True)
class Actual:
    """What really happened to a ride: its duration (minutes), and where and when it
    started when the source of the actuals knows (for the breakdowns)."""

    minutes: float
    hour: int | None = None
    zone: int | None = None


class Prediction(NamedTuple):
    ride_id: int | str
    source: tuple[str, int | None] | None
    version: str | None
    minutes: float


def ride_key(value: Any) -> int | str | None:
    """A ride id as the join uses it, or None: an int within 64 bits (not a bool), or a
    string of 1-256 characters. 5 and "5" stay different rides, as they are on the stream."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -INT64 <= value < INT64 else None
    if isinstance(value, str) and 0 < len(value) <= MAX_RIDE_ID_CHARS:
        return value
    return None


def bounded_number(value: Any, low: float, high: float) -> float | None:
    """``value`` as a float if it is a finite JSON number in [low, high], else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def source_key(source: Any) -> tuple[str, int | None] | None:
    """(eventID, subSequenceNumber) - the input record a prediction answers - or None
    when the event has no usable one (it is then matched on its ride_id alone)."""
    if not isinstance(source, dict):
        return None
    event_id, sub = source.get("eventID"), source.get("subSequenceNumber")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID_CHARS:
        return None
    if sub is None:
        return event_id, None
    if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub < INT64:
        return None
    return event_id, sub


def read_prediction(item: Any) -> Prediction | str:
    """A usable prediction from a decoded line or record, or the reason it is not one.
    ``streaming tail --jsonl`` lines wrap the event in ``{"event": ...}``."""
    if item is NOT_JSON:
        return "not_json"
    event = item.get("event", item) if isinstance(item, dict) else None
    prediction = event.get("prediction") if isinstance(event, dict) else None
    if not isinstance(prediction, dict):
        return "not_a_prediction"
    ride_id = ride_key(prediction.get("ride_id"))
    if ride_id is None:
        return "bad_ride_id"
    minutes = bounded_number(
        prediction.get("ride_duration"), -MAX_PREDICTION_MIN, MAX_PREDICTION_MIN
    )
    if minutes is None:
        return "bad_ride_duration"
    version = event.get("version")
    version = version[:MAX_VERSION_CHARS] if isinstance(version, str) else None
    return Prediction(ride_id, source_key(event.get("source")), version, minutes)
