"""One shard's tumbling-window state: what the monitoring function carries from one
invocation to the next, as plain JSON.

Lambda keeps the state between the invocations of a window and drops it after the
final one (*Using tumbling windows with Kinesis*); it may be at most 1 MB per shard
or the window is terminated early. So the state holds counts, never events: per
model version a record count, a sum and a 61-bin histogram (``drift.EDGES``), and
dead letters per reason. Hostile input cannot grow it: at most ``MAX_VERSIONS``
versions and ``MAX_REASONS`` reasons are kept by name (the rest are counted under
``OTHER``), names are cut to ``MAX_NAME_CHARS``. A state that does not parse (it
comes back from Lambda, but is read like any input) is replaced by an empty one and
counted under ``skipped["bad_state"]``, never raised.

Worst case: 20 versions x 61 counts + 50 reasons is about 15 KB of JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streaming.monitoring.drift import EDGES, Histogram, bin_of

STATE_VERSION = 1
MAX_VERSIONS = 20
MAX_REASONS = 50
MAX_NAME_CHARS = 128
OTHER = "(other)"
#: a count or sum beyond this is not a window's (a corrupted state): start afresh
MAX_COUNT = 10**15


@dataclass
class VersionWindow:
    role: str
    records: int = 0
    minutes_sum: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * len(EDGES))

    def add(self, minutes: float) -> None:
        self.records += 1
        self.minutes_sum += minutes
        self.histogram[bin_of(minutes)] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "records": self.records,
            "minutes_sum": self.minutes_sum,
            "histogram": list(self.histogram),
        }


@dataclass
class WindowState:
    versions: dict[str, VersionWindow] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    #: records that were neither a prediction, a dead letter nor a finished ride, by reason
    skipped: dict[str, int] = field(default_factory=dict)
    finished: int = 0
    #: ride-started events (the input stream), and those in a zone the model does not know
    rides: int = 0
    unknown_pu: int = 0
    unknown_do: int = 0
    unknown_zone_rides: int = 0

    def add_ride(self, pu_known: bool, do_known: bool) -> None:
        self.rides += 1
        self.unknown_pu += not pu_known
        self.unknown_do += not do_known
        self.unknown_zone_rides += not (pu_known and do_known)

    def add_prediction(self, version: str | None, role: str, minutes: float) -> None:
        """One prediction (its minutes already bounded and finite by the reader)."""
        name = _name(version or "(none)", self.versions, MAX_VERSIONS)
        window = self.versions.get(name)
        if window is None:
            window = self.versions[name] = VersionWindow(role)
        window.add(minutes)

    def add_dead_letter(self, reason: Any) -> None:
        text = reason if isinstance(reason, str) and reason else "(none)"
        name = _name(text, self.dead_letters, MAX_REASONS)
        self.dead_letters[name] = self.dead_letters.get(name, 0) + 1

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def histogram(self, version: str) -> Histogram:
        return Histogram(tuple(self.versions[version].histogram))

    def as_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "versions": {k: v.as_json() for k, v in self.versions.items()},
            "dead_letters": dict(self.dead_letters),
            "skipped": dict(self.skipped),
            "finished": self.finished,
            "rides": [self.rides, self.unknown_pu, self.unknown_do, self.unknown_zone_rides],
        }


def _name(text: str, known: Mapping[str, Any], limit: int) -> str:
    text = text[:MAX_NAME_CHARS]
    if text in known or len(known) < limit - 1:
        return text
    return OTHER


def parse_state(value: Any) -> WindowState:
    """The state Lambda gave back; ``{}`` (a new window) or anything unreadable is a
    fresh state (the latter counted under ``skipped["bad_state"]``)."""
    if value in ({}, None):
        return WindowState()
    try:
        return _parse(value)
    except (TypeError, ValueError, KeyError, AttributeError):
        state = WindowState()
        state.skip("bad_state")
        return state


def _parse(value: Any) -> WindowState:
    if not isinstance(value, dict) or value.get("v") != STATE_VERSION:
        raise ValueError("not a window state")
    state = WindowState(finished=_count(value.get("finished", 0)))
    rides = value.get("rides", [0, 0, 0, 0])
    if not isinstance(rides, list) or len(rides) != 4:
        raise ValueError("rides")
    state.rides, state.unknown_pu, state.unknown_do, state.unknown_zone_rides = map(_count, rides)
    versions = value["versions"]
    if not isinstance(versions, dict) or len(versions) > MAX_VERSIONS:
        raise ValueError("versions")
    for name, group in versions.items():
        histogram = list(Histogram.from_counts(group["histogram"]).counts)
        role = group["role"]
        if role not in ("champion", "shadow"):
            raise ValueError("role")
        minutes_sum = group["minutes_sum"]
        if not isinstance(minutes_sum, int | float) or not math.isfinite(minutes_sum):
            raise ValueError("minutes_sum")
        state.versions[str(name)[:MAX_NAME_CHARS]] = VersionWindow(
            role, _count(group["records"]), float(minutes_sum), histogram
        )
    for field_name, limit in (("dead_letters", MAX_REASONS), ("skipped", MAX_REASONS)):
        counts = value.get(field_name, {})
        if not isinstance(counts, dict) or len(counts) > limit:
            raise ValueError(field_name)
        setattr(state, field_name, {str(k)[:MAX_NAME_CHARS]: _count(n) for k, n in counts.items()})
    return state


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise ValueError("count")
    return value
