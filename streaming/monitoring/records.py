"""A Lambda batch from any stream the monitoring function reads -> what each record is.

One function reads four streams through four mappings (predictions, shadow
predictions, dead letters, ride-finished), so each record is recognised by its
shape: a prediction event has ``prediction``, a dead letter has our dead-letter
``schema``, a ride-finished event says ``"event": "ride_finished"``. The readers
are ``streaming.downstream``'s, the same ones ``streaming evaluate`` uses, so the
monitoring figures and the offline report agree on which records count. A record
that is none of these, or not usable (not base64, not JSON, out of bounds), is a
``Skipped`` with its reason: counted in the window, never raised.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from streaming.consumer.deadletter import SCHEMA as DEAD_LETTER_SCHEMA
from streaming.downstream.finished import finished_event, stream_items
from streaming.downstream.predictions import NOT_JSON, bounded_number, read_prediction

#: a Kinesis record's data is at most 1 MiB (10 MiB on streams with larger records):
#: base64 of more than this is not one of ours
MAX_DATA_CHARS = 14 << 20
#: arrival times after this (year 5138) are not times
MAX_EPOCH_S = 1e11


@dataclass(frozen=True)
class Predicted:
    ride_key: str
    version: str | None
    minutes: float


@dataclass(frozen=True)
class DeadLetter:
    reason: Any


@dataclass(frozen=True)
class FinishedRide:
    ride_key: str
    minutes: float


@dataclass(frozen=True)
class RideStarted:
    """A ride-started event (the input stream): its zones, for the unknown-zone share."""

    pu_location_id: int
    do_location_id: int


@dataclass(frozen=True)
class Skipped:
    reason: str


Item = Predicted | DeadLetter | FinishedRide | RideStarted | Skipped
#: location ids as the prediction function bounds them (consumer/validate.py)
MAX_LOCATION_ID = 2**31 - 1


def ride_key(ride_id: int | str) -> str:
    """The join key of a ride: its id as JSON, so 5 and "5" stay two rides."""
    return json.dumps(ride_id)


def read_records(records: Any) -> Iterator[tuple[float, Item]]:
    """(arrival time, item) of every user record of a Lambda Kinesis batch."""
    if not isinstance(records, list):
        return
    for record in records:
        kinesis = record.get("kinesis") if isinstance(record, dict) else None
        if not isinstance(kinesis, dict):
            yield 0.0, Skipped("not_a_kinesis_record")
            continue
        arrival = _arrival(kinesis.get("approximateArrivalTimestamp"))
        for item in _items(kinesis.get("data")):
            yield arrival, item


def _arrival(value: Any) -> float:
    """Seconds since the epoch, or 0.0 when it is not a plausible one (an int too
    large for a float, NaN, a negative or far-future time)."""
    return bounded_number(value, 0.0, MAX_EPOCH_S) or 0.0


def _items(data: Any) -> Iterator[Item]:
    """base64 -> the user records (KPL aggregates unpacked, bounded) as the offline
    readers unpack them (``downstream.finished.stream_items``) -> what each is."""
    if not isinstance(data, str) or len(data) > MAX_DATA_CHARS:
        yield Skipped("not_base64")
        return
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        yield Skipped("not_base64")
        return
    for value in stream_items([{"Data": raw}]):
        yield classify(value)


def classify(value: Any) -> Item:
    """One decoded event -> what it is for monitoring."""
    if value is NOT_JSON:
        return Skipped("not_json")
    if not isinstance(value, dict):
        return Skipped("not_an_object")
    if value.get("event") == "ride_finished":
        found = finished_event(value)
        if isinstance(found, str):
            return Skipped(f"finished_{found}")
        return FinishedRide(ride_key(found[0]), found[1].minutes)
    if value.get("schema") == DEAD_LETTER_SCHEMA:
        return DeadLetter(value.get("reason"))
    if "prediction" in value:
        prediction = read_prediction(value)
        if isinstance(prediction, str):
            return Skipped(prediction)
        return Predicted(ride_key(prediction.ride_id), prediction.version, prediction.minutes)
    if "ride" in value:
        return _ride_started(value["ride"])
    return Skipped("unknown_event")


def _ride_started(ride: Any) -> Item:
    """The zones of a ride-started event; one the prediction function would reject for
    its zones is skipped here (it is a dead letter there, counted on that stream)."""
    if not isinstance(ride, dict):
        return Skipped("ride_not_an_object")
    pu, do = ride.get("PULocationID"), ride.get("DOLocationID")
    if not all(type(z) is int and 1 <= z <= MAX_LOCATION_ID for z in (pu, do)):
        return Skipped("ride_without_valid_zones")
    return RideStarted(pu, do)
