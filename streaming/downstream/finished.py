"""Ride-finished events (``schemas/ride_finished.v1.json``) -> the actual durations that
``streaming evaluate --compare`` judges predictions against, and the tolerant readers
of JSON lines and stream records it shares with the predictions.

The events come from the taxi app's backend, not from us, so each one is checked
against the schema and every value is bounded - a ride id of 64 bits or 1-256
characters, times of at most 64 characters in years 0002-9998, a duration of 0 to
1,440 minutes, a zone of 1 to 2^31-1 - before it counts. An event that is not
JSON, not a ride_finished event or out of bounds is counted by reason and left
out, never fatal: one bad event must not hide the rest of a day's rides. A ride
finished twice (at-least-once delivery) counts once, the first time.

Times without an offset are New York local time, as in the ride events; the
duration is taken between the two instants (so a ride across a daylight-saving
change is right), and the pickup hour for the report is New York's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from streaming.consumer import kpl
from streaming.consumer.decode import decode_payload
from streaming.consumer.records import InvalidEvent
from streaming.downstream.predictions import (
    MAX_DURATION_MIN,
    NOT_JSON,
    Actual,
    bounded_number,
    ride_key,
)

NEW_YORK = ZoneInfo("America/New_York")
#: the schema's bounds (and MAX_DURATION_MIN, shared with the other actuals)
MAX_TIME_CHARS = 64
MAX_ZONE = 2**31 - 1
#: the schema's year rule: 0002-9998 as written, so an offset cannot leave datetime's range
_YEAR = re.compile(
    r"(000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
)
#: a line of a JSON-lines file longer than this is not an event (a Kinesis record is
#: at most 10 MiB; events are a few hundred bytes): counted, and skipped unread
MAX_LINE_BYTES = 1 << 20
#: user records read from one KPL aggregate, as the consumer bounds them
MAX_USER_RECORDS = 10_000


# -- tolerant readers: a bad line or record is NOT_JSON, never an exception -------------


def decode(raw: bytes) -> Any:
    """UTF-8 JSON bytes -> the value (the consumer's rules: no NaN, bounded depth and
    digits), or NOT_JSON."""
    try:
        return decode_payload(raw)
    except InvalidEvent:
        return NOT_JSON


def json_lines(path: Path) -> Iterator[Any]:
    """The decoded lines of a JSON-lines file, blank lines skipped; a line that is not
    JSON (or longer than ``MAX_LINE_BYTES``) is NOT_JSON. ``tail --jsonl`` files too."""
    with path.open("rb") as fh:
        while line := fh.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES:
                while line and not line.endswith(b"\n"):  # skip the rest, unread
                    line = fh.readline(MAX_LINE_BYTES)
                yield NOT_JSON
            elif line.strip():
                yield decode(line.strip())


def stream_items(records: Iterable[dict[str, Any]]) -> Iterator[Any]:
    """The decoded events of Kinesis records (``GetRecords`` shape), KPL aggregates
    unpacked (a backend may write its events with the KPL)."""
    for record in records:
        raw = record.get("Data", b"")
        users = kpl.deaggregate(raw, max_records=MAX_USER_RECORDS) if raw else None
        if isinstance(users, kpl.TooManyRecords):
            yield NOT_JSON
        elif users is None:
            yield decode(raw)
        else:
            yield from (decode(u.data) for u in users)


# -- ride_finished events ----------------------------------------------------------


def read_finished(items: Iterable[Any]) -> tuple[dict[Any, Actual], Counter[str]]:
    """ride_id -> ``Actual`` of every valid event, and the counts: ``events``, ``used``
    and each reason an event was left out (``duplicate``: the ride finished before)."""
    actuals: dict[Any, Actual] = {}
    counts: Counter[str] = Counter()
    for item in items:
        counts["events"] += 1
        found = finished_event(item)
        if isinstance(found, str):
            counts[found] += 1
        elif found[0] in actuals:
            counts["duplicate"] += 1
        else:
            actuals[found[0]] = found[1]
    counts["used"] = len(actuals)
    return actuals, counts


def finished_event(item: Any) -> tuple[Any, Actual] | str:
    """(ride_id, actual) of one ride_finished event, or why it is not a usable one."""
    if item is NOT_JSON:
        return "not_json"
    if not isinstance(item, dict) or item.get("event") != "ride_finished":
        return "not_ride_finished"
    if "version" in item and (item["version"] != 1 or isinstance(item["version"], bool)):
        return "unknown_version"
    ride_id = ride_key(item.get("ride_id"))
    if ride_id is None:
        return "bad_ride_id"
    zone = item.get("PULocationID")
    if zone is not None and (
        not isinstance(zone, int) or bounded_number(zone, 1, MAX_ZONE) is None
    ):
        return "bad_zone"
    pickup = parse_time(item.get("pickup_datetime"))
    if isinstance(pickup, str):
        return pickup
    minutes = duration(item, pickup)
    if isinstance(minutes, str):
        return minutes
    return ride_id, Actual(minutes, _hour(pickup), zone)


def _hour(pickup: datetime | None) -> int | None:
    """The pickup's hour in New York, for the report by hour (None: not known)."""
    try:
        return pickup.astimezone(NEW_YORK).hour if pickup is not None else None
    except (OverflowError, ValueError):
        return None


def duration(item: dict[str, Any], pickup: datetime | None) -> float | str:
    """The ride's minutes: ``duration_minutes`` when given, else dropoff - pickup."""
    if "duration_minutes" in item:
        minutes = bounded_number(item["duration_minutes"], 0.0, MAX_DURATION_MIN)
        return "bad_duration" if minutes is None else minutes
    dropoff = parse_time(item.get("dropoff_datetime"))
    if isinstance(dropoff, str):
        return dropoff
    if dropoff is None:
        return "no_duration"  # neither duration_minutes nor dropoff_datetime
    if pickup is None:
        return "no_pickup_time"  # a dropoff alone says nothing of the duration
    try:
        minutes = (dropoff.astimezone(UTC) - pickup.astimezone(UTC)).total_seconds() / 60.0
    except (OverflowError, ValueError):  # an instant at the very edge of datetime's range
        return "bad_time"
    return minutes if 0.0 <= minutes <= MAX_DURATION_MIN else "bad_duration"


def parse_time(value: Any) -> datetime | str | None:
    """An aware datetime (no offset: New York), None when absent, or ``bad_time``."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TIME_CHARS or not _YEAR.match(value):
        return "bad_time"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return "bad_time"
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=NEW_YORK)
